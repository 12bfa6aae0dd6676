@testable import CKSTeardown
import Foundation
import Testing
@testable import CKSConsole

/// Golden text of each screen at 80x24 and 160x48, in colour (default theme, 256 colours) and mono.
/// Re-record after an intended change with `CKS_RECORD=1 swift test --filter Golden`, then review the diff.
@Suite("Golden screens")
@MainActor
struct GoldenTests {
    enum Scene: String, CaseIterable {
        case stores, keys, keyDetail = "key-detail", help, dialog, activity, tooSmall = "too-small"
    }

    /// Drives the console to `scene` with scripted keys.
    func reach(_ scene: Scene, _ h: Harness) async {
        switch scene {
        case .stores:
            await h.selectStore("analytics-hsm")
        case .keys:
            await h.selectStore("payments-hsm")
            await h.press(.enter, .char("G"), .char(" "), .char("k"), .char(" "))
        case .keyDetail:
            await h.selectStore("ledger-hsm")
            await h.press(.enter, .char("G"), .enter)
        case .help:
            await h.press(.char("?"))
        case .dialog:
            await h.selectStore("payments-hsm")
            await h.press(.enter, .char(" "), .char(" "), .char("D"))
        case .activity:
            await h.press(.char("a"))
        case .tooSmall:
            h.surface.resize(width: 70, height: 20)
            await h.press(.resize)
        }
    }

    @Test("screens match their golden files", arguments: Scene.allCases)
    func golden(_ scene: Scene) async throws {
        var failures: [String] = []
        for (w, hgt) in Golden.sizes {
            if scene == .tooSmall && w > 80 { continue }
            let h = await Harness(width: w, height: hgt)
            await reach(scene, h)
            failures += try Golden.check(h.surface, scene: scene.rawValue, width: w, height: hgt)
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }
}
