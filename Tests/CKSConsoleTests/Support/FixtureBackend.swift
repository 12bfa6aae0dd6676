import CKSDomain
import Foundation
import Synchronization
@testable import CKSConsole

/// A clock that moves only when told to (tests).
final class ManualClock: Sendable {
    private let current: Mutex<Date>
    init(_ start: Date) { current = Mutex(start) }
    func now() -> Date { current.withLock { $0 } }
    func advance(by seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// Fixed model data for the golden renderer tests: the demo estate as deterministic records (same ids every run),
/// answered read-only with each call recorded as the Activity pane shows it. Not a core: it implements no rule,
/// and every change is refused. The behaviour tests run on a real core instead (`CoreHarness`).
actor FixtureBackend: ConsoleBackend {
    struct KeyEntry {
        var record: KeyRecord
        var lastUsed: Date?
    }

    nonisolated let clock: ManualClock
    nonisolated let recorder: CallRecorder
    let info: EndpointInfo
    var stores: [StoreRecord] = []
    var keys: [KeyEntry] = []
    var requestCounter = 0

    init(clock: ManualClock, recorder: CallRecorder, info: EndpointInfo) {
        self.clock = clock
        self.recorder = recorder
        self.info = info
    }

    func add(_ store: StoreRecord) { stores.append(store) }
    func add(_ key: KeyRecord, lastUsed: Date?) { keys.append(KeyEntry(record: key, lastUsed: lastUsed)) }

    func endpointInfo() async -> EndpointInfo { info }

    func listStores() async throws -> [StoreRecord] {
        call("DescribeCustomKeyStores", target: "*") { stores }
    }

    nonisolated func keys(inStore storeId: String) -> AsyncThrowingStream<KeyRecord, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                for record in await self.describeAll() where record.customKeyStoreId == storeId {
                    continuation.yield(record)
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// ListKeys, then DescribeKey per key (recorded as the real listing makes them).
    func describeAll() -> [KeyRecord] {
        _ = call("ListKeys", target: "*") { 0 }
        return keys.map { k in call("DescribeKey", target: k.record.id) { k.record } }
    }

    func keyCensus() async throws -> [String: KeyCensus] {
        var census: [String: KeyCensus] = [:]
        for record in describeAll() {
            guard let store = record.customKeyStoreId else { continue }
            var c = census[store] ?? KeyCensus(total: 0, pendingDeletion: 0)
            c.total += 1
            if record.state == .pendingDeletion { c.pendingDeletion += 1 }
            census[store] = c
        }
        return census
    }

    func describeKey(_ keyId: String) async throws -> KeyRecord {
        try call("DescribeKey", target: keyId) { try entry(keyId).record }
    }

    func lastUsage(_ keyId: String) async throws -> CKSConsole.KeyLastUsage {
        try call("GetKeyLastUsage", target: keyId) {
            let e = try entry(keyId)
            return KeyLastUsage(lastUsed: e.lastUsed, operation: e.lastUsed == nil ? nil : "Decrypt", trackingStartDate: e.record.creationDate)
        }
    }

    func coreTime() async throws -> Date? { call("CksAdmin.GetClock", target: "-") { clock.now() } }

    func connectStore(_ storeId: String) async throws { throw Self.readOnly }
    func disconnectStore(_ storeId: String) async throws { throw Self.readOnly }
    func scheduleKeyDeletion(_ keyId: String, pendingWindowInDays: Int) async throws -> Date { throw Self.readOnly }
    func cancelKeyDeletion(_ keyId: String) async throws { throw Self.readOnly }
    func enableKey(_ keyId: String) async throws { throw Self.readOnly }
    func disableKey(_ keyId: String) async throws { throw Self.readOnly }

    static let readOnly = BackendError.other("the golden fixture is read-only")

    func entry(_ keyId: String) throws -> KeyEntry {
        guard let e = keys.first(where: { $0.record.id == keyId }) else { throw KMSError(.notFound, "Key '\(keyId)' does not exist") }
        return e
    }

    func call<T>(_ operation: String, target: String, _ body: () throws -> T) rethrows -> T {
        requestCounter += 1
        let rid = String(format: "req-%06d", requestCounter)
        let start = clock.now()
        do {
            let value = try body()
            recorder.record(CallEvent(action: ActionTag.current, operation: operation, target: target, start: start,
                                      latency: 0, outcome: .ok, requestId: rid))
            return value
        } catch {
            let (code, message, _) = BackendError.describe(error)
            recorder.record(CallEvent(action: ActionTag.current, operation: operation, target: target, start: start,
                                      latency: 0, outcome: .failed(code: code, message: message), requestId: rid))
            throw error
        }
    }
}

extension DemoEstate {
    /// The estate as fixed records (deterministic ids for a given `seed`), for the golden tests.
    func fixture(into backend: FixtureBackend, now: Date, seed: UInt64 = 42) async {
        var rng = SplitMix64(seed: seed)
        let account = "111122223333"
        let region = "us-east-1"
        for (index, plan) in stores.enumerated() {
            let storeId = "cks-" + rng.hex(17)
            let created = now.addingTimeInterval(-Double(400 - index * 37) * 86_400)
            let clusterId = plan.type == .awsCloudHsm ? "cluster-" + rng.base32(11) : nil
            let proxy = plan.type == .externalKeyStore
                ? XksProxyInfo(connectivity: .publicEndpoint, uriEndpoint: "https://\(plan.name).xks.example.com",
                               uriPath: "/example/kms/xks/v1", accessKeyId: "AKIA" + rng.base32(16).uppercased())
                : nil
            await backend.add(StoreRecord(id: storeId, name: plan.name, type: plan.type, connectionState: plan.finalState,
                                          connectionErrorCode: plan.finalState == .failed ? plan.fault : nil, creationDate: created,
                                          cloudHsmClusterId: clusterId, hsmCount: clusterId == nil ? nil : 2 + index % 2, xksProxy: proxy))
            for k in 0..<plan.keyCount {
                let keyId = rng.uuid()
                let keyCreated = created.addingTimeInterval(Double(k) * 3_600 + 86_400)
                var state: KeyState = k < plan.disabled ? .disabled : .enabled
                var deletion: Date?
                var window: Int?
                if k >= plan.keyCount - plan.pendingDeletion {
                    window = [7, 10, 14, 21, 30][k % 5]
                    let remaining = Double(window!) * 86_400 - Double((k * 7_919) % 500_000)
                    deletion = now.addingTimeInterval(max(3_600, remaining))
                    state = .pendingDeletion
                }
                let shownState: KeyState = (state == .pendingDeletion || plan.finalState == .connected) ? state : .unavailable
                let aliases = plan.aliasPrefix.map { [String(format: "\($0)%04d", k + 1)] } ?? []
                let used: Date? = k % 4 == 3 ? nil : now.addingTimeInterval(-Double((k * 104_729) % 5_000_000))
                let key = KeyRecord(
                    id: keyId, arn: "arn:aws:kms:\(region):\(account):key/\(keyId)", accountId: account, aliases: aliases,
                    state: shownState, enabled: shownState == .enabled, description: "\(plan.description) key \(k + 1)",
                    creationDate: keyCreated, deletionDate: deletion, pendingDeletionWindowInDays: window,
                    origin: plan.type == .awsCloudHsm ? .awsCloudHsm : .externalKeyStore, customKeyStoreId: storeId,
                    cloudHsmClusterId: clusterId, xksKeyId: plan.type == .externalKeyStore ? "ekm-" + rng.hex(12) : nil)
                await backend.add(key, lastUsed: used)
            }
        }
    }
}

/// A small deterministic generator (SplitMix64), so fixture ids are the same in every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func hex(_ n: Int) -> String {
        String((0..<n).map { _ in "0123456789abcdef".randomElement(using: &self)! })
    }
    mutating func base32(_ n: Int) -> String {
        String((0..<n).map { _ in "abcdefghijklmnopqrstuvwxyz234567".randomElement(using: &self)! })
    }
    mutating func uuid() -> String {
        "\(hex(8))-\(hex(4))-\(hex(4))-\(hex(4))-\(hex(12))"
    }
}
