import CKSDomain
import Foundation

/// The plan in words, shared by the scripted verb and the console view so both say the same thing. Pure.
public enum TeardownPlanText {
    /// The one action, as a sentence naming the exact API call(s).
    public static func action(_ action: TeardownAction, now: Date? = nil) -> String {
        switch action {
        case .takeInventory:
            return "List the store's keys (ListKeys, then DescribeKey per key)"
        case .checkUse(let ids):
            return "Gather who can and did use \(TeardownText.count(ids.count, "key")) (GetKeyLastUsage, ListGrants, GetKeyPolicy, "
                + "ListResourceTags per key; one CloudTrail LookupEvents pass)"
        case .observe(let ids, let disable, _, let until):
            var text = "Disable \(TeardownText.count(disable.count, "key")) (DisableKey) and mark \(ids.count) (TagResource) to "
                + "observe refused calls until \(TeardownText.date(until))"
            if let now { text += " (\(TeardownText.duration(until.timeIntervalSince(now))))" }
            return text
        case .waitForObservation(let until, let count):
            var text = "Observe: \(TeardownText.count(count, "key")) disabled, watching for refused calls until \(TeardownText.date(until))"
            if let now { text += " (\(TeardownText.duration(max(0, until.timeIntervalSince(now)))) left)" }
            return text
        case .acknowledge(let flags):
            let keys = Set(flags.map(\.keyId)).count
            return "Acknowledge \(TeardownText.count(keys, "flagged key")), one by one or as a marked set, before scheduling deletion"
        case .scheduleDeletion(let ids, let window, let date):
            return "ScheduleKeyDeletion for \(TeardownText.count(ids.count, "key")), window \(window.days) days: "
                + "deleted after \(TeardownText.date(date))"
        case .reconnect(let calls):
            let names = calls.map(\.rawValue).joined(separator: ", then ")
            return "Reconnect the store (\(names)) so KMS can delete the key material when the waiting period ends"
        case .waitForDeletion(let left, let last):
            var text = "Wait: \(TeardownText.count(left, "key")) left"
            if let last {
                text += ", last deletion after \(TeardownText.date(last))"
                if let now { text += " (in \(TeardownText.duration(last.timeIntervalSince(now))))" }
            }
            return text
        case .waitForConnectionState(let state):
            return "Wait for the store to leave \(state.rawValue)"
        case .disconnect:
            return "Disconnect the store (DisconnectCustomKeyStore)"
        case .waitForDisconnected:
            return "Wait until the store is DISCONNECTED"
        case .deleteStore(let name):
            return "Delete the store (DeleteCustomKeyStore); type its name, \(name), to confirm"
        case .none:
            return "Nothing left to do: the store is deleted"
        }
    }

    /// Why a key is flagged, in a few words.
    public static func reason(_ reason: FlaggedKey.Reason, now: Date, short: Bool = false) -> String {
        switch reason {
        case .usedRecently(let at, let operation):
            let ago = TeardownText.duration(now.timeIntervalSince(at))
            return "used \(ago) ago\(operation.map { " (\($0))" } ?? "")" + (short ? "" : " on \(TeardownText.date(at))")
        case .useUnknown(let why): return "use unknown: \(why)"
        case .deletionCancelledElsewhere: return "its deletion was cancelled outside this teardown"
        case .usedInWindow(let uses, let last, let days):
            let ago = TeardownText.duration(now.timeIntervalSince(last.time))
            return "\(TeardownText.count(uses, "call")) in \(days) days, latest \(last.operation) by \(caller(last.caller, short)) \(ago) ago"
        case .refusedInWindow(let refusals, let last, let days):
            let ago = TeardownText.duration(now.timeIntervalSince(last.time))
            return "\(TeardownText.count(refusals, "refused call")) in \(days) days, latest \(last.operation) by \(caller(last.caller, short)) "
                + "(\(last.errorCode ?? "refused")) \(ago) ago"
        case .grants(let grants):
            let services = Set(grants.compactMap(\.service)).sorted()
            let others = Set(grants.filter { $0.service == nil }.map(\.grantee)).sorted()
            var parts: [String] = []
            if !services.isEmpty { parts.append("svc: " + services.joined(separator: ", ")) }
            if !others.isEmpty { parts.append(TeardownText.list(others, limit: short ? 1 : 3)) }
            return "\(TeardownText.count(grants.count, "grant")) to " + parts.joined(separator: "; ")
        case .policy(let principals):
            return "policy allows \(TeardownText.list(principals, limit: short ? 1 : 3))"
        case .refusedWhileObserved(let calls):
            guard let last = calls.first else { return "refused while observed" }
            return "\(TeardownText.count(calls.count, "call")) refused while disabled, latest \(last.operation) by \(last.caller) at "
                + "\(TeardownText.date(last.time)) (\(last.errorCode ?? "refused"))"
        }
    }

