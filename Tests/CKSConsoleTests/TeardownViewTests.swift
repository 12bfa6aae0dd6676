import CKSClient
import CKSDomain
@testable import CKSTeardown
import CKSWire
import Foundation
import Testing
@testable import CKSConsole

/// The teardown view driven through the console's real event handling (keys in, memory surface out), against a
/// real core over HTTP (the teardown's calls go through `KMSClientTeardownService` on the console's client), with
/// a hand-moved clock.
@Suite("Teardown view on a real core", .serialized)
@MainActor
struct TeardownViewTests {
    /// A seeded core and a console with the teardown installed; stopped afterwards.
    static func with(width: Int = 80, height: Int = 24, journal: TeardownJournal = .memory(), demo: Bool = true,
                     readOnly: Bool = false, _ body: (CoreHarness) async throws -> Void) async throws {
        try await CoreHarness.with(width: width, height: height, readOnly: readOnly) { (h: CoreHarness) async throws in
            TeardownFeature(journal: journal, demo: demo).install(on: h.app)
            await h.app.settle(on: h.surface)
            try await body(h)
        }
    }


    @Test func tOpensThePlanAsAChecklistWithFlaggedKeys() async throws {
        try await Self.with { (h: CoreHarness) async throws in
            await h.openTeardown("payments-hsm")
            let t = try #require(h.app.teardown)
            #expect(h.screen.contains("Stores › payments-hsm › Teardown"))
            #expect(h.screen.contains("1. Inventory keys"))
            #expect(h.screen.contains("2. Check use"))
            #expect(h.screen.contains("7. Delete store"))
            #expect(h.screen.contains("Blocked:"))
            #expect(h.screen.contains("Evidence: ") && h.screen.contains("flags"))
            #expect(t.plan?.currentStep == .checkUse)
            #expect(!(t.plan?.flaggedKeys.isEmpty ?? true), "the demo estate used keys in the last 30 days (Encrypt)")
            #expect(h.screen.contains("y ack"))
            // Esc goes back to the stores.
            await h.press(.escape)
            #expect(h.app.teardown == nil)
            #expect(h.screen.contains("Stores ("))
        }
    }

