import Foundation

/// Derives the teardown plan from an observation. Pure and total: no clock, no I/O, no hidden state,
/// so stopping the console anywhere and starting it a week later shows the plan of what is then observed.
///
/// Safety invariants (tested): the plan never proposes DeleteCustomKeyStore while a key exists or the
/// store is not DISCONNECTED, and never proposes disconnecting a CloudHSM store whose keys are pending
/// deletion (the "disconnect only" alternative then requires `.disconnectWithPendingKeys`).
public enum TeardownPlanner {
    /// A key used more recently than this is flagged ("used within the last 30 days").
    public static let recentUseInterval: TimeInterval = 30 * 86_400

    public static func plan(_ o: TeardownObservation) -> TeardownPlan {
        switch o.store {
        case .gone(let idOrName, let lastKnown):
            return completedPlan(idOrName: idOrName, lastKnown: lastKnown, observation: o)
        case .present(let store):
            return StorePlanner(store: store, o: o).plan()
        }
    }

    private static func completedPlan(idOrName: String, lastKnown: TeardownObservation.Store?,
                                      observation o: TeardownObservation) -> TeardownPlan {
        let steps = TeardownStep.Kind.allCases.map { kind in
            TeardownStep(kind: kind, status: .done, summary: kind == .deleteStore
                         ? "the store \(lastKnown?.name ?? idOrName) no longer exists" : "done")
        }
        var warnings: [TeardownWarning] = []
        if let orphaned = orphanedWarning(clusterId: lastKnown?.cloudHsmClusterId, o.orphanedKeyMaterial) {
            warnings.append(orphaned)
        }
        return TeardownPlan(
            storeId: lastKnown?.id, storeName: lastKnown?.name ?? idOrName, storeType: lastKnown?.type,
            steps: steps, currentStep: nil, status: .done, action: .none, flaggedKeys: [], warnings: warnings,
            notes: [], schedulePreview: nil, waitProgress: nil, disconnectOnly: nil, abortableKeyIds: [], abort: nil,
            notDeleted: notDeleted(store: lastKnown, keys: [], orphaned: o.orphanedKeyMaterial))
    }

    /// What a teardown never deletes (seed: DeleteCustomKeyStore "does not affect any backing elements").
    static func notDeleted(store: TeardownObservation.Store?, keys: [TeardownObservation.Key],
                           orphaned: [TeardownObservation.OrphanedKeyMaterial]?) -> [String] {
        var items: [String] = []
        let cloudHsm = store.map { $0.type == .awsCloudHsm }
        if cloudHsm != false {
            let cluster = store?.cloudHsmClusterId.map { "AWS CloudHSM cluster \($0)" } ?? "AWS CloudHSM cluster"
            items.append("the \(cluster), its HSMs and its users (kmsuser included)")
            items.append("the cluster's backups: KMS never deletes key material from backups")
        }
        if cloudHsm != true {
            let proxy = store?.xksProxyUriEndpoint.map { "external key store proxy at \($0)" } ?? "external key store proxy"
            items.append("the \(proxy)")
            let external = Set(keys.compactMap(\.xksKeyId)).union(store?.externalKeyIds ?? []).sorted()
            items.append(external.isEmpty
                         ? "the external key manager and its external keys: KMS never touches them"
                         : "the external key manager and its external keys (\(TeardownText.list(external))): KMS never touches them")
        }
        let mine = (orphaned ?? []).filter { store?.cloudHsmClusterId == nil || $0.clusterId == store?.cloudHsmClusterId }
        for material in mine.sorted(by: { ($0.clusterId, $0.keyId) < ($1.clusterId, $1.keyId) }) {
            items.append("orphaned key material of key \(material.keyId) on cluster \(material.clusterId) (reported by the core): delete it with key_mgmt_util deleteKey")
        }
        return items
    }

