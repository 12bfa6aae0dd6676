import CKSDomain
@testable import CKSTeardown
import Foundation
import Testing
@testable import CKSConsole

@Suite("Keymap")
struct KeymapTests {
    @Test("key names round-trip")
    func names() {
        for k: Key in [.char("q"), .char(" "), .ctrl("r"), .pageDown, .escape, .enter, .function(1), .char("D"), .backTab] {
            #expect(Key(name: k.name) == k, "\(k.name)")
        }
        #expect(Key(name: "bogus") == nil)
    }

    @Test("a keymap file rebinds actions and frees the keys it takes")
    func remap() {
        let (map, problem) = Keymap.defaults.applying(file: "# mine\nschedule-deletion = X\nquit = Q ctrl-q\n", path: "keymap")
        #expect(problem == nil)
        #expect(map.action(for: .char("X"), on: .keys) == .scheduleDeletion)
        #expect(map.action(for: .char("D"), on: .keys) == nil)
        #expect(map.action(for: .ctrl("q"), on: .stores) == .quit)
        #expect(map.action(for: .char("q"), on: .stores) == nil)
        // `x` was disconnect (stores only) and stays so: the new X is a different key.
        #expect(map.action(for: .char("x"), on: .stores) == .disconnect)
        let (taken, _) = Keymap.defaults.applying(file: "quit = x\n", path: "keymap")
        #expect(taken.action(for: .char("x"), on: .stores) == .quit)
    }

    @Test("a bad keymap file keeps the defaults and says why")
    func badFile() {
        for (text, needle) in [("frobnicate = z\n", "unknown action \"frobnicate\""), ("quit = hyper-q\n", "unknown key \"hyper-q\""),
                               ("quit\n", "expected `action = key"), ("quit = ctrl-c\n", "ctrl-c always quits"),
                               ("quit = z\nhelp = z\n", "bound to both")] {
            let (map, problem) = Keymap.defaults.applying(file: text, path: "/k/keymap")
            #expect(problem?.contains(needle) == true, "\(problem ?? "nil")")
            #expect(problem?.contains("/k/keymap") == true)
            #expect(map.action(for: .char("q"), on: .stores) == .quit)
        }
    }
}

@Suite("Table")
@MainActor
struct TableTests {
    struct Item: Identifiable, Hashable { var id: Int; var name: String; var size: Int }

    func table() -> Table<Item> {
        Table(columns: [
            Column("NAME", .flex(min: 10), text: { $0.name }),
            Column("SIZE", .fixed(6), alignRight: true, text: { String($0.size) }, ascending: { $0.size < $1.size }),
        ]) { $0.name }
    }

    @Test("filter, sort by any column, marks and a cursor that follows its row")
    func behaviour() {
        let t = table()
        t.setRows((0..<50).map { Item(id: $0, name: "item-\($0)", size: 100 - $0) })
        t.select(7)
        #expect(t.current?.id == 7)
        t.sort(by: 1, ascending: true)
        #expect(t.visible.first?.id == 49)
        #expect(t.current?.id == 7)
        t.setFilter("item-1")
        #expect(t.visible.count == 11)
        t.toggleMarkAll()
        #expect(t.marks.count == 11)
        t.setFilter("")
        #expect(t.markedRows().visible.count == 11)
        t.setFilter("item-2")
        #expect(t.markedRows().hidden == 11)
        t.reverseSort()
        #expect(t.visible.first.map { $0.size } == 98)
    }

    @Test("marked rows: the view's order first, then those the filter hides; kept only until something changes")
    func markedRowsFollowChanges() {
        let t = table()
        t.setRows((0..<30).map { Item(id: $0, name: "item-\($0)", size: $0) })
        t.sort(by: 1, ascending: false)
        t.marks = [3, 13, 23, 25]
        t.setFilter("item-2")
        var m = t.marked()
        #expect(m.visible.map(\.id) == [25, 23] && m.hidden.map(\.id).sorted() == [3, 13])
        t.select(25)
        t.toggleMark()                       // unmarked: the kept answer must not survive
        m = t.marked()
        #expect(m.visible.map(\.id) == [23] && m.hidden.count == 2)
        t.update([Item(id: 23, name: "renamed", size: 23)])   // no longer matches the filter: now hidden
        m = t.marked()
        #expect(m.visible.isEmpty && m.hidden.map(\.id).sorted() == [3, 13, 23])
        t.setRows(t.rows.filter { $0.id != 13 })               // a marked row gone
        #expect(t.markedRows().hidden == 2 && t.marks == [3, 23])
        t.marks.removeAll()
        #expect(t.marked().visible.isEmpty && t.marked().hidden.isEmpty)
    }

    @Test("appended pages merge into the sorted view")
    func progressive() {
        let t = table()
        t.sort(by: 1, ascending: true)
        t.append([Item(id: 1, name: "a", size: 5), Item(id: 2, name: "b", size: 1)])
        t.append([Item(id: 3, name: "c", size: 3), Item(id: 4, name: "d", size: 9)])
        #expect(t.visible.map(\.id) == [2, 3, 1, 4])
    }

