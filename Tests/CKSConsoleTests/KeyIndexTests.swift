import CKSClient
import CKSDomain
import CKSWire
import Foundation
import Synchronization
import Testing
@testable import CKSConsole

/// Counts DescribeKey calls and, while `held` is closed, holds them: remembered rows can be looked at before any
/// state is described again.
final class DescribeCountingTransport: KMSTransport {
    let inner: any KMSTransport
    let describes = Atomic<Int>(0)
    let held: Gate?

    init(wrapping inner: any KMSTransport, holdingDescribesUntil held: Gate? = nil) {
        self.inner = inner
        self.held = held
    }

    func send(_ request: TransportRequest, timeout: TimeInterval) async throws -> TransportResponse {
        if request.header("X-Amz-Target") == "TrentService.DescribeKey" {
            describes.add(1, ordering: .relaxed)
            await held?.wait()
        }
        return try await inner.send(request, timeout: timeout)
    }
}

@Suite("Key index")
struct KeyIndexTests {
    static let identity = KeyIndex.Identity(endpoint: "http://127.0.0.1:7911", account: "111122223333", region: "us-east-1")

    static func record(_ id: String, description: String = "", state: KeyState = .enabled, deletion: Date? = nil) -> KeyRecord {
        KeyRecord(id: id, arn: "arn:aws:kms:us-east-1:111122223333:key/\(id)", accountId: "111122223333", state: state,
                  enabled: state == .enabled, description: description, creationDate: Date(timeIntervalSince1970: 1_700_000_000.5),
                  deletionDate: deletion, pendingDeletionWindowInDays: deletion == nil ? nil : 7, origin: .awsCloudHsm,
                  customKeyStoreId: "cks-1234567890abcdef0", cloudHsmClusterId: "cluster-234567abcdefg")
    }

    @Test("the file reads back exactly what was written, whatever a description holds")
    func roundTrip() throws {
        var elsewhere = Self.record("k3")   // an ARN and account other than the identity's are written out
        elsewhere.arn = "arn:aws-cn:kms:cn-north-1:444455556666:key/k3"
        elsewhere.accountId = "444455556666"
        let index = KeyIndex(identity: Self.identity, savedAt: Date(timeIntervalSince1970: 1_800_000_000.25), keys: [
            "k3": elsewhere,
            "k1": Self.record("k1", description: "tab\there\nnew line \\ backslash \\t literal, café"),
            "k2": Self.record("k2", state: .pendingDeletion, deletion: Date(timeIntervalSince1970: 1_800_600_000)),
            "outside": KeyRecord?.none,
        ])
        let decoded = try #require(KeyIndex.decode(index.encoded(), expecting: Self.identity))
        #expect(decoded == index)
        #expect(decoded.keys["outside"] == .some(KeyRecord?.none))
        #expect(decoded.keys["absent"] == nil)
    }