    static func orphanedWarning(clusterId: String?, _ orphaned: [TeardownObservation.OrphanedKeyMaterial]?) -> TeardownWarning? {
        let mine = (orphaned ?? []).filter { clusterId == nil || $0.clusterId == clusterId }
        guard !mine.isEmpty else { return nil }
        let keys = mine.map(\.keyId).sorted()
        return TeardownWarning(
            kind: .orphanedKeyMaterial,
            message: "The core reports orphaned key material for \(TeardownText.count(keys.count, "key")) "
                + "(\(TeardownText.list(keys))) on cluster \(mine[0].clusterId): the KMS keys were deleted while the store "
                + "was not connected. Delete the material from the cluster with key_mgmt_util deleteKey; backups keep it regardless.")
    }
}

/// The planning of a store that exists, split out so each rule reads on its own.
private struct StorePlanner {
    typealias Key = TeardownObservation.Key
    let store: TeardownObservation.Store
    let o: TeardownObservation

    func plan() -> TeardownPlan {
        let keys = o.keys.map { $0.sorted { $0.id < $1.id } }
        let pending = keys?.filter(\.isPendingDeletion) ?? []
        let toSchedule = keys?.filter { !$0.isPendingDeletion } ?? []
        let unchecked = toSchedule.filter { o.lastUse[$0.id] == nil }
        let flagged = flags(toSchedule)
        let unacknowledged = flagged.filter { !$0.isAcknowledged }
        let observation = observationStatus(toSchedule)
        let observedFlags = refusalFlags(toSchedule, observation)
        let unacknowledgedObserved = observedFlags.filter { !$0.isAcknowledged }
        // Keys to bring into the observation: asked for by this run, or one is running (from the keys' marks).
        let unmarked = toSchedule.filter { $0.observation == nil }
        let observing = !toSchedule.isEmpty && (o.observeDays != nil || observation != nil)
        let observationOpen = observing
            && (!unmarked.isEmpty || !unacknowledgedObserved.isEmpty || observation?.isComplete != true)
        let cloudHsmNotConnected = store.isCloudHsm && store.connectionState != .connected
        let orphanAck = TeardownAcknowledgement(.orphanKeyMaterial, store.id)
        let orphanAcknowledged = o.acknowledgements.contains(orphanAck)
        let waitProgress = pending.isEmpty || !toSchedule.isEmpty ? nil : progress(pending)

        // Which step is current: the first whose condition is not met.
        let current: TeardownStep.Kind?
        if keys == nil { current = .inventory }
        else if !unchecked.isEmpty || !unacknowledged.isEmpty || observationOpen { current = .checkUse }
        else if !toSchedule.isEmpty { current = .scheduleDeletion }
        else if !pending.isEmpty { current = .waitForDeletion }
        else if ![.disconnecting, .disconnected].contains(store.connectionState) { current = .disconnect }
        else if store.connectionState != .disconnected { current = .waitForDisconnected }
        else { current = .deleteStore }

        // The current step's status and its one action.
        let status: TeardownStep.Status
        let action: TeardownAction
        switch current {
        case .inventory?:
            (status, action) = (.next, .takeInventory)
        case .checkUse?:
            if !unchecked.isEmpty {
                (status, action) = (.next, .checkUse(keyIds: unchecked.map(\.id)))
            } else if !unacknowledged.isEmpty {
                (status, action) = (.blocked(reason: acknowledgementReason(unacknowledged)), .acknowledge(unacknowledged))
            } else if !unmarked.isEmpty {
                // Start (or extend to keys that appeared) the observation; a finished one is not reused for new keys.
                let length = max(0, observation.map { $0.until.timeIntervalSince($0.from) } ?? Double(o.observeDays ?? 0) * 86_400)
                let running = observation.flatMap { $0.isComplete ? nil : $0 }
                let from = running?.from ?? o.now
                let until = running?.until ?? o.now.addingTimeInterval(o.observeDays.map { Double($0) * 86_400 } ?? length)
                (status, action) = (.next, .observe(keyIds: unmarked.map(\.id),
                                                    disable: unmarked.filter { $0.state == .enabled }.map(\.id),
                                                    from: from, until: until))
            } else if !unacknowledgedObserved.isEmpty {
                (status, action) = (.blocked(reason: observedReason(unacknowledgedObserved)), .acknowledge(unacknowledgedObserved))
            } else {
                (status, action) = (.waiting, .waitForObservation(until: observation?.until ?? o.now,
                                                                  keysObserved: observation?.keyIds.count ?? 0))
            }
        case .scheduleDeletion?:
            (status, action) = (.next, .scheduleDeletion(keyIds: toSchedule.map(\.id), window: o.window,
                                                         deletionDate: o.window.deletionDate(from: o.now)))
        case .waitForDeletion?:
            if cloudHsmNotConnected && !orphanAcknowledged {
                switch store.connectionState {
                case .connecting, .disconnecting:
                    (status, action) = (.waiting, .waitForConnectionState(store.connectionState))
                default:
                    (status, action) = (.next, .reconnect(calls: reconnectCalls))
                }
            } else {
                (status, action) = (.waiting, .waitForDeletion(keysLeft: pending.count,
                                                               lastDeletionDate: waitProgress?.lastDeletionDate))
            }
        case .disconnect?:
            (status, action) = (.next, .disconnect)
        case .waitForDisconnected?:
            (status, action) = (.waiting, .waitForDisconnected)
        case .deleteStore?:
            (status, action) = (.next, .deleteStore(confirmName: store.name))
        case nil:
            (status, action) = (.done, .none)
        }

        let summaries = StepSummaries(store: store, o: o, keys: keys, pending: pending, toSchedule: toSchedule,
                                      unchecked: unchecked, flagged: flagged, waitProgress: waitProgress,
                                      action: action)
        let currentIndex = current.flatMap { TeardownStep.Kind.allCases.firstIndex(of: $0) }
        let steps = TeardownStep.Kind.allCases.enumerated().map { index, kind in
            let stepStatus: TeardownStep.Status
            if let currentIndex {
                stepStatus = index < currentIndex ? .done : index == currentIndex ? status : .upcoming
            } else {
                stepStatus = .done
            }
            return TeardownStep(kind: kind, status: stepStatus, summary: summaries.summary(kind, stepStatus))
        }

        let planStatus: TeardownStatus
        switch status {
        case .next: planStatus = .ready
        case .waiting: planStatus = .waiting
        case .blocked(let reason): planStatus = .blocked(reason: reason)
        case .done, .upcoming: planStatus = .done
        }

        let schedulePreview: SchedulePreview? = toSchedule.isEmpty ? nil : {
            let date = o.window.deletionDate(from: o.now)
            let last = ([date] + pending.compactMap(\.deletionDate)).max() ?? date
            return SchedulePreview(keyIds: toSchedule.map(\.id), window: o.window, deletionDate: date, lastDeletionDate: last,
                                   alreadyPending: pending.compactMap(\.deletionDate).sorted())
        }()

        let abortable = pending.map(\.id).filter { o.scheduledByTeardown.contains($0) }
        return TeardownPlan(
            storeId: store.id, storeName: store.name, storeType: store.type, steps: steps, currentStep: current,
            status: planStatus, action: action, flaggedKeys: flagged + observedFlags,
            warnings: warnings(keys: keys, pending: pending, cloudHsmNotConnected: cloudHsmNotConnected,
                               orphanAck: orphanAck, orphanAcknowledged: orphanAcknowledged),
            notes: notes(keys: keys, pending: pending, toSchedule: toSchedule),
            schedulePreview: schedulePreview, waitProgress: waitProgress,
            disconnectOnly: disconnectOnly(current: current, pending: pending),
            abortableKeyIds: abortable,
            abort: abortable.isEmpty ? nil : AbortPreview(keyIds: abortable, stateBefore: o.stateBeforeTeardown),
            notDeleted: TeardownPlanner.notDeleted(store: store, keys: keys ?? [], orphaned: o.orphanedKeyMaterial),
            observation: observation)
    }

