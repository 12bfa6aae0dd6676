import CKSTeardown
import Foundation

/// A modal dialog. State-changing ones name the target, the exact API call and the consequence, and
/// open with Cancel focused; irreversible ones need the confirm button armed with a second Enter.
@MainActor
public final class Dialog {
    public enum Kind { case confirm, message }

    public var title: String
    /// Body lines (text, style), recomputed when the pending window changes.
    public var body: () -> [(String, Style)]
    public var confirmLabel: String
    public var kind: Kind
    public var irreversible: Bool
    /// 0 = Cancel (always first and focused at open), 1 = the confirm button.
    public private(set) var focus = 0
    /// Irreversible dialogs: the first Enter on the confirm button arms it, the second confirms.
    public private(set) var armed = false
    /// The ScheduleKeyDeletion waiting period, when the dialog has one (7...30, +/- change it).
    public var window: Int?
    /// How many entries the body offers to pick from (Up/Down move `choice`); 0 or 1: nothing to pick.
    public var choiceCount = 0
    /// The entry picked (the body marks it; `onConfirm` reads it).
    public private(set) var choice = 0
    /// Body lines scrolled past (PgDn/PgUp) when the body is taller than the screen allows.
    public private(set) var scroll = 0
    /// Body lines below the view at the last draw: an irreversible dialog shows them before it can be armed.
    private(set) var hiddenBelow = 0
    var onConfirm: (Dialog) -> Void

    init(title: String, kind: Kind = .confirm, confirmLabel: String = "OK", irreversible: Bool = false, window: Int? = nil,
         body: @escaping () -> [(String, Style)], onConfirm: @escaping (Dialog) -> Void = { _ in }) {
        self.title = title; self.kind = kind; self.confirmLabel = confirmLabel; self.irreversible = irreversible
        self.window = window; self.body = body; self.onConfirm = onConfirm
    }

    /// `foreignKey`: a character the dialog has no use for, most likely typed for the view behind it (a dialog
    /// that opened while the operator was typing): the dialog closes without doing anything, so keys typed on
    /// never go on to confirm a dialog nobody read.
    public enum Outcome { case stay, close, confirmed, foreignKey(Character) }

    /// Handles a key; the caller closes the dialog on `.close` / `.confirmed`.
    public func handle(_ key: Key) -> Outcome {
        if kind == .message {
            switch key {
            case .enter, .escape, .char("q"), .char(" "): return .close
            default: return .stay
            }
        }
        switch key {
        case .escape, .char("q"), .char("n"): return .close
        case .tab, .right, .left, .backTab, .char("h"), .char("l"):
            focus = 1 - focus
            armed = false
        case .char("+"), .char("="), .up, .char("k"):
            if let w = window { window = min(30, w + 1); armed = false }
            else if choiceCount > 1 { choice = max(0, choice - 1); armed = false }
        case .char("-"), .char("_"), .down, .char("j"):
            if let w = window { window = max(7, w - 1); armed = false }
            else if choiceCount > 1 { choice = min(choiceCount - 1, choice + 1); armed = false }
        case .pageDown, .ctrl("f"):
            scroll += 5
        case .pageUp, .ctrl("b"):
            scroll = max(0, scroll - 5)
        case .enter, .char(" "):
            if focus == 0 { return .close }
            // Every consequence is read before an irreversible action is armed: the first Enter shows the rest.
            if irreversible && !armed && hiddenBelow > 0 { scroll += hiddenBelow; return .stay }
            if irreversible && !armed { armed = true; return .stay }
            onConfirm(self)
            return .confirmed
        case .char(let c):
            return .foreignKey(c)
        default: break
        }
        return .stay
    }