    @Test func aWholeTeardownWithFastForwardAndTypedName() async throws {
        let journal = TeardownJournal.memory()
        try await Self.with(journal: journal) { (h: CoreHarness) async throws in
            await h.openTeardown("payments-hsm")
            let t = try #require(h.app.teardown)
            let pendingBefore = Set(try await h.keys(ofStore: "payments-hsm").filter { $0.keyState == .pendingDeletion }.map(\.keyId))
            #expect(pendingBefore.count == 4)

            // Acknowledge one flagged key by itself, then the rest as a set.
            let first = try #require(t.pendingFlags.first?.keyId)
            await h.press(.char("y"))
            #expect(h.app.dialog?.title == "Acknowledge 1 flagged key?")
            await h.confirmDialog()
            #expect(!t.pendingFlags.contains { $0.keyId == first })
            await h.press(.char("Y"))
            #expect(h.app.dialog?.title.hasPrefix("Acknowledge") == true)
            await h.confirmDialog()
            #expect(t.pendingFlags.isEmpty)
            #expect(t.plan?.currentStep == .scheduleDeletion)

            // Schedule: the dialog names the call and the date; the window can be changed with +/-.
            await h.press(.enter)
            #expect(h.screen.contains("ScheduleKeyDeletion"))
            #expect(h.screen.contains("Cancel"))
            await h.press(.char("-"), .char("-"))
            #expect(h.app.dialog?.window == 28)
            await h.confirmDialog()
            #expect(t.plan?.currentStep == .waitForDeletion)
            #expect(t.lastResults?.results.allSatisfy(\.succeeded) == true)
            #expect(h.screen.contains("Waiting: 30 keys left"))
            #expect(h.screen.contains("in 2"), "a countdown in days")
            let keys = try await h.keys(ofStore: "payments-hsm")
            #expect(keys.allSatisfy { $0.keyState == .pendingDeletion })
            let now = try await h.admin.simulatedNow()
            let scheduled = keys.filter { !pendingBefore.contains($0.keyId) }.compactMap { $0.deletionDate?.timeIntervalSince(now) }
            #expect(scheduled.count == 26 && scheduled.allSatisfy { abs($0 - 28 * 86_400) < 3_600 }, "the 28-day window of the dialog")

            // Fast-forward past the last deletion date (CksAdmin.AdvanceClock): every key is gone; disconnect is next.
            await h.press(.char("F"))
            #expect(h.app.dialog?.title.hasPrefix("Fast-forward the core's clock") == true, "a dialog first")
            await h.confirmDialog()
            #expect(try await h.keys(ofStore: "payments-hsm").isEmpty)
            #expect(t.plan?.currentStep == .disconnect)
            await h.press(.enter)
            await h.confirmDialog()
            #expect(t.plan?.currentStep == .waitForDisconnected)
            await h.advance(CoreHarness.disconnectDuration + 90)
            #expect(t.plan?.currentStep == .deleteStore)

            // The final delete needs the store's name typed; a wrong name changes nothing.
            await h.press(.enter)
            #expect(h.screen.contains("Type the store's name to delete it"))
            await h.type("payments")
            await h.press(.enter)
            #expect(await h.storeIfExists("payments-hsm") != nil)
            await h.press(.enter)
            await h.type("payments-hsm")
            await h.press(.enter)
            #expect(await h.storeIfExists("payments-hsm") == nil)
            #expect(t.plan?.status == .done)
            #expect(h.screen.contains("is deleted"))
            #expect(h.screen.contains("Not deleted"))

            let ops = journal.read().entries.map(\.operation)
            #expect(ops.first == .start)
            #expect(ops.contains(.acknowledge))
            #expect(ops.contains(.scheduleKeyDeletion))
            #expect(ops.suffix(3) == [.disconnectCustomKeyStore, .deleteCustomKeyStore, .complete])
            #expect(journal.inProgress().isEmpty)
            // Every call went through the console's client, so the Activity pane lists them under teardown actions.
            #expect(h.app.activity.groups.contains { $0.label.hasPrefix("teardown payments-hsm") })
            #expect(h.app.activity.allCalls.contains { $0.operation == "DeleteCustomKeyStore" && $0.requestId != nil })
        }
    }

    @Test func abortGivesTheKeysBackAndOffersToEnableThem() async throws {
        try await Self.with { (h: CoreHarness) async throws in
            await h.openTeardown("payments-hsm")
            await h.press(.char("Y"))
            await h.confirmDialog()
            await h.press(.enter)
            await h.confirmDialog()
            let t = try #require(h.app.teardown)
            let scheduled = t.plan?.abortableKeyIds ?? []
            #expect(scheduled.count == 26)

            await h.press(.char("X"))
            #expect(h.app.dialog?.title == "Abort the teardown of payments-hsm?")
            await h.confirmDialog()
            // Only the 23 that were Enabled when the teardown scheduled them; the 3 Disabled before stay so.
            #expect(h.app.dialog?.title == "Enable 23 keys again?")
            let afterAbort = try await h.keys(ofStore: "payments-hsm")
            #expect(afterAbort.filter { scheduled.contains($0.keyId) }.allSatisfy { $0.keyState == .disabled })
            await h.confirmDialog()
            let after = try await h.keys(ofStore: "payments-hsm")
            #expect(after.filter { scheduled.contains($0.keyId) && $0.keyState == .enabled }.count == 23)
            #expect(after.filter { scheduled.contains($0.keyId) && $0.keyState == .disabled }.count == 3)
            // The four keys pending before the teardown were someone else's: untouched.
            #expect(after.filter { $0.keyState == .pendingDeletion }.count == 4)
            #expect(t.plan?.abortableKeyIds.isEmpty == true)
        }
    }

