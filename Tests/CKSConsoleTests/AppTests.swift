import CKSClient
import CKSDomain
@testable import CKSTeardown
import CKSWire
import Foundation
import Testing
@testable import CKSConsole

/// Scripted key sequences through the real event handling, against a real core over HTTP, waiting for idle
/// (never sleeping). Serialized: each test runs a core, and two cores at once only slow each other down.
@Suite("Console behaviour on a real core", .serialized)
@MainActor
struct AppTests {
    @Test("start: header, every store with its state in words, counts, details")
    func stores() async throws {
        try await CoreHarness.with { (h: CoreHarness) async throws in
            let s = h.screen
            for needle in ["EMBEDDED", "127.0.0.1:\(h.core.server.port)", "acct 111122223333", "us-east-1", "updated 0s ago",
                           "payments-hsm", "ledger-hsm", "FAILED (NETWORK_ERRORS)", "CONNECTING", "DISCONNECTED", "Stores (6)"] {
                #expect(s.contains(needle), "missing \(needle)\n\(s)")
            }
            #expect(h.app.storesTable.rows.first { $0.record.name == "payments-hsm" }?.census?.total == 30)
            #expect(h.app.storesTable.rows.first { $0.record.name == "ledger-hsm" }?.census == KeyCensus(total: 14, pendingDeletion: 4))
            await h.selectStore("analytics-hsm")
            #expect(h.screen.contains("Network errors prevent the connection"))
            #expect(h.screen.contains("(2 HSMs)"), "the HSM count comes from CksAdmin.DescribeCloudHsmClusters")
        }
    }

    @Test("one pass over the keys counts every store and fills every list; opening a store just counted lists nothing again")
    func onePassCountsAndLists() async throws {
        try await CoreHarness.with { (h: CoreHarness) async throws in
            @MainActor func passes() -> [ActivityLog.Group] {
                h.app.activity.groups.filter { g in ["count keys", "list keys", "refresh keys"].contains { g.label.hasPrefix($0) } }
            }
            func describes(_ g: ActivityLog.Group) -> Int { g.calls.filter { $0.operation == "DescribeKey" }.count }
            let accountKeys = try await h.admin.allKeys().count
            #expect(passes().count == 1)
            #expect(passes().first.map(describes) == accountKeys, "the first pass describes every key of the account once")
            let ledger = try #require(h.app.stores.first { $0.name == "ledger-hsm" })
            #expect(h.app.keysViews[ledger.id]?.table.rows.count == 14, "every store's list is filled by the pass")

            await h.selectStore("payments-hsm")
            await h.press(.enter)
            #expect(h.screen.contains("Stores › payments-hsm › Keys (30)"))
            #expect(passes().count == 1, "a store opened right after the pass shows its keys without a new pass")

            // A key changed behind the console's back shows after the next pass (r), which replaces the list whole.
            let key = try #require(try await h.keys(ofStore: "payments-hsm").first { $0.keyState == .enabled })
            try await h.admin.disableKey(keyId: key.keyId)
            await h.advance(1)
            await h.press(.char("r"))
            #expect(passes().count == 2)
            #expect(passes().last.map(describes) == accountKeys)
            #expect(h.app.keysViews[h.app.storesTable.current!.id]?.table.rows.first { $0.id == key.keyId }?.state == .disabled)
            #expect(h.screen.contains("Keys (30)"))

            // The Key detail screen describes its key again (the rows keep only the list's fields).
            await h.press(.enter)
            #expect(h.screen.contains("Arn") && h.screen.contains("EncryptionAlgorithms"), "\(h.screen)")
        }
    }

