import CKSTeardown
import Foundation

/// How much room a column wants: at least `min`, `preferred` before any column grows further, at most `max`,
/// growing by `weight`; hidden on surfaces narrower than `hideBelow` columns. When even the minimums do not fit,
/// the column with the lowest `priority` goes first (the rightmost of equals).
public struct ColumnWidth: Sendable {
    public var min: Int, max: Int, weight: Int, hideBelow: Int
    /// The width given (by priority) before weights share what is left: a whole key id, a whole alias.
    public var preferred: Int
    /// Higher stays longer on a narrow terminal and gets its preferred width first.
    public var priority: Int

    public static func fixed(_ n: Int, hideBelow: Int = 0, priority: Int = 0) -> ColumnWidth {
        ColumnWidth(min: n, max: n, weight: 0, hideBelow: hideBelow, preferred: n, priority: priority)
    }
    public static func flex(min: Int, preferred: Int? = nil, max: Int = 10_000, weight: Int = 1, hideBelow: Int = 0,
                            priority: Int = 0) -> ColumnWidth {
        ColumnWidth(min: min, max: max, weight: weight, hideBelow: hideBelow,
                    preferred: Swift.min(max, Swift.max(min, preferred ?? min)), priority: priority)
    }
}

/// A column of a table: its heading, width, how a row reads in it, and how rows order by it.
public struct Column<Row> {
    public var title: String
    public var width: ColumnWidth
    public var alignRight = false
    public var text: (Row) -> String
    /// A style for the cell (a state's colour), or nil for the row's style.
    public var style: (Row) -> Style? = { _ in nil }
    /// Ascending order by this column.
    public var ascending: (Row, Row) -> Bool

    public init(_ title: String, _ width: ColumnWidth, alignRight: Bool = false, text: @escaping (Row) -> String,
                style: @escaping (Row) -> Style? = { _ in nil }, ascending: ((Row, Row) -> Bool)? = nil) {
        self.title = title
        self.width = width
        self.alignRight = alignRight
        self.text = text
        self.style = style
        self.ascending = ascending ?? { NaturalOrder.less(text($0), text($1)) }
    }
}

/// What the screens' shared keys (move, page, sort, filter) do to whichever table is on screen, whatever its rows.
@MainActor
protocol NavigableTable: AnyObject {
    var filter: String { get }
    func setFilter(_ text: String)
    func sortNext(width: Int)
    func reverseSort()
    func move(by delta: Int)
    func page(_ direction: Int)
}

/// A generic list/table: rows, filter, sort, cursor, marks. It keeps the filtered and sorted view
/// ready and draws only the rows that fit, so a list of 100,000 keys costs what the screen shows.
@MainActor
public final class Table<Row: Identifiable> where Row.ID: Hashable {
    public var columns: [Column<Row>]
    public private(set) var rows: [Row] = [] { didSet { markedCache = nil } }
    public private(set) var visible: [Row] = [] { didSet { markedCache = nil } }
    public private(set) var filter = "" { didSet { loweredFilter = filter.lowercased() } }
    private var loweredFilter = ""
    public private(set) var sortColumn: Int
    public private(set) var ascending = true
    public private(set) var cursor = 0
    public private(set) var top = 0
    public var marks = Set<Row.ID>() { didSet { markedCache = nil } }
    /// The marked rows as `marked()` found them, until rows, the view or the marks change.
    private var markedCache: (visible: [Row], hidden: [Row])?
    /// Text a filter matches against (lowercased once per row).
    let searchText: (Row) -> String
    private var searchCache: [Row.ID: String] = [:]
    /// Where each row is in `rows` and `visible`, for `replace`; dropped whenever either is rebuilt.
    private var positions: (rows: [Row.ID: Int], visible: [Row.ID: Int])?
    /// Rows the last draw showed, for lazily fetched columns (last used).
    public private(set) var lastDrawnRows: [Row] = []
    public private(set) var lastPageHeight = 10

    /// Orders rows the sort column finds equal (always ascending), so equal values (keys created in the same
    /// second) keep one order whatever order they arrived in.
    let tiebreak: (Row, Row) -> Bool

