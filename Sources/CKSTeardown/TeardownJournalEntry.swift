import CKSDomain
import Foundation

/// One line of the teardown journal (`teardowns.jsonl`): an action a teardown took, when, against
/// what, by whom, and how it went. The journal is a record for people and for resuming; the plan is
/// always computed from what is observed, never from these lines.
public struct TeardownJournalEntry: Codable, Sendable, Hashable {
    /// The store as it was when the line was written (enough to say what was left behind after it is gone).
    public struct Store: Codable, Sendable, Hashable {
        public var id: String
        public var name: String
        public var type: CustomKeyStoreType
        public var cloudHsmClusterId: String?
        public var xksProxyUriEndpoint: String?
        /// The external key ids seen behind the store's keys (what stays in the external key manager).
        public var externalKeyIds: [String]?

        public init(id: String, name: String, type: CustomKeyStoreType, cloudHsmClusterId: String? = nil,
                    xksProxyUriEndpoint: String? = nil, externalKeyIds: [String]? = nil) {
            self.externalKeyIds = externalKeyIds
            self.id = id
            self.name = name
            self.type = type
            self.cloudHsmClusterId = cloudHsmClusterId
            self.xksProxyUriEndpoint = xksProxyUriEndpoint
        }

        public init(_ store: TeardownObservation.Store) {
            self.init(id: store.id, name: store.name, type: store.type, cloudHsmClusterId: store.cloudHsmClusterId,
                      xksProxyUriEndpoint: store.xksProxyUriEndpoint, externalKeyIds: store.externalKeyIds)
        }

        /// The last known store, for a plan of a store that is gone.
        public var observed: TeardownObservation.Store {
            TeardownObservation.Store(id: id, name: name, type: type, connectionState: .disconnected,
                                      cloudHsmClusterId: cloudHsmClusterId, xksProxyUriEndpoint: xksProxyUriEndpoint,
                                      externalKeyIds: externalKeyIds)
        }
    }

    /// What the line records. API calls are named as the KMS API names them.
    public enum Operation: String, Codable, Sendable, Hashable {
        /// A teardown began (the operator confirmed it).
        case start = "StartTeardown"
        /// The operator acknowledged flags; targets are `kind:target` strings.
        case acknowledge = "Acknowledge"
        case scheduleKeyDeletion = "ScheduleKeyDeletion"
        case cancelKeyDeletion = "CancelKeyDeletion"
        case enableKey = "EnableKey"
        case connectCustomKeyStore = "ConnectCustomKeyStore"
        case disconnectCustomKeyStore = "DisconnectCustomKeyStore"
        case deleteCustomKeyStore = "DeleteCustomKeyStore"
        /// The operator aborted the teardown; CancelKeyDeletion lines follow.
        case abort = "AbortTeardown"
        /// The store was observed gone: the teardown is over.
        case complete = "CompleteTeardown"
        /// The operator chose the reversible alternative instead: the store stays, disconnected.
        case disconnectOnly = "DisconnectOnly"
        /// Disable-and-observe: the keys were marked (TagResource) and the Enabled ones disabled (DisableKey).
        case observe = "DisableAndObserve"
        /// The observation ended by an abort: the keys the teardown disabled were enabled again, the marks removed.
        case endObservation = "EndObservation"
    }

    public enum Result: String, Codable, Sendable, Hashable {
        case ok
        /// Some targets succeeded, some failed (see `failures`).
        case partial
        case failed
    }

    public var time: Date
    /// Identifies one teardown across its lines (a store can be torn down, aborted, and torn down again).
    public var teardown: String
    public var endpoint: String
    public var account: String?
    public var principal: String?
    public var store: Store
    public var step: TeardownStep.Kind?
    public var operation: Operation
    /// Key ids, or the store id, or `kind:target` acknowledgements.
    public var targets: [String]
    public var result: Result
    /// `x-amzn-RequestId` of each call made, in order.
    public var requestIds: [String]
    /// Failed targets → `ErrorType: message`.
    public var failures: [String: String]?
    /// The waiting period, on StartTeardown and ScheduleKeyDeletion lines.
    public var windowDays: Int?
    /// ScheduleKeyDeletion lines: each target's key state just before it was scheduled (what abort restores).
    public var statesBefore: [String: String]?
    public var note: String?
    /// The context (`:ctx`) and region the teardown runs in: resuming opens them again. Absent in lines written
    /// before contexts existed (such a teardown resumes in whatever region is open, as before).
    public var context: String?
    public var region: String?

    public init(time: Date, teardown: String, endpoint: String, account: String?, principal: String?, store: Store,
                step: TeardownStep.Kind?, operation: Operation, targets: [String], result: Result,
                requestIds: [String] = [], failures: [String: String]? = nil, windowDays: Int? = nil,
                statesBefore: [String: String]? = nil, note: String? = nil) {
        self.time = time
        self.teardown = teardown
        self.endpoint = endpoint
        self.account = account
        self.principal = principal
        self.store = store
        self.step = step
        self.operation = operation
        self.targets = targets
        self.result = result
        self.requestIds = requestIds
        self.failures = failures?.isEmpty == true ? nil : failures
        self.windowDays = windowDays
        self.statesBefore = statesBefore?.isEmpty == true ? nil : statesBefore
        self.note = note
    }