    @Test("Enter opens the keys, / filters (shown in the title), Esc clears then goes back, Enter opens a key")
    func navigation() async throws {
        try await CoreHarness.with { (h: CoreHarness) async throws in
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
    }

    @Test("mark keys, schedule their deletion (Cancel focused, two Enters), then cancel it")
    func scheduleAndCancel() async throws {
        try await CoreHarness.with { (h: CoreHarness) async throws in
            await h.selectStore("payments-hsm")
            await h.press(.enter, .char("g"), .char(" "), .char(" "), .char(" "))
            #expect(h.screen.contains("3 marked"))
            await h.press(.char("D"))
            let dialog = try #require(h.app.dialog)
            #expect(dialog.focus == 0)
            #expect(h.screen.contains("Schedule deletion of 3 keys?"))
            #expect(h.screen.contains("ScheduleKeyDeletion {\"KeyId\""))
            let expectedDate = h.app.formatting.dateTime(h.app.coreNow.addingTimeInterval(30 * 86_400))
            #expect(h.screen.contains("Deletion date: \(expectedDate.prefix(10))"))
            // Enter on the focused Cancel closes without calling anything.
            await h.press(.enter)
            #expect(h.app.dialog == nil)
            let before = Set(try await h.keys(ofStore: "payments-hsm").filter { $0.keyState == .pendingDeletion }.map(\.keyId))
            #expect(before.count == 4)
            await h.press(.char("D"), .char("-"), .tab, .enter)
            #expect(h.app.dialog != nil, "the first Enter only arms an irreversible action")
            #expect(h.screen.contains("Enter again"))
            await h.press(.enter)
            #expect(h.app.dialog == nil)
            let pending = try await h.keys(ofStore: "payments-hsm").filter { $0.keyState == .pendingDeletion }
            #expect(pending.count == 4 + 3)
            let now = try await h.admin.simulatedNow()
            let fresh = pending.filter { !before.contains($0.keyId) }.compactMap { $0.deletionDate?.timeIntervalSince(now) }
            #expect(fresh.count == 3 && fresh.allSatisfy { abs($0 - 29 * 86_400) < 3_600 }, "the window chosen in the dialog (29 days)")
            #expect(h.screen.contains("ScheduleKeyDeletion: 3 keys done."))
            let storeId = try #require(h.seeded.storeIds["payments-hsm"])
            #expect(h.app.keysView(storeId).table.marks.isEmpty)
            #expect(h.app.keysView(storeId).table.rows.filter { $0.state == .pendingDeletion }.count == 7,
                    "the rows were described again after the action")
            // The same keys again: only cancel makes sense now.
            await h.press(.char("g"), .char(" "), .char(" "), .char(" "), .char("D"))
            #expect(h.app.dialog == nil)
            #expect(h.screen.contains("already PendingDeletion"))
            await h.press(.char("u"), .tab, .enter)
            let after = try await h.keys(ofStore: "payments-hsm")
            #expect(after.filter { $0.keyState == .pendingDeletion }.count == 4)
            #expect(after.filter { $0.keyState == .disabled }.count >= 3)
            // Every call is in the Activity log under its action, with the core's request id.
            let groups = h.app.activity.groups.map(\.label)
            #expect(groups.contains("schedule deletion 3 keys"))
            #expect(groups.contains("cancel deletion 3 keys"))
            let scheduled = h.app.activity.allCalls.filter { $0.operation == "ScheduleKeyDeletion" }
            #expect(scheduled.count == 3 && scheduled.allSatisfy { $0.action?.label == "schedule deletion 3 keys" && $0.requestId != nil })
        }
    }

    @Test("a bulk action reports partial failure key by key")
    func partialFailure() async throws {
        try await CoreHarness.with { (h: CoreHarness) async throws in
            await h.selectStore("payments-hsm")
            await h.press(.enter, .char("g"), .char(" "), .char(" "))
            // Behind the console's back, one of the two marked keys is scheduled for deletion already.
            let storeId = try #require(h.seeded.storeIds["payments-hsm"])
            let marked = h.app.keysView(storeId).table.rows.filter { h.app.keysView(storeId).table.marks.contains($0.id) }
            let first = try #require(marked.first)
            _ = try await h.admin.scheduleKeyDeletion(keyId: first.id, pendingWindowInDays: 7)
            await h.press(.char("D"), .tab, .enter, .enter)
            #expect(h.screen.contains("ScheduleKeyDeletion: 1 of 2 failed"), "\(h.screen)")
            #expect(h.screen.contains("KMSInvalidStateException"))
        }
    }

    @Test("actions the state does not allow are left out of the footer; a press and the help say why")
    func disabledReasons() async throws {
        try await CoreHarness.with(width: 160, height: 48) { (h: CoreHarness) async throws in
            await h.selectStore("analytics-hsm")
            #expect(h.app.availability(.connect) == "Connect needs DISCONNECTED; the store is FAILED: disconnect it first")
            let footer = h.surface.lines.last ?? ""
            #expect(!footer.contains("c connect") && footer.contains("x disconnect"), "the footer offers what applies now: \(footer)")
            await h.press(.char("c"))
            #expect(h.app.dialog == nil)
            #expect(h.screen.contains("Connect needs DISCONNECTED; the store is FAILED"))
            await h.selectStore("ledger-hsm")
            #expect(h.app.availability(.disconnect)?.contains("the store is DISCONNECTED") == true)
            #expect(h.app.availability(.connect) == nil)
            await h.press(.char("?"))
            #expect(h.screen.contains("now: Disconnect needs CONNECTED, CONNECTING or FAILED; the store is DISCONNECTED"))
        }
    }

