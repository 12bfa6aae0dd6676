import CKSDomain
import CKSTeardown
import Foundation

/// Options of a console session (from flags, environment and config).
public struct ConsoleOptions: Sendable {
    public var readOnly = false
    public var ascii = false
    public var timeZone: TimeZone = .current
    public var minimumSize = Size(width: 80, height: 24)
    /// Problems found while starting (a broken theme or keymap), shown once the UI is up.
    public var startupMessages: [String] = []
    public init() {}
}

/// The console: one UI thread (@MainActor), a stack of screens, dialogs, the command line, polling,
/// and the Activity log. It never touches the terminal: it handles keys and draws on a `Surface`,
/// so tests drive the real event handling with scripted keys and compare what it draws.
@MainActor
public final class ConsoleApp {
    public enum Screen: Equatable, Sendable {
        case stores
        case keys(storeId: String)
        case keyDetail(storeId: String, keyId: String)
        /// `:ctx`: every context, Enter opens one.
        case contexts
        /// `R`: the regions of the current context, Enter opens one.
        case regions
        /// `:stores all`: every context's stores in every region.
        case allStores

        @MainActor var kind: ScreenKind { handler.kind }
    }

    /// Per-store key listing state.
    final class KeysView {
        let storeId: String
        let table: Table<KeyRow>
        /// A pass over the keys is running and this list has not been filled by one yet.
        var loading = false
        var loadedOnce = false
        /// Keys of this store the running pass has found, and how many of them the list shows already.
        var received = 0
        var scanned = 0
        var error: String?
        /// Rows whose state is remembered from an earlier run, not yet described again, and when it was seen.
        var unconfirmed = 0
        var unconfirmedAsOf: Date?
        init(storeId: String, table: Table<KeyRow>) { self.storeId = storeId; self.table = table }
    }

    /// A pass over the account's keys in progress: the rows found per store, and keys an action re-described
    /// (or found gone) meanwhile, whose rows the pass must not overwrite with what it saw before the change.
    struct KeyScan {
        var rows: [String: [KeyRow]] = [:]
        /// Where each key's row is in `rows`.
        var position: [String: (store: String, index: Int)] = [:]
        /// Rows described again after a list showed them: to replace in the list at the next flush.
        var redescribed: [String: [KeyRow]] = [:]
        /// Remembered keys the pass found gone.
        var removed: Set<String> = []
        /// Remembered keys listed, and how many of them (per store) are not described again yet.
        var remembered = 0
        var unconfirmed: [String: Int] = [:]
        var rememberedAsOf: Date?
        let started = ContinuousClock.now
        var changed: Set<String> = []
        var gone: Set<String> = []
        /// Stores whose keys something else changed while this pass ran (the guided teardown): what the pass saw
        /// of them may predate the change, so it is not shown and another pass follows.
        var invalidated: Set<String> = []
    }

    /// Progress of a bulk action (for the status line and the 1 s polling).
    struct BulkProgress {
        var label: String
        var total: Int
        var done = 0
        var failed = 0
    }

    // Configuration.
    /// The backend of the context on screen; replaced by a context or region switch (`ConsoleApp+Contexts.swift`).
    public internal(set) var backend: any ConsoleBackend
    /// Bumped when the backend is replaced: answers of the previous one are dropped.
    var backendGeneration = 0
    /// Moving between contexts and regions (`:ctx`, `:region`, `R`, `:stores all`); nil: one context only.
    public var contexts: ContextSwitching?
    /// Stops what the current backend started (an embedded core) when another replaces it.
    public var stopBackend: (@Sendable () async -> Void)?
    /// The all-stores view (`:stores all`): its table and whether a fetch is running.
    var allStores: AllStoresView?
    var contextsTable: Table<ContextRow>?
    var regionsTable: Table<RegionRow>?
    /// Regions opened in this session (the region picker and the all-stores view offer them).
    var visitedRegions: Set<String> = []
    /// The store to open once a context opened from the all-stores view lists its stores.
    var pendingOpen: PendingOpen?
    /// Copies text to the terminal's clipboard (OSC 52); set by the terminal runner. Returns whether it was sent.
    public var clipboardHandler: ((String) -> Bool)?
    public let options: ConsoleOptions
    public internal(set) var keymap: Keymap
    public internal(set) var symbols: Symbols
    let formatting: Formatting
    let wallClock: @Sendable () -> Date
    public let inbox: ActivityInbox
    public let activity = ActivityLog()
    public internal(set) var endpoint: EndpointInfo?
    /// Opens the guided teardown of a store (`t`, `:teardown STORE`); set by the teardown feature.
    public var teardownHandler: ((ConsoleApp, StoreRecord) -> Void)?
    /// The teardown view, drawn over the current screen while open (Teardown/TeardownController.swift).
    public internal(set) var teardown: TeardownController?
    var teardownFeature: TeardownFeature?
    /// Switches the theme (`:theme NAME`); set by the terminal runner, which owns colours.
    public var themeHandler: ((String) -> String?)?
    /// `:proxy stop|start|status` in a demo (set when the demo core has its real XKS proxy): the message to show and
    /// whether it is good news.
    public var demoProxyHandler: ((String) async -> (String, Bool))?
    /// The demo autopilot's caption line, drawn above the footer while a scenario plays (Demo/Autopilot.swift).
    public internal(set) var caption: DemoCaption?
    /// The rows the caption took in the last frame (the autopilot's waits look at the screen without them).
    public internal(set) var captionRows: Range<Int> = 0..<0
    /// Called whenever something changed that should be drawn (the terminal loop wakes up).
    public var onChange: (() -> Void)?