    /// Keys pressed while something runs (qa's D4): during an observation an acting key waits and runs when it
    /// ends; during a change it is refused, and the refusal stays visible (a later message does not hide it)
    /// until the change ends and then until the next key.
    @Test func keysPressedWhileAnActionRunsWaitOrAreRefusedVisibly() async throws {
        try await Self.with(width: 120, height: 40) { (h: CoreHarness) async throws in
            await h.openTeardown("payments-hsm")
            await h.press(.char("Y"))
            await h.confirmDialog()
            let t = try #require(h.app.teardown)
            guard case .scheduleDeletion? = t.plan?.action else { Issue.record("not ready to schedule: \(h.screen)"); return }

            // An observation runs: Enter waits for it, then opens the schedule dialog from the fresh plan.
            t.refresh("test: observe")
            h.app.handle(.enter)
            h.app.render(on: h.surface)
            #expect(h.screen.contains("Observing the store… ⏎ (next step) waits and runs when it ends."), "\(h.screen)")
            #expect(h.app.dialog == nil)
            // A slow observation says how long it has taken.
            t.busy?.since = h.app.wallClock().addingTimeInterval(-12)
            h.app.render(on: h.surface)
            #expect(h.screen.contains("Observing the store (12 s so far)… ⏎ (next step) waits"), "\(h.screen)")
            await h.app.settle(on: h.surface)
            #expect(h.app.dialog?.title.hasPrefix("Schedule deletion of") == true, "\(h.screen)")
            await h.confirmDialog()
            #expect(t.plan?.abortableKeyIds.isEmpty == false)

            // A change runs (the abort): F is refused, visibly and durably.
            await h.press(.char("X"))
            h.app.handle(.tab)
            h.app.handle(.enter)
            #expect(t.busy?.changes == true)
            h.app.handle(.char("F"))
            h.app.say("Another message.", .ok)
            h.app.render(on: h.surface)
            #expect(h.screen.contains("(keys wait: acting keys are refused until it ends)"), "\(h.screen)")
            #expect(h.screen.contains("Refused while it runs: F (fast-forward). Press again once it is done."), "\(h.screen)")
            await h.app.settle(on: h.surface)
            #expect(t.busy == nil)
            // (The enable-again dialog now covers the view; the notice is there, and shows once it closes.)
            #expect(t.refusalNotice == "Not done while the abort (CancelKeyDeletion) ran: F (fast-forward). Press it again now.")
            await h.press(.escape)   // closes the enable-again dialog; the notice stays
            #expect(h.app.dialog == nil)
            #expect(h.screen.contains("Not done while the abort"))
            await h.press(.char("j"))  // the next key clears it
            #expect(!h.screen.contains("Not done while the abort"))
        }
    }

    /// A letter typed on a dialog (meant for the view behind a dialog that opened meanwhile) closes it without
    /// doing anything, so the Tab and Enters typed after it cannot confirm a dialog nobody read.
    @Test func aForeignKeyClosesTheDialogAndNothingIsDone() async throws {
        try await Self.with(width: 120, height: 40) { (h: CoreHarness) async throws in
            await h.openTeardown("payments-hsm")
            await h.press(.char("Y"))
            await h.confirmDialog()
            let t = try #require(h.app.teardown)
            await h.press(.enter)
            #expect(h.app.dialog?.title.hasPrefix("Schedule deletion of") == true, "\(h.screen)")
            await h.press(.char("X"))
            #expect(h.app.dialog == nil)
            #expect(h.screen.contains("closed, nothing done: X is not one of its keys"), "\(h.screen)")
            for key in [Key.tab, .enter, .enter] { await h.press(key) }
            // The Enter after the Tab reopens the schedule dialog (Cancel focused); the next one closes it.
            #expect(h.app.dialog == nil)
            #expect(t.plan?.abortableKeyIds.isEmpty == true, "nothing was scheduled")
            let keys = try await h.keys(ofStore: "payments-hsm")
            #expect(keys.filter { $0.keyState == .pendingDeletion }.count == 4, "only the keys pending before")
        }
    }

