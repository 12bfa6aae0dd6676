import CKSDomain
import CKSTeardown
import Foundation
import Synchronization

/// The console's teardown view of one store: it owns a `TeardownRunner`, shows its plan as a checklist,
/// and turns keys into the plan's one action, always behind a dialog that names the call and its consequence.
/// Everything it shows comes from the last observation; nothing is decided here.
@MainActor
public final class TeardownController {
    /// A bulk action in progress (for the progress bar).
    struct Bulk {
        var label: String
        var total: Int
        var done = 0
        var failed = 0
    }

    /// Counters written from the runner's tasks, read when drawing.
    final class Progress: Sendable {
        struct Snapshot {
            var found = 0, done = 0, failed = 0
            var message: String?
            /// The use check's per-key reads of grants, policy and tags so far, once they have begun.
            var evidence: (done: Int, total: Int)?
            /// The use check's CloudTrail pass so far (LookupEvents requests, events read), once it has begun.
            var trail: (requests: Int, events: Int)?
        }
        private let state = Mutex(Snapshot())
        func set(_ event: TeardownProgress) {
            state.withLock { s in
                switch event {
                case .inventory(let n): s.found = n
                case .usage(let done, _): s.done = done
                case .evidence(let done, let total): s.evidence = (done, total)
                case .trail(let requests, let events): s.trail = (requests, events)
                case .call(let r, let done, _): s.done = done; if !r.succeeded { s.failed += 1 }
                case .message(let m): s.message = m
                }
            }
        }
        func reset() { state.withLock { $0 = Snapshot() } }
        var snapshot: Snapshot { state.withLock { $0 } }
    }

    weak var app: ConsoleApp?
    let runner: TeardownRunner
    public let storeId: String
    public let storeName: String
    /// `--demo`: the fast-forward key may advance the core's clock.
    let demo: Bool
    public internal(set) var plan: TeardownPlan?
    /// The core's time of the last observation.
    var observedAt: Date?
    public internal(set) var error: String?
    var working: String?
    var bulk: Bulk?
    let progress = Progress()
    /// Per-key results of the last bulk action (failures are listed and retried by the next step).
    public internal(set) var lastResults: (label: String, results: [TeardownCallResult])?
    /// What the last abort gave back: the keys Enabled before the teardown are offered to be enabled again.
    var givenBack: AbortPreview?
    /// The fast-forward the dialog on screen describes (demo only).
    var fastForwardPreview: FastForwardPreview?
    /// The operator chose to schedule without the disable-and-observe phase (asked once per teardown view).
    var observationDeclined = false
    /// Flagged keys: cursor and marks, for acknowledging one by one or as a marked set.
    var cursor = 0
    public internal(set) var marks: Set<String> = []
    var scroll = 0
    /// The name being typed to confirm DeleteCustomKeyStore; nil when not asking.
    public internal(set) var nameEntry: String?
    var poll = PollSchedule(idle: 5, motion: 1)
    var inFlight = false
    /// What runs now, shown in the view: an observation (a key pressed meanwhile waits for it and then runs)
    /// or a change (keys that act are refused until it ends, and the refusal stays on screen).
    /// `since`: when it began, on the console's wall clock.
    var busy: (label: String, changes: Bool, since: Date?)?
    /// Whole seconds what runs now has taken so far.
    var busySeconds: Int? {
        guard let since = busy?.since, let app else { return nil }
        return max(0, Int(app.wallClock().timeIntervalSince(since)))
    }
    /// The key pressed during an observation, run when it ends.
    var queued: Action?
    /// Keys refused during the change that runs now.
    var refused: [Action] = []
    /// Kept after a change ends until the next key: which keys were refused while it ran.
    var refusalNotice: String?

    init(app: ConsoleApp, runner: TeardownRunner, storeId: String, storeName: String, demo: Bool) {
        self.app = app
        self.runner = runner
        self.storeId = storeId
        self.storeName = storeName
        self.demo = demo
    }

    /// Keys seen by the last observation.
    var keyCount: Int { (plan?.waitProgress?.keysLeft ?? 0) + (plan?.schedulePreview?.keyIds.count ?? 0) }

    /// Flagged keys not yet acknowledged, by alias (as the Keys screen sorts), else by id: what the cursor moves over.
    var pendingFlags: [FlaggedKey] { Self.displayOrder((plan?.flaggedKeys ?? []).filter { !$0.isAcknowledged }) }

    /// Flagged keys by alias in natural order (as the Keys screen sorts), keys without an alias last by id.
    static func displayOrder(_ flags: [FlaggedKey]) -> [FlaggedKey] {
        flags.sorted { a, b in
            switch (a.aliases.first, b.aliases.first) {
            case let (x?, y?) where x != y: return NaturalOrder.less(x, y)
            case (_?, nil): return true
            case (nil, _?): return false
            default: return a.keyId < b.keyId
            }
        }
    }

