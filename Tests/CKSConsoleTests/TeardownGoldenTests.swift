import Foundation
import Testing
@testable import CKSConsole

/// Golden text of the teardown view at 80x24 and 160x48, in colour and mono.
/// Re-record after an intended change with `CKS_RECORD=1 swift test --filter TeardownGolden`, then review the diff.
@Suite("TeardownGolden")
@MainActor
struct TeardownGoldenTests {
    enum Scene: String, CaseIterable {
        /// Flagged keys block the use check.
        case blocked = "teardown-blocked"
        /// Every key scheduled: the countdown.
        case waiting = "teardown-waiting"
        /// A disconnected CloudHSM store with pending keys: reconnect offered.
        case reconnect = "teardown-reconnect"
        /// The schedule dialog.
        case scheduleDialog = "teardown-schedule-dialog"
        /// The typed-name confirmation of the final delete.
        case delete = "teardown-delete"
    }

    /// The console on the in-memory double with the teardown installed (demo: fast-forward allowed).
    static func harness(width: Int, height: Int) async -> Harness {
        let h = await Harness(width: width, height: height)
        TeardownFeature(journal: .memory(), demo: true).install(on: h.app)
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
        // Enter again while the same dialog stays open: an irreversible one arms first, and one taller than the screen
        // first shows the rest of its consequences.
        let dialog = h.app.dialog
        await h.press(.tab, .enter)
        for _ in 0..<3 where dialog != nil && h.app.dialog === dialog { await h.press(.enter) }
    }

    func reach(_ scene: Scene, _ h: Harness) async {
        switch scene {
        case .blocked:
            await Self.open(h, "payments-hsm")
            await h.press(.char("j"), .char(" "))
        case .waiting:
            await Self.open(h, "partner-xks")
            if !(h.app.teardown?.pendingFlags.isEmpty ?? true) { await h.press(.char("Y")); await Self.confirm(h) }
            await h.press(.enter)
            await Self.confirm(h)
        case .reconnect:
            await Self.open(h, "ledger-hsm")
            if !(h.app.teardown?.pendingFlags.isEmpty ?? true) { await h.press(.char("Y")); await Self.confirm(h) }
            await h.press(.enter)
            await Self.confirm(h)
        case .scheduleDialog:
            await Self.open(h, "analytics-hsm")
            if !(h.app.teardown?.pendingFlags.isEmpty ?? true) { await h.press(.char("Y")); await Self.confirm(h) }
            await h.press(.enter)
        case .delete:
            await Self.open(h, "archive-xks")
            await h.press(.enter)
            await h.type("arch")
        }
    }

    @Test("teardown scenes match their golden files", arguments: Scene.allCases)
    func golden(_ scene: Scene) async throws {
        var failures: [String] = []
        for (w, hgt) in Golden.sizes {
            let h = await Self.harness(width: w, height: hgt)
            await reach(scene, h)
            failures += try Golden.check(h.surface, scene: scene.rawValue, width: w, height: hgt)
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }
}
