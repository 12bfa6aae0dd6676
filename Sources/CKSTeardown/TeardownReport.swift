import CKSDomain
import Foundation

/// `cks teardown --output json`: the plan and what was done, in a stable shape for scripts (dates ISO 8601 UTC).
public struct TeardownReport: Encodable, Sendable {
    public struct Step: Encodable, Sendable {
        public var number: Int
        public var step: String
        public var title: String
        public var status: String
        public var summary: String
    }

    public struct Action: Encodable, Sendable {
        public var kind: String
        public var description: String
        public var calls: [String]
        public var keyIds: [String]?
        public var windowDays: Int?
        public var deletionDate: String?
        public var observeUntil: String? = nil
    }

    public struct Flag: Encodable, Sendable {
        public var keyId: String
        public var aliases: [String]
        public var reason: String
        /// The name `--acknowledge-reason` takes for it (used, refused, grants, policy, unknown, cancelled, observed).
        public var acknowledgeReason: String
        public var detail: String
        public var acknowledged: Bool
        /// What to pass to `--acknowledge` (the key id) or the acknowledgement's journal form.
        public var acknowledgement: String
    }

    public struct Warning: Encodable, Sendable {
        public var kind: String
        public var message: String
        public var offer: String?
        public var acknowledged: Bool
    }

    public struct Performed: Encodable, Sendable {
        public var operation: String
        public var targets: Int
        public var succeeded: Int
        /// Failed target → `ErrorType: message`.
        public var failures: [String: String]
        public var requestIds: [String]
    }

    public var store: String?
    public var storeId: String?
    public var storeType: String?
    /// ready | waiting | blocked | done
    public var status: String
    public var blockedReason: String?
    public var currentStep: String?
    public var action: Action
    public var steps: [Step]
    public var flaggedKeys: [Flag]
    public var warnings: [Warning]
    public var notes: [String]
    public var lastDeletionDate: String?
    public var keysLeft: Int?
    public var disconnectOnly: String?
    public var abortableKeyIds: [String]
    public var notDeleted: [String]
    /// The disable-and-observe phase, when there is one.
    public var observation: Observation?
    /// The evidence pass of this run: LookupEvents requests and events read.
    public var evidencePass: EvidencePassFigures?

    public struct Observation: Encodable, Sendable {
        public var from: String
        public var until: String
        public var complete: Bool
        public var keyIds: [String]
        /// Keys the teardown disabled: what `--abort` re-enables, and nothing else.
        public var disabledByTeardown: [String]
        public var refusedAttempts: [Refusal]
    }

    public struct Refusal: Encodable, Sendable {
        public var keyId: String
        public var time: String
        public var operation: String
        public var caller: String
        public var errorCode: String?
    }

    public struct EvidencePassFigures: Encodable, Sendable {
        public var lookupEventsRequests: Int
        public var eventsRead: Int
        public var keys: Int
    }
    public var performed: [Performed]
    public var dryRun: Bool
    public var exitStatus: Int32
    public var journal: String?
    public var journalProblem: String?

