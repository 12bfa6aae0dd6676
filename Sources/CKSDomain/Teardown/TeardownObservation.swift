import Foundation

/// The waiting period of ScheduleKeyDeletion as the service enforces it: 7 to 30 days, 30 by default
/// (semantics §2.4; the model's 1–365 is wider than what KMS accepts).
public struct PendingWindow: Sendable, Hashable, Codable, CustomStringConvertible {
    public static let allowedDays: ClosedRange<Int> = 7...30
    public static let `default` = PendingWindow(uncheckedDays: 30)

    public let days: Int

    /// Nil when `days` is outside 7...30.
    public init?(days: Int) {
        guard Self.allowedDays.contains(days) else { return nil }
        self.days = days
    }

    private init(uncheckedDays: Int) { days = uncheckedDays }

    public init(from decoder: Decoder) throws {
        let days = try decoder.singleValueContainer().decode(Int.self)
        guard let window = PendingWindow(days: days) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "PendingWindowInDays must be between 7 and 30"))
        }
        self = window
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(days)
    }

    /// The date after which a key scheduled at `now` with this window is deleted.
    public func deletionDate(from now: Date) -> Date { now.addingTimeInterval(TimeInterval(days) * 86_400) }

    public var description: String { "\(days) days" }
}

/// What GetKeyLastUsage said about a key (semantics §6.13: botocore 1.43 has this operation).
public enum KeyLastUse: Sendable, Hashable {
    /// The last successful cryptographic operation, and when.
    case used(at: Date, operation: String?)
    /// No use since creation (KeyLastUsage empty and the key was created on or after TrackingStartDate).
    case neverUsed
    /// Nothing can be said: tracking started after creation, or the call failed. The reason says which.
    case unknown(reason: String)
}

/// Something the operator explicitly accepted. Each acknowledgement names one target, so a key that
/// appears later (or is cancelled by someone else) is never covered by an earlier "yes to all".
public struct TeardownAcknowledgement: Sendable, Hashable, Codable, Comparable {
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
        /// Schedule deletion of a key used recently (evidence reason `used`). Target: key id.
        case keyInUse
        /// ... whose use cannot be told (reason `unknown`). Target: key id.
        case keyUseUnknown
        /// ... with refused calls in the look-back window (reason `refused`). Target: key id.
        case keyRefused
        /// ... with grants to other principals or services (reason `grants`). Target: key id.
        case keyGrants
        /// ... whose policy names principals beyond the account's root (reason `policy`). Target: key id.
        case keyPolicy
        /// Go on after calls were refused while the key was disabled and observed (reason `observed`). Target: key id.
        case refusedWhileObserved
        /// Schedule deletion again of a key whose deletion someone else cancelled. Target: key id.
        case rescheduleCancelledKey
        /// Let the waiting period run while the CloudHSM store is not connected, orphaning the key material. Target: store id.
        case orphanKeyMaterial
        /// "Disconnect only" while keys of a CloudHSM store are pending deletion. Target: store id.
        case disconnectWithPendingKeys

        public static func < (a: Kind, b: Kind) -> Bool { a.rawValue < b.rawValue }
    }

    public var kind: Kind
    public var target: String

    public init(_ kind: Kind, _ target: String) {
        self.kind = kind
        self.target = target
    }

    public static func < (a: Self, b: Self) -> Bool { (a.kind, a.target) < (b.kind, b.target) }
}

/// Everything the teardown planner looks at. The plan is a pure function of this value:
/// the same observation always yields the same plan, whatever the order of the keys.
public struct TeardownObservation: Sendable, Hashable {
    /// HSM key material the core reports as orphaned on a cluster (the key was deleted while its store was not connected).
    public struct OrphanedKeyMaterial: Sendable, Hashable, Codable {
        public var clusterId: String
        public var keyId: String

        public init(clusterId: String, keyId: String) {
            self.clusterId = clusterId
            self.keyId = keyId
        }
    }

    /// The custom key store as DescribeCustomKeyStores returns it.
    public struct Store: Sendable, Hashable, Codable {
        public var id: String
        public var name: String
        public var type: CustomKeyStoreType
        public var connectionState: ConnectionState
        /// Present only when FAILED.
        public var connectionErrorCode: ConnectionErrorCode?
        /// CloudHSM stores: the backing cluster (never deleted by the teardown).
        public var cloudHsmClusterId: String?
        /// External key stores: the proxy (never deleted by the teardown).
        public var xksProxyUriEndpoint: String?
        /// External key stores: the external key ids seen behind its KMS keys during the teardown, so the plan of a
        /// store that is gone still names what stays in the external key manager.
        public var externalKeyIds: [String]?

