import CKSClient
import CKSDomain
import CKSTeardown
import Foundation

/// What the console needs to move between contexts and regions; built by `ConsoleSession`.
public struct ContextSwitching: Sendable {
    public var catalog: ClientContextCatalog
    /// Opens a context in a region, every call reported to `inbox`.
    public var open: @Sendable (ClientContext, String, ActivityInbox) async throws -> PreparedBackend
    /// A session for the all-stores view, which closes it.
    public var session: AllContextStores.Open
    /// Remembers the context and region last opened (`$XDG_STATE_HOME/cks/context`).
    public var remember: @Sendable (String, String) -> Void
    /// The regions the picker offers on an AWS endpoint (the standard list, or `CKS_REGIONS`).
    public var standardRegions: [String]
    /// Regions the all-stores view covers besides each context's own (`CKS_REGIONS`, or the regions known to the
    /// session: the demo's, those visited).
    public var allStoresRegions: [String]

    public init(catalog: ClientContextCatalog,
                open: @escaping @Sendable (ClientContext, String, ActivityInbox) async throws -> PreparedBackend,
                session: @escaping AllContextStores.Open, remember: @escaping @Sendable (String, String) -> Void = { _, _ in },
                standardRegions: [String] = ContextSwitching.awsRegions, allStoresRegions: [String] = []) {
        self.catalog = catalog; self.open = open; self.session = session; self.remember = remember
        self.standardRegions = standardRegions; self.allStoresRegions = allStoresRegions
    }

    /// The commercial AWS regions KMS serves.
    public static let awsRegions = [
        "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1",
        "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1",
        "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2",
        "me-central-1", "af-south-1",
    ]
}

/// A row of the contexts list (`:ctx`).
struct ContextRow: Identifiable {
    var context: ClientContext
    var current: Bool
    var id: String { context.name }
}

/// A row of the region picker (`R`).
struct RegionRow: Identifiable {
    var region: String
    var current: Bool
    var note: String
    var id: String { region }
}

/// A row of the all-stores view: a store with its context, account and region, or a context's error.
struct AllStoreRow: Identifiable {
    var row: ContextStoreRow
    var id: String { "\(row.context)|\(row.region)|\(row.store?.id ?? "error")" }
}

/// The all-stores view's state.
@MainActor
final class AllStoresView {
    let table: Table<AllStoreRow>
    var pending = 0
    var total = 0
    var results: [ContextStores] = []
    init(table: Table<AllStoreRow>) { self.table = table }
}

extension ConsoleApp {
    /// The context on screen (the header names it).
    public var contextName: String? { endpoint?.contextName ?? backend.configuredEndpointInfo()?.contextName }

    // MARK: switching

    /// Replaces the backend with `context` in `region`: the stores screen of that context, from scratch. The
    /// previous backend is stopped once the new one answers; a context that cannot be opened leaves the current one.
    public func switchContext(_ context: ClientContext, region: String, then: (@MainActor (ConsoleApp) -> Void)? = nil) {
        guard let switching = contexts else { say("Only one context is known here.", .warning); return }
        if let problem = context.problem { say("Context \(context.name) cannot be used: \(problem)", .warning); return }
        if teardown != nil { say("Close the teardown first (Esc): it is bound to \(contextName ?? "this context").", .warning); return }
        say("Opening \(context.name) in \(region)\(symbols.ellipsis)", .normal, seconds: 30)
        let inbox = self.inbox
        launch("open context \(context.name) \(region)") { app in
            do {
                let prepared = try await switching.open(context, region, inbox)
                let previous = app.stopBackend
                app.install(prepared.backend, stop: prepared.stop)
                switching.remember(context.name, region)
                app.visitedRegions.insert(region)
                app.say("Context \(context.name), region \(region).", .ok)
                then?(app)
                await previous?()
            } catch {
                app.say("Cannot open context \(context.name) in \(region): \(EndpointProblem.classify(error).line)", .warning, seconds: 15)
            }
        }
    }

    /// The current context in another region.
    public func switchRegion(_ region: String) {
        guard let switching = contexts, let name = contextName, let context = switching.catalog.context(named: name) else {
            say("Switching regions needs a known context (:ctx lists them).", .warning)
            return
        }
        switchContext(context, region: region)
    }

