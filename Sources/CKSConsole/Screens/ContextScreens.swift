import CKSDomain
import CKSTeardown
import Foundation

/// Behaviour shared by the list screens that hold no keys (contexts, regions, all stores).
@MainActor
protocol KeylessListScreen: ConsoleScreen {}

extension KeylessListScreen {
    var storeId: String? { nil }
    var backIsIdleWithoutFilter: Bool { false }
    func didDraw(_ app: ConsoleApp) {}
    func currentKey(_ app: ConsoleApp) -> KeyRow? { nil }
    func markableTable(_ app: ConsoleApp) -> Table<KeyRow>? { nil }
    func keyTargets(_ app: ConsoleApp) -> ConsoleApp.KeyTargets { ConsoleApp.KeyTargets(all: [], hiddenByFilter: 0) }
}

/// `:ctx`: every context the console can open; Enter opens the one under the cursor in its own region.
struct ContextsScreenHandler: KeylessListScreen {
    var kind: ScreenKind { .contexts }

    func title(_ app: ConsoleApp) -> (parts: [String], filter: String) {
        let t = app.contextsTable
        return (["Contexts (\(t?.visible.count ?? 0))"], t?.filter ?? "")
    }

    func draw(_ app: ConsoleApp, in rect: Rect, on surface: any Surface) {
        app.contextsTable?.draw(in: rect, on: surface, symbols: app.symbols, focused: app.dialog == nil,
                                empty: "No contexts.")
    }

    func table(_ app: ConsoleApp) -> (any NavigableTable)? { app.contextsTable }
    func moveTo(_ app: ConsoleApp, top: Bool) { top ? app.contextsTable?.moveToTop() : app.contextsTable?.moveToBottom() }
    func openUnavailableReason(_ app: ConsoleApp) -> String? {
        guard let row = app.contextsTable?.current else { return "no context to open" }
        return row.context.problem
    }
    func open(_ app: ConsoleApp) {
        guard let row = app.contextsTable?.current else { return }
        app.switchContext(row.context, region: row.context.region)
    }
    func refresh(_ app: ConsoleApp) {}
}

/// `R`: the regions of the current context; Enter opens the context there.
struct RegionsScreenHandler: KeylessListScreen {
    var kind: ScreenKind { .contexts }

    func title(_ app: ConsoleApp) -> (parts: [String], filter: String) {
        (["Regions of \(app.contextName ?? "this context") (\(app.regionsTable?.visible.count ?? 0))"], app.regionsTable?.filter ?? "")
    }

    func draw(_ app: ConsoleApp, in rect: Rect, on surface: any Surface) {
        app.regionsTable?.draw(in: rect, on: surface, symbols: app.symbols, focused: app.dialog == nil, empty: "No regions.")
    }

    func table(_ app: ConsoleApp) -> (any NavigableTable)? { app.regionsTable }
    func moveTo(_ app: ConsoleApp, top: Bool) { top ? app.regionsTable?.moveToTop() : app.regionsTable?.moveToBottom() }
    func openUnavailableReason(_ app: ConsoleApp) -> String? { app.regionsTable?.current == nil ? "no region to open" : nil }
    func open(_ app: ConsoleApp) {
        guard let row = app.regionsTable?.current else { return }
        app.switchRegion(row.region)
    }
    func refresh(_ app: ConsoleApp) { app.openRegionPicker() }
}

/// `:stores all`: every context's stores in every region; Enter opens a store's keys, `t` its teardown, in its context.
struct AllStoresScreenHandler: KeylessListScreen {
    var kind: ScreenKind { .allStores }

    func title(_ app: ConsoleApp) -> (parts: [String], filter: String) {
        guard let view = app.allStores else { return (["All stores"], "") }
        let t = view.table
        var count = "\(t.visible.count)"
        if !t.filter.isEmpty { count += "/\(t.rows.count)" }
        let failed = view.results.filter { $0.failure != nil }.count
        var parts = "All stores (\(count))"
        if view.pending > 0 { parts += "  loading \(view.total - view.pending)/\(view.total)\(app.symbols.ellipsis)" }
        if failed > 0 { parts += "  \(failed) context\(failed == 1 ? "" : "s") failed" }
        return ([parts], t.filter)
    }

    func draw(_ app: ConsoleApp, in rect: Rect, on surface: any Surface) {
        guard let view = app.allStores else { return }
        view.table.draw(in: rect, on: surface, symbols: app.symbols, focused: app.dialog == nil,
                        empty: view.pending > 0 ? "Loading every context\(app.symbols.ellipsis)" : "No custom key stores anywhere.")
    }

    func table(_ app: ConsoleApp) -> (any NavigableTable)? { app.allStores?.table }
    func moveTo(_ app: ConsoleApp, top: Bool) { top ? app.allStores?.table.moveToTop() : app.allStores?.table.moveToBottom() }
    func openUnavailableReason(_ app: ConsoleApp) -> String? { app.allStores?.table.current == nil ? "no store to open" : nil }
    func open(_ app: ConsoleApp) { app.openFromAllStores(teardown: false) }
    func refresh(_ app: ConsoleApp) { if let s = app.contexts { app.refreshAllStores(s) } }
}
