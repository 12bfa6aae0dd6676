import CKSDomain
@testable import CKSTeardown
import Foundation
import Synchronization
@testable import CKSConsole

/// A clock the console and the in-memory core can share: wall time, scaled, or moved by hand in tests.
public final class SimulatedTime: Sendable {
    private struct State { var base: Date; var wallAtBase: Date; var scale: Double; var manual: Bool }
    private let state: Mutex<State>

    /// Time that only moves when `advance` is called (tests).
    public static func manual(at date: Date) -> SimulatedTime { SimulatedTime(State(base: date, wallAtBase: Date(), scale: 0, manual: true)) }
    /// Wall time multiplied by `scale` from now on (the demo's accelerated time).
    public static func scaled(_ scale: Double, from date: Date = Date()) -> SimulatedTime {
        SimulatedTime(State(base: date, wallAtBase: Date(), scale: scale, manual: false))
    }

    private init(_ s: State) { state = Mutex(s) }

    public func now() -> Date {
        state.withLock { s in
            s.manual ? s.base : s.base.addingTimeInterval(Date().timeIntervalSince(s.wallAtBase) * s.scale)
        }
    }

    public func advance(by seconds: TimeInterval) {
        state.withLock { s in s.base = s.base.addingTimeInterval(seconds) }
    }
}