    /// Starts over on `backend`: every list, count, poll and open screen of the previous context is dropped.
    func install(_ newBackend: any ConsoleBackend, stop: (@Sendable () async -> Void)?) {
        backendGeneration += 1
        backend = newBackend
        stopBackend = stop
        endpoint = nil
        stores = []
        census = [:]
        keysViews = [:]
        scan = nil
        storesInFlight = false
        listedKeyIds = nil
        usage = [:]
        detailRecord = nil
        detailFailure = nil
        banner = nil
        keyCountsUnavailable = nil
        bulk = nil
        storesPoll = PollSchedule()
        keysPoll = PollSchedule(idle: 30, motion: 30)
        clock = ClockEstimate()
        storesTable.setRows([])
        stack = [.stores]
        start()
    }

    // MARK: lists

    func openContextList() {
        guard let switching = contexts else { say("Only one context is known here (no ~/.aws/config profiles).", .warning); return }
        let table = contextsTable ?? Self.makeContextsTable()
        contextsTable = table
        let current = contextName
        table.setRows(switching.catalog.contexts.map { ContextRow(context: $0, current: $0.name == current) })
        if let current { table.select(current) }
        if stack.last != .contexts { stack.append(.contexts) }
    }

    /// The regions to pick from: on AWS the standard list; on a cks core those known to have resources or asked for
    /// (the current one, every context's own, those the all-stores view found stores in, those visited).
    func regionChoices() -> [RegionRow] {
        let current = endpoint?.region ?? backend.configuredEndpointInfo()?.region ?? ""
        var known: [String: String] = [:]
        let onAWS = (endpoint?.endpoint ?? "").contains("amazonaws.com")
        for r in (contexts?.standardRegions ?? []) where onAWS { known[r] = "" }
        for r in contexts?.allStoresRegions ?? [] { known[r, default: ""] = known[r] ?? "" }
        for c in contexts?.catalog.contexts ?? [] { if known[c.region] == nil { known[c.region] = "" } }
        for r in visitedRegions where known[r] == nil { known[r] = "" }
        for result in allStores?.results ?? [] where result.context == contextName {
            let n = result.listing?.rows.count ?? 0
            if n > 0 { known[result.region] = "\(n) store\(n == 1 ? "" : "s")" }
        }
        if !current.isEmpty, known[current] == nil { known[current] = "" }
        return known.keys.sorted().map { RegionRow(region: $0, current: $0 == current, note: known[$0] ?? "") }
    }

    func openRegionPicker() {
        guard contexts != nil else { say("Switching regions needs a known context (:ctx lists them).", .warning); return }
        let table = regionsTable ?? Self.makeRegionsTable()
        regionsTable = table
        let rows = regionChoices()
        table.setRows(rows)
        if let current = rows.first(where: \.current) { table.select(current.id) }
        if stack.last != .regions { stack.append(.regions) }
    }

    // MARK: all stores

    /// `:stores all`: every context in its own region and in the regions known to the session, concurrently.
    public func openAllStores() {
        guard let switching = contexts else { say("Only one context is known here.", .warning); return }
        let view = allStores ?? AllStoresView(table: Self.makeAllStoresTable(formatting: formatting))
        allStores = view
        if stack.last != .allStores { stack = [.stores, .allStores] }
        refreshAllStores(switching)
    }

    func refreshAllStores(_ switching: ContextSwitching) {
        guard let view = allStores, view.pending == 0 else { return }
        var regions = switching.allStoresRegions
        for r in visitedRegions where !regions.contains(r) { regions.append(r) }
        let targets = switching.catalog.contexts.flatMap { context in
            ([context.region] + regions.filter { $0 != context.region }).map { ContextRegion(context: context, region: $0) }
        }
        view.pending = targets.count
        view.total = targets.count
        view.results = []
        view.table.setRows([])
        launch("list stores in every context") { app in
            let arrivals = AsyncStream<ContextStores>.makeStream()
            let fetch = Task.detached {
                _ = await AllContextStores.fetch(targets, width: 8, concurrency: 8, open: switching.session,
                                                 onResult: { arrivals.continuation.yield($0) })
                arrivals.continuation.finish()
            }
            for await result in arrivals.stream {
                view.results.append(result)
                view.pending -= 1
                view.table.append(AllContextStores.rows([result]).map(AllStoreRow.init))
                app.changed()
            }
            await fetch.value
            view.pending = 0
        }
    }

