import CKSDomain
import Foundation
import Testing
@testable import CKSConsole

/// Scripted key sequences through the real event handling, waiting for idle (never sleeping).
@Suite("Console behaviour")
@MainActor
struct AppTests {
    @Test("start: header, every store with its state in words, counts, details")
    func stores() async {
        let h = await Harness()
        let s = h.screen
        for needle in ["EMBEDDED", "127.0.0.1:7911", "111122223333", "us-east-1", "updated 0s ago",
                       "payments-hsm", "ledger-hsm", "FAILED (NETWORK_ERRORS)", "CONNECTING", "DISCONNECTED", "Stores (6)"] {
            #expect(s.contains(needle), "missing \(needle)\n\(s)")
        }
        #expect(h.app.storesTable.rows.first { $0.record.name == "payments-hsm" }?.census?.total == 30)
        await h.selectStore("analytics-hsm")
        #expect(h.screen.contains("Network errors prevent the connection"))
    }

    @Test("Enter opens the keys, / filters (shown in the title), Esc clears then goes back, Enter opens a key")
    func navigation() async {
        let h = await Harness()
        await h.selectStore("payments-hsm")
        await h.press(.enter)
        #expect(h.screen.contains("Stores › payments-hsm › Keys (30)"))
        #expect(h.screen.contains("alias/payments/card-0001"))
        await h.press(.char("/"))
        await h.type("card-001")
        #expect(h.screen.contains("filter /card-001"))
        #expect(h.screen.contains("Keys (10/30)"))
        await h.press(.enter, .enter)
        #expect(h.screen.contains("KeyId"))
        #expect(h.screen.contains("CustomKeyStoreId"))
        #expect(h.screen.contains("Last used (GetKeyLastUsage)"))
        await h.press(.escape)
        #expect(h.screen.contains("Keys (10/30)"))
        await h.press(.escape)
        #expect(h.screen.contains("Keys (30)"))
        await h.press(.escape)
        #expect(h.screen.contains("Stores (6)"))
        #expect(h.app.stack == [.stores])
    }

    @Test("mark keys, schedule their deletion (Cancel focused, two Enters), then cancel it")
    func scheduleAndCancel() async throws {
        let h = await Harness()
        await h.selectStore("payments-hsm")
        await h.press(.enter, .char("g"), .char(" "), .char(" "), .char(" "))
        #expect(h.screen.contains("3 marked"))
        await h.press(.char("D"))
        let dialog = try #require(h.app.dialog)
        #expect(dialog.focus == 0)
        #expect(h.screen.contains("Schedule deletion of 3 keys?"))
        #expect(h.screen.contains("ScheduleKeyDeletion {\"KeyId\""))
        #expect(h.screen.contains("Deletion date: 2026-12-18"))
        // Enter on the focused Cancel closes without calling anything.
        await h.press(.enter)
        #expect(h.app.dialog == nil)
        await h.press(.char("D"), .char("-"), .tab, .enter)
        #expect(h.app.dialog != nil, "the first Enter only arms an irreversible action")
        #expect(h.screen.contains("Enter again"))
        await h.press(.enter)
        #expect(h.app.dialog == nil)
        let store = try #require(await h.store(named: "payments-hsm"))
        let pending = await h.backend.keysForTest(store: store.id).filter { $0.state == .pendingDeletion }
        #expect(pending.count == 4 + 3)
        #expect(pending.contains { $0.pendingDeletionWindowInDays == 29 })
        #expect(h.screen.contains("ScheduleKeyDeletion: 3 keys done."))
        #expect(h.app.keysView(store.id).table.marks.isEmpty)
        // The same keys again: only cancel makes sense now.
        await h.press(.char("g"), .char(" "), .char(" "), .char(" "), .char("D"))
        #expect(h.app.dialog == nil)
        #expect(h.screen.contains("already PendingDeletion"))
        await h.press(.char("u"), .tab, .enter)
        let after = await h.backend.keysForTest(store: store.id)
        #expect(after.filter { $0.state == .pendingDeletion }.count == 4)
        #expect(after.filter { $0.state == .disabled }.count >= 3)
        // Every call is in the Activity log under its action.
        let groups = h.app.activity.groups.map(\.label)
        #expect(groups.contains("schedule deletion 3 keys"))
        #expect(groups.contains("cancel deletion 3 keys"))
        let scheduled = h.app.activity.allCalls.filter { $0.operation == "ScheduleKeyDeletion" }
        #expect(scheduled.count == 3 && scheduled.allSatisfy { $0.action?.label == "schedule deletion 3 keys" && $0.requestId != nil })
    }

    @Test("actions the state does not allow stay visible, dimmed, with the reason")
    func disabledReasons() async {
        let h = await Harness(width: 160, height: 48)
        await h.selectStore("analytics-hsm")
        #expect(h.app.availability(.connect) == "Connect needs DISCONNECTED; the store is FAILED: disconnect it first")
        await h.press(.char("c"))
        #expect(h.app.dialog == nil)
        #expect(h.screen.contains("Connect needs DISCONNECTED; the store is FAILED"))
        await h.selectStore("ledger-hsm")
        #expect(h.app.availability(.disconnect)?.contains("the store is DISCONNECTED") == true)
        #expect(h.app.availability(.connect) == nil)
        await h.press(.char("?"))
        #expect(h.screen.contains("now: Disconnect needs CONNECTED, CONNECTING or FAILED; the store is DISCONNECTED"))
    }

