import CKSClient
import CKSDomain
import CKSTeardown
import Foundation

/// Everything the console asks of the core. The product's implementation is `KMSClientBackend`: the project's
/// KMS client over HTTP, against `cks serve`, the embedded core, or AWS KMS itself. The seam exists so golden
/// tests can render fixed data. Every call an implementation makes on the wire is reported to the Activity pane.
public protocol ConsoleBackend: Sendable {
    /// Endpoint, account, region and mode for the header.
    func endpointInfo() async -> EndpointInfo
    /// What the configuration already says (endpoint, region, where the credentials come from), before any call: an
    /// error banner can say what to check even when the first call fails.
    func configuredEndpointInfo() -> EndpointInfo?
    /// The guided teardown's calls over this backend; `endpointIdentity` names the endpoint in the journal.
    func teardownService(info: EndpointInfo, endpointIdentity: String?) async -> any TeardownService
    /// DescribeCustomKeyStores (every page).
    func listStores() async throws -> [StoreRecord]
    /// The keys of one store, streamed as they are described (ListKeys, then DescribeKey per key).
    func keys(inStore storeId: String) -> AsyncThrowingStream<KeyRecord, any Error>
    /// Every key that is in a custom key store, streamed in batches as they are described: one pass over the
    /// account (KMS cannot list one store's keys) from which the console counts and lists every store's keys at
    /// once. Batches, because handing 100,000 keys to the UI thread one by one cost a thread wake-up each.
    func storeKeys() -> AsyncThrowingStream<[KeyRecord], any Error>
    /// The pass `storeKeys()` makes, told apart: keys remembered from an earlier run (listed at once, described again
    /// later) and keys described now.
    func keyPass() -> AsyncThrowingStream<KeyPassUpdate, any Error>
    /// Key ids the console shows now: while remembered keys are described again, these go first.
    func preferDescribing(_ keyIds: [String])
    /// Key counts per store id (stores without keys may be absent).
    func keyCensus() async throws -> [String: KeyCensus]
    /// DescribeKey (plus aliases).
    func describeKey(_ keyId: String) async throws -> KeyRecord
    /// GetKeyLastUsage.
    func lastUsage(_ keyId: String) async throws -> KeyLastUsage
    /// The core's clock (simulated time in a demo); nil when the endpoint has no such notion (AWS).
    func coreTime() async throws -> Date?
    func connectStore(_ storeId: String) async throws
    func disconnectStore(_ storeId: String) async throws
    /// ScheduleKeyDeletion; returns the deletion date.
    func scheduleKeyDeletion(_ keyId: String, pendingWindowInDays: Int) async throws -> Date
    func cancelKeyDeletion(_ keyId: String) async throws
    func enableKey(_ keyId: String) async throws
    func disableKey(_ keyId: String) async throws
    /// One key action on many keys with bounded concurrency and one result per key (partial failure reported
    /// key by key); `progress` hears each result as it arrives, from any task.
    func perform(_ action: KeyAction, on keyIds: [String], pendingWindowInDays: Int,
                 progress: @escaping @Sendable (KeyActionResult) -> Void) async -> [KeyActionResult]
    /// Every key id of the account (ListKeys, every page): how keys created or deleted outside the console are found
    /// between two passes.
    func listKeyIds() async throws -> Set<String>
    /// Every key id the last complete `storeKeys()` pass listed (custom key stores or not); nil when not known.
    func keyIdsSeenByLastPass() -> Set<String>?
    /// Who can and did use one key (grants, policy, tags, its CloudTrail events over `lookbackDays`); nil when the
    /// backend cannot tell.
    func keyEvidence(_ keyId: String, arn: String, lookbackDays: Int) async -> KeyEvidence?
    /// The evidence of a store's keys for the Keys list: one pass (grants, policy, tags per key, one CloudTrail pass).
    func storeEvidence(_ keyIds: [String], lookbackDays: Int) async -> [String: KeyEvidence]
}

/// The key actions the console applies to one key or all marked keys.
public enum KeyAction: String, Sendable, CaseIterable {
    case scheduleDeletion, cancelDeletion, enable, disable

