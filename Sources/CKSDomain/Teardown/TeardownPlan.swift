import Foundation

/// The safe path from a populated custom key store to a deleted one (semantics §2.5), derived
/// from what is observed. It decides nothing by itself: a runner executes `action`, observes
/// again, and asks for a new plan.
public struct TeardownPlan: Sendable, Hashable {
    public var storeId: String?
    public var storeName: String?
    public var storeType: CustomKeyStoreType?
    /// Always the seven steps, in order.
    public var steps: [TeardownStep]
    /// The first step that is not done; nil once the store is deleted.
    public var currentStep: TeardownStep.Kind?
    public var status: TeardownStatus
    /// The one thing to do now for the current step.
    public var action: TeardownAction
    /// Keys that need an acknowledgement before deletion can be scheduled, sorted by key id.
    public var flaggedKeys: [FlaggedKey]
    public var warnings: [TeardownWarning]
    /// Facts worth knowing that need no decision (keys already pending, keys added mid-teardown...).
    public var notes: [String]
    /// What scheduling would do now: which keys, which window, which dates.
    public var schedulePreview: SchedulePreview?
    /// Progress of the waiting period, once every key is pending deletion.
    public var waitProgress: WaitProgress?
    /// The reversible alternative AWS recommends, offered before the teardown changes anything.
    public var disconnectOnly: DisconnectOnlyOption?
    /// Keys "abort teardown" would give back (scheduled by this teardown and still pending), sorted.
    public var abortableKeyIds: [String]
    /// What "abort teardown" would do to them: nil when there is nothing to abort.
    public var abort: AbortPreview?
    /// What the teardown leaves in place, stated up front and again at the end.
    public var notDeleted: [String]
    /// The disable-and-observe phase, when asked for or shown by the keys' marks.
    public var observation: ObservationStatus? = nil

    /// The step of the given kind.
    public func step(_ kind: TeardownStep.Kind) -> TeardownStep {
        steps.first { $0.kind == kind } ?? TeardownStep(kind: kind, status: .upcoming, summary: kind.title)
    }
}

/// Where the teardown stands as a whole; the scripted verb's exit code follows it.
public enum TeardownStatus: Sendable, Hashable {
    /// `action` is a call the runner can make now.
    case ready
    /// Nothing to do but wait (waiting period, CONNECTING, DISCONNECTING); observe again later.
    case waiting
    /// An operator decision is needed first; the reason says which. `action` is the unblocking action if there is one.
    case blocked(reason: String)
    /// The store is deleted.
    case done
}

/// One step of the safe path.
public struct TeardownStep: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable, Codable {
        case inventory
        case checkUse
        case scheduleDeletion
        case waitForDeletion
        case disconnect
        case waitForDisconnected
        case deleteStore

        public var title: String {
            switch self {
            case .inventory: return "Inventory the keys of the store"
            case .checkUse: return "Check when each key was last used"
            case .scheduleDeletion: return "Schedule deletion of every key"
            case .waitForDeletion: return "Wait until every key is deleted"
            case .disconnect: return "Disconnect the store"
            case .waitForDisconnected: return "Wait for DISCONNECTED"
            case .deleteStore: return "Delete the store"
            }
        }

        /// 1-based position, for checklists.
        public var number: Int { (Self.allCases.firstIndex(of: self) ?? 0) + 1 }
    }

    public enum Status: Sendable, Hashable {
        case done
        /// The current step, with an action to take.
        case next
        /// The current step, and it is a matter of time.
        case waiting
        /// The current step, and it needs something first.
        case blocked(reason: String)
        /// A later step.
        case upcoming

        public var label: String {
            switch self {
            case .done: return "done"
            case .next: return "next"
            case .waiting: return "waiting"
            case .blocked: return "blocked"
            case .upcoming: return "upcoming"
            }
        }
    }

    public var kind: Kind
    public var status: Status
    /// One line saying what this step found or will do, with figures.
    public var summary: String

    public init(kind: Kind, status: Status, summary: String) {
        self.kind = kind
        self.status = status
        self.summary = summary
    }
}

/// The API calls a teardown action stands for, named as the KMS API names them.
public enum TeardownCall: String, Sendable, Hashable, Codable {
    case listKeys = "ListKeys+DescribeKey"
    case getKeyLastUsage = "GetKeyLastUsage"
    case evidence = "ListGrants+GetKeyPolicy+ListResourceTags"
    case lookupEvents = "LookupEvents"
    case disableKey = "DisableKey"
    case tagResource = "TagResource"
    case scheduleKeyDeletion = "ScheduleKeyDeletion"
    case cancelKeyDeletion = "CancelKeyDeletion"
    case enableKey = "EnableKey"
    case connectCustomKeyStore = "ConnectCustomKeyStore"
    case disconnectCustomKeyStore = "DisconnectCustomKeyStore"
    case deleteCustomKeyStore = "DeleteCustomKeyStore"
}