    @Test func aDisconnectedCloudHsmStoreWithPendingKeysOffersReconnect() async throws {
        try await Self.with { (h: CoreHarness) async throws in
            await h.openTeardown("ledger-hsm")
            let t = try #require(h.app.teardown)
            #expect(h.screen.contains("orphaned") || t.plan?.warnings.contains { $0.kind == .keyMaterialWillBeOrphaned } == true)
            // ledger-hsm: 14 keys, 4 pending, DISCONNECTED: ack, schedule, then the wait asks to reconnect.
            if !t.pendingFlags.isEmpty { await h.press(.char("Y")); await h.confirmDialog() }
            if case .scheduleDeletion? = t.plan?.action { await h.press(.enter); await h.confirmDialog() }
            #expect(t.plan?.action == .reconnect(calls: [.connectCustomKeyStore]))
            await h.press(.enter)
            #expect(h.app.dialog?.title == "Reconnect ledger-hsm?")
            await h.confirmDialog()
            #expect(try await h.store(named: "ledger-hsm").connectionState == .connecting)
        }
    }

    @Test func readOnlyRefusesEveryChangeButShowsThePlan() async throws {
        let journal = TeardownJournal.memory()
        try await Self.with(journal: journal, readOnly: true) { (h: CoreHarness) async throws in
            // Acknowledging flagged keys changes no resource: it counts for this session's plan, unjournalled.
            await h.openTeardown("payments-hsm")
            let flagged = h.app.teardown?.pendingFlags.count ?? 0
            #expect(flagged > 0)
            await h.press(.char("y"))
            #expect(h.app.dialog?.title == "Acknowledge 1 flagged key?", "always through the dialog")
            await h.confirmDialog()
            #expect(h.app.teardown?.pendingFlags.count == flagged - 1)
            #expect(journal.read().entries.isEmpty, "a read-only session starts no teardown in the journal")
            await h.press(.escape)
            await h.openTeardown("archive-xks")
            let t = try #require(h.app.teardown)
            #expect(t.plan?.action == .deleteStore(confirmName: "archive-xks"))
            await h.press(.enter)
            #expect(t.nameEntry == nil)
            #expect(h.app.statusText?.contains("Read-only") == true)
            #expect(await h.storeIfExists("archive-xks") != nil)
        }
    }

    @Test func teardownsInProgressAreOfferedAtStartAndResumed() async throws {
        // A first console schedules deletion, then "dies"; a second one on the same core and journal offers to resume.
        let journal = TeardownJournal.memory()
        try await Self.with(journal: journal) { (first: CoreHarness) async throws in
            await first.openTeardown("partner-xks")
            if !(first.app.teardown?.pendingFlags.isEmpty ?? true) { await first.press(.char("Y")); await first.confirmDialog() }
            await first.press(.enter)
            await first.confirmDialog()
            #expect(journal.inProgress().map(\.store.name) == ["partner-xks"])
            // A second teardown in progress: the offer lists both (most recent first) and resumes the one picked.
            await first.press(.escape)
            await first.openTeardown("payments-hsm")
            if !(first.app.teardown?.pendingFlags.isEmpty ?? true) { await first.press(.char("Y")); await first.confirmDialog() }
            await first.press(.enter)
            await first.confirmDialog()
            #expect(journal.inProgress().map(\.store.name) == ["payments-hsm", "partner-xks"])

            var options = ConsoleOptions()
            options.timeZone = TimeZone(identifier: "UTC")!
            let clock = first.clock
            let second = ConsoleApp(backend: first.backend, inbox: ActivityInbox(), options: options, now: { clock.now() })
            let surface = MemorySurface(width: 80, height: 24)
            second.start()
            TeardownFeature(journal: journal, demo: true).install(on: second)
            await second.settle(on: surface)
            #expect(second.dialog?.title == "2 teardowns in progress")
            #expect(surface.text.contains("▶ payments-hsm") && surface.text.contains("partner-xks"), "\(surface.text)")
            for key in [Key.down, .tab, .enter] {
                second.handle(key)
                await second.settle(on: surface)
            }
            #expect(second.teardown?.storeName == "partner-xks")
        }
    }

    @Test func commandLineOpensTheTeardown() async throws {
        try await Self.with { (h: CoreHarness) async throws in
            await h.press(.char(":"))
            await h.type("teardown archive-xks")
            await h.press(.enter)
            #expect(h.app.teardown?.storeName == "archive-xks")
            #expect(h.screen.contains("KMS never"))
        }
    }
}