    /// The KMS operation it calls.
    public var operation: String {
        switch self {
        case .scheduleDeletion: return "ScheduleKeyDeletion"
        case .cancelDeletion: return "CancelKeyDeletion"
        case .enable: return "EnableKey"
        case .disable: return "DisableKey"
        }
    }
}

/// The outcome of a key action on one key.
public struct KeyActionResult: Sendable, Hashable {
    public var keyId: String
    /// nil when the call succeeded; else the AWS error type (or transport failure) and message.
    public var failure: Failure?
    /// ScheduleKeyDeletion: the deletion date the core answered.
    public var deletionDate: Date?

    public struct Failure: Sendable, Hashable {
        public var code: String
        public var message: String
        public init(code: String, message: String) { self.code = code; self.message = message }
    }

    public init(keyId: String, failure: Failure? = nil, deletionDate: Date? = nil) {
        self.keyId = keyId; self.failure = failure; self.deletionDate = deletionDate
    }
}

/// A batch of a pass over the account's keys.
public enum KeyPassUpdate: Sendable {
    /// Keys in custom key stores as an earlier run described them (the key index), taken at `asOf`: listed now, their
    /// states not yet confirmed.
    case remembered([KeyRecord], asOf: Date)
    /// Keys in custom key stores described by this pass (first seen, or remembered and described again).
    case described([KeyRecord])
    /// Remembered keys that no longer exist.
    case gone([String])
    /// Every ListKeys page has been read and every key never seen before described: every key of every store
    /// has been handed over (remembered or described), so stores can be counted.
    case listed
}

