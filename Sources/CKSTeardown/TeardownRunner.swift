import CKSDomain
import Foundation
import Synchronization

/// What a runner reports while it works, for progress bars and the activity narration.
public enum TeardownProgress: Sendable, Hashable {
    /// Keys found so far by the inventory.
    case inventory(found: Int)
    /// GetKeyLastUsage answers so far.
    case usage(done: Int, total: Int)
    /// Keys whose grants, policy and tags have been read so far (the CloudTrail pass follows).
    case evidence(done: Int, total: Int)
    /// The CloudTrail pass so far: LookupEvents requests answered and KMS events read (for every key at once).
    case trail(requests: Int, events: Int)
    /// One call of a bulk action finished.
    case call(TeardownCallResult, done: Int, total: Int)
    /// A step of a multi-call action (reconnect from FAILED) or a note.
    case message(String)
}

public enum TeardownRunError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The store does not exist and the journal never saw a teardown of it.
    case storeNotFound(String)
    /// A call failed; the plan is unchanged.
    case call(TeardownCallError)
    /// The action asked for is no longer the plan's action (someone changed something); here is the new plan.
    case planChanged(TeardownPlan)
    /// The typed name does not match the store's name.
    case confirmationMismatch(expected: String)
    /// The action is not allowed now; the reason says why.
    case notAllowed(String)

    public var description: String {
        switch self {
        case .storeNotFound(let s): return "CustomKeyStoreNotFoundException: no custom key store \(s)"
        case .call(let e): return e.description
        case .planChanged: return "the situation changed; the plan was recomputed"
        case .confirmationMismatch(let name): return "the name typed does not match the store's name (\(name))"
        case .notAllowed(let why): return why
        }
    }
}

/// What running an action did.
public struct TeardownActionOutcome: Sendable {
    public var results: [TeardownCallResult]
    public var plan: TeardownPlan

    public var failed: [TeardownCallResult] { results.filter { !$0.succeeded } }
}

/// What an abort did: the cancellations, and what it gave back (which of those keys were Enabled before the teardown,
/// and so may be enabled again, and which stay Disabled).
public struct TeardownAbortOutcome: Sendable {
    public var results: [TeardownCallResult]
    /// The keys whose deletion was cancelled, by their state before the teardown.
    public var givenBack: AbortPreview
    public var plan: TeardownPlan
    /// Abort during an observation: the keys enabled again (exactly those the teardown had disabled), sorted.
    public var reEnabled: [String] = []

    public var failed: [TeardownCallResult] { results.filter { !$0.succeeded } }
}

