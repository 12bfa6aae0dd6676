@testable import CKSTeardown
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


    func reach(_ scene: Scene, _ h: Harness) async {
        switch scene {
        case .blocked:
            await h.openTeardown("payments-hsm")
            await h.press(.char("j"), .char(" "))
        case .waiting:
            await h.openTeardown("partner-xks")
            if !(h.app.teardown?.pendingFlags.isEmpty ?? true) { await h.press(.char("Y")); await h.confirmDialog() }
            await h.press(.enter)
            await h.confirmDialog()
        case .reconnect:
            await h.openTeardown("ledger-hsm")
            if !(h.app.teardown?.pendingFlags.isEmpty ?? true) { await h.press(.char("Y")); await h.confirmDialog() }
            await h.press(.enter)
            await h.confirmDialog()
        case .scheduleDialog:
            await h.openTeardown("analytics-hsm")
            if !(h.app.teardown?.pendingFlags.isEmpty ?? true) { await h.press(.char("Y")); await h.confirmDialog() }
            await h.press(.enter)
        case .delete:
            await h.openTeardown("archive-xks")
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
