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

    static let sizes = [(80, 24), (160, 48)]

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
        let record = ProcessInfo.processInfo.environment["CKS_RECORD"] == "1"
        var failures: [String] = []
        for (w, hgt) in Self.sizes {
            if scene == .tooSmall && w > 80 { continue }
            let h = await Harness(width: w, height: hgt)
            await reach(scene, h)
            for depth in [ColorDepth.full256, .mono] {
                let name = "\(scene.rawValue)-\(w)x\(hgt)-\(depth == .mono ? "mono" : "color")"
                let text = Self.dump(h.surface, theme: ThemeCatalog.builtInDefault, depth: depth, title: name)
                let url = repoRoot().appendingPathComponent("Tests/CKSConsoleTests/Golden/\(name).txt")
                if record {
                    try text.write(to: url, atomically: true, encoding: .utf8)
                    continue
                }
                let expected = (try? String(contentsOf: url, encoding: .utf8)) ?? "(missing golden file \(name).txt)"
                if expected != text {
                    let got = url.deletingPathExtension().appendingPathExtension("actual")
                    try? text.write(to: got, atomically: true, encoding: .utf8)
                    failures.append("\(name): differs (see \(got.lastPathComponent); re-record with CKS_RECORD=1)")
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    /// The screen's text, then its styles as runs per row (`[from,to) fg/bg attributes`), normal cells left out.
    static func dump(_ s: MemorySurface, theme: Theme, depth: ColorDepth, title: String) -> String {
        var out = ["# \(title): text"]
        out += s.lines.map { $0.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) }
        out.append("# styles (\(depth.rawValue)): row [from,to) fg/bg attributes")
        let normal = theme.resolve(.normal, depth: depth)
        for (r, row) in s.cells.enumerated() {
            var runs: [String] = []
            var start = 0
            var current = theme.resolve(row[0].style.role, depth: depth, extra: row[0].style.extra)
            for c in 1...row.count {
                let next = c < row.count ? theme.resolve(row[c].style.role, depth: depth, extra: row[c].style.extra) : nil
                if next != current {
                    if current != normal { runs.append("[\(start),\(c)) \(current)") }
                    start = c
                    if let next { current = next }
                }
            }
            if !runs.isEmpty { out.append(String(format: "%02d ", r) + runs.joined(separator: " ")) }
        }
        return out.joined(separator: "\n") + "\n"
    }
}