    @Test("disconnect names the target, the call and the orphaned key material; connect goes CONNECTING then CONNECTED")
    func connectDisconnect() async throws {
        try await CoreHarness.with { (h: CoreHarness) async throws in
            await h.selectStore("payments-hsm")
            await h.press(.char("x"))
            #expect(h.screen.contains("DisconnectCustomKeyStore {\"CustomKeyStoreId\""))
            #expect(h.screen.contains("orphaned"))
            await h.press(.tab, .enter)
            #expect(try await h.store(named: "payments-hsm").connectionState == .disconnecting)
            #expect(h.app.inMotion)
            await h.advance(CoreHarness.disconnectDuration + 1)
            #expect(try await h.store(named: "payments-hsm").connectionState == .disconnected)
            #expect(h.app.stores.first { $0.name == "payments-hsm" }?.connectionState == .disconnected)
            await h.press(.char("c"), .tab, .enter)
            #expect(try await h.store(named: "payments-hsm").connectionState == .connecting)
            await h.advance(CoreHarness.connectDuration + 1)
            #expect(try await h.store(named: "payments-hsm").connectionState == .connected)
            #expect(h.app.stores.first { $0.name == "payments-hsm" }?.connectionState == .connected)
            // The demo's CONNECTING store finished meanwhile, as the core decided.
            #expect(h.app.stores.first { $0.name == "staging-hsm" }?.connectionState == .connected)
        }
    }

    @Test("read-only refuses every change with a reason and hides nothing")
    func readOnly() async throws {
        try await CoreHarness.with(readOnly: true) { (h: CoreHarness) async throws in
            #expect(h.screen.contains("READ-ONLY"))
            #expect(h.surface.lines[0].contains("updated 0s ago"), "at 80 columns the endpoint gives way, not the age of the data")
            #expect(h.screen.contains("connect"))
            await h.selectStore("ledger-hsm")
            await h.press(.char("c"))
            #expect(h.app.dialog == nil)
            #expect(h.screen.contains("Read-only mode (--read-only): connect is refused"))
            #expect(try await h.store(named: "ledger-hsm").connectionState == .disconnected)
        }
    }

    @Test("a vanished core shows a banner and the last data, retries with backoff, and recovers")
    func coreFailure() async throws {
        try await CoreHarness.with { (h: CoreHarness) async throws in
            await h.stopCore()
            await h.press(.char("r"))
            #expect(h.screen.contains("The endpoint is not answering"))
            #expect(h.screen.contains("payments-hsm"))
            #expect(h.app.storesPoll.failures >= 1)
            await h.advance(1)
            try await h.restartCore()
            await h.advance(60)
            #expect(h.app.banner == nil)
            #expect(h.screen.contains("The endpoint answers again."))
        }
    }

    @Test("resize at any moment; below 80x24 the console says so")
    func resize() async throws {
        try await CoreHarness.with { (h: CoreHarness) async throws in
            h.surface.resize(width: 60, height: 20)
            await h.press(.resize)
            #expect(h.screen.contains("terminal too small: 60x20, needs 80x24"))
            h.surface.resize(width: 200, height: 60)
            await h.press(.resize)
            #expect(h.screen.contains("Stores (6)"))
            #expect(h.screen.contains("CREATED"))
        }
    }

    @Test(": runs commands with completion; q and Ctrl-C quit")
    func commands() async throws {
        try await CoreHarness.with { (h: CoreHarness) async throws in
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
    }

    @Test("the footer and the help come from the one binding table, remapped keys included")
    func helpFromBindings() async throws {
        let (map, _) = Keymap.defaults.applying(file: "toggle-activity = A\n", path: "k")
        try await CoreHarness.with(width: 160, height: 48, keymap: map) { (h: CoreHarness) async throws in
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
    }

    @Test("a broken theme or keymap is reported in a dialog at start")
    func startupProblems() async throws {
        try await CoreHarness.with(startupMessages: ["theme /x/t.theme:3: unknown role \"hedr\"; using the default theme"]) { (h: CoreHarness) async throws in
            #expect(h.screen.contains("Configuration problem"))
            #expect(h.screen.contains("/x/t.theme:3"))
            await h.press(.enter)
            #expect(h.app.dialog == nil)
        }
    }

    @Test("keys pending deletion count down on the core's clock; the core deletes them at the end of the window")
    func countdown() async throws {
        try await CoreHarness.with(width: 160, height: 48) { (h: CoreHarness) async throws in
            await h.selectStore("ledger-hsm")
            await h.press(.enter)
            #expect(h.screen.contains("PendingDeletion"))
            #expect(h.screen.components(separatedBy: "in ").count > 2)
            let storeId = try #require(h.seeded.storeIds["ledger-hsm"])
            #expect(h.app.keysView(storeId).table.rows.count == 14)
            let soonest = try #require(try await h.keys(ofStore: "ledger-hsm").compactMap(\.deletionDate).min())
            let now = try await h.admin.simulatedNow()
            try await h.admin.advanceClock(seconds: Int(soonest.timeIntervalSince(now)) + 2)
            await h.press(.char("r"))
            #expect(h.app.keysView(storeId).table.rows.count == 13)
        }
    }
}