    /// A caller's ARN, or in short its last part (`role/payments-api`).
    static func caller(_ arn: String, _ short: Bool) -> String {
        guard short, arn.hasPrefix("arn:"), let last = arn.split(separator: ":").last else { return arn }
        return String(last)
    }

    /// `[x]`, `[>]`, `[~]`, `[!]`, `[ ]` in ASCII; `✓ ▶ … ✗ ·` otherwise.
    public static func mark(_ status: TeardownStep.Status, ascii: Bool) -> String {
        switch status {
        case .done: return ascii ? "[x]" : "✓"
        case .next: return ascii ? "[>]" : "▶"
        case .waiting: return ascii ? "[~]" : "…"
        case .blocked: return ascii ? "[!]" : "✗"
        case .upcoming: return ascii ? "[ ]" : "·"
        }
    }

    /// The whole plan as lines of text (for the scripted verb's table output).
    public static func lines(_ plan: TeardownPlan, now: Date, ascii: Bool = true) -> [String] {
        var out: [String] = []
        let type = plan.storeType.map { $0 == .awsCloudHsm ? "CloudHSM key store" : "external key store" } ?? "custom key store"
        out.append("Teardown of \(type) \(plan.storeName ?? "?")" + (plan.storeId.map { " (\($0))" } ?? ""))
        for step in plan.steps {
            var line = "  \(mark(step.status, ascii: ascii)) \(step.kind.number). \(step.kind.title): \(step.summary)"
            if case .blocked = step.status { line = "  \(mark(step.status, ascii: ascii)) \(step.kind.number). \(step.kind.title): BLOCKED: \(step.summary)" }
            out.append(line)
        }
        switch plan.status {
        case .ready: out.append("Next: \(action(plan.action, now: now))")
        case .waiting: out.append(action(plan.action, now: now))
        case .blocked(let reason): out.append("Blocked: \(reason)")
        case .done: out.append("Done: the store is deleted.")
        }
        if !plan.flaggedKeys.isEmpty {
            out.append("Flagged keys (must be acknowledged before deletion is scheduled):")
            for flag in plan.flaggedKeys {
                let aliases = flag.aliases.isEmpty ? "" : " \(flag.aliases.joined(separator: ","))"
                out.append("  \(flag.isAcknowledged ? "acknowledged" : "NOT ACKNOWLEDGED") \(flag.keyId)\(aliases): \(reason(flag.reason, now: now))")
            }
        }
        for warning in plan.warnings {
            let state = warning.isAcknowledged ? " (acknowledged)" : ""
            out.append("Warning\(state): \(warning.message)")
            if let offer = warning.offer, !warning.isAcknowledged { out.append("  Offered: \(action(offer, now: now))") }
        }
        for note in plan.notes { out.append("Note: \(note)") }
        if let option = plan.disconnectOnly {
            out.append("Alternative: \(option.explanation)")
            if !option.isAvailable, let why = option.unavailableReason { out.append("  (not available: \(why))") }
            if option.requiredAcknowledgement != nil, !option.isAcknowledged {
                out.append("  (needs an acknowledgement that the key material of pending keys will be orphaned)")
            }
        }
        if let watched = plan.observation {
            out.append("Observation: \(TeardownText.count(watched.keyIds.count, "key")) disabled and watched from "
                + "\(TeardownText.date(watched.from)) until \(TeardownText.date(watched.until))"
                + (watched.isComplete ? " (complete)" : " (\(TeardownText.duration(watched.remaining)) left)"))
            for r in watched.refusals.prefix(20) {
                out.append("  refused: \(TeardownText.date(r.call.time)) \(r.call.operation) on \(r.keyId) by \(r.call.caller) (\(r.call.errorCode ?? "refused"))")
            }
            if !watched.disabledByTeardown.isEmpty {
                out.append("  Abort (--abort) re-enables exactly the \(watched.disabledByTeardown.count) it disabled.")
            }
        }
        if !plan.abortableKeyIds.isEmpty {
            out.append("Abort: cancelling deletion would give back \(TeardownText.count(plan.abortableKeyIds.count, "key")) (they become Disabled).")
        }
        out.append(plan.status == .done ? "Not deleted:" : "Not deleted by this teardown:")
        for item in plan.notDeleted { out.append("  - \(item)") }
        return out
    }
}