    @Test("pages arriving in the view's order are added at the end; one out of order is merged; the same as sorting all")
    func progressiveInOrder() {
        let items = (0..<600).map { Item(id: $0, name: "k-\($0 % 37)", size: ($0 * 7_919) % 1_000) }
        func tiebroken() -> Table<Item> {
            Table(columns: table().columns, tiebreak: { $0.id < $1.id }) { $0.name }
        }
        for (column, ascending) in [(0, true), (1, true), (1, false)] {
            let whole = tiebroken(), paged = tiebroken()
            whole.sort(by: column, ascending: ascending)
            paged.sort(by: column, ascending: ascending)
            whole.setRows(items)
            // Pages in the view's order (the fast path), then pages in arrival order (merged), then one row.
            let sorted = whole.visible
            paged.append(Array(sorted[0..<200]))
            paged.append(Array(sorted[200..<300]))
            paged.append(Array(items[300...]).filter { row in !sorted[0..<300].contains { $0.id == row.id } })
            let missing = items.filter { row in !paged.rows.contains { $0.id == row.id } }
            paged.append(missing)
            #expect(paged.visible.map(\.id) == whole.visible.map(\.id), "column \(column) ascending \(ascending)")
        }
    }

    @Test("100,000 rows: only the rows that fit are drawn")
    func largeList() {
        let t = table()
        t.setRows((0..<100_000).map { Item(id: $0, name: "key-\($0)", size: $0 % 977) })
        let s = MemorySurface(width: 80, height: 20)
        t.moveToBottom()
        t.draw(in: Rect(row: 0, column: 0, width: 80, height: 20), on: s, symbols: .unicode)
        #expect(t.lastDrawnRows.count == 19)
        #expect(t.lastDrawnRows.last?.id == t.current?.id)
        #expect(s.lines[19].contains("key-99999"))
    }
}

@Suite("Model")
struct ModelTests {
    @Test("polling: 5 s idle, 1 s in motion, backoff after failures")
    func polling() {
        var p = PollSchedule()
        let t0 = Date(timeIntervalSince1970: 0)
        #expect(p.isDue(at: t0, inMotion: false))
        p.started(at: t0)
        p.succeeded(at: t0)
        #expect(!p.isDue(at: t0 + 4, inMotion: false))
        #expect(p.isDue(at: t0 + 5, inMotion: false))
        #expect(p.isDue(at: t0 + 1, inMotion: true))
        p.failed(); p.failed(); p.failed()
        #expect(p.interval(inMotion: true) == 8)
        for _ in 0..<10 { p.failed() }
        #expect(p.interval(inMotion: false) == 60)
        p.succeeded(at: t0)
        #expect(p.interval(inMotion: false) == 5)
    }

    @Test("the core clock estimate follows the samples' rate")
    func clock() {
        var c = ClockEstimate()
        let w = Date(timeIntervalSince1970: 1_000)
        c.sample(wall: w, core: Date(timeIntervalSince1970: 50_000))
        c.sample(wall: w + 2, core: Date(timeIntervalSince1970: 50_120))
        #expect(c.coreNow(wall: w + 3).timeIntervalSince1970 == 50_180)
    }

    @Test("countdowns and spans")
    func formatting() {
        let now = Date(timeIntervalSince1970: 0)
        #expect(Formatting.countdown(to: now + 6 * 86_400 + 23 * 3_600 + 59, now: now) == "in 6d 23h")
        #expect(Formatting.countdown(to: now + 90, now: now) == "in 1m 30s")
        #expect(Formatting.countdown(to: now - 1, now: now) == "due")
        #expect(Formatting.ago(now - 3 * 86_400, now: now) == "3d 0h ago")
        #expect(TextWidth.of("鍵ключ") == 6)
        #expect(TextWidth.pad("abcdef", to: 4) == "abc…")
    }

    @Test("the : command line parses and completes from the live stores")
    func commandLine() {
        #expect(CommandLineState.parse("keys payments-hsm") == .success(.keys("payments-hsm")))
        #expect(CommandLineState.parse("q") == .success(.quit))
        if case .failure(let e) = CommandLineState.parse("frob") { #expect(e.message.contains("unknown command")) } else { Issue.record("frob parsed") }
        var line = CommandLineState()
        line.type("k"); line.type("e")
        line.complete(stores: [], themes: [])
        #expect(line.text == "keys ")
        line.type("p"); line.type("a")
        line.complete(stores: ["payments-hsm", "partner-xks", "ledger-hsm"], themes: [])
        #expect(line.text == "keys pa")
        #expect(line.candidates == ["payments-hsm", "partner-xks"])
        line.type("y")
        line.complete(stores: ["payments-hsm", "partner-xks"], themes: [])
        #expect(line.text == "keys payments-hsm")
    }
}

@Suite("Natural order")
struct NaturalOrderTests {
    @Test("numbers by value, case-insensitive, punctuation before digits before letters")
    func examples() {
        #expect(NaturalOrder.less("alias/card-2", "alias/card-10"))
        #expect(!NaturalOrder.less("alias/card-10", "alias/card-2"))
        #expect(NaturalOrder.compare("Card-7", "card-7") == 0)
        #expect(NaturalOrder.less("card", "card-1"))
        #expect(NaturalOrder.less("card-1", "card1"))
        #expect(NaturalOrder.less("alias/a", "alias/B"))
        #expect(NaturalOrder.compare("", "") == 0 && NaturalOrder.less("", "a"))
        // Non-ASCII text goes to Foundation's locale-aware compare.
        #expect(NaturalOrder.less("alias/é-2", "alias/é-10"))
    }

    @Test("agrees with localizedStandardCompare on alias-like ASCII names")
    func agreesWithFoundation() {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("abcXYZ0123456789/-")
        func name() -> String {
            String((0..<Int.random(in: 0...10, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
        }
        var disagreements: [String] = []
        for _ in 0..<5_000 {
            let (a, b) = (name(), name())
            let ours = NaturalOrder.compare(a, b)
            let theirs = a.localizedStandardCompare(b)
            // Names equal but for leading zeros or case are equal to us and ordered by Foundation: both fine.
            if ours == 0 { continue }
            if (ours < 0) != (theirs == .orderedAscending) { disagreements.append("\(a) vs \(b)") }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(10))")
    }
}
