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
    }

    public struct Flag: Encodable, Sendable {
        public var keyId: String
        public var aliases: [String]
        public var reason: String
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
            }
            return Flag(keyId: flag.keyId, aliases: flag.aliases, reason: reason,
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