    // MARK: observing

    /// Observes and plans; read-only steps (inventory, use check) run at once, since they change nothing.
    func refresh(_ label: String) {
        guard let app, !inFlight else { return }
        begin("observing the store", changes: false)
        working = plan == nil ? "Taking the inventory…" : nil
        progress.reset()
        poll.started(at: app.wallClock())
        app.launch(label) { [progress, runner] app in
            let report: @Sendable (TeardownProgress) -> Void = { progress.set($0) }
            do {
                var plan = try await runner.refresh(progress: report)
                await self.accept(plan)
                while case .checkUse(let ids) = plan.action {
                    self.working = "Checking when \(TeardownText.count(ids.count, "key")) \(ids.count == 1 ? "was" : "were") last used…"
                    app.changed()
                    plan = try await runner.perform(plan.action, progress: report).plan
                    await self.accept(plan)
                }
                self.poll.succeeded(at: app.wallClock())
                self.error = nil
            } catch {
                self.poll.failed()
                self.error = "\(error)"
            }
            self.working = nil
            self.end()
        }
    }

    /// Keys that act on the plan: they wait for an observation and are refused during a change.
    static let actingKeys: Set<Action> = [.teardownStep, .acknowledge, .acknowledgeAll, .abortTeardown, .disconnectOnly,
                                          .acceptOrphaning, .fastForward, .observe]
    /// Of those, the ones that wait for an observation to end and then run (each opens a dialog built from the
    /// fresh plan, or is the demo's fast-forward); acknowledgements need no wait (they call nothing).
    static let queueableKeys: Set<Action> = [.teardownStep, .abortTeardown, .disconnectOnly, .acceptOrphaning, .fastForward,
                                             .observe]

    func begin(_ label: String, changes: Bool) {
        inFlight = true
        busy = (label, changes, app?.wallClock())
        refused = []
    }

    /// The running action ended: say durably which keys were refused meanwhile, run the one that waited.
    func end() {
        let label = busy?.label ?? "the action"
        inFlight = false
        busy = nil
        if !refused.isEmpty {
            let names = refused.map(keyLabel).joined(separator: ", ")
            refusalNotice = "Not done while \(label) ran: \(names). Press \(refused.count == 1 ? "it" : "them") again now."
            refused = []
        }
        app?.changed()
        if let q = queued {
            queued = nil
            // A dialog the observation opened (the fast-forward's) has the keys now: the waiting key is dropped.
            if app?.dialog == nil { perform(q) }
        }
    }

    /// "F (fast-forward)" for notices.
    func keyLabel(_ action: Action) -> String {
        guard let app, let b = app.keymap.binding(action) else { return action.rawValue }
        return "\(b.keys.first?.label(ascii: app.symbols.isASCII) ?? "?") (\(b.label))"
    }

    /// True when `action` cannot run now because something runs: queued (an observation) or refused (a change);
    /// the view says which.
    func deferredWhileBusy(_ action: Action) -> Bool {
        guard let busy, Self.actingKeys.contains(action) else { return false }
        if !busy.changes {
            // Acknowledging only records a decision (no call): it goes ahead during an observation.
            guard Self.queueableKeys.contains(action) else { return false }
            queued = action
        } else if !refused.contains(action) {
            refused.append(action)
        }
        app?.changed()
        return true
    }

    /// Takes a new plan (and the time it was observed at).
    func accept(_ plan: TeardownPlan) async {
        self.plan = plan
        observedAt = await runner.observation?.now
        cursor = min(cursor, max(0, pendingFlags.count - 1))
        marks.formIntersection(pendingFlags.map(\.keyId))
        app?.changed()
    }

    /// Called by the console's tick: observes again while waiting (gently) or after a failure (backing off).
    func tick() {
        guard let app, !inFlight, bulk == nil, nameEntry == nil, app.dialog == nil, plan?.status != .done else { return }
        let motion: Bool
        switch plan?.action {
        case .waitForConnectionState?, .waitForDisconnected?: motion = true
        default: motion = false
        }
        // Observing lists every key (N+1 calls): the bigger the store, the gentler the polling.
        var schedule = poll
        schedule.idleInterval = min(60, max(5, Double(keyCount) / 200))
        if schedule.isDue(at: app.wallClock(), inMotion: motion) { refresh("teardown \(storeName): observe (auto)") }
    }

    // MARK: actions

