import Foundation

/// One line per step with the figures that matter, written from the same facts as the plan.
struct StepSummaries {
    typealias Key = TeardownObservation.Key
    let store: TeardownObservation.Store
    let o: TeardownObservation
    let keys: [Key]?
    let pending: [Key]
    let toSchedule: [Key]
    let unchecked: [Key]
    let flagged: [FlaggedKey]
    let waitProgress: WaitProgress?
    let action: TeardownAction

    func summary(_ kind: TeardownStep.Kind, _ status: TeardownStep.Status) -> String {
        switch kind {
        case .inventory: return inventory(status)
        case .checkUse: return checkUse(status)
        case .scheduleDeletion: return schedule(status)
        case .waitForDeletion: return wait(status)
        case .disconnect: return disconnect(status)
        case .waitForDisconnected: return waitForDisconnected(status)
        case .deleteStore: return delete(status)
        }
    }

    private func inventory(_ status: TeardownStep.Status) -> String {
        guard let keys else { return "List the store's keys (ListKeys, then DescribeKey per key)" }
        if keys.isEmpty { return "the store has no KMS keys" }
        return "\(TeardownText.count(keys.count, "key")): \(pending.count) pending deletion, \(toSchedule.count) to schedule"
    }

    private func checkUse(_ status: TeardownStep.Status) -> String {
        switch status {
        case .upcoming: return "GetKeyLastUsage, grants, key policy, tags and CloudTrail for each key; each reason a key is flagged for needs an acknowledgement"
        case .next:
            if case .observe(let ids, let disable, _, let until) = action {
                return "DisableKey on \(TeardownText.count(disable.count, "key")) and mark \(ids.count) for observation until \(TeardownText.date(until))"
            }
            return "GetKeyLastUsage, grants, policy, tags and CloudTrail (\(o.lookbackDays) days) for \(TeardownText.count(unchecked.count, "key"))"
        case .blocked(let reason): return reason
        case .waiting:
            if case .waitForObservation(let until, let count) = action {
                return "observing \(TeardownText.count(count, "disabled key")) for refused calls until \(TeardownText.date(until))"
            }
            return "observing"
        case .done:
            if toSchedule.isEmpty { return "no key left to schedule" }
            let flaggedKeys = Set(flagged.map(\.keyId))
            let never = toSchedule.filter { o.lastUse[$0.id] == .neverUsed && !flaggedKeys.contains($0.id) }.count
            var parts = ["\(TeardownText.count(toSchedule.count, "key")) checked"]
            if !flaggedKeys.isEmpty { parts.append("\(flaggedKeys.count) flagged and acknowledged") }
            if never > 0 { parts.append("\(never) never used") }
            let old = toSchedule.count - flaggedKeys.count - never
            if old > 0 { parts.append("\(old) not used in the last 30 days") }
            return parts.joined(separator: ", ")
        }
    }

    private func schedule(_ status: TeardownStep.Status) -> String {
        let date = o.window.deletionDate(from: o.now)
        switch status {
        case .next, .blocked, .waiting:
            return "ScheduleKeyDeletion for \(TeardownText.count(toSchedule.count, "key")), window \(o.window.days) days: "
                + "deleted after \(TeardownText.date(date))"
        case .upcoming:
            if keys == nil { return "ScheduleKeyDeletion for every key not already pending, window \(o.window.days) days" }
            if toSchedule.isEmpty { return "every key is already pending deletion" }
            return "ScheduleKeyDeletion for \(TeardownText.count(toSchedule.count, "key")), window \(o.window.days) days"
        case .done:
            return pending.isEmpty ? "no key to schedule" : "every key is pending deletion"
        }
    }

    private func wait(_ status: TeardownStep.Status) -> String {
        switch status {
        case .done: return "every key is deleted"
        case .upcoming:
            if let preview = lastDateIfScheduledNow() {
                return "until every key is deleted (after \(TeardownText.date(preview)))"
            }
            return "until every key is deleted (DescribeKey says NotFoundException)"
        case .next, .waiting, .blocked:
            guard let progress = waitProgress else { return "wait until every key is deleted" }
            var line = "\(TeardownText.count(progress.keysLeft, "key")) left"
            if let last = progress.lastDeletionDate {
                line += ", last after \(TeardownText.date(last)) (in \(TeardownText.duration(progress.remaining)))"
            }
            if case .reconnect = action {
                line += "; the store is \(store.connectionState.rawValue): reconnect it first"
            } else if case .waitForConnectionState(let state) = action {
                line += "; the store is \(state.rawValue)"
            }
            return line
        }
    }

    private func lastDateIfScheduledNow() -> Date? {
        guard keys != nil else { return nil }
        let scheduled: [Date] = toSchedule.isEmpty ? [] : [o.window.deletionDate(from: o.now)]
        return (scheduled + pending.compactMap(\.deletionDate)).max()
    }

    private func disconnect(_ status: TeardownStep.Status) -> String {
        switch status {
        case .done: return "DisconnectCustomKeyStore done; the store is \(store.connectionState.rawValue)"
        case .next: return "DisconnectCustomKeyStore (the store is \(store.connectionState.rawValue))"
        default:
            if [.disconnected, .disconnecting].contains(store.connectionState) {
                return "DisconnectCustomKeyStore once every key is deleted (now \(store.connectionState.rawValue))"
            }
            return "DisconnectCustomKeyStore once every key is deleted"
        }
    }

    private func waitForDisconnected(_ status: TeardownStep.Status) -> String {
        switch status {
        case .done: return "the store is DISCONNECTED"
        case .waiting, .next, .blocked: return "the store is \(store.connectionState.rawValue); waiting for DISCONNECTED"
        case .upcoming: return "until DescribeCustomKeyStores shows DISCONNECTED"
        }
    }

    private func delete(_ status: TeardownStep.Status) -> String {
        switch status {
        case .next, .blocked, .waiting:
            return "DeleteCustomKeyStore \(store.id); type the store's name (\(store.name)) to confirm"
        case .upcoming: return "DeleteCustomKeyStore, with no keys left and DISCONNECTED"
        case .done: return "the store is deleted"
        }
    }
}