    public init(columns: [Column<Row>], sortColumn: Int = 0, tiebreak: @escaping (Row, Row) -> Bool = { _, _ in false },
                searchText: @escaping (Row) -> String) {
        self.columns = columns
        self.sortColumn = sortColumn
        self.tiebreak = tiebreak
        self.searchText = searchText
    }

    public var current: Row? { visible.indices.contains(cursor) ? visible[cursor] : nil }

    /// Marked rows that still exist, in view order, and how many of them the filter hides.
    /// Called for every footer action on every frame: with no marks (the usual case) it must not touch the rows,
    /// which at 100,000 keys would cost most of a frame.
    /// With marks set, the scan over the rows is made once and kept until rows, view or marks change (the footer
    /// asks per action per frame; at 100,000 rows a scan costs milliseconds).
    public func markedRows() -> (visible: [Row], hidden: Int) {
        guard !marks.isEmpty else { return ([], 0) }
        let m = marked()
        return (m.visible, m.hidden.count)
    }

    /// Marked rows that still exist: those the view shows (in its order), then those the filter hides.
    public func marked() -> (visible: [Row], hidden: [Row]) {
        guard !marks.isEmpty else { return ([], []) }
        if let markedCache { return markedCache }
        let shown = visible.filter { marks.contains($0.id) }
        let shownIds = Set(shown.map(\.id))
        let hidden = rows.filter { marks.contains($0.id) && !shownIds.contains($0.id) }
        markedCache = (shown, hidden)
        return (shown, hidden)
    }

    /// Replaces every row, keeping the cursor on the same row when it still exists.
    public func setRows(_ newRows: [Row]) {
        let keep = current?.id
        positions = nil
        rows = newRows
        searchCache.removeAll(keepingCapacity: true)
        let ids = Set(newRows.map(\.id))
        marks.formIntersection(ids)
        rebuild(keeping: keep)
    }

    /// Adds rows (a page of a progressive listing) by merging them into the sorted view.
    public func append(_ batch: [Row]) {
        guard !batch.isEmpty else { return }
        let keep = current?.id
        positions = nil
        rows.append(contentsOf: batch)
        let order = self.order
        let incoming = sortedInOrder(batch.filter(matches))
        if let first = incoming.first, visible.last.map({ !order(first, $0) }) ?? true {
            // All after what is shown (rows arriving in the table's order): no merge.
            visible.append(contentsOf: incoming)
        } else if !incoming.isEmpty {
            var merged: [Row] = []
            merged.reserveCapacity(visible.count + incoming.count)
            var i = 0, j = 0
            while i < visible.count && j < incoming.count {
                if order(incoming[j], visible[i]) { merged.append(incoming[j]); j += 1 } else { merged.append(visible[i]); i += 1 }
            }
            merged.append(contentsOf: visible[i...])
            merged.append(contentsOf: incoming[j...])
            visible = merged
        }
        restoreCursor(keep)
    }

    /// Replaces rows in place by id (after an action re-described some keys).
    public func update(_ changed: [Row]) {
        let byId = Dictionary(changed.map { ($0.id, $0) }, uniquingKeysWith: { $1 })
        positions = nil
        rows = rows.map { byId[$0.id] ?? $0 }
        for id in byId.keys { searchCache[id] = nil }
        rebuild(keeping: current?.id)
    }

    /// Replaces rows in place by id without sorting again when each stays where the order puts it (a state
    /// confirmed by a new description): at 100,000 rows a full rebuild per batch would cost the UI thread.
    public func replace(_ changed: [Row]) {
        guard !changed.isEmpty else { return }
        guard filter.isEmpty else { update(changed); return }
        let at = positions ?? (Dictionary(rows.indices.map { (rows[$0].id, $0) }, uniquingKeysWith: { $1 }),
                               Dictionary(visible.indices.map { (visible[$0].id, $0) }, uniquingKeysWith: { $1 }))
        var touched: [Int] = []
        for row in changed {
            if let i = at.rows[row.id] { rows[i] = row }
            if let i = at.visible[row.id] { visible[i] = row; touched.append(i) }
        }
        let order = self.order
        let inOrder = touched.allSatisfy { i in
            (i == 0 || !order(visible[i], visible[i - 1])) && (i + 1 == visible.count || !order(visible[i + 1], visible[i]))
        }
        if inOrder { positions = at } else { rebuild(keeping: current?.id) }
    }

