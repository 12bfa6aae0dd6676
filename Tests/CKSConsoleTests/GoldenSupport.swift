@testable import CKSTeardown
import Foundation
import Testing
@testable import CKSConsole

/// What the golden tests share: the sizes, the check of one surface against its files (colour and mono), and
/// the dump format. `CKS_RECORD=1` writes the files instead of comparing; review the diff before committing.
@MainActor
enum Golden {
    static let sizes = [(80, 24), (160, 48)]

    static var recording: Bool { ProcessInfo.processInfo.environment["CKS_RECORD"] == "1" }

    /// Compares (or records) `surface` as `<scene>-<W>x<H>-color|mono.txt`; returns the differences found.
    static func check(_ surface: MemorySurface, scene: String, width: Int, height: Int) throws -> [String] {
        var failures: [String] = []
        for depth in [ColorDepth.full256, .mono] {
            let name = "\(scene)-\(width)x\(height)-\(depth == .mono ? "mono" : "color")"
            let text = dump(surface, theme: ThemeCatalog.builtInDefault, depth: depth, title: name)
            let url = Locations.repositoryRoot.appendingPathComponent("Tests/CKSConsoleTests/Golden/\(name).txt")
            if recording {
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
        return failures
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
