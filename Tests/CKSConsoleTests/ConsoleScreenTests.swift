import CKSDomain
@testable import CKSTeardown
import Foundation
import Testing
@testable import CKSConsole

/// Screen behaviour on the in-memory double (no core): the Stores filter and Esc, which columns a narrow
/// terminal keeps on the Keys screen, and what the disconnect dialog says for each connection state.
@Suite("Console screens")
@MainActor
struct ConsoleScreenTests {
    struct Cell: Identifiable { var id: Int }

    static func dialogText(_ h: Harness) -> String {
        (h.app.dialog?.body() ?? []).map(\.0).joined(separator: " ")
    }

    /// Issue 4: "`/` filters the list (shown in the title, Esc clears)", on the Stores screen too.
    @Test("Esc on the Stores screen clears a kept filter; the footer says so only while there is one")
    func escClearsTheStoresFilter() async {
        let h = await Harness(width: 80, height: 24)
        #expect(h.screen.contains("Stores (6)"))
        #expect(!h.surface.lines[23].contains("esc"), "no Esc entry without a filter:\n\(h.surface.lines[23])")
        await h.press(.char("/"))
        await h.type("hsm")
        await h.press(.enter)
        #expect(h.screen.contains("Stores (4/6)"))
        #expect(h.screen.contains("filter /hsm"))
        #expect(h.surface.lines[23].contains("esc clear filter"), "footer: \(h.surface.lines[23])")
        await h.press(.escape)
        #expect(h.screen.contains("Stores (6)"))
        #expect(!h.screen.contains("filter /"))
        #expect(h.app.stack == [.stores])
        // Esc again, with nothing to clear, does nothing (the Stores screen is the bottom of the stack).
        await h.press(.escape)
        #expect(h.screen.contains("Stores (6)"))
    }

    /// Issue 4 polish: a key id is a 36-character UUID; at 120 columns it shows whole. Narrower terminals drop
    /// the less important columns first (created, deletion date, last used) and keep id, aliases and state.
    @Test("Keys screen: whole key ids from 120 columns; narrow terminals drop the least important columns")
    func keyColumnsByPriority() async {
        for (width, height) in [(120, 40), (160, 48), (200, 60)] {
            let h = await Harness(width: width, height: height)
            await h.selectStore("payments-hsm")
            await h.press(.enter)
            let key = h.app.keysView(h.app.storesTable.current!.id).table.visible[0]
            #expect(key.id.count == 36)
            #expect(h.screen.contains(key.id), "\(width) columns show the whole key id:\n\(h.screen)")
            #expect(h.screen.contains("LAST USED") && h.screen.contains("DELETION DATE"), "\(width) columns")
        }
        let h = await Harness(width: 80, height: 24)
        await h.selectStore("payments-hsm")
        await h.press(.enter)
        let header = h.surface.lines.first { $0.contains("KEY ID") } ?? ""
        for title in ["KEY ID", "ALIASES", "STATE", "DELETES", "DELETION DATE"] {
            #expect(header.contains(title), "80 columns keep \(title): \(header)")
        }
        for title in ["CREATED", "LAST USED"] { #expect(!header.contains(title), "80 columns drop \(title): \(header)") }
        #expect(h.screen.contains("alias/payments/card-0001"), "80 columns show a whole alias:\n\(h.screen)")
    }

    /// Semantics §1.2/§2.2: keys of a store that is not CONNECTED are already Unavailable; disconnecting a FAILED
    /// store changes no key, it clears the error so the store can be fixed and connected again.
    @Test("the disconnect dialog says what really happens for a FAILED, a CONNECTING and a CONNECTED store")
    func disconnectConsequenceByState() async {
        let h = await Harness(width: 120, height: 40)
        await h.selectStore("analytics-hsm")
        await h.press(.char("x"))
        #expect(h.app.dialog != nil)
        let failedText = Self.dialogText(h)
        #expect(failedText.contains("Its keys do not change"), "\(h.screen)")
        #expect(failedText.contains("NETWORK_ERRORS) is cleared"))
        #expect(!failedText.contains("becomes Unavailable"))
        await h.press(.escape)

        await h.selectStore("staging-hsm")
        await h.press(.char("x"))
        let connecting = Self.dialogText(h)
        #expect(connecting.contains("connect attempt is abandoned"), "\(h.screen)")
        await h.press(.escape)

        await h.selectStore("payments-hsm")
        await h.press(.char("x"))
        let connected = Self.dialogText(h)
        #expect(connected.contains("every key of the store becomes Unavailable at once"), "\(h.screen)")
    }

    @Test("column layout drops the lowest priority first, then grows columns to their preferred width by priority")
    func layoutByPriority() {
        let columns: [Column<Cell>] = [
            Column("A", .flex(min: 10, preferred: 30, max: 40, weight: 1, priority: 5), text: { _ in "" }),
            Column("B", .fixed(10, priority: 1), text: { _ in "" }),
            Column("C", .flex(min: 10, preferred: 20, max: 20, weight: 1, priority: 9), text: { _ in "" }),
            Column("D", .fixed(10, priority: 3), text: { _ in "" }),
        ]
        let table = Table<Cell>(columns: columns, searchText: { _ in "" })
        // Everything at its minimum needs 10*4 + 3 gaps + 2 gutter = 45.
        #expect(table.layout(width: 45).map(\.index) == [0, 1, 2, 3])
        // One cell less: B (priority 1) goes, not the last column.
        #expect(table.layout(width: 44).map(\.index) == [0, 2, 3])
        // Spare room goes to C's preferred width first (highest priority), then A's.
        let wide = table.layout(width: 60)
        #expect(wide.first { $0.index == 2 }?.width == 20)
        #expect(wide.first { $0.index == 0 }?.width == 15)
        #expect(table.layout(width: 200).first { $0.index == 0 }?.width == 40)
    }
}