    /// Draws the dialog centred in `area`.
    public func draw(in area: Rect, on surface: any Surface, symbols: Symbols, keyHint: String) {
        var lines = body()
        if let w = window {
            lines.insert(("Waiting period: \(w) days (7-30; +/- to change)", Style(.dialog, [.bold])), at: 0)
        }
        let buttonsRow = kind == .message ? "[ OK ]" : "[ Cancel ]   [ \(confirmLabel) ]"
        let hint: String
        if kind == .message { hint = "Enter or Esc closes" }
        else if armed { hint = "Press Enter again to \(confirmLabel.lowercased()); Esc cancels" }
        else if focus == 1 && irreversible && hiddenBelow > 0 { hint = "Enter shows the rest first (or PgDn); Esc cancels" }
        else if focus == 0 { hint = "\(keyHint): Tab moves to \(confirmLabel), Enter on Cancel closes" }
        else { hint = irreversible ? "Enter arms, a second Enter confirms; Esc cancels" : "Enter confirms; Esc cancels" }
        let contentWidth = min(area.width - 4, max(TextWidth.of(title) + 4, TextWidth.of(buttonsRow), TextWidth.of(hint),
                                                   lines.map { TextWidth.of($0.0) }.max() ?? 0))
        let width = max(20, contentWidth + 4)
        var wrapped: [(String, Style)] = []
        for (text, style) in lines { for piece in Dialog.wrap(text, width: width - 4) { wrapped.append((piece, style)) } }
        let height = min(area.height, wrapped.count + 6)
        let top = area.row + max(0, (area.height - height) / 2)
        let left = area.column + max(0, (area.width - width) / 2)
        let frame = Style(.dialog)
        let inner = width - 2
        Dialog.drawBox(on: surface, in: area, top: top, left: left, width: width, height: height, title: title, symbols: symbols)
        // Body: scrolled with PgDn/PgUp when taller than the room; the first and last rows say what is hidden.
        let bodyRows = max(0, height - 6)
        let fits = wrapped.count <= bodyRows
        let shownRows = fits ? bodyRows : max(0, bodyRows - 1)
        scroll = fits ? 0 : min(scroll, max(0, wrapped.count - shownRows))
        let shown = Array(wrapped.dropFirst(scroll).prefix(shownRows))
        hiddenBelow = max(0, wrapped.count - scroll - shown.count)
        for (i, line) in shown.enumerated() {
            surface.put(top + 1 + i, left + 2, line.0, line.1.role == .normal ? frame : Style(line.1.role, line.1.extra))
        }
        if !fits, bodyRows > 0 {
            let note = hiddenBelow > 0 ? "\(symbols.ellipsis) \(hiddenBelow) more line\(hiddenBelow == 1 ? "" : "s") (PgDn)"
                : "\(symbols.ellipsis) \(scroll) line\(scroll == 1 ? "" : "s") above (PgUp)"
            surface.put(top + bodyRows, left + 2, TextWidth.pad(note, to: inner - 2), Style(.muted))
        }
        // Buttons.
        let by = top + height - 3
        if kind == .message {
            let ok = "[ OK ]"
            surface.put(by, left + (width - TextWidth.of(ok)) / 2, ok, Style(.dialogFocus))
        } else {
            let cancel = "[ Cancel ]"
            let confirm = armed ? "[ \(confirmLabel)? Enter again ]" : "[ \(confirmLabel) ]"
            let total = TextWidth.of(cancel) + 3 + TextWidth.of(confirm)
            let bx = left + max(1, (width - total) / 2)
            surface.put(by, bx, cancel, Style(focus == 0 ? .dialogFocus : .dialogButton))
            let confirmRole: Role = focus == 1 ? (irreversible ? .danger : .dialogFocus) : .dialogButton
            surface.put(by, bx + TextWidth.of(cancel) + 3, confirm, Style(confirmRole))
        }
        surface.put(top + height - 2, left + 2, TextWidth.truncate(hint, to: inner - 2, ellipsis: symbols.ellipsis), Style(.muted))
    }

    /// An opaque box: a blank margin (a column each side, a row above and below, where there is room) so nothing of
    /// the screen behind runs up against the border, then the frame, its title and a blank inside.
    static func drawBox(on surface: any Surface, in area: Rect, top: Int, left: Int, width: Int, height: Int, title: String,
                        symbols: Symbols) {
        let marginLeft = max(area.column, left - 1), marginRight = min(area.right, left + width + 1)
        let blank = String(repeating: " ", count: max(0, marginRight - marginLeft))
        for y in max(area.row, top - 1)..<min(area.bottom, top + height + 1) { surface.put(y, marginLeft, blank, .normal) }
        let frame = Style(.dialog)
        let inner = width - 2
        let titleText = " " + TextWidth.truncate(title, to: inner - 4, ellipsis: symbols.ellipsis) + " "
        let topLine = symbols.topLeft + symbols.horizontal + titleText
            + String(repeating: symbols.horizontal, count: max(0, inner - 1 - TextWidth.of(titleText))) + symbols.topRight
        surface.put(top, left, topLine, frame)
        surface.put(top, left + 2, titleText, Style(.dialogTitle))
        for y in (top + 1)..<(top + height - 1) {
            surface.put(y, left, symbols.vertical + String(repeating: " ", count: inner) + symbols.vertical, frame)
        }
        surface.put(top + height - 1, left, symbols.bottomLeft + String(repeating: symbols.horizontal, count: inner) + symbols.bottomRight, frame)
    }

    /// Splits `text` into lines of at most `width` columns at spaces.
    static func wrap(_ text: String, width: Int) -> [String] {
        guard width > 0, TextWidth.of(text) > width else { return [text] }
        var out: [String] = []
        var line = ""
        for word in text.split(separator: " ", omittingEmptySubsequences: false) {
            let w = String(word)
            let candidate = line.isEmpty ? w : line + " " + w
            if TextWidth.of(candidate) <= width { line = candidate; continue }
            if !line.isEmpty { out.append(line) }
            line = TextWidth.of(w) > width ? TextWidth.truncate(w, to: width) : w
        }
        if !line.isEmpty { out.append(line) }
        return out
    }
}