    // Navigation and overlays.
    public internal(set) var stack: [Screen] = [.stores]
    public internal(set) var showHelp = false
    var helpScroll = 0
    public internal(set) var showActivity = false
    public internal(set) var dialog: Dialog?
    public internal(set) var commandLine: CommandLineState?
    public internal(set) var filterEditing = false
    var flash: (text: String, role: Role, until: Date)?
    public internal(set) var running = true
    /// The process's exit status when the console ends: 0 after q, 130 after Ctrl-C (as other terminal programs).
    public internal(set) var exitStatus: Int32 = 0
    var detailScroll = 0
    /// The Activity pane has the keys (Tab moves the focus): movement keys scroll it.
    public internal(set) var activityFocused = false
    /// Lines the Activity pane is scrolled back from its newest line (0: it follows the newest).
    var activityScroll = 0
    /// How many lines the Activity pane had at the last draw (so scrolling back stays on the same lines as new ones come).
    var activityLineCount = 0

    // Data.
    let storesTable: Table<StoreRow>
    public internal(set) var stores: [StoreRecord] = []
    var census: [String: KeyCensus] = [:]
    /// `census` holds totals from the key index: the pending deletions are not known yet.
    var censusFromIndex = false
    var storesPoll = PollSchedule()
    /// Passes over the keys (counting every store's keys and listing them); intervals from `keysRefreshInterval`.
    var keysPoll = PollSchedule(idle: 30, motion: 30)
    var scan: KeyScan?
    var storesInFlight = false
    /// Set while the endpoint as configured cannot be used (unreachable, refusing the credentials, not a KMS endpoint
    /// with custom key stores): the banner's text, wrapped over up to three rows.
    public internal(set) var banner: String?
    /// Why the stores are listed without key counts (a principal allowed to describe stores but not to list keys).
    public internal(set) var keyCountsUnavailable: String?
    var clock = ClockEstimate()
    var keysViews: [String: KeysView] = [:]
    /// Every key id the last pass (or the last look for new keys) listed: keys outside it are new.
    var listedKeyIds: Set<String>?
    /// The key the Key detail screen shows, every DescribeKey field (described when the screen opens).
    var detailRecord: KeyRecord?
    /// Why describing it failed (the screen says so instead of waiting).
    var detailFailure: String?
    /// Who can and did use the key the Key detail screen shows (nil until gathered, or when the endpoint cannot tell).
    var detailEvidence: (keyId: String, evidence: KeyEvidence?)?
    /// The Keys list's evidence column, per key id, from one evidence pass per store.
    var keyEvidence: [String: KeyEvidence] = [:]
    /// Stores whose evidence pass has run (or is running).
    var evidenceRequested: Set<String> = []
    var usage: [String: UsageInfo] = [:]
    var usageInFlight = 0
    var bulk: BulkProgress?
    var motionUntil: Date?
    var lastWidth = 80

    // Idle tracking for tests and the terminal loop.
    public private(set) var busy = 0
    private var idleWaiters: [CheckedContinuation<Void, Never>] = []

    public init(backend: any ConsoleBackend, inbox: ActivityInbox, options: ConsoleOptions = ConsoleOptions(),
                keymap: Keymap = .defaults, now: @escaping @Sendable () -> Date = Date.init) {
        self.backend = backend
        self.inbox = inbox
        self.options = options
        self.keymap = keymap
        self.symbols = options.ascii ? .ascii : .unicode
        self.formatting = Formatting(timeZone: options.timeZone)
        self.wallClock = now
        self.storesTable = StoresScreen.makeTable(formatting: Formatting(timeZone: options.timeZone))
        if let first = options.startupMessages.first {
            dialog = Dialog(title: "Configuration problem", kind: .message,
                            body: { options.startupMessages.map { ($0, Style(.warning)) } })
            _ = first
        }
    }