    /// Enter (or `t`) on a store of the all-stores view: its context and region are opened, then its keys (or its
    /// teardown), exactly as from that context's Stores screen.
    func openFromAllStores(teardown wantsTeardown: Bool) {
        guard let row = allStores?.table.current?.row, let switching = contexts else { return }
        guard let storeId = row.store?.id else {
            say("\(row.context) \(row.region): \(row.failure.map { "\($0.code): \($0.message)" } ?? "no store")", .warning, seconds: 10)
            return
        }
        guard let context = switching.catalog.context(named: row.context) else { return }
        pendingOpen = PendingOpen(storeId: storeId, teardown: wantsTeardown)
        switchContext(context, region: row.region)
    }

    /// A store to open once the stores of a context just opened arrive.
    struct PendingOpen { var storeId: String; var teardown: Bool }

    /// Opens the pending store (after the new context's first stores listing).
    func openPendingStore() {
        guard let pending = pendingOpen, let record = store(pending.storeId) else { return }
        pendingOpen = nil
        storesTable.select(record.id)
        if pending.teardown {
            if let reason = teardownUnavailableReason() { say(reason, .warning) } else { teardownHandler?(self, record) }
        } else {
            openKeys(record)
        }
    }

    // MARK: yank and export

    /// `y`: the id (or ARN) under the cursor, copied through OSC 52 and shown, for terminals that ignore OSC 52.
    func yank() {
        guard let value = yankValue() else { say("Nothing to copy here.", .warning); return }
        let sent = clipboardHandler?(value) ?? false
        say(sent ? "Copied \(value) (OSC 52; if your terminal ignores it, copy it from here)"
                 : "Copy by hand: \(value)", .ok, seconds: 15)
    }

    func yankValue() -> String? {
        switch screen {
        case .stores: return storesTable.current?.record.id
        case .keys(let id): return keysViews[id]?.table.current?.id
        case .keyDetail(_, let keyId): return detailRecord?.arn ?? keyId
        case .allStores: return allStores?.table.current?.row.store?.id
        case .contexts: return contextsTable?.current?.context.name
        case .regions: return regionsTable?.current?.region
        }
    }