        public init(id: String, name: String, type: CustomKeyStoreType, connectionState: ConnectionState,
                    connectionErrorCode: ConnectionErrorCode? = nil, cloudHsmClusterId: String? = nil,
                    xksProxyUriEndpoint: String? = nil, externalKeyIds: [String]? = nil) {
            self.externalKeyIds = externalKeyIds
            self.id = id
            self.name = name
            self.type = type
            self.connectionState = connectionState
            self.connectionErrorCode = connectionErrorCode
            self.cloudHsmClusterId = cloudHsmClusterId
            self.xksProxyUriEndpoint = xksProxyUriEndpoint
        }

        public var isCloudHsm: Bool { type == .awsCloudHsm }
    }

    /// A KMS key of the store as DescribeKey returns it.
    public struct Key: Sendable, Hashable, Codable {
        public var id: String
        public var state: KeyState
        /// Present only while PendingDeletion: the date after which KMS deletes the key.
        public var deletionDate: Date?
        public var aliases: [String]
        /// External key stores: the external key behind this KMS key (never deleted by KMS).
        public var xksKeyId: String?
        /// The observation marks a teardown left on the key (its tags), if any.
        public var observation: ObservationMark?

        public init(id: String, state: KeyState, deletionDate: Date? = nil, aliases: [String] = [], xksKeyId: String? = nil,
                    observation: ObservationMark? = nil) {
            self.observation = observation
            self.id = id
            self.state = state
            self.deletionDate = deletionDate
            self.aliases = aliases
            self.xksKeyId = xksKeyId
        }

        public var isPendingDeletion: Bool { state == .pendingDeletion }
    }

    /// Whether the store still exists.
    public enum StoreObservation: Sendable, Hashable {
        case present(Store)
        /// DescribeCustomKeyStores answered CustomKeyStoreNotFoundException for this id or name.
        /// `lastKnown` (from the journal) lets the plan say what was left behind.
        case gone(idOrName: String, lastKnown: Store?)
    }

    public var store: StoreObservation
    /// The store's keys; nil until the inventory has been taken.
    public var keys: [Key]?
    /// GetKeyLastUsage results by key id; a key without an entry has not been checked yet.
    public var lastUse: [String: KeyLastUse]
    /// Keys this teardown scheduled for deletion (from its journal): the keys "abort" gives back.
    public var scheduledByTeardown: Set<String>
    /// The state each key was in just before this teardown scheduled its deletion (`TeardownPriorStates`): what
    /// abort restores. A key without an entry is given back Disabled and not offered to be enabled again.
    public var stateBeforeTeardown: [String: KeyState]
    public var acknowledgements: Set<TeardownAcknowledgement>
    /// Orphaned HSM key material on the store's cluster, when the core reports it; nil when unknown.
    public var orphanedKeyMaterial: [OrphanedKeyMaterial]?
    /// The one waiting period used for every key this teardown schedules.
    public var window: PendingWindow
    public var now: Date
    /// Who can and did use each key (grants, policy, tags, CloudTrail); a key without an entry has no evidence beyond
    /// GetKeyLastUsage (an endpoint or service that cannot give any).
    public var evidence: [String: KeyEvidence] = [:]
    /// Days of CloudTrail looked at for the evidence (default 90).
    public var lookbackDays: Int = TeardownObservation.defaultLookbackDays
    /// This run asks to disable the keys and observe them for this many days before scheduling; nil: not asked (an
    /// observation the endpoint shows is still honoured).
    public var observeDays: Int?
    /// Calls refused on the store's keys since the observation began, newest first.
    public var observedRefusals: [RefusedAttempt] = []

    public static let defaultLookbackDays = 90

    public init(store: StoreObservation, keys: [Key]?, lastUse: [String: KeyLastUse] = [:],
                scheduledByTeardown: Set<String> = [], stateBeforeTeardown: [String: KeyState] = [:],
                acknowledgements: Set<TeardownAcknowledgement> = [],
                orphanedKeyMaterial: [OrphanedKeyMaterial]? = nil, window: PendingWindow = .default, now: Date) {
        self.store = store
        self.keys = keys
        self.lastUse = lastUse
        self.scheduledByTeardown = scheduledByTeardown
        self.stateBeforeTeardown = stateBeforeTeardown
        self.acknowledgements = acknowledgements
        self.orphanedKeyMaterial = orphanedKeyMaterial
        self.window = window
        self.now = now
    }
}
