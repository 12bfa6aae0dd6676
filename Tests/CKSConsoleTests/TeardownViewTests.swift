import CKSDomain
import Foundation
import Testing
@testable import CKSConsole

/// The teardown view driven through the console's real event handling (keys in, memory surface out),
/// against the in-memory core with a hand-moved clock.
@Suite("Teardown view")
@MainActor
struct TeardownViewTests {
    static func harness(width: Int = 80, height: Int = 24, journal: TeardownJournal = .memory(),
                        demo: Bool = true, readOnly: Bool = false) async -> Harness {
        let h = await Harness(width: width, height: height, readOnly: readOnly)
        TeardownFeature(journal: journal, demo: demo).install(on: h.app)
        await h.app.settle(on: h.surface)
        return h
    }

    /// Opens the teardown of `store` with `t` on the Stores screen.
    static func open(_ h: Harness, _ store: String) async {
        await h.selectStore(store)
        await h.press(.char("t"))
    }

    /// Tab to the confirm button, then Enter (twice for irreversible dialogs).
    static func confirm(_ h: Harness) async {
        let irreversible = h.app.dialog?.irreversible == true
        await h.press(.tab, .enter)
        if irreversible { await h.press(.enter) }
    }

    @Test func tOpensThePlanAsAChecklistWithFlaggedKeys() async throws {
        let h = await Self.harness()
        await Self.open(h, "payments-hsm")
        let t = try #require(h.app.teardown)
        #expect(h.screen.contains("Stores › payments-hsm › Teardown"))
        #expect(h.screen.contains("1. Inventory keys"))
        #expect(h.screen.contains("2. Check use"))
        #expect(h.screen.contains("7. Delete store"))
        #expect(h.screen.contains("Blocked:"))
        #expect(h.screen.contains("Flagged keys"))
        #expect(t.plan?.currentStep == .checkUse)
        #expect(!(t.plan?.flaggedKeys.isEmpty ?? true))
        #expect(h.screen.contains("y ack"))
        // Esc goes back to the stores.
        await h.press(.escape)
        #expect(h.app.teardown == nil)
        #expect(h.screen.contains("Stores ("))
    }

    @Test func aWholeTeardownWithFastForwardAndTypedName() async throws {
        let journal = TeardownJournal.memory()
        let h = await Self.harness(journal: journal)
        let store = try #require(await h.store(named: "payments-hsm"))
        await Self.open(h, "payments-hsm")
        let t = try #require(h.app.teardown)

        // Acknowledge one flagged key by itself, then the rest as a set.
        let first = try #require(t.pendingFlags.first?.keyId)
        await h.press(.char("y"))
        #expect(!t.pendingFlags.contains { $0.keyId == first })
        await h.press(.char("Y"))
        #expect(h.app.dialog?.title.hasPrefix("Acknowledge") == true)
        await Self.confirm(h)
        #expect(t.pendingFlags.isEmpty)
        #expect(t.plan?.currentStep == .scheduleDeletion)

        // Schedule: the dialog names the call and the date; the window can be changed with +/-.
        await h.press(.enter)
        #expect(h.screen.contains("ScheduleKeyDeletion"))
        #expect(h.screen.contains("Cancel"))
        await h.press(.char("-"), .char("-"))
        #expect(h.app.dialog?.window == 28)
        await Self.confirm(h)
        #expect(t.plan?.currentStep == .waitForDeletion)
        #expect(t.lastResults?.results.allSatisfy(\.succeeded) == true)
        #expect(h.screen.contains("Waiting: 30 keys left"))
        #expect(h.screen.contains("in 2"), "a countdown in days")
        let keys = await h.backend.keysForTest(store: store.id)
        #expect(keys.allSatisfy { $0.state == .pendingDeletion })
        #expect(keys.filter { $0.pendingDeletionWindowInDays == 28 }.count == 26)

        // Fast-forward past the last deletion date: every key is gone; disconnect is next.
        await h.press(.char("F"))
        #expect(await h.backend.keysForTest(store: store.id).isEmpty)
        #expect(t.plan?.currentStep == .disconnect)
        await h.press(.enter)
        await Self.confirm(h)
        #expect(t.plan?.currentStep == .waitForDisconnected)
        await h.advance(120)
        #expect(t.plan?.currentStep == .deleteStore)

        // The final delete needs the store's name typed; a wrong name changes nothing.
        await h.press(.enter)
        #expect(h.screen.contains("Type the store's name to delete it"))
        await h.type("payments")
        await h.press(.enter)
        #expect(await h.store(named: "payments-hsm") != nil)
        await h.press(.enter)
        await h.type("payments-hsm")
        await h.press(.enter)
        #expect(await h.store(named: "payments-hsm") == nil)
        #expect(t.plan?.status == .done)
        #expect(h.screen.contains("is deleted"))
        #expect(h.screen.contains("Not deleted"))

        let ops = journal.read().entries.map(\.operation)
        #expect(ops.first == .start)
        #expect(ops.contains(.acknowledge))
        #expect(ops.contains(.scheduleKeyDeletion))
        #expect(ops.suffix(3) == [.disconnectCustomKeyStore, .deleteCustomKeyStore, .complete])
        #expect(journal.inProgress().isEmpty)
        // Every call went through the backend, so the Activity pane lists them under teardown actions.
        #expect(h.app.activity.groups.contains { $0.label.hasPrefix("teardown payments-hsm") })
    }