    /// Keys the teardown view handles itself (besides the keymap): the name entry of the final delete.
    func handleRaw(_ key: Key) -> Bool {
        guard var entry = nameEntry else { return false }
        switch key {
        case .escape: nameEntry = nil; app?.say("Delete cancelled: nothing was changed.", .ok)
        case .backspace: if !entry.isEmpty { entry.removeLast() }; nameEntry = entry
        case .char(let c): entry.append(c); nameEntry = entry
        case .enter:
            nameEntry = nil
            if entry == storeName { deleteStore(confirmedName: entry) } else {
                app?.say("The name typed (\(entry)) is not \(storeName): nothing was deleted.", .warning)
            }
        default: break
        }
        return true
    }

    func perform(_ action: Action) {
        guard let app else { return }
        refusalNotice = nil
        if deferredWhileBusy(action) { return }
        switch action {
        case .moveUp: moveCursor(-1)
        case .moveDown: moveCursor(1)
        case .pageUp: scroll = max(0, scroll - 10)
        case .pageDown: scroll += 10
        case .top: cursor = 0; scroll = 0
        case .bottom: cursor = max(0, pendingFlags.count - 1); scroll = 1_000
        case .back: app.closeTeardown()
        case .refresh: refresh("teardown \(storeName): refresh")
        case .teardownStep: nextStep()
        case .teardownMark:
            guard cursor < pendingFlags.count else { return }
            let id = pendingFlags[cursor].keyId
            if marks.contains(id) { marks.remove(id) } else { marks.insert(id) }
            moveCursor(1)
        case .acknowledge: acknowledgeMarked(all: false)
        case .acknowledgeAll: acknowledgeMarked(all: true)
        case .abortTeardown: openAbortDialog()
        case .disconnectOnly: openDisconnectOnlyDialog()
        case .acceptOrphaning: openAcceptOrphaningDialog()
        case .fastForward: fastForward()
        case .observe: openObserveDialog()
        default: break
        }
    }

    func moveCursor(_ delta: Int) {
        if pendingFlags.isEmpty { scroll = max(0, scroll + delta); return }
        cursor = max(0, min(pendingFlags.count - 1, cursor + delta))
    }

    /// Nil when `action` is possible now, else why not (dims it in the footer and help).
    func availability(_ action: Action) -> String? {
        guard let plan else { return "the plan is not known yet" }
        // During an observation acting keys wait for it and then run (they stay on offer); during a change they are refused.
        if let busy, busy.changes { return "\(busy.label) is running" }
        if bulk != nil { return "an action is running" }
        switch action {
        case .teardownStep:
            switch plan.status {
            case .done: return "the store is deleted"
            case .waiting: return "nothing to do but wait" + (demo ? " (\(keyName(.fastForward)) fast-forwards)" : "")
            case .blocked:
                // The next step never acknowledges: each acknowledgement goes through its dialog.
                if case .acknowledge = plan.action {
                    return "acknowledge the flagged keys first: \(keyName(.acknowledge)) (the key under the cursor, or the "
                        + "marked ones) or \(keyName(.acknowledgeAll)) (all), each through a dialog"
                }
                return "blocked"
            case .ready: return nil
            }
        case .teardownMark, .acknowledge, .acknowledgeAll:
            return pendingFlags.isEmpty ? "no flagged key waits for an acknowledgement" : nil
        case .abortTeardown:
            if plan.abort == nil, plan.observation != nil { return nil }
            return plan.abort == nil ? "no key scheduled by this teardown is pending deletion" : nil
        case .disconnectOnly:
            guard let option = plan.disconnectOnly else { return "offered only before the teardown schedules anything" }
            return option.isAvailable ? nil : option.unavailableReason
        case .acceptOrphaning:
            return plan.warnings.contains { $0.kind == .keyMaterialWillBeOrphaned && !$0.isAcknowledged } ? nil
                : "the store's key material is not at risk"
        case .observe:
            if case .scheduleDeletion = plan.action, plan.observation == nil { return nil }
            return plan.observation != nil ? "an observation has already run (or is running)" : "offered just before scheduling deletion"
        case .fastForward:
            guard demo else { return "only in --demo" }
            if case .waitForObservation = plan.action { return nil }
            return plan.waitProgress == nil || plan.status == .done ? "no key is waiting for deletion" : nil
        default: return nil
        }
    }

    /// The first key of an action as the keymap binds it ("y", "F").
    func keyName(_ action: Action) -> String {
        app?.keymap.binding(action)?.keys.first?.label(ascii: app?.symbols.isASCII ?? false) ?? action.rawValue
    }

    func refuseIfReadOnly(_ what: String) -> Bool {
        guard let app, app.options.readOnly else { return false }
        app.say("Read-only mode (--read-only): \(what) is refused; nothing was changed.", .warning)
        return true
    }