    /// The observation the keys' marks show (keys not pending deletion), with the refusals since it began.
    func observationStatus(_ toSchedule: [Key]) -> ObservationStatus? {
        let marked = toSchedule.filter { $0.observation != nil }
        guard !marked.isEmpty else { return nil }
        let from = marked.compactMap(\.observation?.from).min() ?? o.now
        let until = marked.compactMap(\.observation?.until).max() ?? o.now
        let ids = Set(marked.map(\.id))
        let refusals = o.observedRefusals.filter { ids.contains($0.keyId) && $0.call.time >= from }
            .sorted { ($0.call.time, $0.keyId) > ($1.call.time, $1.keyId) }
        return ObservationStatus(
            from: from, until: until, keyIds: marked.map(\.id).sorted(),
            disabledByTeardown: marked.filter { $0.observation?.disabledBy != nil }.map(\.id).sorted(),
            refusals: refusals, remaining: max(0, until.timeIntervalSince(o.now)), isComplete: o.now >= until)
    }

    /// One flag per observed key with calls refused during the observation.
    func refusalFlags(_ toSchedule: [Key], _ observation: ObservationStatus?) -> [FlaggedKey] {
        guard let observation else { return [] }
        let byKey = Dictionary(grouping: observation.refusals, by: \.keyId)
        return toSchedule.compactMap { key in
            guard let calls = byKey[key.id], !calls.isEmpty else { return nil }
            let ack = TeardownAcknowledgement(.refusedWhileObserved, key.id)
            return FlaggedKey(keyId: key.id, aliases: key.aliases, reason: .refusedWhileObserved(calls.map(\.call)),
                              acknowledgement: ack, isAcknowledged: o.acknowledgements.contains(ack))
        }
    }