/// Executes a teardown's plan one action at a time over a `TeardownService`, journalling each action.
/// It holds no decision of its own: after every action it observes again and asks the planner.
///
/// It resumes the latest teardown of the store found in the journal for the facts the journal holds (which keys that
/// teardown scheduled, and each one's state just before), never for decisions: the waiting period is the one given to
/// this run (else 30 days), and acknowledgements are the ones made in this run. Nothing is journalled until this run
/// changes something, so a refused or dry run leaves nothing a later run could take for a decision.
public actor TeardownRunner {
    public let service: any TeardownService
    public let journal: TeardownJournal
    /// The id or name the operator gave.
    public let storeRef: String
    /// Where the state each scheduled key was in before is kept (what abort restores).
    public let priorStates: any TeardownPriorStates
    private let sleep: @Sendable (Duration) async throws -> Void
    private var explicitWindow: PendingWindow?
    private var teardownId: String?
    /// The teardown has a StartTeardown line (this run's, or the resumed one's).
    private var started = false
    /// This run has changed something (so its decisions are journalled as they are made).
    private var changedInThisRun = false
    private var scheduled: Set<String> = []
    private var stateBefore: [String: KeyState] = [:]
    private var acknowledgements: Set<TeardownAcknowledgement> = []
    /// Acknowledgements made in this run and not yet journalled (written with its first change).
    private var unjournalled: [TeardownAcknowledgement] = []
    /// The evidence each acknowledgement was given on, as shown then (journalled with it).
    private var evidenceShown: [TeardownAcknowledgement: String] = [:]
    private var lastUse: [String: KeyLastUse] = [:]
    private var evidence: [String: KeyEvidence] = [:]
    private var observedRefusals: [RefusedAttempt] = []
    /// Days of CloudTrail the evidence covers (default 90).
    public private(set) var lookbackDays = TeardownObservation.defaultLookbackDays
    /// Days to disable and observe the keys before scheduling; nil: no observation asked (one the keys show is honoured).
    public private(set) var observeDays: Int?
    /// The last evidence pass: its LookupEvents requests and events read.
    public private(set) var lastEvidencePass: EvidencePass?
    private var lastKnownStore: TeardownJournalEntry.Store?
    /// The teardown an abort ended, so "enable again" is journalled under it.
    private var abortedTeardownId: String?
    private var identity: (account: String?, principal: String?)?
    public private(set) var observation: TeardownObservation?
    public private(set) var plan: TeardownPlan?
    /// Whether this runner resumed a teardown found in the journal.
    public private(set) var resumed = false
    /// The window the resumed teardown scheduled with: a note only, this run schedules with its own.
    public private(set) var recordedWindow: PendingWindow?
    /// Acknowledgements the resumed teardown journalled: not carried over (a note says so when they would matter).
    public private(set) var earlierAcknowledgements: Set<TeardownAcknowledgement> = []
    /// What the last abort gave back (this run's, or an aborted teardown found in the journal): "enable again" enables
    /// only its keys that were Enabled before the teardown.
    public private(set) var lastAbort: AbortPreview?
    /// The teardown found in the journal (in progress, or the latest one, aborted or done), as recorded.
    public private(set) var record: TeardownRecord?

    public init(service: any TeardownService, journal: TeardownJournal, store: String, window: PendingWindow? = nil,
                priorStates: any TeardownPriorStates = JournalPriorStates(),
                sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }) {
        self.service = service
        self.journal = journal
        self.storeRef = store
        self.explicitWindow = window
        self.priorStates = priorStates
        self.sleep = sleep
    }

    /// The waiting period for keys this run schedules: the one given to this run, else 30 days (never the journal's).
    public var window: PendingWindow { explicitWindow ?? .default }

    /// The look-back window of the evidence (days of CloudTrail) and the observation asked for; plans again (no call).
    /// A changed look-back drops the evidence gathered so far, so it is gathered again for the new window.
    @discardableResult
    public func setEvidenceOptions(lookbackDays: Int? = nil, observeDays: Int?) -> TeardownPlan? {
        if let lookbackDays, lookbackDays != self.lookbackDays {
            self.lookbackDays = lookbackDays
            evidence = [:]
            lastUse = [:]
        }
        self.observeDays = observeDays
        return replan()
    }

    /// Changes the window for keys not yet scheduled and plans again (no call).
    @discardableResult
    public func setWindow(_ window: PendingWindow) -> TeardownPlan? {
        explicitWindow = window
        return replan()
    }

    /// Observes the store (describe, inventory, orphaned material, clock) and plans.
    @discardableResult
    public func refresh(progress: @escaping @Sendable (TeardownProgress) -> Void = { _ in }) async throws(TeardownRunError) -> TeardownPlan {
        let who = await callerIdentity()
        let store: TeardownObservation.Store?
        do { store = try await service.describeStore(storeRef) } catch { throw .call(error) }
        await loadRecord(account: who.account, storeId: store?.id)
        let now = await service.now()
        let o: TeardownObservation
        if let store {
            let earlierExternal = lastKnownStore?.id == store.id ? lastKnownStore?.externalKeyIds ?? [] : []
            lastKnownStore = TeardownJournalEntry.Store(store)
            let keys: [TeardownObservation.Key]
            do { keys = try await service.keys(inStore: store.id) { progress(.inventory(found: $0)) } } catch { throw .call(error) }
            // Keys disappear as their waiting periods end; the external ids seen so far are kept for the final report.
            let external = Set(earlierExternal).union(keys.compactMap(\.xksKeyId)).sorted()
            lastKnownStore?.externalKeyIds = external.isEmpty ? nil : external
            let orphaned = await orphanedMaterial(store.cloudHsmClusterId)
            // An observation the keys show: what was refused on them since it began (one CloudTrail pass).
            let marked = keys.filter { !$0.isPendingDeletion && $0.observation != nil }
            if let since = marked.compactMap(\.observation?.from).min() {
                do { observedRefusals = try await service.refusedCalls(on: Set(marked.map(\.id)), since: since, now: now) }
                catch { throw .call(TeardownCallError(typeName: error.typeName, message: "cannot watch the observed keys for "
                    + "refused calls: \(error.message)", code: error.code, isTransport: error.isTransport, exit: error.exit)) }
            } else {
                observedRefusals = []
            }
            o = evidenceFields(TeardownObservation(store: .present(store), keys: keys, lastUse: lastUse, scheduledByTeardown: scheduled,
                                    stateBeforeTeardown: stateBefore, acknowledgements: acknowledgements,
                                    orphanedKeyMaterial: orphaned, window: window, now: now))
        } else {
            guard let known = lastKnownStore else { throw .storeNotFound(storeRef) }
            let orphaned = await orphanedMaterial(known.cloudHsmClusterId)
            o = TeardownObservation(store: .gone(idOrName: storeRef, lastKnown: known.observed), keys: nil,
                                    scheduledByTeardown: scheduled, stateBeforeTeardown: stateBefore,
                                    acknowledgements: acknowledgements,
                                    orphanedKeyMaterial: orphaned, window: window, now: now)
            if started {
                write(.complete, step: .deleteStore, targets: [known.id], result: .ok, note: "the store no longer exists")
                started = false
            }
        }
        let plan = planWithNotes(o)
        observation = o
        self.plan = plan
        return plan
    }

    /// Records acknowledgements (one key, a marked set, or a store-level one) and plans again without calling KMS.
    /// They count for this run only, and are journalled (as a record) with this run's first change: a run that
    /// changes nothing (refused, cancelled, dry) leaves no line behind.
    /// - Parameter journaled: false for a dry run or read-only mode: never journalled, even if a change follows.
    @discardableResult
    public func acknowledge(_ acks: [TeardownAcknowledgement], journaled: Bool = true) -> TeardownPlan? {
        let new = acks.filter { !acknowledgements.contains($0) }.sorted()
        guard !new.isEmpty else { return plan }
        acknowledgements.formUnion(new)
        if journaled {
            // The evidence shown when each was given, journalled with it.
            let now = observation?.now ?? Date()
            for ack in new {
                if let flag = plan?.flaggedKeys.first(where: { $0.acknowledgement == ack }) {
                    evidenceShown[ack] = "\(ack.journalTarget) [\(flag.reason.name.rawValue)]: \(TeardownPlanText.reason(flag.reason, now: now))"
                }
            }
            unjournalled.append(contentsOf: new)
            if changedInThisRun { flushAcknowledgements(step: plan?.currentStep) }
        }
        return replan()
    }

    /// Executes `action`, which must be the current plan's action, then observes and plans again.
    /// Waits and decisions are not executed (they return the plan as is). DeleteCustomKeyStore needs the typed name.
    public func perform(_ action: TeardownAction, confirmedName: String? = nil,
                        progress: @escaping @Sendable (TeardownProgress) -> Void = { _ in }) async throws(TeardownRunError) -> TeardownActionOutcome {
        guard let plan, let observation else { throw .planChanged(try await refresh(progress: progress)) }
        guard plan.action == action else { throw .planChanged(plan) }
        guard case .present(let store) = observation.store else { return TeardownActionOutcome(results: [], plan: plan) }
        let step = plan.currentStep
        var results: [TeardownCallResult] = []
        switch action {
        case .acknowledge, .waitForObservation, .waitForDeletion, .waitForConnectionState, .waitForDisconnected, .none:
            return TeardownActionOutcome(results: [], plan: plan)
        case .takeInventory:
            break
        case .checkUse(let ids):
            let found = await service.lastUse(of: ids) { progress(.usage(done: $0, total: ids.count)) }
            let wanted = Set(ids)
            let keys = (observation.keys ?? []).filter { wanted.contains($0.id) }
            let pass = await service.evidence(of: keys, lookbackDays: lookbackDays, now: observation.now) { step in
                switch step {
                case .keys(let done): progress(.evidence(done: done, total: ids.count))
                case .trail(let requests, let events): progress(.trail(requests: requests, events: events))
                }
            }
            lastEvidencePass = pass
            evidence.merge(pass.evidence) { _, new in new }
            lastUse.merge(found) { _, new in new }
        case .observe(let ids, let disable, let from, let until):
            beginChange(step: step)
            let id = teardownId ?? UUID().uuidString.lowercased()
            teardownId = id
            let before = Dictionary(disable.map { ($0, KeyState.enabled) }, uniquingKeysWith: { a, _ in a })
            let lines = bulkJournal(.observe, step: step, statesBefore: before)
            results = await bulk(ids, total: ids.count, journal: lines, progress: progress) { [service] ids, report in
                await service.observe(ids, disable: Set(disable), mark: ObservationMark(from: from, until: until),
                                      teardownId: id, progress: report)
            }
            let done = Set(results.filter(\.succeeded).map(\.target))
            stateBefore.merge(before.filter { done.contains($0.key) }) { old, _ in old }
        case .scheduleDeletion(let ids, let window, _):
            beginChange(step: step)
            // Each key's state just before: what abort restores (journalled with the line that schedules it).
            // A key the teardown disabled to observe it (its mark says so) was Enabled before.
            let observed = Dictionary((observation.keys ?? []).map { ($0.id, $0.observation?.disabledBy != nil ? KeyState.enabled : $0.state) },
                                      uniquingKeysWith: { a, _ in a })
            let before = Dictionary(ids.compactMap { id in (stateBefore[id] ?? observed[id]).map { (id, $0) } },
                                    uniquingKeysWith: { a, _ in a })
            let lines = bulkJournal(.scheduleKeyDeletion, step: step, windowDays: window.days, statesBefore: before)
            results = await bulk(ids, total: ids.count, journal: lines, progress: progress) { [service] ids, report in
                await service.scheduleKeyDeletion(ids, window: window, progress: report)
            }
            let done = results.filter(\.succeeded).map(\.target)
            scheduled.formUnion(done)
            let recorded = before.filter { done.contains($0.key) }
            stateBefore.merge(recorded) { old, _ in old }
            if let teardownId { await priorStates.recordScheduled(recorded, teardownId: teardownId) }
        case .reconnect(let calls):
            beginChange(step: step)
            results = try await reconnect(store: store, calls: calls, step: step, progress: progress)
        case .disconnect:
            beginChange(step: step)
            results = [await storeCall(.disconnectCustomKeyStore, store: store, step: step) { await $0.disconnect(storeId: $1) }]
        case .deleteStore(let name):
            guard confirmedName == name else { throw .confirmationMismatch(expected: name) }
            guard observation.keys?.isEmpty == true, store.connectionState == .disconnected else {
                throw .notAllowed("DeleteCustomKeyStore needs no keys and DISCONNECTED")
            }
            beginChange(step: step)
            results = [await storeCall(.deleteCustomKeyStore, store: store, step: step) { await $0.delete(storeId: $1) }]
        }
        let next = try await refresh(progress: progress)
        return TeardownActionOutcome(results: results, plan: next)
    }

    /// Abort teardown: CancelKeyDeletion on every key this teardown scheduled that is still pending (they become
    /// Disabled, as AWS does). Returns per-key results and what was given back; `enableAgain` then enables only those
    /// that were Enabled before the teardown scheduled them.
    public func abort(progress: @escaping @Sendable (TeardownProgress) -> Void = { _ in }) async throws(TeardownRunError) -> TeardownAbortOutcome {
        let current = try await refresh(progress: progress)
        if current.abort == nil, let watched = current.observation {
            return try await endObservation(watched, plan: current, progress: progress)
        }
        guard let preview = current.abort else {
            throw .notAllowed("nothing to abort: no key this teardown scheduled is pending deletion")
        }
        let ids = preview.keyIds
        beginChange(step: current.currentStep)
        write(.abort, step: current.currentStep, targets: ids, result: .ok, note: "abort teardown: cancel deletion of the keys it scheduled")
        let lines = bulkJournal(.cancelKeyDeletion, step: current.currentStep)
        let results = await bulk(ids, total: ids.count, journal: lines, progress: progress) { [service] ids, report in
            await service.cancelKeyDeletion(ids, progress: report)
        }
        let givenBack = preview.restricted(to: results.filter(\.succeeded).map(\.target))
        // The teardown is over: a later one starts afresh (its own id, scheduled set and acknowledgements).
        abortedTeardownId = teardownId
        lastAbort = givenBack
        teardownId = nil
        started = false
        scheduled = []
        stateBefore = [:]
        acknowledgements = []
        unjournalled = []
        let next = try await refresh(progress: progress)
        return TeardownAbortOutcome(results: results, givenBack: givenBack, plan: next)
    }

    /// Abort during the observation: EnableKey on exactly the keys the teardown disabled (their `cks:teardown` mark),
    /// nothing else, and the marks removed from every observed key.
    private func endObservation(_ watched: ObservationStatus, plan current: TeardownPlan,
                                progress: @escaping @Sendable (TeardownProgress) -> Void) async throws(TeardownRunError) -> TeardownAbortOutcome {
        let disabledNow = Set((observation?.keys ?? []).filter { $0.state == .disabled }.map(\.id))
        let enable = watched.disabledByTeardown.filter(disabledNow.contains)
        beginChange(step: current.currentStep)
        write(.abort, step: current.currentStep, targets: watched.keyIds, result: .ok,
              note: "abort teardown during the observation: enable the keys it disabled, remove the marks")
        let lines = bulkJournal(.endObservation, step: current.currentStep)
        let total = Set(enable + watched.keyIds).count
        let results = await bulk(enable + watched.keyIds.filter { !enable.contains($0) }, total: total, journal: lines,
                                 progress: progress) { [service] _, report in
            await service.endObservation(enable: enable, unmark: watched.keyIds, progress: report)
        }
        abortedTeardownId = teardownId
        lastAbort = nil
        teardownId = nil
        started = false
        scheduled = []
        stateBefore = [:]
        acknowledgements = []
        unjournalled = []
        observeDays = nil
        let next = try await refresh(progress: progress)
        return TeardownAbortOutcome(results: results, givenBack: AbortPreview(keyIds: [], stateBefore: [:]), plan: next,
                                    reEnabled: results.filter { $0.succeeded && enable.contains($0.target) }.map(\.target))
    }

    /// EnableKey on keys the last abort gave back that were Enabled before the teardown scheduled them (they are
    /// Disabled after CancelKeyDeletion). `keyIds` narrows the set (a retry of the failed ones); a key that was not
    /// Enabled before is never enabled, whatever is asked.
    public func enableAgain(_ keyIds: [String]? = nil,
                            progress: @escaping @Sendable (TeardownProgress) -> Void = { _ in }) async -> [TeardownCallResult] {
        let allowed = lastAbort?.enableAgain ?? []
        let ids = keyIds.map { asked in allowed.filter(Set(asked).contains) } ?? allowed
        let lines = bulkJournal(.enableKey, step: nil, teardown: abortedTeardownId)
        let results = await bulk(ids, total: ids.count, journal: lines, progress: progress) { [service] ids, report in
            await service.enableKey(ids, progress: report)
        }
        let enabled = Set(results.filter(\.succeeded).map(\.target))
        if var given = lastAbort {
            given.enableAgain.removeAll { enabled.contains($0) }
            lastAbort = given
        }
        return results
    }

    /// The reversible alternative: DisconnectCustomKeyStore only. Needs the plan's acknowledgement when
    /// CloudHSM keys are pending deletion, and the typed store name.
    public func disconnectOnly(confirmedName: String?) async throws(TeardownRunError) -> TeardownActionOutcome {
        let current = try await refresh()
        guard let option = current.disconnectOnly, case .present(let store)? = observation?.store else {
            throw .notAllowed("disconnect only is offered before the teardown schedules anything")
        }
        guard option.isAvailable else { throw .notAllowed("cannot disconnect: \(option.unavailableReason ?? "not now")") }
        if let ack = option.requiredAcknowledgement, !acknowledgements.contains(ack) {
            throw .notAllowed("keys of this CloudHSM store are pending deletion: disconnecting orphans their key material; acknowledge that first")
        }
        guard confirmedName == store.name else { throw .confirmationMismatch(expected: store.name) }
        changedInThisRun = true
        flushAcknowledgements(step: nil)
        let result = await storeCall(.disconnectCustomKeyStore, store: store, step: nil, note: "disconnect only") {
            await $0.disconnect(storeId: $1)
        }
        if result.succeeded {
            write(.disconnectOnly, step: nil, targets: [store.id], result: .ok, note: "ended with disconnect only (reversible)")
        }
        let next = try await refresh()
        return TeardownActionOutcome(results: [result], plan: next)
    }

    /// Demo fast-forward, first step: what moving the core's clock just past this store's last deletion date would
    /// delete, in every store (the clock is the whole core's). Changes nothing.
    public func fastForwardPreview() async throws(TeardownRunError) -> FastForwardPreview {
        let current = try await refresh()
        // The end of a running observation, else the last deletion date.
        var observing: Date?
        if case .waitForObservation(let until, _) = current.action { observing = until }
        guard let last = observing ?? current.waitProgress?.lastDeletionDate, let now = observation?.now else {
            throw .notAllowed("nothing to fast-forward: no key is waiting for deletion or being observed")
        }
        let account: (stores: [TeardownObservation.Store], keys: [FastForwardPreview.PendingKey])
        do { account = try await service.pendingDeletions() } catch { throw .call(error) }
        return FastForwardPreview(now: now, target: last.addingTimeInterval(1), focus: current.storeId,
                                  stores: account.stores, pending: account.keys)
    }

    /// Demo fast-forward without a dialog (tests and scripts that already know): the preview, then the move.
    public func fastForward() async throws(TeardownRunError) -> TeardownPlan {
        try await fastForward(to: fastForwardPreview())
    }

    /// Demo fast-forward, once confirmed: advances the core's clock to the preview's target.
    public func fastForward(to preview: FastForwardPreview) async throws(TeardownRunError) -> TeardownPlan {
        let now = await service.now()
        let seconds = max(1, Int(preview.target.timeIntervalSince(now).rounded(.up)))
        do { _ = try await service.advanceClock(seconds: seconds) } catch { throw .call(error) }
        return try await refresh()
    }

    /// The teardown id this runner journals under (nil until it changed something).
    public var currentTeardownId: String? { teardownId }
}