    @Test func abortGivesTheKeysBackAndOffersToEnableThem() async throws {
        let h = await Self.harness()
        let store = try #require(await h.store(named: "payments-hsm"))
        await Self.open(h, "payments-hsm")
        await h.press(.char("Y"))
        await Self.confirm(h)
        await h.press(.enter)
        await Self.confirm(h)
        let t = try #require(h.app.teardown)
        let scheduled = t.plan?.abortableKeyIds ?? []
        #expect(scheduled.count == 26)

        await h.press(.char("X"))
        #expect(h.app.dialog?.title == "Abort the teardown of payments-hsm?")
        await Self.confirm(h)
        #expect(h.app.dialog?.title == "Enable 26 keys again?")
        let afterAbort = await h.backend.keysForTest(store: store.id)
        #expect(afterAbort.filter { scheduled.contains($0.id) }.allSatisfy { $0.state == .disabled })
        await Self.confirm(h)
        let enabled = await h.backend.keysForTest(store: store.id).filter { scheduled.contains($0.id) }
        #expect(enabled.allSatisfy { $0.state == .enabled })
        // The four keys pending before the teardown were someone else's: untouched.
        #expect(await h.backend.keysForTest(store: store.id).filter { $0.state == .pendingDeletion }.count == 4)
        #expect(t.plan?.abortableKeyIds.isEmpty == true)
    }

    @Test func aDisconnectedCloudHsmStoreWithPendingKeysOffersReconnect() async throws {
        let h = await Self.harness()
        await Self.open(h, "ledger-hsm")
        let t = try #require(h.app.teardown)
        #expect(h.screen.contains("orphaned") || h.app.teardown?.plan?.warnings.contains { $0.kind == .keyMaterialWillBeOrphaned } == true)
        // ledger-hsm: 14 keys (small estate caps pending at 4): ack, schedule, then the wait asks to reconnect.
        if !t.pendingFlags.isEmpty { await h.press(.char("Y")); await Self.confirm(h) }
        if case .scheduleDeletion? = t.plan?.action { await h.press(.enter); await Self.confirm(h) }
        #expect(t.plan?.action == .reconnect(calls: [.connectCustomKeyStore]))
        await h.press(.enter)
        #expect(h.app.dialog?.title == "Reconnect ledger-hsm?")
        await Self.confirm(h)
        #expect(await h.store(named: "ledger-hsm")?.connectionState == .connecting)
    }

    @Test func readOnlyRefusesEveryChangeButShowsThePlan() async throws {
        let h = await Self.harness(readOnly: true)
        await Self.open(h, "archive-xks")
        let t = try #require(h.app.teardown)
        #expect(t.plan?.action == .deleteStore(confirmName: "archive-xks"))
        await h.press(.enter)
        #expect(t.nameEntry == nil)
        #expect(h.app.statusText?.contains("Read-only") == true)
        #expect(await h.store(named: "archive-xks") != nil)
    }

    @Test func teardownsInProgressAreOfferedAtStartAndResumed() async throws {
        // A first console schedules deletion, then "dies"; a second one over the same journal offers to resume.
        let journal = TeardownJournal.memory()
        let first = await Self.harness(journal: journal)
        await Self.open(first, "partner-xks")
        if !(first.app.teardown?.pendingFlags.isEmpty ?? true) { await first.press(.char("Y")); await Self.confirm(first) }
        await first.press(.enter)
        await Self.confirm(first)
        #expect(journal.inProgress().map(\.store.name) == ["partner-xks"])

        let h = await Harness(width: 80, height: 24)
        TeardownFeature(journal: journal, demo: true).install(on: h.app)
        await h.app.settle(on: h.surface)
        #expect(h.app.dialog?.title == "1 teardown in progress")
        #expect(h.screen.contains("partner-xks"))
        await Self.confirm(h)
        let t = try #require(h.app.teardown)
        #expect(t.storeName == "partner-xks")
        _ = t
    }

    @Test func commandLineOpensTheTeardown() async throws {
        let h = await Self.harness()
        await h.press(.char(":"))
        await h.type("teardown archive-xks")
        await h.press(.enter)
        #expect(h.app.teardown?.storeName == "archive-xks")
        #expect(h.screen.contains("KMS never"))
    }
}