    func observedReason(_ unacknowledged: [FlaggedKey]) -> String {
        var calls: [TrailCall] = []
        for flag in unacknowledged { if case .refusedWhileObserved(let c) = flag.reason { calls += c } }
        let latest = calls.max { $0.time < $1.time }
        return "\(TeardownText.count(calls.count, "call")) refused while the keys were disabled and observed, on "
            + "\(TeardownText.count(unacknowledged.count, "key"))"
            + (latest.map { ", latest \($0.operation) by \($0.caller) at \(TeardownText.date($0.time))" } ?? "")
            + ": re-enable the keys and stop (abort), or acknowledge and go on"
    }

    /// FAILED only leaves through Disconnect (semantics §1.2), so reconnecting from FAILED takes two calls.
    var reconnectCalls: [TeardownCall] {
        store.connectionState == .failed ? [.disconnectCustomKeyStore, .connectCustomKeyStore] : [.connectCustomKeyStore]
    }

    /// Every reason a key to be scheduled needs an acknowledgement; a key can carry several, each acknowledged on its own.
    func flags(_ toSchedule: [Key]) -> [FlaggedKey] {
        var result: [FlaggedKey] = []
        for key in toSchedule {
            func flag(_ reason: FlaggedKey.Reason) {
                let ack = TeardownAcknowledgement(reason.name.acknowledgementKind, key.id)
                result.append(FlaggedKey(keyId: key.id, aliases: key.aliases, reason: reason, acknowledgement: ack,
                                         isAcknowledged: o.acknowledgements.contains(ack)))
            }
            if o.scheduledByTeardown.contains(key.id) {
                // This teardown scheduled it and it is no longer pending: someone cancelled it, maybe on purpose.
                flag(.deletionCancelledElsewhere)
            }
            let evidence = o.evidence[key.id]
            var unknown: [String] = []
            switch o.lastUse[key.id] {
            case .used(let at, let operation)?:
                // A date in the future (clock skew) counts as recent: never less cautious than the data allows.
                if o.now.timeIntervalSince(at) < TeardownPlanner.recentUseInterval, evidence?.summary?.lastUse == nil {
                    flag(.usedRecently(at: at, operation: operation))
                }
            case .unknown(let why)?: unknown.append(why)
            case .neverUsed?, nil: break
            }
            if let evidence {
                switch evidence.trail {
                case .known(let s):
                    if let last = s.lastUse { flag(.usedInWindow(uses: s.uses, last: last, days: s.lookbackDays)) }
                    if let last = s.lastRefusal { flag(.refusedInWindow(refusals: s.refusals, last: last, days: s.lookbackDays)) }
                case .unknown(let why): unknown.append(why)
                }
                if let grants = evidence.grants { if !grants.isEmpty { flag(.grants(grants)) } }
                else { unknown.append("grants could not be listed" + (evidence.grantsProblem.map { ": \($0)" } ?? "")) }
                if let principals = evidence.policyPrincipals { if !principals.isEmpty { flag(.policy(principals: principals)) } }
                else { unknown.append("the key policy could not be read" + (evidence.policyProblem.map { ": \($0)" } ?? "")) }
            }
            if !unknown.isEmpty { flag(.useUnknown(reason: unknown.joined(separator: "; "))) }
        }
        return result
    }