// MARK: - Internals

extension TeardownRunner {
    private func callerIdentity() async -> (account: String?, principal: String?) {
        if let identity { return identity }
        let who = await service.caller()
        identity = who
        return who
    }

    /// Picks up the latest teardown of this store from the journal (once): of one in progress, the facts (its id, the
    /// keys it scheduled and their states before), never its decisions (window, acknowledgements); of an aborted one,
    /// what its abort gave back, so "enable again" can finish; of a completed one, the store it deleted.
    private func loadRecord(account: String?, storeId: String?) async {
        guard teardownId == nil else { return }
        let found = journal.latest(endpoint: service.endpoint, account: account, store: storeRef)
            ?? storeId.flatMap { journal.latest(endpoint: service.endpoint, account: account, store: $0) }
        guard let found else { return }
        record = found
        lastKnownStore = lastKnownStore ?? found.store
        switch found.state {
        case .inProgress:
            teardownId = found.id
            started = true
            resumed = true
            scheduled = found.scheduledKeyIds
            stateBefore = await priorStates.states(of: found)
            recordedWindow = found.window
            earlierAcknowledgements = found.acknowledgements
        case .aborted:
            if lastAbort == nil {
                abortedTeardownId = found.id
                let cancelled = found.cancelledKeyIds.subtracting(found.enabledKeyIds)
                lastAbort = AbortPreview(keyIds: Array(cancelled), stateBefore: await priorStates.states(of: found))
            }
        case .completed:
            // A completed teardown explains a store that is gone; nothing else carries over.
            lastKnownStore = found.store
        case .disconnectedOnly:
            break
        }
    }

