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
            return "Check when \(TeardownText.count(ids.count, "key")) \(ids.count == 1 ? "was" : "were") last used (GetKeyLastUsage)"
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
        }
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
        if !plan.abortableKeyIds.isEmpty {
            out.append("Abort: cancelling deletion would give back \(TeardownText.count(plan.abortableKeyIds.count, "key")) (they become Disabled).")
        }
        out.append(plan.status == .done ? "Not deleted:" : "Not deleted by this teardown:")
        for item in plan.notDeleted { out.append("  - \(item)") }
        return out
    }
}
