import CKSDomain
import CKSTeardown
import Foundation

/// What one screen of the console does: its title, its drawing, its table, which actions it offers and what
/// its keys do. `ConsoleApp` dispatches through the screen on top of the stack (`Screen.handler`) instead of
/// switching over the screens in every place; the guided teardown and the help are overlays drawn above them.
@MainActor
protocol ConsoleScreen {
    /// The screen's kind: the bindings that apply on it (footer, help, key lookup).
    var kind: ScreenKind { get }
    /// The store the screen belongs to, if any.
    var storeId: String? { get }
    /// The breadcrumb parts of the title line and the filter shown beside them.
    func title(_ app: ConsoleApp) -> (parts: [String], filter: String)
    /// Draws the screen's body in `rect`.
    func draw(_ app: ConsoleApp, in rect: Rect, on surface: any Surface)
    /// Work that follows a drawn frame (fetching what the rows on screen show).
    func didDraw(_ app: ConsoleApp)
    /// The table the movement, sort and filter keys act on; nil when the screen has none.
    func table(_ app: ConsoleApp) -> (any NavigableTable)?
    /// Jumps to the first or last row (or the top or end of the page).
    func moveTo(_ app: ConsoleApp, top: Bool)
    /// Nil when Enter opens something here, else why not.
    func openUnavailableReason(_ app: ConsoleApp) -> String?
    /// Opens what is under the cursor.
    func open(_ app: ConsoleApp)
    /// Refreshes what the screen shows (the stores are refreshed for every screen).
    func refresh(_ app: ConsoleApp)
    /// The key under the cursor, or the one the screen shows.
    func currentKey(_ app: ConsoleApp) -> KeyRow?
    /// The keys a key action applies to.
    func keyTargets(_ app: ConsoleApp) -> ConsoleApp.KeyTargets
    /// The table whose rows can be marked for a bulk key action; nil when the screen has none.
    func markableTable(_ app: ConsoleApp) -> Table<KeyRow>?
    /// Whether the footer leaves out Esc while no filter is kept (it has nothing else to do here).
    var backIsIdleWithoutFilter: Bool { get }
}

@MainActor
extension ConsoleApp.Screen {
    /// The registry: each screen and the type that handles it.
    var handler: any ConsoleScreen {
        switch self {
        case .stores: return StoresScreenHandler()
        case .keys(let s): return KeysScreenHandler(storeId: s)
        case .keyDetail(let s, let k): return KeyDetailScreenHandler(storeId: s, keyId: k)
        case .contexts: return ContextsScreenHandler()
        case .regions: return RegionsScreenHandler()
        case .allStores: return AllStoresScreenHandler()
        }
    }
}

/// The Stores screen: the stores table and the selected store's details.
struct StoresScreenHandler: ConsoleScreen {
    var kind: ScreenKind { .stores }
    var storeId: String? { nil }
    var backIsIdleWithoutFilter: Bool { true }

    func title(_ app: ConsoleApp) -> (parts: [String], filter: String) {
        let t = app.storesTable
        return (["Stores (\(t.visible.count)\(t.filter.isEmpty ? "" : "/\(app.stores.count)"))"], t.filter)
    }

    func draw(_ app: ConsoleApp, in rect: Rect, on surface: any Surface) { app.drawStores(in: rect, on: surface) }
    func didDraw(_ app: ConsoleApp) {}
    func table(_ app: ConsoleApp) -> (any NavigableTable)? { app.storesTable }
    func moveTo(_ app: ConsoleApp, top: Bool) { top ? app.storesTable.moveToTop() : app.storesTable.moveToBottom() }
    func openUnavailableReason(_ app: ConsoleApp) -> String? { app.storesTable.current == nil ? "no store to open" : nil }
    func open(_ app: ConsoleApp) { if let s = app.storesTable.current?.record { app.openKeys(s) } }
    func refresh(_ app: ConsoleApp) { app.scanKeys(label: "count keys") }
    func currentKey(_ app: ConsoleApp) -> KeyRow? { nil }
    func markableTable(_ app: ConsoleApp) -> Table<KeyRow>? { nil }
    func keyTargets(_ app: ConsoleApp) -> ConsoleApp.KeyTargets { ConsoleApp.KeyTargets(all: [], hiddenByFilter: 0) }
}

/// The Keys screen: one store's keys, with marks for bulk actions.
struct KeysScreenHandler: ConsoleScreen {
    let id: String
    init(storeId: String) { id = storeId }
    var kind: ScreenKind { .keys }
    var storeId: String? { id }
    var backIsIdleWithoutFilter: Bool { false }

    func title(_ app: ConsoleApp) -> (parts: [String], filter: String) {
        let v = app.keysView(id)
        let name = app.store(id)?.name ?? id
        var count = "\(v.table.visible.count)"
        if !v.table.filter.isEmpty { count += "/\(v.table.rows.count)" }
        if v.loading && !v.loadedOnce { count += ", loading… \(v.received)" }
        let marked = v.table.marks.count
        return (["Stores", name, "Keys (\(count))" + (marked > 0 ? "  \(marked) marked" : "")], v.table.filter)
    }