    /// Targets that succeeded (all of them unless the line records failures).
    public var succeededTargets: [String] {
        guard result != .failed else { return [] }
        let failed = failures ?? [:]
        return targets.filter { failed[$0] == nil }
    }
}

extension TeardownAcknowledgement {
    /// `keyInUse:1234abcd-…`, the form the journal stores.
    public var journalTarget: String { "\(kind.rawValue):\(target)" }

    public init?(journalTarget: String) {
        guard let colon = journalTarget.firstIndex(of: ":"),
              let kind = Kind(rawValue: String(journalTarget[..<colon])) else { return nil }
        self.init(kind, String(journalTarget[journalTarget.index(after: colon)...]))
    }
}

/// A teardown as its journal lines tell it.
public struct TeardownRecord: Sendable, Hashable {
    public enum State: String, Sendable, Hashable {
        case inProgress = "in progress"
        case aborted
        case completed
        /// Ended with the reversible alternative: the store was disconnected and kept.
        case disconnectedOnly = "disconnected only"
    }

    public var id: String
    public var endpoint: String
    public var account: String?
    public var principal: String?
    public var store: TeardownJournalEntry.Store
    public var startedAt: Date
    public var updatedAt: Date
    public var window: PendingWindow?
    /// Keys this teardown scheduled and has not given back by aborting.
    public var scheduledKeyIds: Set<String>
    /// The state each key it scheduled was in just before (as its ScheduleKeyDeletion lines recorded it).
    public var statesBefore: [String: KeyState]
    public var acknowledgements: Set<TeardownAcknowledgement>
    /// Keys given back by an abort (CancelKeyDeletion succeeded), so they can be enabled again.
    public var cancelledKeyIds: Set<String>
    public var enabledKeyIds: Set<String>
    public var state: State
    public var lastStep: TeardownStep.Kind?
    public var lastOperation: TeardownJournalEntry.Operation
    /// The context and region it runs in (nil in journals written before contexts).
    public var context: String?
    public var region: String?

    /// Whether this record is about the given store on the given endpoint and account.
    public func matches(endpoint: String, account: String?, store idOrName: String) -> Bool {
        self.endpoint == endpoint && (account == nil || self.account == nil || self.account == account)
            && (store.id == idOrName || store.name == idOrName)
    }
}

extension TeardownRecord {
    /// Folds journal lines (in file order) into teardowns, oldest first.
    public static func fold(_ entries: [TeardownJournalEntry]) -> [TeardownRecord] {
        var order: [String] = []
        var records: [String: TeardownRecord] = [:]
        for e in entries {
            var r = records[e.teardown] ?? {
                order.append(e.teardown)
                return TeardownRecord(
                    id: e.teardown, endpoint: e.endpoint, account: e.account, principal: e.principal, store: e.store,
                    startedAt: e.time, updatedAt: e.time, window: nil, scheduledKeyIds: [], statesBefore: [:], acknowledgements: [],
                    cancelledKeyIds: [], enabledKeyIds: [], state: .inProgress, lastStep: nil, lastOperation: e.operation)
            }()
            r.updatedAt = max(r.updatedAt, e.time)
            if let c = e.context { r.context = c }
            if let region = e.region { r.region = region }
            r.store = e.store  // the latest name wins (a store can be renamed)
            r.lastOperation = e.operation
            if let step = e.step { r.lastStep = step }
            if let days = e.windowDays, let window = PendingWindow(days: days) { r.window = window }
            let ok = e.succeededTargets
            switch e.operation {
            case .start: r.state = .inProgress
            case .acknowledge: r.acknowledgements.formUnion(ok.compactMap(TeardownAcknowledgement.init(journalTarget:)))
            case .scheduleKeyDeletion, .observe:
                if e.operation == .scheduleKeyDeletion { r.scheduledKeyIds.formUnion(ok) }
                // The earliest state recorded wins: a key disabled to be observed was Enabled before the teardown.
                for id in ok where r.statesBefore[id] == nil {
                    if let state = e.statesBefore?[id].flatMap(KeyState.init(rawValue:)) { r.statesBefore[id] = state }
                }
            case .cancelKeyDeletion:
                r.scheduledKeyIds.subtract(ok)
                r.cancelledKeyIds.formUnion(ok)
            case .enableKey: r.enabledKeyIds.formUnion(ok)
            case .abort: r.state = .aborted
            case .complete: r.state = .completed
            case .disconnectOnly: r.state = .disconnectedOnly
            case .connectCustomKeyStore, .disconnectCustomKeyStore, .endObservation: break
            case .deleteCustomKeyStore: if e.result == .ok { r.state = .completed }
            }
            records[e.teardown] = r
        }
        return order.compactMap { records[$0] }
    }
}
