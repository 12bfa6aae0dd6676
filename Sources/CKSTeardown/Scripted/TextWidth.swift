import Foundation

/// Terminal column widths, so table cells line up with accents, CJK and symbols in names and aliases.
public enum TextWidth {
    /// Columns one character takes: 0 for combining marks, 2 for wide characters, else 1.
    public static func of(_ ch: Character) -> Int {
        guard let first = ch.unicodeScalars.first else { return 0 }
        let v = first.value
        if v < 0x7F { return v < 0x20 ? 0 : 1 }
        // Decided here rather than by wcwidth(3), which depends on the process locale.
        switch first.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return 0
        default: break
        }
        if first.properties.isEmojiPresentation { return 2 }
        for r in wide where r.contains(v) { return 2 }
        return 1
    }

    /// East Asian Wide and Fullwidth ranges (Unicode 15, the blocks terminals draw two columns wide).
    static let wide: [ClosedRange<UInt32>] = [
        0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
        0xA960...0xA97F, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE10...0xFE19, 0xFE30...0xFE6F, 0xFF00...0xFF60,
        0xFFE0...0xFFE6, 0x1F300...0x1F64F, 0x1F900...0x1F9FF, 0x20000...0x2FFFD, 0x30000...0x3FFFD,
    ]

    /// What may be drawn of `s`: control characters (line breaks, tabs, escapes) become spaces, so no text, however it
    /// came (an error body, a key's description), can move the cursor or garble the next row; with `ascii`, every
    /// character outside ASCII becomes a one-column ASCII look-alike (`…` → `~`, box drawing → `-|+`, else `?`), so
    /// layouts computed in columns stay right.
    public static func drawable(_ s: String, ascii: Bool) -> String {
        var needsWork = false
        for u in s.unicodeScalars where u.value < 0x20 || u.value == 0x7F || (ascii && u.value > 0x7E) || (0x80...0x9F).contains(u.value) {
            needsWork = true
            break
        }
        guard needsWork else { return s }
        var out = String.UnicodeScalarView()
        for u in s.unicodeScalars {
            if u.value < 0x20 || u.value == 0x7F || (0x80...0x9F).contains(u.value) { out.append(" "); continue }
            guard ascii, u.value > 0x7E else { out.append(u); continue }
            // Combining marks take no column: drop them; wide characters take two: two look-alikes.
            let width = of(Character(u))
            if width == 0 { continue }
            let look = asciiLookAlike[u.value] ?? "?"
            for _ in 0..<width { out.append(look) }
        }
        return String(out)
    }

    static let asciiLookAlike: [UInt32: Unicode.Scalar] = [
        0x2026: "~", 0x2500: "-", 0x2502: "|", 0x250C: "+", 0x2510: "+", 0x2514: "+", 0x2518: "+", 0x251C: "+", 0x2524: "+",
        0x25B2: "^", 0x25BC: "v", 0x25CF: "*", 0x25B6: ">", 0x203A: ">", 0x2192: ">", 0x26A0: "!", 0x2713: "+",
        0x2717: "x", 0x00D7: "x", 0x2013: "-", 0x2014: "-", 0x00B7: ".", 0x258F: "_", 0x2588: "#", 0x2591: "-",
        0x2191: "^", 0x2193: "v", 0x23CE: "<", 0x2018: "'", 0x2019: "'", 0x201C: "\"", 0x201D: "\"", 0x00A0: " ",
    ]

    /// Columns a string takes.
    public static func of(_ s: String) -> Int {
        var total = 0
        for ch in s { total += of(ch) }
        return total
    }

    /// Cuts `s` to at most `width` columns, ending with `ellipsis` when something was cut.
    public static func truncate(_ s: String, to width: Int, ellipsis: String = "…") -> String {
        guard width > 0 else { return "" }
        if of(s) <= width { return s }
        let ew = of(ellipsis)
        var out = ""
        var used = 0
        for ch in s {
            let w = of(ch)
            if used + w > width - ew { break }
            out.append(ch)
            used += w
        }
        return out + (ew <= width ? ellipsis : "")
    }

    /// Pads (or cuts) `s` to exactly `width` columns.
    public static func pad(_ s: String, to width: Int, alignRight: Bool = false, ellipsis: String = "…") -> String {
        let cut = truncate(s, to: width, ellipsis: ellipsis)
        let gap = max(0, width - of(cut))
        let spaces = String(repeating: " ", count: gap)
        return alignRight ? spaces + cut : cut + spaces
    }

    /// Splits `s` into lines of at most `width` columns, breaking after a space where one is near enough (words stay
    /// whole) and anywhere inside a run without spaces (ARNs, ids).
    public static func wrap(_ s: String, to width: Int) -> [String] {
        guard width > 0 else { return [s] }
        var lines: [String] = []
        var rest = Substring(s)
        while of(String(rest)) > width {
            var used = 0
            var cut = rest.startIndex
            var lastSpace: String.Index?
            for i in rest.indices {
                let w = of(rest[i])
                if used + w > width { break }
                used += w
                cut = rest.index(after: i)
                if rest[i] == " " { lastSpace = cut }
            }
            // Break at the last space unless that would leave most of the line empty.
            if let space = lastSpace, rest.distance(from: rest.startIndex, to: space) * 3 >= width {
                cut = space
            }
            if cut == rest.startIndex { cut = rest.index(after: cut) }
            lines.append(String(rest[..<cut]).trimmingCharacters(in: .whitespaces))
            rest = rest[cut...].drop { $0 == " " }
        }
        lines.append(String(rest))
        return lines
    }
}