    public var screen: Screen { stack.last ?? .stores }

    /// The core's time now (estimated between polls).
    public var coreNow: Date { clock.coreNow(wall: wallClock()) }

    /// Fetches the endpoint and the first data.
    public func start() {
        if endpoint == nil { endpoint = backend.configuredEndpointInfo() }
        launch(nil) { app in
            app.endpoint = await app.backend.endpointInfo()
        }
        refreshStores(label: "start")
        scanKeys(label: "count keys")
    }

    // MARK: task tracking

    /// Runs `work` on the UI thread as a tracked task, its calls grouped under `label` in the Activity log.
    func launch(_ label: String?, _ work: @escaping @MainActor (ConsoleApp) async -> Void) {
        busy += 1
        let tag = label.map { activity.begin($0, at: wallClock()) }
        Task { @MainActor [weak self] in
            guard let self else { return }
            if let tag {
                await ActionTag.$current.withValue(tag) { await work(self) }
            } else {
                await work(self)
            }
            self.busy -= 1
            self.drainInbox()
            self.changed()
            if self.busy == 0 {
                let waiters = self.idleWaiters
                self.idleWaiters.removeAll()
                for w in waiters { w.resume() }
            }
        }
    }

    /// Waits until no tracked task is running (no sleeps: resumed by the last task to finish).
    public func idle() async {
        while busy > 0 {
            await withCheckedContinuation { idleWaiters.append($0) }
        }
        drainInbox()
    }

    /// Renders and waits until drawing starts no more work (lazy last-use fetches), then renders again.
    public func settle(on surface: any Surface) async {
        for _ in 0..<20 {
            await idle()
            render(on: surface)
            if busy == 0 { return }
        }
    }

    func changed() { onChange?() }

    func drainInbox() {
        for event in inbox.drain() { activity.add(event) }
    }

    // MARK: time

    /// The periodic tick of the terminal loop: files calls, expires the status line, polls what is due.
    public func tick() {
        drainInbox()
        let now = wallClock()
        if let f = flash, f.until <= now { flash = nil }
        teardown?.tick()
        let motion = inMotion
        if !storesInFlight && storesPoll.isDue(at: now, inMotion: motion) { refreshStores(label: "refresh (auto)") }
        // A pass over the keys counts them for the Stores screen and lists them for a Keys screen.
        if scan == nil, banner == nil, detailKeyId == nil {
            var schedule = keysPoll
            schedule.idleInterval = keysRefreshInterval(onStores: screen == .stores)
            if schedule.isDue(at: now, inMotion: false) {
                scanKeys(label: screen == .stores ? "count keys (auto)" : "refresh keys (auto)")
            }
        }
    }

    /// Something is changing by itself: a store CONNECTING or DISCONNECTING, a bulk action, a fresh request.
    var inMotion: Bool {
        if bulk != nil { return true }
        if let until = motionUntil, until > wallClock() { return true }
        return stores.contains { $0.connectionState.isTransient }
    }

    // MARK: status line

    func say(_ text: String, _ role: Role = .normal, seconds: TimeInterval = 6) {
        flash = (text, role, wallClock().addingTimeInterval(seconds))
        changed()
    }

    public var statusText: String? { flash?.text }

    // MARK: lookups

    func store(_ id: String) -> StoreRecord? { stores.first { $0.id == id } }

    /// A store by id or name (case-insensitive).
    public func findStore(_ nameOrId: String) -> StoreRecord? {
        stores.first { $0.id == nameOrId } ?? stores.first { $0.name == nameOrId }
            ?? stores.first { $0.name.lowercased() == nameOrId.lowercased() }
    }

    func keysView(_ storeId: String) -> KeysView {
        if let v = keysViews[storeId] { return v }
        let v = KeysView(storeId: storeId, table: KeysScreen.makeTable(
            formatting: formatting, now: { [weak self] in self?.coreNow ?? Date() },
            usage: { [weak self] id in self?.usageText(id) ?? "" },
            evidence: { [weak self] id in self?.keyEvidence[id] }))
        // A pass running now fills it too.
        v.loading = scan != nil
        keysViews[storeId] = v
        return v
    }

    func usageText(_ keyId: String) -> String {
        switch usage[keyId] {
        case nil, .fetching?: return "…"
        case .failed?: return "unknown"
        case .known(let u, _)?:
            guard let d = u.lastUsed else { return "never" }
            return Formatting.ago(d, now: coreNow)
        }
    }

    /// The key under the cursor, or the one the Key detail screen shows.
    func currentKey() -> KeyRow? {
        screen.handler.currentKey(self)
    }

    /// The key of the Key detail screen on screen.
    var detailKeyId: String? {
        if case .keyDetail(_, let k) = screen { return k }
        return nil
    }
}
