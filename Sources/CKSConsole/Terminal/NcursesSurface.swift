import CKSTeardown
import CNcursesw
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The terminal through ncursesw. Every curses call happens here, on the main actor (curses is not
/// thread-safe), and C globals and macros are reached through the shim.
@MainActor
public final class NcursesSurface: Surface {
    let window: UnsafeMutablePointer<WINDOW>
    public private(set) var theme: Theme
    public private(set) var depth: ColorDepth
    private var pairs: [Int64: Int32] = [:]
    private var styleCache: [Style: (attr_t, Int32)] = [:]
    private var nextPair: Int32 = 1
    /// Draw ASCII only (`--ascii`, a non-UTF-8 locale).
    public var asciiOnly = false

    /// Starts curses on the controlling terminal. Call `setlocale` first (the runner does).
    init(theme: Theme, environment: [String: String]) {
        let win = initscr()!
        window = win
        raw()          // Ctrl-C arrives as a key, so quitting always goes through the same path
        noecho()
        nonl()
        keypad(win, true)
        curs_set(0)
        cks_set_escdelay(25) // Esc means "back": make it instant
        wtimeout(win, 0)
        let hasColors = cks_start_color(1) != 0
        depth = ColorPolicy.depth(environment: environment, terminalColors: Int(cks_colors()), hasColors: hasColors)
        self.theme = theme
        applyBackground()
    }

    /// Switches theme without restarting curses.
    public func setTheme(_ theme: Theme) {
        self.theme = theme
        styleCache.removeAll()
        applyBackground()
    }

    public var size: Size {
        Size(width: Int(getmaxx(window)), height: Int(getmaxy(window)))
    }

    public func clear() {
        werase(window)
    }

    public func put(_ row: Int, _ column: Int, _ text: String, _ style: Style) {
        let s = size
        guard row >= 0, row < s.height, column < s.width, !text.isEmpty else { return }
        // Clip by display width: curses would wrap onto the next line.
        var chars: [wchar_t] = []
        var x = column
        for ch in TextWidth.drawable(text, ascii: asciiOnly) {
            let w = TextWidth.of(ch)
            if w == 0 { if x > column { for u in ch.unicodeScalars { chars.append(wchar_t(bitPattern: u.value)) } }; continue }
            if x + w > s.width { break }
            if x >= 0 { for u in ch.unicodeScalars { chars.append(wchar_t(bitPattern: u.value)) } }
            x += w
        }
        guard !chars.isEmpty else { return }
        let (attrs, pair) = resolve(style)
        chars.withUnsafeBufferPointer { buf in
            _ = cks_put(window, Int32(row), Int32(max(0, column)), buf.baseAddress, Int32(buf.count), attrs, pair)
        }
    }

    public func flush() {
        wnoutrefresh(window)
        doupdate()
    }

    /// The next key, or nil when none is waiting.
    public func readKey() -> Key? {
        var code: UInt32 = 0
        let r = cks_get_wch(window, &code)
        if r == ERR { return nil }
        if r == cks_key_code_yes() { return Self.functionKey(Int32(code)) }
        return Key.fromCodePoint(code)
    }

    static func functionKey(_ code: Int32) -> Key? {
        switch code {
        case KEY_UP: return .up
        case KEY_DOWN: return .down
        case KEY_LEFT: return .left
        case KEY_RIGHT: return .right
        case KEY_PPAGE: return .pageUp
        case KEY_NPAGE: return .pageDown
        case KEY_HOME: return .home
        case KEY_END: return .end
        case KEY_ENTER: return .enter
        case KEY_BACKSPACE: return .backspace
        case KEY_DC: return .delete
        case KEY_BTAB: return .backTab
        case KEY_RESIZE: return .resize
        case (KEY_F0 + 1)...(KEY_F0 + 24): return .function(Int(code - KEY_F0))
        default: return nil
        }
    }

    // MARK: colours

    private func applyBackground() {
        let (attrs, pair) = resolve(.normal)
        cks_bkgd(window, attrs, pair)
    }

    private func resolve(_ style: Style) -> (attr_t, Int32) {
        if let cached = styleCache[style] { return cached }
        let r = theme.resolve(style.role, depth: depth, extra: style.extra)
        var attrs: attr_t = cks_a_normal()
        if r.attributes.contains(.bold) { attrs |= cks_a_bold() }
        if r.attributes.contains(.dim) { attrs |= cks_a_dim() }
        if r.attributes.contains(.underline) { attrs |= cks_a_underline() }
        if r.attributes.contains(.reverse) { attrs |= cks_a_reverse() }
        if r.attributes.contains(.italic) { attrs |= cks_a_italic() }
        let pair = depth == .mono ? 0 : pairNumber(fg: r.foreground, bg: r.background)
        styleCache[style] = (attrs, pair)
        return (attrs, pair)
    }

    /// A colour pair per (fg, bg), allocated once; the default pair when the terminal runs out.
    private func pairNumber(fg: Int, bg: Int) -> Int32 {
        if fg < 0 && bg < 0 { return 0 }
        let key = Int64(fg) << 32 | Int64(bg & 0xFFFF_FFFF)
        if let p = pairs[key] { return p }
        guard nextPair < cks_color_pairs() else { return 0 }
        let p = nextPair
        nextPair += 1
        _ = cks_init_pair(p, Int32(fg), Int32(bg))
        pairs[key] = p
        return p
    }
}