extension ConsoleBackend {
    public func configuredEndpointInfo() -> EndpointInfo? { nil }
    /// Without a key index every key is described.
    public func keyPass() -> AsyncThrowingStream<KeyPassUpdate, any Error> {
        let (stream, continuation) = AsyncThrowingStream<KeyPassUpdate, any Error>.makeStream()
        let task = Task {
            do {
                for try await batch in storeKeys() { continuation.yield(.described(batch)) }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
    public func preferDescribing(_ keyIds: [String]) {}
    /// Backends that cannot list key ids cheaply find new keys with the next pass.
    public func listKeyIds() async throws -> Set<String> { throw BackendError.other("listing key ids is not supported") }
    public func keyIdsSeenByLastPass() -> Set<String>? { nil }
    public func keyEvidence(_ keyId: String, arn: String, lookbackDays: Int) async -> KeyEvidence? { nil }
    public func storeEvidence(_ keyIds: [String], lookbackDays: Int) async -> [String: KeyEvidence] { [:] }

    /// One call per key through the single-key methods, four at a time.
    public func perform(_ action: KeyAction, on keyIds: [String], pendingWindowInDays: Int,
                        progress: @escaping @Sendable (KeyActionResult) -> Void) async -> [KeyActionResult] {
        await BoundedConcurrency.map(keyIds, width: 4, onResult: progress) { id in
            await Self.performOne(self, action, id, pendingWindowInDays)
        }
    }

    private static func performOne(_ backend: Self, _ action: KeyAction, _ id: String, _ window: Int) async -> KeyActionResult {
        do {
            var date: Date?
            switch action {
            case .scheduleDeletion: date = try await backend.scheduleKeyDeletion(id, pendingWindowInDays: window)
            case .cancelDeletion: try await backend.cancelKeyDeletion(id)
            case .enable: try await backend.enableKey(id)
            case .disable: try await backend.disableKey(id)
            }
            return KeyActionResult(keyId: id, deletionDate: date)
        } catch {
            let (code, message, _) = BackendError.describe(error)
            return KeyActionResult(keyId: id, failure: .init(code: code, message: message))
        }
    }
}

/// The user action a call belongs to, carried as a task-local so calls made deep inside a backend
/// (each DescribeKey of a listing) land under the action that caused them.
public struct ActionTag: Sendable, Hashable {
    public var id: Int
    public var label: String
    public init(id: Int, label: String) { self.id = id; self.label = label }

    @TaskLocal public static var current: ActionTag?
}

/// One call on the wire as the Activity pane lists it.
public struct CallEvent: Sendable, Hashable {
    public enum Outcome: Sendable, Hashable {
        case ok
        case failed(code: String, message: String)
    }
    public var action: ActionTag?
    public var operation: String
    public var target: String
    public var start: Date
    public var latency: TimeInterval
    public var outcome: Outcome
    public var requestId: String?

    public init(action: ActionTag?, operation: String, target: String, start: Date, latency: TimeInterval,
                outcome: Outcome, requestId: String?) {
        self.action = action; self.operation = operation; self.target = target; self.start = start
        self.latency = latency; self.outcome = outcome; self.requestId = requestId
    }

    /// `200` or the error type, as shown in the STATUS column.
    public var statusText: String {
        switch outcome {
        case .ok: return "OK"
        case .failed(let code, _): return code
        }
    }
}

/// Where a backend reports the calls it made. Thread-safe: backends call it from any task.
public final class CallRecorder: Sendable {
    private let sink: @Sendable (CallEvent) -> Void
    public init(_ sink: @escaping @Sendable (CallEvent) -> Void) { self.sink = sink }
    /// A recorder that forgets everything (scripted verbs).
    public static let discard = CallRecorder { _ in }

    public func record(_ event: CallEvent) { sink(event) }

    /// Times `body` and records it under the current action, rethrowing its error.
    public func measure<T: Sendable>(_ operation: String, target: String, now: @Sendable () -> Date = Date.init,
                                     requestId: @Sendable (T) -> String? = { _ in nil },
                                     _ body: () async throws -> T) async throws -> T {
        let start = now()
        let clock = ContinuousClock()
        let t0 = clock.now
        do {
            let value = try await body()
            record(CallEvent(action: ActionTag.current, operation: operation, target: target, start: start,
                             latency: (clock.now - t0).seconds, outcome: .ok, requestId: requestId(value)))
            return value
        } catch {
            let (code, message, rid) = BackendError.describe(error)
            record(CallEvent(action: ActionTag.current, operation: operation, target: target, start: start,
                             latency: (clock.now - t0).seconds, outcome: .failed(code: code, message: message), requestId: rid))
            throw error
        }
    }
}

extension Duration {
    var seconds: TimeInterval {
        let (s, atto) = components
        return TimeInterval(s) + TimeInterval(atto) / 1e18
    }
}

/// How any error reads in the console.
extension BackendError {
    /// (code, message, request id) of any error, for the Activity pane and dialogs.
    /// The KMS error code of any error, when the server answered with a known `__type`.
    public static func kmsCode(_ error: any Error) -> KMSErrorCode? {
        if let e = error as? KMSError { return e.code }
        if let e = error as? any ConsoleDescribableError { return KMSErrorCode(rawValue: e.consoleCode) }
        return nil
    }

    public static func describe(_ error: any Error) -> (String, String, String?) {
        if let e = error as? KMSError { return (e.code.rawValue, e.message, nil) }
        if let e = error as? any ConsoleDescribableError { return (e.consoleCode, e.consoleMessage, e.consoleRequestId) }
        if let e = error as? BackendError {
            switch e {
            case .unreachable(let m): return ("Unreachable", m, nil)
            case .other(let m): return ("Error", m, nil)
            }
        }
        return ("Error", String(describing: error), nil)
    }

    /// Whether the error means the core itself is failing or gone (banner), not that a call was refused.
    public static func isCoreFailure(_ error: any Error) -> Bool {
        if let e = error as? KMSError { return e.code.isRetryable && e.code != .throttling }
        if let e = error as? any ConsoleDescribableError { return e.consoleIsCoreFailure }
        if let e = error as? BackendError, case .unreachable = e { return true }
        if error is URLError { return true }
        return false
    }
}

/// Lets an error of another layer (the client's typed errors) tell the console its code, message and request id.
public protocol ConsoleDescribableError: Error {
    var consoleCode: String { get }
    var consoleMessage: String { get }
    var consoleRequestId: String? { get }
    var consoleIsCoreFailure: Bool { get }
}