    /// `:export csv|json FILE`: the table on screen (every row the filter shows, every column), written to FILE.
    func export(format: String, path: String) {
        let (header, rows): ([String], [[String]])
        switch screen {
        case .stores: (header, rows) = Self.cells(storesTable)
        case .keys(let id): (header, rows) = Self.cells(keysView(id).table)
        case .allStores:
            guard let t = allStores?.table else { return }
            (header, rows) = Self.cells(t)
        case .contexts:
            guard let t = contextsTable else { return }
            (header, rows) = Self.cells(t)
        case .regions:
            guard let t = regionsTable else { return }
            (header, rows) = Self.cells(t)
        case .keyDetail:
            say(":export writes a table; open a list first.", .warning)
            return
        }
        let text = format == "csv" ? TableExport.csv(header: header, rows: rows) : TableExport.json(header: header, rows: rows)
        let expanded = path == "~" || path.hasPrefix("~/")
            ? FileManager.default.homeDirectoryForCurrentUser.path + String(path.dropFirst()) : path
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: expanded), options: .atomic)
            say("Wrote \(rows.count) row\(rows.count == 1 ? "" : "s") to \(expanded) (\(format)).", .ok, seconds: 10)
        } catch {
            say("Cannot write \(expanded): \(error.localizedDescription)", .warning, seconds: 10)
        }
    }

    static func cells<Row: Identifiable>(_ table: Table<Row>) -> ([String], [[String]]) where Row.ID: Hashable {
        (table.columns.map(\.title), table.visible.map { row in table.columns.map { $0.text(row) } })
    }

    // MARK: tables

    static func makeContextsTable() -> Table<ContextRow> {
        Table(columns: [
            Column("", .fixed(1, priority: 10), text: { $0.current ? "*" : "" }),
            Column("CONTEXT", .flex(min: 10, preferred: 18, max: 30, priority: 10), text: { $0.context.name }),
            Column("KIND", .fixed(8, priority: 3), text: { $0.context.kind.rawValue }),
            Column("REGION", .fixed(14, priority: 8), text: { $0.context.region }),
            Column("ENDPOINT", .flex(min: 10, preferred: 28, max: 40, priority: 6), text: { $0.context.endpointText }),
            Column("STATUS", .flex(min: 8, preferred: 40, weight: 3, priority: 7), text: { $0.context.problem ?? "ok" },
                   style: { $0.context.problem == nil ? nil : Style(.warning) }),
        ], sortColumn: 1, searchText: { [$0.context.name, $0.context.endpointText, $0.context.region].joined(separator: " ") })
    }

    static func makeRegionsTable() -> Table<RegionRow> {
        Table(columns: [
            Column("", .fixed(1, priority: 10), text: { $0.current ? "*" : "" }),
            Column("REGION", .flex(min: 14, preferred: 20, priority: 10), text: { $0.region }),
            Column("RESOURCES", .flex(min: 10, preferred: 20, priority: 5), text: { $0.note }),
        ], sortColumn: 1, searchText: { $0.region })
    }

    static func makeAllStoresTable(formatting: Formatting) -> Table<AllStoreRow> {
        Table(columns: [
            Column("CONTEXT", .flex(min: 8, preferred: 12, max: 20, priority: 10), text: { $0.row.context }),
            Column("ACCOUNT", .fixed(12, hideBelow: 90, priority: 5), text: { $0.row.account ?? "?" }),
            Column("REGION", .fixed(14, priority: 9), text: { $0.row.region }),
            Column("NAME", .flex(min: 10, preferred: 20, max: 32, weight: 2, priority: 8), text: { $0.row.store?.name ?? "-" }),
            Column("ID", .fixed(21, hideBelow: 120, priority: 3), text: { $0.row.store?.id ?? "" }),
            Column("STATE", .flex(min: 10, preferred: 22, max: 60, weight: 3, priority: 7),
                   text: { r in r.row.store?.stateText ?? r.row.failure.map { "ERROR \($0.code): \($0.message)" } ?? "" },
                   style: { r in r.row.failure != nil ? Style(.warning)
                       : r.row.store.flatMap { ConnectionState(rawValue: $0.connectionState) }.map { Style(Role.of($0)) } }),
            Column("KEYS", .fixed(5, priority: 6), alignRight: true, text: { $0.row.store?.keyCount.map(String.init) ?? "-" }),
        ], sortColumn: 0, tiebreak: { $0.id < $1.id }, searchText: { r in
            [r.row.context, r.row.account ?? "", r.row.region, r.row.store?.name ?? "", r.row.store?.id ?? "",
             r.row.failure?.message ?? ""].joined(separator: " ")
        })
    }
}

/// `:export`'s formats: CSV (RFC 4180 quoting) and JSON (an array of objects keyed by column title).
public enum TableExport {
    public static func csv(header: [String], rows: [[String]]) -> String {
        func field(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        return ([header] + rows).map { $0.map(field).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
    }

    public static func json(header: [String], rows: [[String]]) -> String {
        let names = header.enumerated().map { $1.isEmpty ? "column\($0 + 1)" : $1 }
        let objects = rows.map { Dictionary(zip(names, $0), uniquingKeysWith: { a, _ in a }) }
        return ScriptedJSON.encode(objects)
    }
}

/// OSC 52: a terminal (or tmux, with `set-clipboard on`, and terminals reached over ssh) puts the text on the
/// system clipboard. Terminals that ignore it show nothing, which is why the console also shows the value.
public enum OSC52 {
    /// `ESC ] 52 ; c ; BASE64 BEL`. Inside tmux the plain sequence is sent: tmux takes it itself when
    /// `set-clipboard` is on (its default, `external`, passes it on to the outer terminal).
    public static func sequence(for text: String, inTmux: Bool = false) -> String {
        "\u{1B}]52;c;" + Data(text.utf8).base64EncodedString() + "\u{07}"
    }
}