/// The one action of the current step.
public enum TeardownAction: Sendable, Hashable {
    /// Take the inventory: the store's keys the AWS way (ListKeys, then DescribeKey per key).
    case takeInventory
    /// GetKeyLastUsage for these keys (sorted).
    case checkUse(keyIds: [String])
    /// The operator must acknowledge these keys, one by one or as a marked set.
    case acknowledge([FlaggedKey])
    /// Disable-and-observe: DisableKey on `disable` (the Enabled ones), and mark every key of `keyIds` (TagResource)
    /// with the observation window and, for the keys disabled, this teardown's id.
    case observe(keyIds: [String], disable: [String], from: Date, until: Date)
    /// Watch the disabled keys for refused calls until `until`; nothing to call.
    case waitForObservation(until: Date, keysObserved: Int)
    /// ScheduleKeyDeletion for these keys (sorted), all with one window.
    case scheduleDeletion(keyIds: [String], window: PendingWindow, deletionDate: Date)
    /// Connect a CloudHSM store again so KMS can delete the key material when the waiting period ends.
    /// `calls` is `[Connect]`, or `[Disconnect, Connect]` from FAILED (the only way out of FAILED).
    case reconnect(calls: [TeardownCall])
    /// Wait for the waiting period to end; nothing to call.
    case waitForDeletion(keysLeft: Int, lastDeletionDate: Date?)
    /// Wait for a transient connection state (CONNECTING, DISCONNECTING) to settle.
    case waitForConnectionState(ConnectionState)
    case disconnect
    case waitForDisconnected
    /// DeleteCustomKeyStore, confirmed by typing the store's name.
    case deleteStore(confirmName: String)
    /// The store is deleted; nothing left.
    case none

    /// The API calls this action makes, in order; empty for waits and decisions.
    public var calls: [TeardownCall] {
        switch self {
        case .takeInventory: return [.listKeys]
        case .checkUse: return [.getKeyLastUsage, .evidence, .lookupEvents]
        case .observe(_, let disable, _, _): return disable.isEmpty ? [.tagResource] : [.disableKey, .tagResource]
        case .scheduleDeletion: return [.scheduleKeyDeletion]
        case .reconnect(let calls): return calls
        case .disconnect: return [.disconnectCustomKeyStore]
        case .deleteStore: return [.deleteCustomKeyStore]
        case .acknowledge, .waitForObservation, .waitForDeletion, .waitForConnectionState, .waitForDisconnected, .none: return []
        }
    }

    /// Whether executing the action changes something in KMS (and so needs the operator's confirmation).
    public var changesState: Bool {
        switch self {
        case .scheduleDeletion, .observe, .reconnect, .disconnect, .deleteStore: return true
        default: return false
        }
    }
}

/// A key that must be acknowledged before its deletion is scheduled.
public struct FlaggedKey: Sendable, Hashable {
    public enum Reason: Sendable, Hashable {
        /// Used for a cryptographic operation within the last 30 days.
        case usedRecently(at: Date, operation: String?)
        /// GetKeyLastUsage cannot tell whether it was used.
        case useUnknown(reason: String)
        /// This teardown scheduled its deletion and someone else cancelled it.
        case deletionCancelledElsewhere
        /// CloudTrail shows successful calls in the look-back window: how many, and the latest.
        case usedInWindow(uses: Int, last: TrailCall, days: Int)
        /// CloudTrail shows refused calls in the look-back window: how many, and the latest.
        case refusedInWindow(refusals: Int, last: TrailCall, days: Int)
        /// Grants let these principals use the key (services called out by name).
        case grants([KeyEvidence.Grant])
        /// The key policy allows these principals beyond the account's root.
        case policy(principals: [String])
        /// Calls refused while the key was disabled and observed, newest first.
        case refusedWhileObserved([TrailCall])

        /// The reason's name, as `--acknowledge-reason` takes it.
        public var name: EvidenceReason {
            switch self {
            case .usedRecently, .usedInWindow: return .used
            case .useUnknown: return .unknown
            case .deletionCancelledElsewhere: return .cancelled
            case .refusedInWindow: return .refused
            case .grants: return .grants
            case .policy: return .policy
            case .refusedWhileObserved: return .observed
            }
        }
    }

