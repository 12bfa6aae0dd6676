import CKSDomain
import CKSTeardown
import Foundation

/// Plugs the guided teardown into the console: `t` on a store and `:teardown STORE` open it, and at start
/// the teardowns in progress found in the journal are listed with an offer to resume.
@MainActor
public final class TeardownFeature {
    public let journal: TeardownJournal
    /// `--demo`: fast-forward is allowed.
    public let demo: Bool
    /// How calls are made: the backend's teardown service unless a test gives another.
    let makeService: @MainActor (ConsoleApp) async -> any TeardownService

    /// - Parameter embeddedDataDirectory: the data directory of the embedded core the console runs on (a demo's
    ///   throw-away one); nil for the default one (`cks serve`'s and `cks teardown`'s).
    public init(journal: TeardownJournal, demo: Bool, embeddedDataDirectory: URL? = nil,
                makeService: (@MainActor (ConsoleApp) async -> any TeardownService)? = nil) {
        self.journal = journal
        self.demo = demo
        self.makeService = makeService ?? { app in await TeardownFeature.defaultService(app, embeddedDataDirectory: embeddedDataDirectory) }
    }

    /// The backend's teardown service: over the console's KMS client (request ids, the Activity pane through its
    /// observing transport).
    public static func defaultService(_ app: ConsoleApp, embeddedDataDirectory: URL? = nil) async -> any TeardownService {
        let info = await app.backend.endpointInfo()
        // An embedded core is named by its data directory, as `cks serve` and `cks teardown` name it.
        let identity = info.mode == .embedded
            ? TeardownJournal.endpointIdentity(embeddedDataDirectory: embeddedDataDirectory ?? CKSPaths().dataDirectory) : nil
        return await app.backend.teardownService(info: info, endpointIdentity: identity)
    }

    /// Installs the feature on `app`: the `t` / `:teardown` handler and, at start, the resume offer.
    public func install(on app: ConsoleApp) {
        app.teardownFeature = self
        app.teardownHandler = { app, store in app.openTeardown(storeRef: store.id, name: store.name) }
        if let problem = journal.problem { app.say("Teardown journal: \(problem)", .warning, seconds: 12) }
        if let report = TeardownJournal.report(journal.read().skipped, url: journal.url) { app.say(report, .warning, seconds: 12) }
        app.launch(nil) { app in await self.offerResume(app) }
    }

    /// Lists the teardowns in progress on this endpoint and offers to resume the most recent one.
    func offerResume(_ app: ConsoleApp) async {
        let service = await makeService(app)
        // This endpoint in this region (a journal from before contexts names no region), and teardowns bound to
        // another context or region the console can open: resuming one opens its context and region first.
        let here = journal.inProgress().filter { $0.endpoint == service.endpoint && ($0.region == nil || $0.region == service.region) }
        let elsewhere = journal.inProgress().filter { r in
            !here.contains { $0.id == r.id } && r.region != nil
                && r.context.flatMap { app.contexts?.catalog.context(named: $0) } != nil
        }
        let open = here + elsewhere
        guard !open.isEmpty, app.dialog == nil else { return }
        // Any of them can be resumed: Up/Down pick (most recently active first), Enter on Resume opens it.
        let shown = Array(open.prefix(9))
        let dialog = Dialog(title: "\(TeardownText.count(open.count, "teardown")) in progress", confirmLabel: "Resume",
                            body: { [weak app] in
            let picked = app?.dialog?.choice ?? 0
            var lines: [(String, Style)] = shown.enumerated().map { i, r in
                let step = r.lastStep.map { TeardownView.shortTitles[$0] ?? $0.rawValue } ?? "started"
                let keys = r.scheduledKeyIds.isEmpty ? "" : ", \(TeardownText.count(r.scheduledKeyIds.count, "key")) scheduled"
                let mark = i == picked ? (app?.symbols.cursor ?? ">") + " " : "  "
                let place = here.contains { $0.id == r.id } ? "" : " [ctx \(r.context ?? "?") \(r.region ?? "?")]"
                return ("\(mark)\(r.store.name) (\(r.store.id))\(place): \(step)\(keys), last action \(TeardownText.date(r.updatedAt))",
                        i == picked ? Style(.dialog, [.bold]) : .normal)
            }
            if open.count > shown.count { lines.append(("  and \(open.count - shown.count) more: select the store and press t", Style(.muted))) }
            lines.append(("The journal records them; the plan is recomputed from what the core shows now.", Style(.muted)))
            lines.append((shown.count > 1 ? "Up/Down picks the teardown to resume; Tab then Enter resumes it."
                                          : "Tab then Enter resumes it; later: select the store and press t, or :teardown STORE.",
                          Style(.muted)))
            return lines
        }, onConfirm: { [weak app] d in
            let r = shown[min(d.choice, shown.count - 1)]
            if !here.contains(where: { $0.id == r.id }), let app, let name = r.context,
               let context = app.contexts?.catalog.context(named: name) {
                // Its own context and region, then the teardown, as if started there.
                app.pendingOpen = ConsoleApp.PendingOpen(storeId: r.store.id, teardown: true)
                app.switchContext(context, region: r.region ?? context.region)
                return
            }
            app?.openTeardown(storeRef: r.store.id, name: r.store.name)
        })
        dialog.choiceCount = shown.count
        app.dialog = dialog
        app.changed()
    }
}

extension ConsoleApp {
    /// Opens the teardown view of a store (by id or name) over the current screen.
    public func openTeardown(storeRef: String, name: String) {
        guard let feature = teardownFeature else { say("The guided teardown is not available in this build.", .warning); return }
        if let t = teardown, t.storeId == storeRef || t.storeName == name { return }
        launch("open teardown of \(name)") { app in
            let service = await feature.makeService(app)
            let runner = TeardownRunner(service: service, journal: feature.journal, store: storeRef)
            let controller = TeardownController(app: app, runner: runner, storeId: storeRef, storeName: name, demo: feature.demo)
            app.teardown = controller
            app.showHelp = false
            controller.refresh("teardown \(name): observe")
        }
    }

    /// Back to the screen the teardown was opened from.
    public func closeTeardown() {
        teardown = nil
        refreshStores(label: "refresh")
    }

    /// Actions the teardown view takes over while it is open.
    static let teardownRoutedActions: Set<Action> = [
        .moveUp, .moveDown, .pageUp, .pageDown, .top, .bottom, .back, .refresh,
        .teardownStep, .teardownMark, .acknowledge, .acknowledgeAll, .abortTeardown, .disconnectOnly, .acceptOrphaning, .fastForward,
    ]
}