    @Test("a file of another endpoint, account or region, cut short, or damaged is not used")
    func rejected() {
        let text = KeyIndex(identity: Self.identity, savedAt: Date(), keys: ["k1": Self.record("k1"), "o": KeyRecord?.none]).encoded()
        #expect(KeyIndex.decode(text, expecting: Self.identity) != nil)
        var other = Self.identity
        other.account = "444455556666"
        #expect(KeyIndex.decode(text, expecting: other) == nil)
        other = Self.identity
        other.region = "eu-west-1"
        #expect(KeyIndex.decode(text, expecting: other) == nil)
        #expect(KeyIndex.decode(String(text.dropLast()), expecting: Self.identity) == nil, "no final line end")
        #expect(KeyIndex.decode(String(text.dropLast(10)), expecting: Self.identity) == nil, "cut mid-line")
        #expect(KeyIndex.decode(text.replacingOccurrences(of: "\tENABLED\t", with: "\tBOGUS\t")
                                    .replacingOccurrences(of: "\tEnabled\t", with: "\tBogus\t"), expecting: Self.identity) == nil)
        #expect(KeyIndex.decode(text.replacingOccurrences(of: "cks-key-index 1", with: "cks-key-index 2"), expecting: Self.identity) == nil)
        #expect(KeyIndex.decode("garbage\n", expecting: Self.identity) == nil)
        #expect(KeyIndex.decode("", expecting: Self.identity) == nil)
        #expect(KeyIndex.unescape("a\\qb") == nil, "an escape it never writes")
        #expect(KeyIndex.unescape("ends\\") == nil)
    }

    @Test("keys on screen are described again first, and no key twice")
    func describeQueuePrefersWhatIsShown() {
        let queue = DescribeQueue(["a", "b", "c", "d", "e"])
        #expect(queue.next(preferring: ["d", "zz"]) == "d")
        #expect(queue.next(preferring: ["d"]) == "a")
        #expect(queue.next(preferring: ["e", "b"]) == "e")
        #expect(queue.next(preferring: []) == "b")
        #expect(queue.next(preferring: []) == "c")
        #expect(queue.next(preferring: ["a"]) == nil)
    }

    @MainActor
    @Test("a replaced row stays in place when the order allows, and the list is sorted again when it does not")
    func tableReplace() {
        let table = Table<KeyRow>(columns: [Column("ID", .fixed(4), text: { $0.id }),
                                            Column("STATE", .fixed(16), text: { $0.state.rawValue })],
                                  searchText: { $0.id })
        table.setRows(["a", "b", "c"].map { KeyRow(record: Self.record($0), asOf: Date()) })
        table.replace([KeyRow(record: Self.record("b", state: .disabled))])
        #expect(table.visible.map(\.id) == ["a", "b", "c"])
        #expect(table.rows.first { $0.id == "b" }?.asOf == nil)
        #expect(table.visible[1].state == .disabled)
        table.sort(by: 1, ascending: true)   // by state: Disabled < Enabled
        #expect(table.visible.map(\.id) == ["b", "a", "c"])
        table.replace([KeyRow(record: Self.record("c", state: .disabled))])
        #expect(table.visible.map(\.state) == [.disabled, .disabled, .enabled], "sorted again: \(table.visible.map(\.id))")
    }

    /// A backend over the in-process core keeping its key index in `directory`.
    static func backend(_ core: InProcessCore, directory: URL, held: Gate? = nil)
        -> (KMSClientBackend, DescribeCountingTransport) {
        let transport = DescribeCountingTransport(wrapping: NIOTransport(), holdingDescribesUntil: held)
        let admin = core.server.adminPrincipal
        let client = KMSClient(endpoint: core.endpoint, region: "us-east-1",
                               credentials: AWSCredentials(accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey),
                               transport: transport)
        let backend = KMSClientBackend(client: client, info: EndpointInfo(endpoint: core.endpoint.absoluteString, account: "?",
                                                                          region: "us-east-1", principal: admin.name, mode: .remote),
                                       keyIndex: KeyIndexStore(directory: directory, endpoint: core.endpoint.absoluteString))
        return (backend, transport)
    }

    static func collect(_ backend: KMSClientBackend) async throws -> [KeyPassUpdate] {
        var updates: [KeyPassUpdate] = []
        for try await u in backend.keyPass() { updates.append(u) }
        return updates
    }

    static func remembered(_ updates: [KeyPassUpdate]) -> [KeyRecord] {
        updates.flatMap { if case .remembered(let r, _) = $0 { return r } else { return [] } }
    }

    static func described(_ updates: [KeyPassUpdate]) -> [KeyRecord] {
        updates.flatMap { if case .described(let r) = $0 { return r } else { return [] } }
    }

    /// An in-process core and an empty directory for its key index, both gone afterwards.
    static func withCoreAndIndexDirectory(_ body: @Sendable (InProcessCore, URL) async throws -> Void) async throws {
        let core = try await InProcessCore.forConsole()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cks-key-index-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        do { try await body(core, directory) } catch { Issue.record("\(error)") }
        await core.stop()
    }

    @Test("a second pass lists remembered keys before describing any, describes only keys never seen, then every remembered one again")
    func secondPassUsesTheIndex() async throws {
        try await Self.withCoreAndIndexDirectory { core, directory in
            let store = try await core.cloudHsmStore("ledger-hsm", keys: 5)
            for _ in 0..<3 { _ = try await core.client.createKey() }   // outside every custom key store

            // First run: every key described, the index written (readable by the user alone).
            let (first, firstCalls) = Self.backend(core, directory: directory)
            let pass1 = try await Self.collect(first)
            #expect(Self.remembered(pass1).isEmpty)
            #expect(Set(Self.described(pass1).map(\.id)) == Set(store.keyIds))
            #expect(firstCalls.describes.load(ordering: .relaxed) == 8)
            let files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            #expect(files.count == 1)
            let mode = try FileManager.default.attributesOfItem(atPath: try #require(files.first).path)[.posixPermissions] as? Int
            #expect(mode == 0o600)

            // Meanwhile: one key scheduled for deletion, one new key in the store and one outside.
            _ = try await core.client.scheduleKeyDeletion(keyId: store.keyIds[0], pendingWindowInDays: 7)
            let added = try #require(try await core.client.createKey(
                CreateKeyRequest(origin: .awsCloudHsm, customKeyStoreId: store.storeId)).keyMetadata?.keyId)
            _ = try await core.client.createKey()

            // Second run, describes held: the five remembered keys are listed with their remembered states.
            let gate = Gate()
            let (second, secondCalls) = Self.backend(core, directory: directory, held: gate)
            let seen = Mutex<[KeyPassUpdate]>([])
            let running = Task {
                for try await u in second.keyPass() { seen.withLock { $0.append(u) } }
            }
            await eventually("the remembered keys") { Self.remembered(seen.withLock { $0 }).count == 5 }
            let remembered = Self.remembered(seen.withLock { $0 })
            #expect(Set(remembered.map(\.id)) == Set(store.keyIds))
            #expect(remembered.first { $0.id == store.keyIds[0] }?.state == .enabled, "as it was seen, until described again")
            #expect(remembered.allSatisfy { $0.aliases.count == 1 }, "aliases are listed fresh")
            #expect(Self.described(seen.withLock { $0 }).isEmpty)
            gate.open()
            try await running.value
            let pass2 = seen.withLock { $0 }
            let again = Self.described(pass2)
            #expect(Set(again.map(\.id)) == Set(store.keyIds + [added]))
            #expect(again.first { $0.id == store.keyIds[0] }?.state == .pendingDeletion)
            // Five described again, two never seen; the three keys known to be outside every store are left alone.
            #expect(secondCalls.describes.load(ordering: .relaxed) == 7)
            #expect(second.keyIdsSeenByLastPass()?.count == 10)

            // A damaged index only costs speed: the next run describes every key and writes a good one.
            let file = try #require(try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil).first)
            try Data("cks-key-index 1\tnonsense".utf8).write(to: file)
            let (third, thirdCalls) = Self.backend(core, directory: directory)
            let pass3 = try await Self.collect(third)
            #expect(Self.remembered(pass3).isEmpty)
            #expect(Self.described(pass3).count == 6)
            #expect(thirdCalls.describes.load(ordering: .relaxed) == 10)
            let (fourth, fourthCalls) = Self.backend(core, directory: directory)
            #expect(Self.remembered(try await Self.collect(fourth)).count == 6)
            #expect(fourthCalls.describes.load(ordering: .relaxed) == 6)
        }
    }

    @Test("the console lists remembered keys at once, says their states are not confirmed, then confirms them")
    func consoleShowsRememberedStatesAsSuch() async throws {
        try await Self.withCoreAndIndexDirectory { core, directory in try await Self.consoleWalk(core, directory) }
    }

    @MainActor
    static func consoleWalk(_ core: InProcessCore, _ directory: URL) async throws {
        do {
            let store = try await core.cloudHsmStore("ledger-hsm", keys: 4)
            let (first, _) = Self.backend(core, directory: directory)
            _ = try await Self.collect(first)

            let gate = Gate()
            let (backend, _) = Self.backend(core, directory: directory, held: gate)
            var options = ConsoleOptions()
            options.timeZone = TimeZone(identifier: "UTC")!
            let app = ConsoleApp(backend: backend, inbox: ActivityInbox(), options: options)
            let surface = MemorySurface(width: 120, height: 30)
            app.start()
            /// Renders until `condition` holds (10 s at most).
            func drawn(_ what: String, _ condition: () -> Bool) async {
                let deadline = ContinuousClock.now + .seconds(10)
                while true {
                    app.tick()
                    app.render(on: surface)
                    if condition() { return }
                    guard ContinuousClock.now < deadline else {
                        Issue.record("timed out waiting for \(what):\n\(surface.lines.joined(separator: "\n"))")
                        return
                    }
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
            // The Stores screen counts from the index at once; the pending deletions wait for the descriptions.
            await drawn("the store counted from the index") {
                surface.lines.contains { $0.contains("ledger-hsm") && $0.range(of: #" 4 +… "#, options: .regularExpression) != nil }
            }
            #expect(surface.contains("4 keys (key index); their states are being described"))
            app.run("keys ledger-hsm")
            await drawn("the remembered keys listed") {
                surface.contains("Keys (4") && surface.contains("describing again, 4 left")
            }
            #expect(store.keyIds.allSatisfy { id in surface.contains(String(id.prefix(8))) })
            gate.open()
            await drawn("every state confirmed") {
                !surface.contains("describing again") && surface.contains("every state described again")
            }
            #expect(!surface.contains("not confirmed"))
            #expect(app.keysView(store.storeId).unconfirmed == 0)
            app.run("stores")
            await drawn("the store counted by the pass") { surface.contains("4 keys, 0 pending deletion") }
        }
    }
}