    private func orphanedMaterial(_ clusterId: String?) async -> [TeardownObservation.OrphanedKeyMaterial]? {
        guard let clusterId else { return nil }
        return await service.orphanedKeyMaterial(clusterId: clusterId)
    }

    /// The evidence-related fields of an observation, from what this runner holds.
    private func evidenceFields(_ base: TeardownObservation) -> TeardownObservation {
        var o = base
        o.evidence = evidence
        o.lookbackDays = lookbackDays
        o.observeDays = observeDays
        o.observedRefusals = observedRefusals
        return o
    }

    private func replan() -> TeardownPlan? {
        guard var o = observation else { return plan }
        o = evidenceFields(o)
        o.acknowledgements = acknowledgements
        o.scheduledByTeardown = scheduled
        o.stateBeforeTeardown = stateBefore
        o.lastUse = lastUse
        o.window = window
        observation = o
        plan = planWithNotes(o)
        return plan
    }

    /// The planner's plan, plus what a resumed teardown's journal said that this run does not obey (so the operator
    /// knows why an earlier answer is asked again, or why the window differs).
    private func planWithNotes(_ o: TeardownObservation) -> TeardownPlan {
        var plan = TeardownPlanner.plan(o)
        if let recorded = recordedWindow, recorded != window, plan.schedulePreview != nil {
            plan.notes.append("This teardown scheduled keys with a \(recorded.days)-day window earlier; this run schedules with "
                + "\(window.days) days (the window given to it, else the default 30).")
        }
        let pendingFlags = Set(plan.flaggedKeys.filter { !$0.isAcknowledged }.map(\.acknowledgement))
        let earlier = earlierAcknowledgements.intersection(pendingFlags)
        if !earlier.isEmpty {
            plan.notes.append("An earlier run of this teardown acknowledged \(TeardownText.count(earlier.count, "of these flags", "of these flags")); "
                + "acknowledgements are not carried over from the journal: acknowledge again in this run.")
        }
        return plan
    }