    func acknowledgementReason(_ unacknowledged: [FlaggedKey]) -> String {
        var byReason: [EvidenceReason: Set<String>] = [:]
        for flag in unacknowledged { byReason[flag.reason.name, default: []].insert(flag.keyId) }
        let keys = Set(unacknowledged.map(\.keyId))
        let words: [(EvidenceReason, String)] = [
            (.used, "used \(o.evidence.isEmpty ? "within the last 30 days" : "recently")"), (.refused, "with refused calls"),
            (.grants, "with grants"), (.policy, "whose policy names other principals"), (.unknown, "with unknown use"),
            (.cancelled, "whose deletion someone else cancelled")]
        let parts = words.compactMap { reason, text in byReason[reason].map { "\($0.count) \(text)" } }
        return "\(TeardownText.count(keys.count, "key")) to acknowledge before scheduling deletion: "
            + parts.joined(separator: ", ")
    }

    func progress(_ pending: [Key]) -> WaitProgress {
        let last = pending.compactMap(\.deletionDate).max()
        let overdue = pending.filter { ($0.deletionDate ?? .distantFuture) <= o.now }.count
        return WaitProgress(keysLeft: pending.count, lastDeletionDate: last,
                            remaining: max(0, (last ?? o.now).timeIntervalSince(o.now)), overdueKeys: overdue,
                            deletionDates: pending.compactMap(\.deletionDate).sorted())
    }

    func warnings(keys: [Key]?, pending: [Key], cloudHsmNotConnected: Bool,
                  orphanAck: TeardownAcknowledgement, orphanAcknowledged: Bool) -> [TeardownWarning] {
        var result: [TeardownWarning] = []
        if store.connectionState == .failed {
            let code = store.connectionErrorCode
            result.append(TeardownWarning(
                kind: .storeFailed,
                message: "The store is FAILED" + (code.map { " (\($0.rawValue)): " + TeardownText.explain($0, type: store.type) } ?? "")
                    + ". FAILED only leaves through DisconnectCustomKeyStore."))
        }
        if cloudHsmNotConnected, let keys, !keys.isEmpty {
            let cluster = store.cloudHsmClusterId.map { "cluster \($0)" } ?? "its cluster"
            let subject = pending.isEmpty
                ? "\(TeardownText.count(keys.count, "key")) will be pending deletion"
                : "\(TeardownText.count(pending.count, "key")) \(pending.count == 1 ? "is" : "are") pending deletion"
            let offer: TeardownAction? = [.disconnected, .failed].contains(store.connectionState)
                ? .reconnect(calls: reconnectCalls) : nil
            result.append(TeardownWarning(
                kind: .keyMaterialWillBeOrphaned,
                message: "The CloudHSM store is \(store.connectionState.rawValue) while \(subject). When a waiting period "
                    + "ends and the store is not connected, KMS deletes the KMS key but cannot delete its key material "
                    + "from \(cluster): the material is orphaned there (and in every backup) and must be deleted by hand "
                    + "with key_mgmt_util deleteKey. Reconnect the store and keep it connected until every key is deleted.",
                offer: offer, acknowledgement: orphanAck, isAcknowledged: orphanAcknowledged))
        }
        if let orphaned = TeardownPlanner.orphanedWarning(clusterId: store.cloudHsmClusterId, o.orphanedKeyMaterial),
           store.isCloudHsm {
            result.append(orphaned)
        }
        if store.type == .externalKeyStore {
            result.append(TeardownWarning(
                kind: .externalKeysUntouched,
                message: "KMS never creates, manages or deletes the external keys behind this store's KMS keys; they stay "
                    + "in your external key manager. Deleting a KMS key still makes everything encrypted under it "
                    + "unrecoverable: a deleted KMS key cannot be recreated, even from the same external key."))
        }
        return result
    }