    public var keyId: String
    public var aliases: [String]
    public var reason: Reason
    /// The acknowledgement that clears this flag.
    public var acknowledgement: TeardownAcknowledgement
    public var isAcknowledged: Bool

    public init(keyId: String, aliases: [String], reason: Reason, acknowledgement: TeardownAcknowledgement, isAcknowledged: Bool) {
        self.keyId = keyId
        self.aliases = aliases
        self.reason = reason
        self.acknowledgement = acknowledgement
        self.isAcknowledged = isAcknowledged
    }
}

/// The disable-and-observe phase as observed: which keys are disabled and watched, until when, what was refused.
public struct ObservationStatus: Sendable, Hashable {
    public var from: Date
    public var until: Date
    /// Keys carrying the observation mark (not pending deletion), sorted.
    public var keyIds: [String]
    /// Keys this teardown disabled (the `cks:teardown` tag): what aborting the observation re-enables, sorted.
    public var disabledByTeardown: [String]
    /// Calls refused on the observed keys since `from`, newest first.
    public var refusals: [RefusedAttempt]
    /// Seconds left, never negative.
    public var remaining: TimeInterval
    /// The observation has run its course (with or without acknowledged refusals).
    public var isComplete: Bool
}

/// A danger the operator must see, possibly with an offered remedy.
public struct TeardownWarning: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, Codable {
        /// CloudHSM store not connected while keys are (or are about to be) pending deletion.
        case keyMaterialWillBeOrphaned
        /// The core reports orphaned key material on the store's cluster.
        case orphanedKeyMaterial
        /// The store is FAILED; the connection error code says why.
        case storeFailed
        /// Keys of an external key store: KMS never touches the external keys.
        case externalKeysUntouched
    }

    public var kind: Kind
    public var message: String
    /// The remedy the plan offers (e.g. reconnect), if any.
    public var offer: TeardownAction?
    /// The acknowledgement that lets the teardown proceed without the remedy, if any.
    public var acknowledgement: TeardownAcknowledgement?
    public var isAcknowledged: Bool

    public init(kind: Kind, message: String, offer: TeardownAction? = nil,
                acknowledgement: TeardownAcknowledgement? = nil, isAcknowledged: Bool = false) {
        self.kind = kind
        self.message = message
        self.offer = offer
        self.acknowledgement = acknowledgement
        self.isAcknowledged = isAcknowledged
    }
}

/// What scheduling deletion would do if done now.
public struct SchedulePreview: Sendable, Hashable {
    public var keyIds: [String]
    public var window: PendingWindow
    /// now + window: the date after which the newly scheduled keys are deleted.
    public var deletionDate: Date
    /// The latest deletion date across every key once scheduled (keys already pending may end later).
    public var lastDeletionDate: Date
    /// Deletion dates of the store's keys already pending deletion, sorted: they keep them, so the wait can end later.
    public var alreadyPending: [Date] = []

    /// With another window (the schedule dialog's +/-): the dates of the newly scheduled keys and of the whole wait.
    public func with(window: PendingWindow, now: Date) -> SchedulePreview {
        let date = window.deletionDate(from: now)
        return SchedulePreview(keyIds: keyIds, window: window, deletionDate: date,
                               lastDeletionDate: ([date] + alreadyPending).max() ?? date, alreadyPending: alreadyPending)
    }

    /// Keys already pending whose dates fall after the newly scheduled keys' date.
    public var pendingLater: [Date] { alreadyPending.filter { $0 > deletionDate } }
}

/// The waiting period while keys are pending deletion.
public struct WaitProgress: Sendable, Hashable {
    public var keysLeft: Int
    /// The latest DeletionDate among the keys left; nil if no key reports one.
    public var lastDeletionDate: Date?
    /// Seconds from now to `lastDeletionDate`, never negative.
    public var remaining: TimeInterval
    /// Keys whose DeletionDate has passed but which still exist (KMS deletes "after" the date, so this can lag).
    public var overdueKeys: Int
    /// Every pending key's deletion date, sorted: the shape of the wait.
    public var deletionDates: [Date] = []
}

/// "Disconnect only": reversible, no key deleted, keys unusable until reconnected.
public struct DisconnectOnlyOption: Sendable, Hashable {
    public var explanation: String
    /// Whether disconnecting is possible in the current connection state.
    public var isAvailable: Bool
    public var unavailableReason: String?
    /// Needed when a CloudHSM store has keys pending deletion (their material would be orphaned).
    public var requiredAcknowledgement: TeardownAcknowledgement?
    public var isAcknowledged: Bool
}