    private func startIfNeeded(step: TeardownStep.Kind?) {
        guard !started else { return }
        started = true
        teardownId = teardownId ?? UUID().uuidString.lowercased()
        write(.start, step: step, targets: [lastKnownStore?.id ?? storeRef], result: .ok, windowDays: window.days)
    }

    /// Before this run's first change: the teardown starts (if it had not) and this run's decisions are journalled.
    private func beginChange(step: TeardownStep.Kind?) {
        startIfNeeded(step: step)
        changedInThisRun = true
        flushAcknowledgements(step: step)
    }

    private func flushAcknowledgements(step: TeardownStep.Kind?) {
        guard !unjournalled.isEmpty else { return }
        let acks = unjournalled.sorted()
        unjournalled = []
        let shown = acks.compactMap { evidenceShown[$0] }
        write(.acknowledge, step: step, targets: acks.map(\.journalTarget), result: .ok,
              note: shown.isEmpty ? nil : "evidence shown: " + shown.joined(separator: "; "))
    }

    func write(_ operation: TeardownJournalEntry.Operation, step: TeardownStep.Kind?, targets: [String],
               result: TeardownJournalEntry.Result, requestIds: [String] = [], failures: [String: String]? = nil,
               windowDays: Int? = nil, note: String? = nil, teardown: String? = nil) {
        let store = lastKnownStore ?? TeardownJournalEntry.Store(id: storeRef, name: storeRef, type: .awsCloudHsm)
        let id = teardown ?? teardownId ?? UUID().uuidString.lowercased()
        if teardown == nil { teardownId = id }
        var entry = TeardownJournalEntry(
            time: Date(), teardown: id, endpoint: service.endpoint, account: identity?.account,
            principal: identity?.principal, store: store, step: step, operation: operation, targets: targets,
            result: result, requestIds: requestIds, failures: failures, windowDays: windowDays, note: note)
        (entry.context, entry.region) = (service.context, service.region)
        journal.append(entry)
    }

