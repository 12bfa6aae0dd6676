import CKSDomain
import Foundation

/// A failed call as the teardown reports it: the AWS error type and message (or the transport failure).
public struct TeardownCallError: Error, Sendable, Hashable, CustomStringConvertible {
    /// `CustomKeyStoreHasCMKsException`, `EndpointConnectionError`, ...
    public var typeName: String
    public var message: String
    /// The KMS error code when the server answered with a known `__type`.
    public var code: KMSErrorCode?
    public var requestId: String?
    /// True when no answer came back (cannot reach, timed out, connection lost): the call can be retried as is.
    public var isTransport: Bool
    /// The exit status `EndpointProblem` gives the failure, when it was classified (errors from the KMS client are).
    public var exit: ScriptedExit?
    /// The one line `EndpointProblem` says for it, when classified.
    public var line: String?

    public init(typeName: String, message: String, code: KMSErrorCode? = nil, requestId: String? = nil, isTransport: Bool = false,
                exit: ScriptedExit? = nil) {
        self.typeName = typeName
        self.message = message
        self.code = code
        self.requestId = requestId
        self.isTransport = isTransport
        self.exit = exit
    }

    public init(_ error: KMSError, requestId: String? = nil) {
        self.init(typeName: error.code.rawValue, message: error.message, code: error.code, requestId: requestId,
                  exit: EndpointProblem.classify(error).exit)
    }

    public var description: String { line ?? (message.isEmpty ? typeName : "\(typeName): \(message)") }
}

/// The outcome of one call on one target (a key id or the store id).
public struct TeardownCallResult: Sendable, Hashable {
    public var target: String
    public var requestId: String?
    public var error: TeardownCallError?
    /// ScheduleKeyDeletion: the date after which KMS deletes the key.
    public var deletionDate: Date?

    public init(target: String, requestId: String? = nil, error: TeardownCallError? = nil, deletionDate: Date? = nil) {
        self.target = target
        self.requestId = requestId
        self.error = error
        self.deletionDate = deletionDate
    }

    public var succeeded: Bool { error == nil }
}

/// Everything the teardown needs from KMS (and, when the endpoint is a cks core, from its admin API).
/// `KMSClientTeardownService` implements it over the project's `KMSClient`; tests use an in-memory one.
public protocol TeardownService: Sendable {
    /// The endpoint calls go to, as the journal records it.
    var endpoint: String { get }
    /// The context (`:ctx`) and region the calls are made in, as the journal records them (nil: not known).
    var context: String? { get }
    var region: String? { get }
    /// The account and principal the calls are made as, when known (for the journal).
    func caller() async -> (account: String?, principal: String?)
    /// The service's notion of now: the core's simulated clock when it has one, else the local clock.
    func now() async -> Date
    /// DescribeCustomKeyStores by id (`cks-…`) or name; nil when CustomKeyStoreNotFoundException.
    func describeStore(_ idOrName: String) async throws(TeardownCallError) -> TeardownObservation.Store?
    /// The store's keys the AWS way (ListKeys, then DescribeKey per key); `progress` gets the count so far.
    func keys(inStore storeId: String, progress: @escaping @Sendable (Int) -> Void) async throws(TeardownCallError) -> [TeardownObservation.Key]
    /// GetKeyLastUsage for each key; a failed call reads as `.unknown` with the error as the reason.
    func lastUse(of keyIds: [String], progress: @escaping @Sendable (Int) -> Void) async -> [String: KeyLastUse]
    /// ScheduleKeyDeletion for each key with one window, bounded concurrency, one result per key.
    func scheduleKeyDeletion(_ keyIds: [String], window: PendingWindow,
                             progress: @escaping @Sendable (TeardownCallResult) -> Void) async -> [TeardownCallResult]
    func cancelKeyDeletion(_ keyIds: [String], progress: @escaping @Sendable (TeardownCallResult) -> Void) async -> [TeardownCallResult]
    func enableKey(_ keyIds: [String], progress: @escaping @Sendable (TeardownCallResult) -> Void) async -> [TeardownCallResult]
    func connect(storeId: String) async -> TeardownCallResult
    func disconnect(storeId: String) async -> TeardownCallResult
    func delete(storeId: String) async -> TeardownCallResult
    /// Orphaned key material on a cluster as the core reports it; nil when the endpoint cannot tell (real AWS).
    func orphanedKeyMaterial(clusterId: String) async -> [TeardownObservation.OrphanedKeyMaterial]?
    /// Moves the core's simulated clock forward (demo fast-forward); returns the new now.
    func advanceClock(seconds: Int) async throws(TeardownCallError) -> Date
    /// Every custom key store of the account and every key pending deletion in it, wherever it is: what moving the
    /// core's clock would delete (the demo's fast-forward asks before it does).
    func pendingDeletions() async throws(TeardownCallError) -> (stores: [TeardownObservation.Store], keys: [FastForwardPreview.PendingKey])
    /// Who can and did use each key: grants, key policy, tags per key, and one pass over CloudTrail's KMS events for the
    /// look-back window, filtered locally. CloudTrail unreachable or denied gives `.unknown` use, never "unused".
    func evidence(of keys: [TeardownObservation.Key], lookbackDays: Int, now: Date,
                  progress: @escaping @Sendable (EvidenceProgress) -> Void) async -> EvidencePass
    /// Calls refused on these keys since `since` (one pass over CloudTrail), newest first.
    func refusedCalls(on keyIds: Set<String>, since: Date, now: Date) async throws(TeardownCallError) -> [RefusedAttempt]
    /// Disable-and-observe: marks each key (TagResource: the window, and this teardown's id on the keys it disables),
    /// then DisableKey on those of `disable`. One result per key.
    func observe(_ keyIds: [String], disable: Set<String>, mark: ObservationMark, teardownId: String,
                 progress: @escaping @Sendable (TeardownCallResult) -> Void) async -> [TeardownCallResult]
    /// Ends an observation: EnableKey on `enable` (exactly the keys the teardown disabled), then removes the marks of `unmark`.
    func endObservation(enable: [String], unmark: [String],
                        progress: @escaping @Sendable (TeardownCallResult) -> Void) async -> [TeardownCallResult]
}