    public init(plan: TeardownPlan, now: Date, performed: [Performed], dryRun: Bool, exitStatus: Int32,
                journal: String?, journalProblem: String?) {
        store = plan.storeName
        storeId = plan.storeId
        storeType = plan.storeType?.rawValue
        switch plan.status {
        case .ready: status = "ready"
        case .waiting: status = "waiting"
        case .blocked(let reason): status = "blocked"; blockedReason = reason
        case .done: status = "done"
        }
        currentStep = plan.currentStep?.rawValue
        action = Self.action(plan.action, now: now)
        steps = plan.steps.map {
            Step(number: $0.kind.number, step: $0.kind.rawValue, title: $0.kind.title, status: $0.status.label, summary: $0.summary)
        }
        flaggedKeys = plan.flaggedKeys.map { flag in
            let reason: String
            switch flag.reason {
            case .usedRecently: reason = "usedWithin30Days"
            case .useUnknown: reason = "useUnknown"
            case .deletionCancelledElsewhere: reason = "deletionCancelledElsewhere"
            case .usedInWindow: reason = "usedInWindow"
            case .refusedInWindow: reason = "refusedInWindow"
            case .grants: reason = "grants"
            case .policy: reason = "policy"
            case .refusedWhileObserved: reason = "refusedWhileObserved"
            }
            return Flag(keyId: flag.keyId, aliases: flag.aliases, reason: reason, acknowledgeReason: flag.reason.name.rawValue,
                        detail: TeardownPlanText.reason(flag.reason, now: now), acknowledged: flag.isAcknowledged,
                        acknowledgement: flag.acknowledgement.journalTarget)
        }
        warnings = plan.warnings.map {
            Warning(kind: $0.kind.rawValue, message: $0.message, offer: $0.offer.map { TeardownPlanText.action($0, now: now) },
                    acknowledged: $0.isAcknowledged)
        }
        notes = plan.notes
        lastDeletionDate = (plan.waitProgress?.lastDeletionDate ?? plan.schedulePreview?.lastDeletionDate).map(ScriptedDate.iso)
        keysLeft = plan.waitProgress?.keysLeft
        disconnectOnly = plan.disconnectOnly?.explanation
        abortableKeyIds = plan.abortableKeyIds
        notDeleted = plan.notDeleted
        observation = plan.observation.map { o in
            Observation(from: ScriptedDate.iso(o.from), until: ScriptedDate.iso(o.until), complete: o.isComplete, keyIds: o.keyIds,
                        disabledByTeardown: o.disabledByTeardown,
                        refusedAttempts: o.refusals.map {
                            Refusal(keyId: $0.keyId, time: ScriptedDate.iso($0.call.time), operation: $0.call.operation,
                                    caller: $0.call.caller, errorCode: $0.call.errorCode)
                        })
        }
        self.performed = performed
        self.dryRun = dryRun
        self.exitStatus = exitStatus
        self.journal = journal
        self.journalProblem = journalProblem
    }

    static func action(_ action: TeardownAction, now: Date) -> Action {
        let description = TeardownPlanText.action(action, now: now)
        let calls = action.calls.map(\.rawValue)
        switch action {
        case .takeInventory: return Action(kind: "takeInventory", description: description, calls: calls)
        case .observe(let ids, _, _, let until):
            return Action(kind: "observe", description: description, calls: calls, keyIds: ids, deletionDate: nil,
                          observeUntil: ScriptedDate.iso(until))
        case .waitForObservation(let until, _):
            return Action(kind: "waitForObservation", description: description, calls: calls, observeUntil: ScriptedDate.iso(until))
        case .checkUse(let ids): return Action(kind: "checkUse", description: description, calls: calls, keyIds: ids)
        case .acknowledge(let flags):
            return Action(kind: "acknowledge", description: description, calls: calls, keyIds: Array(Set(flags.map(\.keyId))).sorted())
        case .scheduleDeletion(let ids, let window, let date):
            return Action(kind: "scheduleDeletion", description: description, calls: calls, keyIds: ids,
                          windowDays: window.days, deletionDate: ScriptedDate.iso(date))
        case .reconnect: return Action(kind: "reconnect", description: description, calls: calls)
        case .waitForDeletion(_, let last):
            return Action(kind: "waitForDeletion", description: description, calls: calls, deletionDate: last.map(ScriptedDate.iso))
        case .waitForConnectionState: return Action(kind: "waitForConnectionState", description: description, calls: calls)
        case .disconnect: return Action(kind: "disconnect", description: description, calls: calls)
        case .waitForDisconnected: return Action(kind: "waitForDisconnected", description: description, calls: calls)
        case .deleteStore: return Action(kind: "deleteStore", description: description, calls: calls)
        case .none: return Action(kind: "none", description: description, calls: calls)
        }
    }

    /// Pretty, key-sorted JSON with a final newline (`ScriptedJSON`, as every JSON output).
    public func json() -> String { ScriptedJSON.encode(self) }
}

/// ISO 8601 in UTC with seconds, as every scripted output prints dates.
enum ScriptedDate {
    static func iso(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}