    public func setFilter(_ text: String) {
        guard text != filter else { return }
        let keep = current?.id
        filter = text
        // The lowercased search text of 100,000 rows is worth keeping only while a filter is typed.
        if text.isEmpty { searchCache = [:] }
        rebuild(keeping: keep)
    }

    /// Sorts by the next visible column (wrapping), ascending.
    public func sortNext(width: Int) {
        let shown = shownColumns(width: width)
        guard !shown.isEmpty else { return }
        let pos = shown.firstIndex(of: sortColumn) ?? -1
        sortColumn = shown[(pos + 1) % shown.count]
        ascending = true
        rebuild(keeping: current?.id)
    }

    public func reverseSort() {
        ascending.toggle()
        rebuild(keeping: current?.id)
    }

    public func sort(by column: Int, ascending: Bool) {
        guard columns.indices.contains(column) else { return }
        sortColumn = column
        self.ascending = ascending
        rebuild(keeping: current?.id)
    }

    public func move(by delta: Int) {
        guard !visible.isEmpty else { cursor = 0; return }
        cursor = min(max(0, cursor + delta), visible.count - 1)
    }
    public func moveToTop() { cursor = 0 }
    public func moveToBottom() { cursor = max(0, visible.count - 1) }
    public func page(_ direction: Int) { move(by: direction * max(1, lastPageHeight - 1)) }

    /// Moves the cursor to the row with `id` if it is visible.
    public func select(_ id: Row.ID) {
        if let i = visible.firstIndex(where: { $0.id == id }) { cursor = i }
    }

    public func toggleMark() {
        guard let row = current else { return }
        if marks.contains(row.id) { marks.remove(row.id) } else { marks.insert(row.id) }
    }

    /// Marks every visible row, or clears the marks when they all are already marked.
    public func toggleMarkAll() {
        let ids = visible.map(\.id)
        if !ids.isEmpty && ids.allSatisfy(marks.contains) { marks.subtract(ids) } else { marks.formUnion(ids) }
    }

    // MARK: drawing

    /// Indices of the columns shown at `width`, in order.
    public func shownColumns(width: Int) -> [Int] {
        columns.indices.filter { columns[$0].width.hideBelow <= width }
    }

    /// Widths of the shown columns for `width` cells (after the two-cell gutter and one-cell gaps).
    func layout(width: Int) -> [(index: Int, width: Int)] {
        var shown = shownColumns(width: width)
        let gutter = 2
        func need(_ cols: [Int]) -> Int { cols.reduce(0) { $0 + columns[$1].width.min } + max(0, cols.count - 1) + gutter }
        func priority(_ i: Int) -> Int { columns[shown[i]].width.priority }
        while need(shown) > width && shown.count > 1 {
            // The least important column goes (the rightmost of equals).
            let victim = shown.indices.min { a, b in priority(a) != priority(b) ? priority(a) < priority(b) : a > b } ?? shown.count - 1
            shown.remove(at: victim)
        }
        var widths = shown.map { columns[$0].width.min }
        var spare = width - need(shown)
        // Preferred widths first, the most important column first.
        for i in shown.indices.sorted(by: { a, b in priority(a) != priority(b) ? priority(a) > priority(b) : a < b }) {
            let add = min(spare, columns[shown[i]].width.preferred - widths[i])
            if add > 0 { widths[i] += add; spare -= add }
        }
        while spare > 0 {
            let growable = shown.indices.filter { widths[$0] < columns[shown[$0]].width.max && columns[shown[$0]].width.weight > 0 }
            if growable.isEmpty { break }
            let totalWeight = growable.reduce(0) { $0 + columns[shown[$1]].width.weight }
            var given = 0
            for i in growable {
                let share = max(1, spare * columns[shown[i]].width.weight / max(1, totalWeight))
                let add = min(share, columns[shown[i]].width.max - widths[i], spare - given)
                widths[i] += add
                given += add
                if given >= spare { break }
            }
            if given == 0 { break }
            spare -= given
        }
        return zip(shown, widths).map { ($0, $1) }
    }