    @Test("disconnect names the target, the call and the orphaned key material; connect goes CONNECTING then CONNECTED")
    func connectDisconnect() async throws {
        let h = await Harness()
        await h.selectStore("payments-hsm")
        await h.press(.char("x"))
        #expect(h.screen.contains("DisconnectCustomKeyStore {\"CustomKeyStoreId\""))
        #expect(h.screen.contains("orphaned"))
        await h.press(.tab, .enter)
        let store = try #require(await h.store(named: "payments-hsm"))
        #expect(store.connectionState == .disconnecting)
        #expect(h.app.inMotion)
        await h.advance(31)
        #expect(h.screen.contains("DISCONNECTED"))
        await h.press(.char("c"), .tab, .enter)
        #expect(await h.store(named: "payments-hsm")?.connectionState == .connecting)
        await h.advance(121)
        #expect(await h.store(named: "payments-hsm")?.connectionState == .connected)
    }

    @Test("read-only refuses every change with a reason and hides nothing")
    func readOnly() async throws {
        let h = await Harness(readOnly: true)
        #expect(h.screen.contains("READ-ONLY"))
        #expect(h.screen.contains("connect"))
        await h.selectStore("ledger-hsm")
        await h.press(.char("c"))
        #expect(h.app.dialog == nil)
        #expect(h.screen.contains("Read-only mode (--read-only): connect is refused"))
        #expect(await h.store(named: "ledger-hsm")?.connectionState == .disconnected)
    }

    @Test("a vanished core shows a banner and the last data, retries with backoff, and recovers")
    func coreFailure() async {
        let h = await Harness()
        await h.backend.setUnreachable(true)
        await h.press(.char("r"))
        #expect(h.screen.contains("The core is not answering"))
        #expect(h.screen.contains("payments-hsm"))
        #expect(h.app.storesPoll.failures >= 1)
        await h.advance(1)
        await h.backend.setUnreachable(false)
        await h.advance(60)
        #expect(h.app.coreFailure == nil)
        #expect(h.screen.contains("The core answers again."))
    }

    @Test("resize at any moment; below 80x24 the console says so")
    func resize() async {
        let h = await Harness()
        h.surface.resize(width: 60, height: 20)
        await h.press(.resize)
        #expect(h.screen.contains("terminal too small: 60x20, needs 80x24"))
        h.surface.resize(width: 200, height: 60)
        await h.press(.resize)
        #expect(h.screen.contains("Stores (6)"))
        #expect(h.screen.contains("CREATED"))
    }

    @Test(": runs commands with completion; q and Ctrl-C quit")
    func commands() async {
        let h = await Harness()
        await h.press(.char(":"))
        await h.type("keys led")
        await h.press(.tab)
        #expect(h.screen.contains(":keys ledger-hsm"))
        await h.press(.enter)
        #expect(h.screen.contains("ledger-hsm › Keys"))
        #expect(h.screen.contains("ledger-hsm is DISCONNECTED: keys are Unavailable"))
        await h.press(.char(":"))
        await h.type("stores")
        await h.press(.enter)
        #expect(h.app.stack == [.stores])
        await h.press(.char(":"))
        await h.type("nonsense")
        await h.press(.enter)
        #expect(h.screen.contains("unknown command :nonsense"))
        await h.press(.ctrl("c"))
        #expect(!h.app.running)
    }

    @Test("the footer and the help come from the one binding table, remapped keys included")
    func helpFromBindings() async {
        let (map, _) = Keymap.defaults.applying(file: "toggle-activity = A\n", path: "k")
        let h = await Harness(width: 160, height: 48, keymap: map)
        let footer = h.surface.lines.last ?? ""
        #expect(footer.contains("A activity"))
        await h.press(.char("?"))
        for b in map.bindings {
            #expect(h.screen.contains(b.help), "help lacks \(b.action)")
        }
        await h.press(.escape, .char("A"))
        #expect(h.app.showActivity)
        #expect(h.screen.contains("Activity:"))
        #expect(h.screen.contains("DescribeCustomKeyStores"))
    }

    @Test("a broken theme or keymap is reported in a dialog at start")
    func startupProblems() async {
        let h = await Harness(startupMessages: ["theme /x/t.theme:3: unknown role \"hedr\"; using the default theme"])
        #expect(h.screen.contains("Configuration problem"))
        #expect(h.screen.contains("/x/t.theme:3"))
        await h.press(.enter)
        #expect(h.app.dialog == nil)
    }

    @Test("keys pending deletion show a countdown that follows the core's clock")
    func countdown() async throws {
        let h = await Harness(width: 160, height: 48)
        await h.selectStore("ledger-hsm")
        await h.press(.enter)
        #expect(h.screen.contains("PendingDeletion"))
        let before = h.screen.components(separatedBy: "in ").count
        #expect(before > 2)
        let store = try #require(await h.store(named: "ledger-hsm"))
        let soonest = await h.backend.keysForTest(store: store.id).compactMap(\.deletionDate).min()!
        await h.advance(soonest.timeIntervalSince(h.time.now()) + 1)
        await h.press(.char("r"))
        #expect(h.app.keysView(store.id).table.rows.count == 13)
    }
}