    func notes(keys: [Key]?, pending: [Key], toSchedule: [Key]) -> [String] {
        var result: [String] = []
        let foreign = pending.filter { !o.scheduledByTeardown.contains($0.id) }
        if !foreign.isEmpty {
            result.append("\(TeardownText.count(foreign.count, "key")) \(foreign.count == 1 ? "was" : "were") already "
                + "pending deletion, not scheduled by this teardown (\(TeardownText.list(foreign.map(\.id)))): their own "
                + "deletion dates are kept and abort does not cancel them.")
        }
        if !o.scheduledByTeardown.isEmpty {
            let added = toSchedule.filter { !o.scheduledByTeardown.contains($0.id) }
            if !added.isEmpty {
                result.append("\(TeardownText.count(added.count, "key")) appeared in the store after this teardown "
                    + "scheduled deletion (\(TeardownText.list(added.map(\.id)))): \(added.count == 1 ? "it needs" : "they need") "
                    + "a use check and scheduling too.")
            }
            let cancelled = toSchedule.filter { o.scheduledByTeardown.contains($0.id) }
            if !cancelled.isEmpty {
                result.append("Deletion of \(TeardownText.count(cancelled.count, "key")) this teardown scheduled was "
                    + "cancelled outside it (\(TeardownText.list(cancelled.map(\.id)))); "
                    + "\(cancelled.count == 1 ? "it needs" : "they need") an acknowledgement before being scheduled again.")
            }
        }
        let unavailable = toSchedule.filter { $0.state == .unavailable }
        if !unavailable.isEmpty {
            result.append("\(TeardownText.count(unavailable.count, "key")) \(unavailable.count == 1 ? "is" : "are") "
                + "Unavailable because the store is not connected; ScheduleKeyDeletion works on them all the same.")
        }
        let overdue = pending.filter { ($0.deletionDate ?? .distantFuture) <= o.now }
        if !overdue.isEmpty {
            result.append("\(TeardownText.count(overdue.count, "key")) \(overdue.count == 1 ? "is" : "are") past "
                + "the deletion date; KMS deletes a key after that date, so it can take a moment longer.")
        }
        if store.connectionState.isTransient {
            result.append("The store is \(store.connectionState.rawValue); this resolves by itself.")
        }
        return result
    }

    /// Offered until this teardown has scheduled anything, i.e. before it changed the store.
    func disconnectOnly(current: TeardownStep.Kind?, pending: [Key]) -> DisconnectOnlyOption? {
        guard let current, [.inventory, .checkUse, .scheduleDeletion].contains(current),
              o.scheduledByTeardown.isDisjoint(with: pending.map(\.id)) else { return nil }
        let available = [.connected, .connecting, .failed].contains(store.connectionState)
        let ack = TeardownAcknowledgement(.disconnectWithPendingKeys, store.id)
        let needsAck = store.isCloudHsm && !pending.isEmpty
        return DisconnectOnlyOption(
            explanation: TeardownText.disconnectOnlyExplanation
                + (needsAck ? " \(TeardownText.count(pending.count, "key")) of this CloudHSM store "
                    + "\(pending.count == 1 ? "is" : "are") pending deletion: if the store is disconnected when the "
                    + "waiting period ends, their key material is orphaned in the cluster." : ""),
            isAvailable: available,
            unavailableReason: available ? nil : "the store is already \(store.connectionState.rawValue)",
            requiredAcknowledgement: needsAck ? ack : nil,
            isAcknowledged: needsAck && o.acknowledgements.contains(ack))
    }
}