    /// The journal lines of a bulk call, written as its results arrive (one line per 100 keys keeps lines
    /// readable with thousands of keys): a console killed in the middle of scheduling 10,000 keys leaves a
    /// record of every key the core had already changed, not nothing.
    private func bulkJournal(_ operation: TeardownJournalEntry.Operation, step: TeardownStep.Kind?,
                             windowDays: Int? = nil, statesBefore: [String: KeyState] = [:],
                             teardown: String? = nil) -> BulkJournalLines {
        let store = lastKnownStore ?? TeardownJournalEntry.Store(id: storeRef, name: storeRef, type: .awsCloudHsm)
        let id = teardown ?? teardownId ?? UUID().uuidString.lowercased()
        if teardown == nil { teardownId = id }
        let (journal, endpoint, identity) = (self.journal, service.endpoint, self.identity)
        let (context, region) = (service.context, service.region)
        return BulkJournalLines { chunk in
            let failures = Dictionary(chunk.compactMap { r in r.error.map { (r.target, $0.description) } }, uniquingKeysWith: { $1 })
            let result: TeardownJournalEntry.Result = failures.isEmpty ? .ok : failures.count == chunk.count ? .failed : .partial
            var entry = TeardownJournalEntry(
                time: Date(), teardown: id, endpoint: endpoint, account: identity?.account, principal: identity?.principal,
                store: store, step: step, operation: operation, targets: chunk.map(\.target), result: result,
                requestIds: chunk.compactMap(\.requestId), failures: failures, windowDays: windowDays,
                statesBefore: Dictionary(chunk.compactMap { r in statesBefore[r.target].map { (r.target, $0.rawValue) } },
                                         uniquingKeysWith: { a, _ in a }),
                note: nil)
            (entry.context, entry.region) = (context, region)
            journal.append(entry)
        }
    }

