import CKSClient
import CKSDomain
import CKSEmbedded
import CKSServer
@testable import CKSTeardown
import CKSWire
import Foundation
import Synchronization
import Testing
@testable import CKSConsole

/// The embedded default (`cks` with no endpoint anywhere) and `cks --demo`: a real core in-process, reached only
/// through the KMS client over HTTP.
@Suite("Embedded core and demo", .serialized)
struct EmbeddedTests {
    /// A home of its own with no AWS configuration at all.
    static func isolatedEnvironment() throws -> ([String: String], URL) {
        let home = try EmbeddedCore.makeTemporaryDirectory(prefix: "cks-home")
        return (["HOME": home.path, "XDG_DATA_HOME": home.appendingPathComponent("data").path, "TERM": "dumb"], home)
    }

    @Test("the default data directory is $XDG_DATA_HOME/cks, else ~/.local/share/cks")
    func defaultDataDirectory() {
        #expect(EmbeddedCore.defaultDataDirectory(environment: ["XDG_DATA_HOME": "/x/data", "HOME": "/h"]).path == "/x/data/cks")
        #expect(EmbeddedCore.defaultDataDirectory(environment: ["HOME": "/h"]).path == "/h/.local/share/cks")
        #expect(EmbeddedCore.defaultDataDirectory(environment: ["XDG_DATA_HOME": "", "HOME": "/h"]).path == "/h/.local/share/cks")
        #expect(EmbeddedCore.defaultDataDirectory(environment: ["XDG_DATA_HOME": "relative", "HOME": "/h"]).path == "/h/.local/share/cks",
                "a relative XDG_DATA_HOME is ignored, as the XDG spec says")
    }

    @Test("no endpoint anywhere: a core starts in-process over the default data dir and is used as its admin, over HTTP")
    func embeddedDefault() async throws {
        let (env, home) = try Self.isolatedEnvironment()
        defer { try? FileManager.default.removeItem(at: home) }
        let first = try await BackendFactory.make(ConsoleFlags(), environment: env)
        let core = try #require(first.core)
        let dataDir = home.appendingPathComponent("data/cks")
        #expect(core.dataDirectory.path == dataDir.path)
        let info = await first.backend.endpointInfo()
        #expect(info.mode == .embedded)
        #expect(info.endpoint.hasPrefix("http://127.0.0.1:"))
        #expect(info.account == core.admin.account && info.principal == "admin")
        let principals = dataDir.appendingPathComponent("principals.json")
        let mode = try FileManager.default.attributesOfItem(atPath: principals.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // The calls really go over HTTP to the core, as to AWS: the Activity pane sees the core's request ids.
        #expect(try await first.backend.listStores().isEmpty)
        let events = first.inbox.drain()
        #expect(events.contains { $0.operation == "DescribeCustomKeyStores" && $0.requestId != nil })
        // What it does persists in the default data directory, under the same admin principal next time.
        guard let client = (first.backend as? KMSClientBackend)?.client else { Issue.record("not the client backend"); return }
        let cluster = try await client.createCloudHsmCluster(kmsUserPassword: "kmsuser-pass")
        _ = try await client.createCustomKeyStore(CreateCustomKeyStoreRequest(
            customKeyStoreName: "kept", cloudHsmClusterId: cluster.clusterId, trustAnchorCertificate: cluster.trustAnchorCertificate,
            keyStorePassword: "kmsuser-pass"))
        let admin = core.admin.accessKeyId
        await first.stop()
        #expect(FileManager.default.fileExists(atPath: dataDir.path), "the default data directory is kept")
        let second = try await BackendFactory.make(ConsoleFlags(), environment: env)
        #expect(second.core?.admin.accessKeyId == admin)
        #expect(try await second.backend.listStores().map(\.name) == ["kept"])
        await second.stop()
    }

    @Test("an endpoint configured anywhere wins over the embedded core")
    func configuredEndpoint() async throws {
        var (env, home) = try Self.isolatedEnvironment()
        defer { try? FileManager.default.removeItem(at: home) }
        env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
        env["AWS_ACCESS_KEY_ID"] = "AKIDEXAMPLE"
        env["AWS_SECRET_ACCESS_KEY"] = "secret"
        let prepared = try await BackendFactory.make(ConsoleFlags(), environment: env)
        #expect(prepared.core == nil)
        let info = await prepared.backend.endpointInfo()
        #expect(info.mode == .remote && info.endpoint == "http://127.0.0.1:9")
        #expect(!FileManager.default.fileExists(atPath: home.appendingPathComponent("data/cks").path))
    }

    @Test("--demo seeds the whole estate through the client on a temporary core with accelerated time, removed on stop")
    func demo() async throws {
        let clock = ContinuousClock()
        let started = clock.now
        let progress = ProgressLog()
        let prepared = try await BackendFactory.demo(progress: { progress.add($0) })
        let elapsed = clock.now - started
        print("demo: core started and standard estate seeded in \(elapsed) (\(progress.last?.done ?? 0) calls)")
        let core = try #require(prepared.core)
        let backend = try #require(prepared.backend as? KMSClientBackend)
        do {
            #expect(core.dataDirectory.lastPathComponent.hasPrefix("cks-demo-"))
            #expect((progress.last?.done ?? 0) > 700, "the estate is built call by call, with progress")
            let info = await backend.endpointInfo()
            #expect(info.mode == .embedded && info.endpoint.hasPrefix("http://127.0.0.1:") && info.note == "demo, time x60")
            let stores = Dictionary(uniqueKeysWithValues: try await backend.listStores().map { ($0.name, $0) })
            #expect(stores.count == 6)
            #expect(stores["payments-hsm"]?.connectionState == .connected)
            #expect(stores["partner-xks"]?.connectionState == .connected)
            #expect(stores["ledger-hsm"]?.connectionState == .disconnected)
            #expect(stores["archive-xks"]?.connectionState == .disconnected)
            #expect(stores["analytics-hsm"]?.stateText == "FAILED (NETWORK_ERRORS)")
            let staging = stores["staging-hsm"]?.connectionState
            #expect(staging == .connecting || staging == .connected, "a connect still running when the console opens")
            #expect(stores["payments-hsm"]?.hsmCount == 2 && stores["ledger-hsm"]?.hsmCount == 3)
            let census = try await backend.keyCensus()
            let id = { (name: String) in stores[name]?.id ?? "" }
            #expect(census[id("payments-hsm")] == KeyCensus(total: 240, pendingDeletion: 6))
            #expect(census[id("ledger-hsm")] == KeyCensus(total: 14, pendingDeletion: 9))
            #expect(census[id("partner-xks")] == KeyCensus(total: 24, pendingDeletion: 2))
            #expect(census[id("analytics-hsm")] == KeyCensus(total: 6, pendingDeletion: 0))
            // Keys with aliases, states as the core derives them, deletion dates spread over the windows.
            var payments: [KeyRecord] = []
            for try await k in backend.keys(inStore: id("payments-hsm")) { payments.append(k) }
            #expect(payments.allSatisfy { $0.aliases.count == 1 && $0.aliases[0].hasPrefix("alias/payments/card-") })
            #expect(payments.filter { $0.state == .disabled }.count == 12)
            let now = try #require(try await backend.coreTime())
            #expect(abs(now.timeIntervalSinceNow) < 3_600, "the history ends now")
            let waits = payments.compactMap { $0.deletionDate?.timeIntervalSince(now) }
            #expect(waits.count == 6 && waits.allSatisfy { $0 > 86_400 && $0 < 30 * 86_400 } && Set(waits.map { Int($0 / 86_400) }).count > 2)
            let created = payments.map(\.creationDate)
            #expect(created.max()!.timeIntervalSince(created.min()!) > 100 * 86_400, "keys were created over months")
            var ledger: [KeyRecord] = []
            for try await k in backend.keys(inStore: id("ledger-hsm")) { ledger.append(k) }
            #expect(Set(ledger.map(\.state)) == [.unavailable, .pendingDeletion])
            // GetKeyLastUsage has real answers: used keys, and keys never used.
            let used = try await backend.lastUsage(payments.first { $0.aliases == ["alias/payments/card-0001"] }!.id)
            let never = try await backend.lastUsage(payments.first { $0.aliases == ["alias/payments/card-0004"] }!.id)
            #expect(used.lastUsed != nil && used.operation == "Encrypt")
            #expect(never.lastUsed == nil)
            // The seeding is the first group of the Activity pane.
            let events = prepared.inbox.drain()
            #expect(events.filter { $0.action?.label == "seed the demo estate (cks --demo)" }.count > 700)
            #expect(events.contains { $0.operation == "CksAdmin.SetConnectionFault" })
        } catch {
            await prepared.stop()
            throw error
        }
        await prepared.stop()
        #expect(!FileManager.default.fileExists(atPath: core.dataDirectory.path), "the demo's data is removed on exit")
    }

    /// The in-process transport (the demo's seeding) goes through the same front as HTTP: signatures are
    /// verified, errors are AWS errors with request ids, and what it does is visible over HTTP.
    @Test("the in-process transport answers as the HTTP front does (SigV4 checked, AWS errors, request ids)")
    func inProcessTransport() async throws {
        let directory = try EmbeddedCore.makeTemporaryDirectory(prefix: "cks-inprocess-test")
        let core = try await EmbeddedCore.start(dataDirectory: directory, removeOnShutdown: true)
        let inProcess = core.client(transport: InProcessTransport(core: core))
        let overHTTP = core.client()
        let forged = KMSClient(endpoint: core.endpoint, region: core.region,
                               credentials: AWSCredentials(accessKeyId: core.credentials.accessKeyId, secretAccessKey: "wrong"),
                               transport: InProcessTransport(core: core))
        do {
            let cluster = try await inProcess.createCloudHsmCluster(kmsUserPassword: "kmsuser-pass-1", hsmCount: 2)
            let id = try await inProcess.createCustomKeyStore(CreateCustomKeyStoreRequest(
                customKeyStoreName: "in-process", cloudHsmClusterId: cluster.clusterId,
                trustAnchorCertificate: cluster.trustAnchorCertificate, keyStorePassword: "kmsuser-pass-1",
                customKeyStoreType: .awsCloudHsm)).customKeyStoreId
            let seen = try await overHTTP.describeCustomKeyStores().customKeyStores ?? []
            #expect(seen.contains { $0.customKeyStoreId == id && $0.customKeyStoreName == "in-process" })
            do {
                _ = try await inProcess.describeKey(keyId: "00000000-0000-0000-0000-000000000000")
                Issue.record("DescribeKey of a missing key succeeded")
            } catch {
                #expect(error.typeName == "NotFoundException")
                #expect(error.requestId?.isEmpty == false)
            }
            do {
                _ = try await forged.describeCustomKeyStores()
                Issue.record("a wrong secret was accepted in process")
            } catch {
                #expect(error.typeName == "InvalidSignatureException", "\(error)")
            }
        } catch {
            inProcess.shutdown(); overHTTP.shutdown(); forged.shutdown()
            await core.shutdown()
            throw error
        }
        inProcess.shutdown(); overHTTP.shutdown(); forged.shutdown()
        await core.shutdown()
    }

    @Test("a KMS endpoint without the admin API: the account comes from a key ARN, countdowns from the wall clock")
    func accountFromArn() async throws {
        let inbox = ActivityInbox()
        let transport = ObservingTransport(wrapping: CannedTransport([
            "TrentService.ListKeys": (200, #"{"Keys":[{"KeyId":"k1","KeyArn":"arn:aws:kms:eu-west-1:444455556666:key/k1"}],"Truncated":false}"#),
        ]), recorder: inbox.recorder)
        let client = KMSClient(endpoint: URL(string: "http://127.0.0.1:9")!, region: "eu-west-1",
                               credentials: AWSCredentials(accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret"), transport: transport)
        let backend = KMSClientBackend(client: client, info: EndpointInfo(endpoint: "http://127.0.0.1:9", account: "?",
                                                                          region: "eu-west-1", principal: "AKIDEXAMPLE", mode: .remote))
        #expect(await backend.endpointInfo().account == "444455556666")
        #expect(try await backend.coreTime() == nil)
        #expect(try await backend.coreTime() == nil)
        #expect(inbox.drain().filter { $0.operation.hasPrefix("CksAdmin.") }.count == 1, "the admin API refused once, never asked again")
    }
}

/// Progress reports from any task.
final class ProgressLog: Sendable {
    private let reports = Mutex<[DemoSeeder.Progress]>([])
    func add(_ p: DemoSeeder.Progress) { reports.withLock { $0.append(p) } }
    var last: DemoSeeder.Progress? { reports.withLock { $0.max { $0.done < $1.done } } }
}