/// How far an evidence pass has come: the per-key reads, then the one pass over CloudTrail (which against AWS, at
/// 2 requests/s, can take minutes on a busy account).
public enum EvidenceProgress: Sendable, Hashable {
    /// Keys whose grants, policy and tags have been read.
    case keys(done: Int)
    /// LookupEvents requests answered and events read so far, for every key at once.
    case trail(requests: Int, events: Int)
}

/// What one evidence pass found, and what it cost in LookupEvents requests.
public struct EvidencePass: Sendable, Hashable {
    /// Per key; a key without an entry has no evidence beyond GetKeyLastUsage.
    public var evidence: [String: KeyEvidence]
    /// LookupEvents requests made for the whole pass (one pass over the account's KMS events, never one per key).
    public var lookupRequests: Int
    /// CloudTrail events read in the window (every key's, before local filtering).
    public var eventsRead: Int

    public init(evidence: [String: KeyEvidence] = [:], lookupRequests: Int = 0, eventsRead: Int = 0) {
        self.evidence = evidence
        self.lookupRequests = lookupRequests
        self.eventsRead = eventsRead
    }
}

/// The evidence and observation calls, with defaults for a service that has none (no evidence, no observation).
extension TeardownService {
    public func evidence(of keys: [TeardownObservation.Key], lookbackDays: Int, now: Date,
                         progress: @escaping @Sendable (EvidenceProgress) -> Void) async -> EvidencePass { EvidencePass() }

    public func refusedCalls(on keyIds: Set<String>, since: Date, now: Date) async throws(TeardownCallError) -> [RefusedAttempt] {
        throw TeardownCallError(typeName: "UnsupportedOperation", message: "this endpoint gives no record of refused calls")
    }

    public func observe(_ keyIds: [String], disable: Set<String>, mark: ObservationMark, teardownId: String,
                        progress: @escaping @Sendable (TeardownCallResult) -> Void) async -> [TeardownCallResult] {
        keyIds.map { TeardownCallResult(target: $0, error: TeardownCallError(typeName: "UnsupportedOperation",
                                                                            message: "this endpoint cannot disable and mark keys")) }
    }

    public func endObservation(enable: [String], unmark: [String],
                               progress: @escaping @Sendable (TeardownCallResult) -> Void) async -> [TeardownCallResult] {
        (enable + unmark.filter { !enable.contains($0) }).map {
            TeardownCallResult(target: $0, error: TeardownCallError(typeName: "UnsupportedOperation", message: "this endpoint cannot end an observation"))
        }
    }
}

extension KeyLastUse {
    /// Reads a GetKeyLastUsage answer (model doc): a recorded use is a use; none recorded means never used only
    /// when tracking started no later than the key's creation; otherwise nothing can be said.
    public static func from(lastUsed: Date?, operation: String?, keyCreationDate: Date?, trackingStartDate: Date?) -> KeyLastUse {
        if let lastUsed { return .used(at: lastUsed, operation: operation) }
        guard let created = keyCreationDate, let tracking = trackingStartDate else {
            return .unknown(reason: "GetKeyLastUsage gave neither a use nor both dates")
        }
        if created >= tracking { return .neverUsed }
        return .unknown(reason: "created before usage tracking started (\(TeardownText.date(tracking)))")
    }
}

extension TeardownService {
    public var context: String? { nil }
    public var region: String? { nil }
}