    /// Runs a bulk call, reporting each result with a running count and journalling it.
    private func bulk(_ ids: [String], total: Int, journal lines: BulkJournalLines,
                      progress: @escaping @Sendable (TeardownProgress) -> Void,
                      _ call: (_ ids: [String], _ report: @escaping @Sendable (TeardownCallResult) -> Void) async -> [TeardownCallResult])
        async -> [TeardownCallResult] {
        guard !ids.isEmpty else { return [] }
        let counter = Counter()
        let results = await call(ids) { result in
            lines.add(result)
            progress(.call(result, done: counter.increment(), total: total))
        }
        lines.flush()
        return results
    }

    private func storeCall(_ operation: TeardownJournalEntry.Operation, store: TeardownObservation.Store,
                           step: TeardownStep.Kind?, note: String? = nil,
                           _ call: (any TeardownService, String) async -> TeardownCallResult) async -> TeardownCallResult {
        let result = await call(service, store.id)
        write(operation, step: step, targets: [store.id], result: result.succeeded ? .ok : .failed,
              requestIds: result.requestId.map { [$0] } ?? [],
              failures: result.error.map { [store.id: $0.description] }, note: note)
        return result
    }

    /// Connect, or from FAILED: Disconnect, wait for DISCONNECTED (polling gently), Connect.
    private func reconnect(store: TeardownObservation.Store, calls: [TeardownCall], step: TeardownStep.Kind?,
                           progress: @escaping @Sendable (TeardownProgress) -> Void) async throws(TeardownRunError) -> [TeardownCallResult] {
        var results: [TeardownCallResult] = []
        if calls.first == .disconnectCustomKeyStore {
            progress(.message("FAILED only leaves through DisconnectCustomKeyStore: disconnecting first"))
            let r = await storeCall(.disconnectCustomKeyStore, store: store, step: step, note: "reconnect from FAILED") {
                await $0.disconnect(storeId: $1)
            }
            results.append(r)
            guard r.succeeded else { return results }
            var delay = 0.25
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline {
                let observed: TeardownObservation.Store?
                do { observed = try await service.describeStore(store.id) } catch { throw .call(error) }
                if observed?.connectionState == .disconnected { break }
                do { try await sleep(.milliseconds(Int(delay * 1000))) } catch { return results }
                delay = min(delay * 2, 5)
            }
        }
        progress(.message("ConnectCustomKeyStore: KMS can delete the key material when each waiting period ends"))
        results.append(await storeCall(.connectCustomKeyStore, store: store, step: step, note: "reconnect") {
            await $0.connect(storeId: $1)
        })
        return results
    }
}

/// Results of a bulk call gathered from concurrent calls into journal lines of 100.
final class BulkJournalLines: Sendable {
    private let pending = Mutex<[TeardownCallResult]>([])
    private let emit: @Sendable ([TeardownCallResult]) -> Void

    init(_ emit: @escaping @Sendable ([TeardownCallResult]) -> Void) { self.emit = emit }

    func add(_ result: TeardownCallResult) {
        let full: [TeardownCallResult]? = pending.withLock { p in
            p.append(result)
            guard p.count >= 100 else { return nil }
            defer { p.removeAll(keepingCapacity: true) }
            return p
        }
        if let full { emit(full) }
    }

    /// Writes what is left (fewer than 100), at the end of the call.
    func flush() {
        let rest = pending.withLock { p in defer { p.removeAll() }; return p }
        if !rest.isEmpty { emit(rest) }
    }
}

/// A thread-safe running count for progress reports from concurrent calls.
final class Counter: Sendable {
    private let value = Mutex(0)
    func increment() -> Int { value.withLock { $0 += 1; return $0 } }
}

