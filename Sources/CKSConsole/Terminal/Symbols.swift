/// The glyphs the console draws with: Unicode on a UTF-8 terminal, plain ASCII with `--ascii`
/// or a non-UTF-8 locale.
public struct Symbols: Sendable {
    public var horizontal, vertical, topLeft, topRight, bottomLeft, bottomRight: String
    public var sortAscending, sortDescending, mark, cursor, ellipsis, separator, arrow, warning, check, cross: String
    public var isASCII: Bool

    public static let unicode = Symbols(horizontal: "─", vertical: "│", topLeft: "┌", topRight: "┐", bottomLeft: "└",
                                        bottomRight: "┘", sortAscending: "▲", sortDescending: "▼", mark: "●", cursor: "▶",
                                        ellipsis: "…", separator: "›", arrow: "→", warning: "⚠", check: "✓", cross: "✗",
                                        isASCII: false)

    public static let ascii = Symbols(horizontal: "-", vertical: "|", topLeft: "+", topRight: "+", bottomLeft: "+",
                                      bottomRight: "+", sortAscending: "^", sortDescending: "v", mark: "*", cursor: ">",
                                      ellipsis: "~", separator: ">", arrow: "->", warning: "!", check: "ok", cross: "x",
                                      isASCII: true)
}
