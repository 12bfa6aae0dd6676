/// One key press as the console understands it, independent of ncurses, so key scripts in tests,
/// the keymap file and the real terminal all speak the same values.
public enum Key: Hashable, Sendable, CustomStringConvertible {
    case char(Character)
    case ctrl(Character)
    case up, down, left, right, pageUp, pageDown, home, end
    case enter, escape, backspace, tab, backTab, delete
    case function(Int)
    /// The terminal changed size (ncurses' KEY_RESIZE).
    case resize

    /// The name used in the keymap file, the footer and the help: `q`, `space`, `ctrl-c`, `pgdn`.
    public var name: String {
        switch self {
        case .char(" "): return "space"
        case .char(let c): return String(c)
        case .ctrl(let c): return "ctrl-\(c)"
        case .up: return "up"
        case .down: return "down"
        case .left: return "left"
        case .right: return "right"
        case .pageUp: return "pgup"
        case .pageDown: return "pgdn"
        case .home: return "home"
        case .end: return "end"
        case .enter: return "enter"
        case .escape: return "esc"
        case .backspace: return "backspace"
        case .tab: return "tab"
        case .backTab: return "shift-tab"
        case .delete: return "delete"
        case .function(let n): return "f\(n)"
        case .resize: return "resize"
        }
    }

    /// A short label for the footer: arrows and Enter as symbols when the terminal can show them.
    public func label(ascii: Bool) -> String {
        switch self {
        case .up: return ascii ? "up" : "↑"
        case .down: return ascii ? "down" : "↓"
        case .enter: return ascii ? "enter" : "⏎"
        default: return name
        }
    }

    public var description: String { name }

    /// Parses a keymap name (`q`, `Q`, `space`, `ctrl-r`, `f1`, `pgdn`); nil when it is not a key.
    public init?(name raw: String) {
        let name = raw.trimmingCharacters(in: .whitespaces)
        if name.count == 1, let c = name.first { self = .char(c); return }
        let lower = name.lowercased()
        let named: [String: Key] = [
            "space": .char(" "), "up": .up, "down": .down, "left": .left, "right": .right,
            "pgup": .pageUp, "pageup": .pageUp, "pgdn": .pageDown, "pagedown": .pageDown,
            "home": .home, "end": .end, "enter": .enter, "return": .enter, "esc": .escape, "escape": .escape,
            "backspace": .backspace, "tab": .tab, "shift-tab": .backTab, "backtab": .backTab, "delete": .delete, "del": .delete,
        ]
        if let k = named[lower] { self = k; return }
        if lower.hasPrefix("ctrl-"), lower.count == 6, let c = lower.last, c.isLetter || "[\\]^_ ".contains(c) {
            self = .ctrl(c); return
        }
        if lower.hasPrefix("f"), let n = Int(lower.dropFirst()), (1...24).contains(n) { self = .function(n); return }
        return nil
    }

    /// Decodes a raw terminal code point (text input, not a function key) into a key.
    public static func fromCodePoint(_ value: UInt32) -> Key? {
        switch value {
        case 9: return .tab
        case 10, 13: return .enter
        case 27: return .escape
        case 8, 127: return .backspace
        case 0: return .ctrl(" ")
        case 1...26: return .ctrl(Character(UnicodeScalar(value + 96)!))
        case 28...31: return .ctrl(Character(UnicodeScalar(value + 64)!))
        default:
            guard let scalar = UnicodeScalar(value) else { return nil }
            return .char(Character(scalar))
        }
    }
}

import Foundation