    /// Draws the heading and the rows that fit in `rect`.
    public func draw(in rect: Rect, on surface: any Surface, symbols: Symbols, focused: Bool = true,
                     rowStyle: (Row) -> Style = { _ in .normal }, empty: String = "Nothing to show") {
        guard rect.height >= 1, rect.width > 4 else { return }
        let cols = layout(width: rect.width)
        // Heading.
        surface.put(rect.row, rect.column, String(repeating: " ", count: rect.width), Style(.tableHeader))
        var x = rect.column + 2
        for (index, width) in cols {
            let col = columns[index]
            let arrow = index == sortColumn ? (ascending ? symbols.sortAscending : symbols.sortDescending) : ""
            let title = TextWidth.pad(col.title + arrow, to: width, alignRight: col.alignRight, ellipsis: symbols.ellipsis)
            surface.put(rect.row, x, title, Style(index == sortColumn ? .tableSorted : .tableHeader))
            x += width + 1
        }
        let bodyHeight = rect.height - 1
        lastPageHeight = max(1, bodyHeight)
        if visible.isEmpty {
            lastDrawnRows = []
            if bodyHeight > 0 { surface.put(rect.row + 1, rect.column + 2, TextWidth.truncate(empty, to: rect.width - 2), Style(.muted)) }
            return
        }
        // Keep the cursor in view.
        cursor = min(max(0, cursor), visible.count - 1)
        if cursor < top { top = cursor }
        if cursor >= top + bodyHeight { top = cursor - bodyHeight + 1 }
        top = max(0, min(top, max(0, visible.count - bodyHeight)))
        let end = min(visible.count, top + bodyHeight)
        lastDrawnRows = Array(visible[top..<end])
        for (offset, row) in lastDrawnRows.enumerated() {
            let y = rect.row + 1 + offset
            let isCursor = top + offset == cursor && focused
            let isMarked = marks.contains(row.id)
            let base: Style = isCursor ? Style(.cursor) : (isMarked ? Style(.marked) : rowStyle(row))
            surface.put(y, rect.column, String(repeating: " ", count: rect.width), base)
            let gutter = (isMarked ? symbols.mark : " ") + (isCursor ? symbols.cursor : " ")
            // Only a mark is drawn in the marked style: an underlined blank gutter would show as "__" in mono.
            surface.put(y, rect.column, gutter, isCursor || !isMarked ? base : Style(.marked, [.bold]))
            var cx = rect.column + 2
            for (index, width) in cols {
                let col = columns[index]
                let text = TextWidth.pad(col.text(row), to: width, alignRight: col.alignRight, ellipsis: symbols.ellipsis)
                let style = isCursor ? base : (col.style(row) ?? base)
                surface.put(y, cx, text, style)
                cx += width + 1
            }
        }
    }

    // MARK: internals

    /// The view's order: the sort column, then the tiebreak. Built once per sort or merge: looking the column up per
    /// comparison would copy its closures each time.
    private var order: (Row, Row) -> Bool {
        let less = columns[sortColumn].ascending, tiebreak = self.tiebreak, ascending = self.ascending
        return { a, b in
            if less(a, b) { return ascending }
            if less(b, a) { return !ascending }
            return tiebreak(a, b)
        }
    }

    /// `rows` in the view's order (stable): positions are sorted and each row is copied once, not at every step
    /// of the sort (a row of strings costs retains on every copy).
    private func sortedInOrder(_ rows: [Row]) -> [Row] {
        let order = self.order
        var positions = Array(rows.indices)
        rows.withUnsafeBufferPointer { row in positions.sort { order(row[$0], row[$1]) } }
        return positions.map { rows[$0] }
    }

    private func matches(_ row: Row) -> Bool {
        if filter.isEmpty { return true }
        let text: String
        if let cached = searchCache[row.id] { text = cached } else {
            text = searchText(row).lowercased()
            searchCache[row.id] = text
        }
        return text.contains(loweredFilter)
    }

    private func rebuild(keeping id: Row.ID?) {
        positions = nil
        visible = sortedInOrder(rows.filter(matches))
        restoreCursor(id)
    }

    private func restoreCursor(_ id: Row.ID?) {
        if let id, let i = visible.firstIndex(where: { $0.id == id }) { cursor = i }
        cursor = min(max(0, cursor), max(0, visible.count - 1))
    }
}

extension Table: NavigableTable {}
