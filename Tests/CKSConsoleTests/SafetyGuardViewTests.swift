import CKSClient
import CKSDomain
@testable import CKSTeardown
import CKSWire
import Foundation
import Testing
@testable import CKSConsole

/// The console's safety guards through its real event handling on a real core (the small demo estate: payments-hsm
/// has 30 keys, 4 pending deletion and 3 Disabled; ledger-hsm is DISCONNECTED with keys pending deletion).
@Suite("Safety guards on a real core", .serialized)
@MainActor
struct SafetyGuardViewTests {
    typealias V = TeardownViewTests

    /// The text of the open dialog's body, as one string.
    static func dialogText(_ h: CoreHarness) -> String {
        guard let d = h.app.dialog else { return "" }
        return ([d.title] + d.body().map(\.0)).joined(separator: " ")
    }

    @Test func enterNeverAcknowledgesAndYAsksFirst() async throws {
        try await V.with { (h: CoreHarness) async throws in
            await h.openTeardown("payments-hsm")
            let t = try #require(h.app.teardown)
            let before = t.pendingFlags.count
            #expect(before > 0)
            for _ in 0..<5 { await h.press(.enter) }
            #expect(t.pendingFlags.count == before, "Enter (next step) acknowledged a flagged key")
            #expect(h.app.dialog == nil)
            #expect(h.app.statusText?.contains("Acknowledge the flagged keys first") == true, "\(h.app.statusText ?? "")")
            #expect(!h.screen.contains("⏎ next step"), "the footer does not offer the next step while it is blocked:\n\(h.screen)")
            // y: a dialog for the key under the cursor, Cancel selected; Enter on Cancel acknowledges nothing.
            await h.press(.char("y"))
            #expect(h.app.dialog?.title == "Acknowledge 1 flagged key?")
            await h.press(.enter)
            #expect(t.pendingFlags.count == before)
            await h.press(.char("y"))
            await h.confirmDialog()
            #expect(t.pendingFlags.count == before - 1)
        }
    }

    @Test func everyScheduleDialogOfADisconnectedCloudHsmStoreNamesTheOrphanedMaterial() async throws {
        try await V.with(width: 120, height: 40) { (h: CoreHarness) async throws in
            await h.openTeardown("ledger-hsm")
            let t = try #require(h.app.teardown)
            if !t.pendingFlags.isEmpty {
                await h.press(.char("Y"))
                await h.confirmDialog()
            }
            guard case .scheduleDeletion? = t.plan?.action else { Issue.record("not ready to schedule:\n\(h.screen)"); return }
            await h.press(.enter)
            let text = Self.dialogText(h)
            #expect(text.contains("Schedule deletion of"))
            #expect(text.contains("orphaned") && text.contains("DISCONNECTED"), "\(text)")
            await h.press(.escape)
            // The Keys screen's own D dialog says it too.
            await h.press(.escape)
            await h.selectStore("ledger-hsm")
            await h.press(.enter)
            let ledger = try #require(h.app.findStore("ledger-hsm"))
            let row = try #require(h.app.keysView(ledger.id).table.visible.firstIndex { $0.state != .pendingDeletion })
            await h.press(.home)
            for _ in 0..<row { await h.press(.down) }
            await h.press(.char("D"))
            let keysDialog = Self.dialogText(h)
            #expect(keysDialog.contains("orphaned") && keysDialog.contains("DISCONNECTED"), "\(keysDialog)")
        }
    }

    @Test func fastForwardAsksFirstAndListsWhatItDeletesElsewhere() async throws {
        try await V.with(width: 120, height: 40) { (h: CoreHarness) async throws in
            let ledgerPending = try await h.keys(ofStore: "ledger-hsm").filter { $0.keyState == .pendingDeletion }.count
            #expect(ledgerPending > 0)
            await h.openTeardown("payments-hsm")
            await h.press(.char("Y"))
            await h.confirmDialog()
            await h.press(.enter)
            await h.confirmDialog()
            await h.press(.char("F"))
            let text = Self.dialogText(h)
            #expect(h.app.dialog?.title.hasPrefix("Fast-forward the core's clock") == true, "\(text)")
            #expect(text.contains("ledger-hsm (CloudHSM, DISCONNECTED): \(ledgerPending) key"), "\(text)")
            #expect(text.contains("orphaned"), "\(text)")
            #expect(text.contains("partner-xks"), "\(text)")
            #expect(h.app.dialog?.focus == 0, "Cancel selected")
            await h.press(.escape)
            #expect(try await h.keys(ofStore: "ledger-hsm").filter { $0.keyState == .pendingDeletion }.count == ledgerPending,
                    "Cancel deletes nothing")
            await h.press(.char("F"))
            await h.confirmDialog()
            #expect(try await h.keys(ofStore: "ledger-hsm").filter { $0.keyState == .pendingDeletion }.isEmpty,
                    "confirmed, the fast-forward deleted what it listed")
            #expect(try await h.keys(ofStore: "payments-hsm").isEmpty)
        }
    }

    @Test func abortOffersToEnableOnlyTheKeysEnabledBefore() async throws {
        try await V.with(width: 120, height: 40) { (h: CoreHarness) async throws in
            let disabledBefore = Set(try await h.keys(ofStore: "payments-hsm").filter { $0.keyState == .disabled }.map(\.keyId))
            #expect(disabledBefore.count == 3)
            await h.openTeardown("payments-hsm")
            await h.press(.char("Y"))
            await h.confirmDialog()
            await h.press(.enter)
            await h.confirmDialog()
            await h.press(.char("X"))
            #expect(Self.dialogText(h).contains("3 keys were Disabled before the teardown and stay Disabled"), "\(Self.dialogText(h))")
            await h.confirmDialog()
            #expect(h.app.dialog?.title == "Enable 23 keys again?", "\(Self.dialogText(h))")
            #expect(Self.dialogText(h).contains("3 keys were Disabled before the teardown and stay Disabled"))
            await h.confirmDialog()
            let after = try await h.keys(ofStore: "payments-hsm")
            #expect(after.filter { disabledBefore.contains($0.keyId) }.allSatisfy { $0.keyState == .disabled })
            #expect(after.filter { $0.keyState == .enabled }.count == 23)
            #expect(after.filter { $0.keyState == .pendingDeletion }.count == 4, "keys pending before the teardown untouched")
        }
    }
}
