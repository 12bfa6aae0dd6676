import CKSTeardown
/// Where the console draws: a grid of cells, each holding a character and a semantic style.
/// Screens and widgets draw only through this protocol, so tests render into `MemorySurface`
/// and the terminal renders through `NcursesSurface` with the same code. Both pass every text through
/// `TextWidth.drawable` first: the one place that keeps control characters (and, in ASCII mode, anything but ASCII)
/// off the screen.
@MainActor
public protocol Surface: AnyObject {
    /// Columns and rows available.
    var size: Size { get }
    /// Blank every cell with the `normal` role.
    func clear()
    /// Writes `text` starting at (row, column), clipped to the surface; wide characters take two columns.
    func put(_ row: Int, _ column: Int, _ text: String, _ style: Style)
    /// Makes what was drawn visible (a no-op in memory).
    func flush()
}

public struct Size: Hashable, Sendable, CustomStringConvertible {
    public var width: Int
    public var height: Int
    public init(width: Int, height: Int) { self.width = width; self.height = height }
    public var description: String { "\(width)x\(height)" }
}

/// A rectangle of the surface given to a widget.
public struct Rect: Hashable, Sendable {
    public var row: Int, column: Int, width: Int, height: Int
    public init(row: Int, column: Int, width: Int, height: Int) {
        self.row = row; self.column = column; self.width = max(0, width); self.height = max(0, height)
    }
    public var bottom: Int { row + height }
    public var right: Int { column + width }
}

/// Text attributes a role can add (the monochrome theme lives on these alone).
public struct TextAttributes: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let bold = TextAttributes(rawValue: 1)
    public static let dim = TextAttributes(rawValue: 2)
    public static let underline = TextAttributes(rawValue: 4)
    public static let reverse = TextAttributes(rawValue: 8)
    public static let italic = TextAttributes(rawValue: 16)

    public static let names: [(String, TextAttributes)] = [
        ("bold", .bold), ("dim", .dim), ("underline", .underline), ("reverse", .reverse), ("italic", .italic),
    ]

    /// `bold,reverse`-style listing, `-` when empty.
    public var listing: String {
        let parts = Self.names.filter { contains($0.1) }.map(\.0)
        return parts.isEmpty ? "-" : parts.joined(separator: ",")
    }
}

/// How a piece of text is drawn: a semantic role (resolved by the theme) plus extra attributes.
public struct Style: Hashable, Sendable {
    public var role: Role
    public var extra: TextAttributes
    public init(_ role: Role, _ extra: TextAttributes = []) { self.role = role; self.extra = extra }
    public static let normal = Style(.normal)
}

/// One cell of a `MemorySurface`. A wide character's second cell holds an empty string.
public struct Cell: Hashable, Sendable {
    public var text: String
    public var style: Style
}

/// An in-memory surface: what tests render into and compare with golden text.
@MainActor
public final class MemorySurface: Surface {
    public private(set) var size: Size
    public private(set) var cells: [[Cell]]
    public private(set) var flushCount = 0
    /// Draw ASCII only (`--ascii`, a non-UTF-8 locale), as the terminal surface does.
    public var asciiOnly = false

    public init(width: Int, height: Int, asciiOnly: Bool = false) {
        self.asciiOnly = asciiOnly
        size = Size(width: width, height: height)
        cells = Array(repeating: Array(repeating: Cell(text: " ", style: .normal), count: width), count: height)
    }

    public func resize(width: Int, height: Int) {
        size = Size(width: width, height: height)
        cells = Array(repeating: Array(repeating: Cell(text: " ", style: .normal), count: width), count: height)
    }

    public func clear() {
        for r in cells.indices { for c in cells[r].indices { cells[r][c] = Cell(text: " ", style: .normal) } }
    }

    public func put(_ row: Int, _ column: Int, _ text: String, _ style: Style) {
        guard row >= 0, row < size.height else { return }
        var x = column
        for ch in TextWidth.drawable(text, ascii: asciiOnly) {
            let w = TextWidth.of(ch)
            if w == 0 { continue }
            if x >= size.width { break }
            if x >= 0 {
                if w == 2 && x + 1 >= size.width { cells[row][x] = Cell(text: " ", style: style); break }
                cells[row][x] = Cell(text: String(ch), style: style)
                if w == 2 { cells[row][x + 1] = Cell(text: "", style: style) }
            }
            x += w
        }
    }

    public func flush() { flushCount += 1 }

    /// The screen as text lines, trailing spaces kept so the grid stays rectangular.
    public var lines: [String] { cells.map { $0.map(\.text).joined() } }

    /// The whole screen as one string, one line per row.
    public var text: String { lines.joined(separator: "\n") }

    /// Whether any line contains `needle`.
    public func contains(_ needle: String) -> Bool { lines.contains { $0.contains(needle) } }
}