    /// Enter: the plan's one action, behind its dialog.
    func nextStep() {
        guard let app, let plan else { return }
        if let reason = availability(.teardownStep) { app.say(reason.prefix(1).uppercased() + reason.dropFirst() + ".", .warning); return }
        switch plan.action {
        case .takeInventory, .checkUse: refresh("teardown \(storeName): observe")
        case .acknowledge: break   // refused by availability: acknowledging needs its own key and dialog
        case .scheduleDeletion(let ids, let window, _):
            if refuseIfReadOnly("scheduling deletion") { return }
            app.dialog = TeardownDialogs.schedule(self, ids: ids, window: window)
        case .observe(let ids, let disable, _, _):
            if refuseIfReadOnly("disabling keys to observe them") { return }
            app.dialog = TeardownDialogs.observe(self, keys: ids.count, disabling: disable.count, resume: true)
        case .reconnect(let calls):
            if refuseIfReadOnly("reconnecting") { return }
            app.dialog = TeardownDialogs.reconnect(self, calls: calls)
        case .disconnect:
            if refuseIfReadOnly("disconnecting") { return }
            app.dialog = TeardownDialogs.disconnect(self)
        case .deleteStore:
            if refuseIfReadOnly("deleting the store") { return }
            nameEntry = ""
        case .waitForObservation, .waitForDeletion, .waitForConnectionState, .waitForDisconnected, .none: break
        }
    }

    /// `W`: disable-and-observe before scheduling, through its dialog (7 days by default).
    func openObserveDialog() {
        guard let app, let plan else { return }
        if let reason = availability(.observe) { app.say("Observe: \(reason).", .warning); return }
        if refuseIfReadOnly("disabling keys to observe them") { return }
        if case .scheduleDeletion(let ids, _, _) = plan.action { app.dialog = TeardownDialogs.observe(self, keys: ids.count) }
    }

    /// Disable-and-observe for `days` (nil: skip it and go to the schedule dialog).
    func startObservation(days: Int?) {
        guard let app else { return }
        guard let days else {
            observationDeclined = true
            if case .scheduleDeletion(let ids, let window, _)? = plan?.action {
                app.dialog = TeardownDialogs.schedule(self, ids: ids, window: window)
            }
            return
        }
        app.launch(nil) { [runner] _ in
            if let plan = await runner.setEvidenceOptions(observeDays: days) { await self.accept(plan) }
            self.runObservation()
        }
    }

    /// Runs the plan's disable-and-observe action, if it is the current one.
    func runObservation() {
        if case .observe(let ids, let disable, _, _)? = plan?.action {
            run(plan!.action, label: "DisableKey × \(disable.count) + TagResource × \(ids.count)")
        }
    }

    /// Runs `action` (the plan's current one) as a tracked task, with a progress bar for bulk calls.
    func run(_ action: TeardownAction, label: String, confirmedName: String? = nil) {
        guard let app else { return }
        let total: Int
        switch action {
        case .scheduleDeletion(let ids, _, _): total = ids.count
        case .observe(let ids, _, _, _): total = ids.count
        default: total = 0
        }
        begin(label, changes: true)
        progress.reset()
        if total > 0 { bulk = Bulk(label: label, total: total) }
        app.launch("teardown \(storeName): \(label)") { [progress, runner] app in
            do {
                let outcome = try await runner.perform(action, confirmedName: confirmedName) { progress.set($0) }
                let api = action.calls.map(\.rawValue).joined(separator: "+")
                self.lastResults = outcome.results.isEmpty ? nil : (api, outcome.results)
                await self.accept(outcome.plan)
                let failed = outcome.failed
                if failed.isEmpty {
                    app.say("\(label): done.", .ok)
                } else {
                    app.say("\(label): \(failed.count) of \(outcome.results.count) failed; Enter retries them.", .warning)
                }
                self.error = nil
            } catch TeardownRunError.planChanged(let fresh) {
                await self.accept(fresh)
                app.say("The situation changed; the plan was recomputed. Check it and try again.", .warning)
            } catch {
                self.error = "\(error)"
            }
            self.bulk = nil
            self.end()
            app.keysChangedElsewhere(inStore: self.storeId)
            app.refreshStores(label: "refresh after teardown step")
        }
    }

    func setWindowAndSchedule(_ days: Int) {
        guard let window = PendingWindow(days: days) else { return }
        app?.launch(nil) { [runner] _ in
            if let plan = await runner.setWindow(window) { await self.accept(plan) }
            if case .scheduleDeletion(let ids, _, _)? = self.plan?.action {
                self.run(self.plan!.action, label: ids.count == 1 ? "ScheduleKeyDeletion" : "ScheduleKeyDeletion × \(ids.count)")
            }
        }
    }

    func deleteStore(confirmedName: String) {
        guard case .deleteStore? = plan?.action else { return }
        run(plan!.action, label: "DeleteCustomKeyStore", confirmedName: confirmedName)
    }
}