    func draw(_ app: ConsoleApp, in rect: Rect, on surface: any Surface) { app.drawKeys(id, in: rect, on: surface) }

    func didDraw(_ app: ConsoleApp) {
        if app.dialog == nil, !app.showHelp { app.fetchUsage(for: app.keysView(id).table.lastDrawnRows) }
        // Remembered states on screen are described again first.
        if app.scan != nil, app.keysView(id).unconfirmed > 0 {
            app.backend.preferDescribing(app.keysView(id).table.lastDrawnRows.filter { $0.asOf != nil }.map(\.id))
        }
        // The evidence column: one pass over the store's keys once they are listed (stores up to 5,000 keys).
        let v = app.keysView(id)
        if v.loadedOnce, !v.loading, v.table.rows.count <= 5_000 {
            app.fetchStoreEvidence(id, keyIds: v.table.rows.filter { $0.state != .pendingDeletion }.map(\.id))
        }
    }

    func table(_ app: ConsoleApp) -> (any NavigableTable)? { app.keysView(id).table }

    func moveTo(_ app: ConsoleApp, top: Bool) {
        let t = app.keysView(id).table
        top ? t.moveToTop() : t.moveToBottom()
    }

    func openUnavailableReason(_ app: ConsoleApp) -> String? { app.keysView(id).table.current == nil ? "no key to open" : nil }

    func open(_ app: ConsoleApp) {
        guard let k = app.keysView(id).table.current else { return }
        let storeId = id
        app.stack.append(.keyDetail(storeId: storeId, keyId: k.id))
        app.detailScroll = 0
        app.detailRecord = nil
        app.detailFailure = nil
        app.usage[k.id] = nil
        app.detailEvidence = nil
        app.launch("describe key \(k.aliases.first ?? k.id)") { app in
            await app.redescribe([k.id], storeId: storeId)
            await app.fetchDetailEvidence(k.id)
        }
    }

    func refresh(_ app: ConsoleApp) { app.scanKeys(label: "refresh keys") }
    func currentKey(_ app: ConsoleApp) -> KeyRow? { app.keysViews[id]?.table.current }
    func markableTable(_ app: ConsoleApp) -> Table<KeyRow>? { app.keysView(id).table }

    func keyTargets(_ app: ConsoleApp) -> ConsoleApp.KeyTargets {
        let table = app.keysView(id).table
        let marked = table.marked()
        if !marked.visible.isEmpty || !marked.hidden.isEmpty {
            // In the order the table shows them, then those the filter hides.
            return ConsoleApp.KeyTargets(all: marked.visible + marked.hidden, hiddenByFilter: marked.hidden.count)
        }
        return ConsoleApp.KeyTargets(all: table.current.map { [$0] } ?? [], hiddenByFilter: 0)
    }
}

/// The Key detail screen: one key's fields, scrolled rather than navigated.
struct KeyDetailScreenHandler: ConsoleScreen {
    let id: String
    let keyId: String
    init(storeId: String, keyId: String) { id = storeId; self.keyId = keyId }
    var kind: ScreenKind { .keyDetail }
    var storeId: String? { id }
    var backIsIdleWithoutFilter: Bool { false }

    func title(_ app: ConsoleApp) -> (parts: [String], filter: String) {
        let alias = app.keysViews[id]?.table.rows.first { $0.id == keyId }?.aliases.first
        return (["Stores", app.store(id)?.name ?? id, "Keys", alias ?? keyId], "")
    }

    func draw(_ app: ConsoleApp, in rect: Rect, on surface: any Surface) {
        app.drawKeyDetail(storeId: id, keyId: keyId, in: rect, on: surface)
    }

    func didDraw(_ app: ConsoleApp) {
        if let row = currentKey(app), app.usage[keyId] == nil { app.fetchUsage(for: [row]) }
    }

    func table(_ app: ConsoleApp) -> (any NavigableTable)? { nil }
    func moveTo(_ app: ConsoleApp, top: Bool) { app.detailScroll = top ? 0 : 1_000 }
    func openUnavailableReason(_ app: ConsoleApp) -> String? { nil }
    func open(_ app: ConsoleApp) {}
    func markableTable(_ app: ConsoleApp) -> Table<KeyRow>? { nil }

    func refresh(_ app: ConsoleApp) {
        let (s, k) = (id, keyId)
        app.usage[k] = nil
        app.launch("refresh key") { app in
            await app.redescribe([k], storeId: s)
            await app.fetchDetailEvidence(k)
        }
    }

    func currentKey(_ app: ConsoleApp) -> KeyRow? { app.keysViews[id]?.table.rows.first { $0.id == keyId } }

    func keyTargets(_ app: ConsoleApp) -> ConsoleApp.KeyTargets {
        ConsoleApp.KeyTargets(all: currentKey(app).map { [$0] } ?? [], hiddenByFilter: 0)
    }
}