/// A test double for the golden screens (the console's and the teardown's): an in-memory imitation of the KMS
/// rules the console depends on, with deterministic ids and a hand-moved clock, so every frame is the same in every
/// run. Test target only: the product reaches the core through `KMSClientBackend`, and the behaviour tests run
/// on a real core (`CoreHarness`).
public actor InMemoryBackend: ConsoleBackend {
    struct StoreState {
        var record: StoreRecord
        var transitionEnds: Date?
        var fault: ConnectionErrorCode?
    }
    struct KeyEntry {
        var record: KeyRecord
        var stateBeforeUnavailable: KeyState?
        var lastUsed: Date?
    }

    public nonisolated let time: SimulatedTime
    public nonisolated let recorder: CallRecorder
    let info: EndpointInfo
    var stores: [String: StoreState] = [:]
    var storeOrder: [String] = []
    var keys: [String: KeyEntry] = [:]
    var keyOrder: [String] = []
    var requestCounter = 0
    var callCounts: [String: Int] = [:]

    /// `req-` and 6 hex digits of the FNV-1a hash of `text`.
    static func stableRequestId(_ text: String) -> String {
        var hash: UInt64 = 0xcbf29ce484222325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100000001b3 }
        return "req-" + String(String(hash, radix: 16).suffix(6))
    }
    /// When set, every call fails as if the core had vanished.
    var unreachable = false
    /// When set, every call fails with this error (refused credentials, an endpoint without custom key stores).
    var failure: (any Error)?
    /// When set, listing keys fails with this error (a principal allowed to describe stores, not to list keys).
    var listKeysFailure: (any Error)?
    /// Seconds CONNECTING and DISCONNECTING last.
    public var connectDuration: TimeInterval = 120
    public var disconnectDuration: TimeInterval = 30

    public func setDurations(connect: TimeInterval, disconnect: TimeInterval) {
        connectDuration = connect
        disconnectDuration = disconnect
    }

    public init(time: SimulatedTime, recorder: CallRecorder = .discard,
                info: EndpointInfo = EndpointInfo(endpoint: "in-memory", account: "111122223333", region: "us-east-1",
                                                  principal: "admin", mode: .embedded)) {
        self.time = time
        self.recorder = recorder
        self.info = info
    }

    // MARK: seeding and test controls

    public func addStore(_ record: StoreRecord, fault: ConnectionErrorCode? = nil) {
        if stores[record.id] == nil { storeOrder.append(record.id) }
        // A store seeded mid-transition finishes it like any other.
        let ends: Date? = record.connectionState == .connecting ? time.now().addingTimeInterval(connectDuration)
            : record.connectionState == .disconnecting ? time.now().addingTimeInterval(disconnectDuration) : nil
        stores[record.id] = StoreState(record: record, transitionEnds: ends, fault: fault)
    }

    public func addKey(_ record: KeyRecord, lastUsed: Date? = nil, stateBeforeUnavailable: KeyState? = nil) {
        if keys[record.id] == nil { keyOrder.append(record.id) }
        keys[record.id] = KeyEntry(record: record, stateBeforeUnavailable: stateBeforeUnavailable, lastUsed: lastUsed)
    }

    public func setUnreachable(_ value: Bool) { unreachable = value }
    public func setFailure(_ error: (any Error)?) { failure = error }
    public func setListKeysFailure(_ error: (any Error)?) { listKeysFailure = error }
    public func setFault(_ storeId: String, _ code: ConnectionErrorCode?) { stores[storeId]?.fault = code }
    public func store(_ id: String) -> StoreRecord? { settle(); return stores[id]?.record }
    public func key(_ id: String) -> KeyRecord? { settle(); return keys[id]?.record }

    // MARK: ConsoleBackend

    public func endpointInfo() async -> EndpointInfo { info }

    public func listStores() async throws -> [StoreRecord] {
        try await call("DescribeCustomKeyStores", target: "*") { storeOrder.compactMap { stores[$0]?.record } }
    }

    public nonisolated func keys(inStore storeId: String) -> AsyncThrowingStream<KeyRecord, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let ids = try await self.listKeyIds(storeFilter: storeId)
                    for id in ids {
                        if Task.isCancelled { break }
                        if let record = try await self.describeKeyIfInStore(id, storeId: storeId) { continuation.yield(record) }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// One pass over the account, as KMSClientBackend makes it: ListKeys, then DescribeKey per key.
    public nonisolated func storeKeys() -> AsyncThrowingStream<[KeyRecord], any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    continuation.yield(try await self.describeStoreKeys())
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    public func keyCensus() async throws -> [String: KeyCensus] {
        let ids = try await listKeyIds(storeFilter: nil)
        var census: [String: KeyCensus] = [:]
        for id in ids {
            let record = try await describeKey(id)
            guard let store = record.customKeyStoreId else { continue }
            var c = census[store] ?? KeyCensus(total: 0, pendingDeletion: 0)
            c.total += 1
            if record.state == .pendingDeletion { c.pendingDeletion += 1 }
            census[store] = c
        }
        return census
    }

    public func describeKey(_ keyId: String) async throws -> KeyRecord {
        try await call("DescribeKey", target: keyId) { try entry(keyId).record }
    }

    public func lastUsage(_ keyId: String) async throws -> CKSConsole.KeyLastUsage {
        try await call("GetKeyLastUsage", target: keyId) {
            let e = try entry(keyId)
            return KeyLastUsage(lastUsed: e.lastUsed, operation: e.lastUsed == nil ? nil : "Decrypt", trackingStartDate: e.record.creationDate)
        }
    }

    public func coreTime() async throws -> Date? {
        try await call("CksAdmin.GetClock", target: "-") { time.now() }
    }

    public func connectStore(_ storeId: String) async throws {
        try await call("ConnectCustomKeyStore", target: storeId) {
            var s = try storeState(storeId)
            switch s.record.connectionState {
            case .connected, .connecting: return
            case .failed, .disconnecting:
                throw KMSError(.customKeyStoreInvalidState, "The custom key store \(storeId) is in \(s.record.connectionState.rawValue) state; it must be DISCONNECTED to connect.")
            case .disconnected:
                s.record.connectionState = .connecting
                s.transitionEnds = time.now().addingTimeInterval(connectDuration)
                stores[storeId] = s
            }
        }
    }

    public func disconnectStore(_ storeId: String) async throws {
        try await call("DisconnectCustomKeyStore", target: storeId) {
            var s = try storeState(storeId)
            switch s.record.connectionState {
            case .disconnected, .disconnecting:
                throw KMSError(.customKeyStoreInvalidState, "The custom key store \(storeId) is \(s.record.connectionState.rawValue).")
            case .connected, .connecting, .failed:
                s.record.connectionState = .disconnecting
                s.record.connectionErrorCode = nil
                s.transitionEnds = time.now().addingTimeInterval(disconnectDuration)
                stores[storeId] = s
                for id in keyOrder where keys[id]?.record.customKeyStoreId == storeId { makeUnavailable(id) }
            }
        }
    }

    public func scheduleKeyDeletion(_ keyId: String, pendingWindowInDays: Int) async throws -> Date {
        try await call("ScheduleKeyDeletion", target: keyId) {
            var e = try entry(keyId)
            guard (7...30).contains(pendingWindowInDays) else {
                throw KMSError(.validation, "PendingWindowInDays must be between 7 and 30")
            }
            if e.record.state == .pendingDeletion { throw KMSError(.kmsInvalidState, "\(e.record.arn) is pending deletion.") }
            let date = time.now().addingTimeInterval(TimeInterval(pendingWindowInDays) * 86_400)
            e.record.state = .pendingDeletion
            e.record.enabled = false
            e.record.deletionDate = date
            e.record.pendingDeletionWindowInDays = pendingWindowInDays
            keys[keyId] = e
            return date
        }
    }

    public func cancelKeyDeletion(_ keyId: String) async throws {
        try await call("CancelKeyDeletion", target: keyId) {
            var e = try entry(keyId)
            guard e.record.state == .pendingDeletion else { throw KMSError(.kmsInvalidState, "\(e.record.arn) is not pending deletion.") }
            e.record.deletionDate = nil
            e.record.pendingDeletionWindowInDays = nil
            e.record.enabled = false
            if storeIsConnected(e.record.customKeyStoreId) { e.record.state = .disabled } else {
                e.record.state = .unavailable
                e.stateBeforeUnavailable = .disabled
            }
            keys[keyId] = e
        }
    }

    public func enableKey(_ keyId: String) async throws { try await setEnabled(keyId, true) }
    public func disableKey(_ keyId: String) async throws { try await setEnabled(keyId, false) }

    // MARK: internals

    func setEnabled(_ keyId: String, _ enabled: Bool) async throws {
        try await call(enabled ? "EnableKey" : "DisableKey", target: keyId) {
            var e = try entry(keyId)
            switch e.record.state {
            case .pendingDeletion: throw KMSError(.kmsInvalidState, "\(e.record.arn) is pending deletion.")
            case .unavailable: e.stateBeforeUnavailable = enabled ? .enabled : .disabled
            default:
                e.record.state = enabled ? .enabled : .disabled
                e.record.enabled = enabled
            }
            keys[keyId] = e
        }
    }

    func listKeyIds(storeFilter: String?) async throws -> [String] {
        try settleOrFail()
        let ids = keyOrder.filter { keys[$0] != nil }
        // ListKeys pages of 1000, one call each, as the real listing does.
        var out: [String] = []
        var start = 0
        repeat {
            let page = Array(ids[start..<min(ids.count, start + 1000)])
            _ = try await call("ListKeys", target: start == 0 ? "*" : "page \(start / 1000 + 1)") { () throws -> [String] in
                if let listKeysFailure { throw listKeysFailure }
                return page
            }
            out += page
            start += 1000
        } while start < ids.count
        return out
    }

    /// In one turn of the actor, so the calls' request ids do not depend on how tasks interleave (goldens).
    func describeStoreKeys() async throws -> [KeyRecord] {
        var out: [KeyRecord] = []
        for id in try await listKeyIds(storeFilter: nil) {
            if let record = try await describeKeyIfPresent(id), record.customKeyStoreId != nil { out.append(record) }
        }
        return out
    }

    func describeKeyIfPresent(_ id: String) async throws -> KeyRecord? {
        guard let e = keys[id] else { return nil }
        return try await call("DescribeKey", target: id) { e.record }
    }

    func describeKeyIfInStore(_ id: String, storeId: String) async throws -> KeyRecord? {
        guard let e = keys[id] else { return nil }
        // The real listing describes every key to learn its store; a key of another store costs a call too.
        let record = try await call("DescribeKey", target: id) { e.record }
        return record.customKeyStoreId == storeId ? record : nil
    }

    func call<T: Sendable>(_ operation: String, target: String, _ body: () throws -> T) async throws -> T {
        requestCounter += 1
        // Named by the call (operation, target, how many such calls so far), not by arrival order: the console's
        // start runs the stores refresh and the pass over the keys concurrently, and the goldens must not depend
        // on which reaches the backend first.
        let occurrence = callCounts["\(operation)|\(target)", default: 0] + 1
        callCounts["\(operation)|\(target)"] = occurrence
        let rid = Self.stableRequestId("\(operation)|\(target)|\(occurrence)")
        let start = time.now()
        do {
            try settleOrFail()
            let value = try body()
            recorder.record(CallEvent(action: ActionTag.current, operation: operation, target: target, start: start,
                                      latency: 0, outcome: .ok, requestId: rid))
            return value
        } catch {
            let (code, message, _) = BackendError.describe(error)
            recorder.record(CallEvent(action: ActionTag.current, operation: operation, target: target, start: start,
                                      latency: 0, outcome: .failed(code: code, message: message),
                                      requestId: error is BackendError ? nil : rid))
            throw error
        }
    }

    func settleOrFail() throws {
        if unreachable { throw BackendError.unreachable("connection refused") }
        if let failure { throw failure }
        settle()
    }

    /// Applies everything time has decided since the last call: finished transitions, ended waiting periods.
    func settle() {
        let now = time.now()
        for id in storeOrder {
            guard var s = stores[id], let end = s.transitionEnds, end <= now else { continue }
            s.transitionEnds = nil
            if s.record.connectionState == .connecting {
                if let fault = s.fault {
                    s.record.connectionState = .failed
                    s.record.connectionErrorCode = fault
                } else {
                    s.record.connectionState = .connected
                    stores[id] = s
                    for k in keyOrder where keys[k]?.record.customKeyStoreId == id { restoreFromUnavailable(k) }
                }
            } else if s.record.connectionState == .disconnecting {
                s.record.connectionState = .disconnected
            }
            stores[id] = s
        }
        for id in keyOrder {
            if let e = keys[id], e.record.state == .pendingDeletion, let d = e.record.deletionDate, d <= now {
                keys[id] = nil
            }
        }
        keyOrder.removeAll { keys[$0] == nil }
    }

    func storeIsConnected(_ id: String?) -> Bool {
        guard let id, let s = stores[id] else { return true }
        return s.record.connectionState == .connected
    }

    func makeUnavailable(_ id: String) {
        guard var e = keys[id], e.record.state != .pendingDeletion, e.record.state != .unavailable else { return }
        e.stateBeforeUnavailable = e.record.state
        e.record.state = .unavailable
        e.record.enabled = false
        keys[id] = e
    }

    func restoreFromUnavailable(_ id: String) {
        guard var e = keys[id], e.record.state == .unavailable else { return }
        let previous = e.stateBeforeUnavailable ?? .enabled
        e.record.state = previous
        e.record.enabled = previous == .enabled
        e.stateBeforeUnavailable = nil
        keys[id] = e
    }

    func entry(_ keyId: String) throws -> KeyEntry {
        if let e = keys[keyId] { return e }
        if let e = keys.values.first(where: { $0.record.arn == keyId || $0.record.aliases.contains(keyId) }) { return e }
        throw KMSError(.notFound, "Key '\(keyId)' does not exist")
    }

    func storeState(_ id: String) throws -> StoreState {
        guard let s = stores[id] else { throw KMSError(.customKeyStoreNotFound, "Custom key store \(id) not found.") }
        return s
    }
}
