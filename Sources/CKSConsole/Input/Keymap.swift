import Foundation

/// What a key can do. Raw values are the names used in the keymap file.
public enum Action: String, CaseIterable, Sendable, Hashable {
    case moveUp = "move-up", moveDown = "move-down", pageUp = "page-up", pageDown = "page-down"
    case top, bottom, open, back, filter, command, help, refresh, quit
    case toggleActivity = "toggle-activity", focusActivity = "focus-activity"
    case mark, markAll = "mark-all"
    case sortNext = "sort-next", sortReverse = "sort-reverse"
    case connect, disconnect
    case scheduleDeletion = "schedule-deletion", cancelDeletion = "cancel-deletion"
    case enableKey = "enable-key", disableKey = "disable-key"
    case teardown
    // The teardown view (Teardown/).
    case teardownStep = "teardown-step", teardownMark = "teardown-mark"
    case acknowledge, acknowledgeAll = "acknowledge-all"
    case abortTeardown = "abort-teardown", disconnectOnly = "disconnect-only"
    case acceptOrphaning = "accept-orphaning", fastForward = "fast-forward"
    case observe
    // Contexts and regions (App/ConsoleApp+Contexts.swift).
    case yank, regionPicker = "region-picker"
}

/// Where a binding applies.
public enum ScreenKind: String, Sendable, Hashable, CaseIterable {
    case stores, keys, keyDetail = "key-detail", teardown
    /// The contexts list, the region picker and the all-stores view.
    case contexts, allStores = "all-stores"
}

/// One entry of the binding table: the single source of the footer, the help and read-only filtering.
public struct Binding: Sendable {
    public var action: Action
    public var keys: [Key]
    /// Short label for the footer.
    public var label: String
    /// Sentence for the help screen.
    public var help: String
    /// Screens where it applies; empty means everywhere.
    public var screens: Set<ScreenKind>
    /// A state-changing call: refused in read-only mode, always behind a dialog.
    public var changesState: Bool
    /// Shown in the footer (the help shows every binding).
    public var inFooter: Bool

    public func applies(to screen: ScreenKind) -> Bool { screens.isEmpty || screens.contains(screen) }
}

/// The key table. Defaults live here; `$XDG_CONFIG_HOME/cks/keymap` can rebind actions.
public struct Keymap: Sendable {
    public private(set) var bindings: [Binding]

    public static let defaults = Keymap(bindings: [
        Binding(action: .moveUp, keys: [.up, .char("k")], label: "up", help: "Move the cursor up", screens: [], changesState: false, inFooter: false),
        Binding(action: .moveDown, keys: [.down, .char("j")], label: "down", help: "Move the cursor down", screens: [], changesState: false, inFooter: false),
        Binding(action: .pageUp, keys: [.pageUp, .ctrl("b")], label: "page up", help: "Scroll one page up", screens: [], changesState: false, inFooter: false),
        Binding(action: .pageDown, keys: [.pageDown, .ctrl("f")], label: "page down", help: "Scroll one page down", screens: [], changesState: false, inFooter: false),
        Binding(action: .top, keys: [.char("g"), .home], label: "top", help: "Go to the first row", screens: [], changesState: false, inFooter: false),
        Binding(action: .bottom, keys: [.char("G"), .end], label: "bottom", help: "Go to the last row", screens: [], changesState: false, inFooter: false),
        Binding(action: .open, keys: [.enter], label: "open", help: "Open the store's keys, or the key's details; on :ctx and R, switch there", screens: [.stores, .keys, .contexts, .allStores], changesState: false, inFooter: true),
        Binding(action: .back, keys: [.escape], label: "back", help: "Clear the filter; without one, go back", screens: [.stores, .keys, .keyDetail, .teardown, .contexts, .allStores], changesState: false, inFooter: true),
        Binding(action: .connect, keys: [.char("c")], label: "connect", help: "Connect the store (ConnectCustomKeyStore)", screens: [.stores], changesState: true, inFooter: true),
        Binding(action: .disconnect, keys: [.char("x")], label: "disconnect", help: "Disconnect the store (DisconnectCustomKeyStore)", screens: [.stores], changesState: true, inFooter: true),
        Binding(action: .teardown, keys: [.char("t")], label: "teardown", help: "Open the guided teardown of the store", screens: [.stores, .allStores], changesState: false, inFooter: true),
        Binding(action: .teardownStep, keys: [.enter], label: "next step", help: "Do the plan's next step (each change behind a dialog naming the call)", screens: [.teardown], changesState: false, inFooter: true),
        Binding(action: .teardownMark, keys: [.char(" ")], label: "mark", help: "Mark or unmark the flagged key under the cursor", screens: [.teardown], changesState: false, inFooter: false),
        Binding(action: .acknowledge, keys: [.char("y")], label: "ack", help: "Acknowledge the marked flagged keys, or the one under the cursor, for each reason shown, through a dialog", screens: [.teardown], changesState: false, inFooter: true),
        Binding(action: .acknowledgeAll, keys: [.char("Y")], label: "ack all", help: "Acknowledge every flagged key as a set (a dialog lists them)", screens: [.teardown], changesState: false, inFooter: false),
        Binding(action: .abortTeardown, keys: [.char("X")], label: "abort", help: "Abort the teardown: cancel deletion of every key it scheduled (they come back Disabled)", screens: [.teardown], changesState: true, inFooter: true),
        Binding(action: .disconnectOnly, keys: [.char("o")], label: "disconnect only", help: "The reversible alternative: disconnect the store and keep it and its keys", screens: [.teardown], changesState: true, inFooter: true),
        Binding(action: .acceptOrphaning, keys: [.char("P")], label: "accept orphaning", help: "Go on without reconnecting a CloudHSM store whose keys are pending deletion (orphans key material)", screens: [.teardown], changesState: false, inFooter: false),
        Binding(action: .observe, keys: [.char("W")], label: "observe first", help: "Disable the keys and watch for refused calls before scheduling (7 days by default; AWS's advice), through a dialog", screens: [.teardown], changesState: true, inFooter: false),
        Binding(action: .fastForward, keys: [.char("F")], label: "fast-forward", help: "Demo only: move the core's clock past the last deletion date (CksAdmin.AdvanceClock), after a dialog listing what that deletes", screens: [.teardown], changesState: true, inFooter: true),
        Binding(action: .mark, keys: [.char(" ")], label: "mark", help: "Mark or unmark the key under the cursor", screens: [.keys], changesState: false, inFooter: true),
        Binding(action: .markAll, keys: [.char("V")], label: "mark all", help: "Mark every visible key (again: clear the marks)", screens: [.keys], changesState: false, inFooter: false),
        Binding(action: .scheduleDeletion, keys: [.char("D")], label: "delete", help: "Schedule deletion of the marked keys, or the key under the cursor (ScheduleKeyDeletion)", screens: [.keys, .keyDetail], changesState: true, inFooter: true),
        Binding(action: .cancelDeletion, keys: [.char("u")], label: "undelete", help: "Cancel deletion: the key comes back Disabled (CancelKeyDeletion)", screens: [.keys, .keyDetail], changesState: true, inFooter: true),
        Binding(action: .enableKey, keys: [.char("e")], label: "enable", help: "Enable the key(s) (EnableKey)", screens: [.keys, .keyDetail], changesState: true, inFooter: true),
        Binding(action: .disableKey, keys: [.char("d")], label: "disable", help: "Disable the key(s) (DisableKey)", screens: [.keys, .keyDetail], changesState: true, inFooter: true),
        Binding(action: .sortNext, keys: [.char("s")], label: "sort", help: "Sort by the next column", screens: [.stores, .keys, .allStores, .contexts], changesState: false, inFooter: false),
        Binding(action: .sortReverse, keys: [.char("S")], label: "reverse", help: "Reverse the sort order", screens: [.stores, .keys, .allStores, .contexts], changesState: false, inFooter: false),
        Binding(action: .filter, keys: [.char("/")], label: "filter", help: "Filter the list (Esc clears)", screens: [.stores, .keys, .allStores, .contexts], changesState: false, inFooter: true),
        Binding(action: .command, keys: [.char(":")], label: "command", help: "Run a command: :stores [all], :keys, :teardown, :ctx, :region, :export csv|json FILE, :proxy (demo), :q (Tab completes)", screens: [], changesState: false, inFooter: false),
        Binding(action: .yank, keys: [.char("y")], label: "yank", help: "Copy the id (a key's ARN on its details) through OSC 52; the value is also shown", screens: [.stores, .keys, .keyDetail, .allStores, .contexts], changesState: false, inFooter: false),
        Binding(action: .regionPicker, keys: [.char("R")], label: "region", help: "Pick the region of the current context", screens: [.stores, .keys, .allStores], changesState: false, inFooter: false),
        Binding(action: .refresh, keys: [.char("r"), .ctrl("r")], label: "refresh", help: "Refresh now", screens: [], changesState: false, inFooter: false),
        Binding(action: .toggleActivity, keys: [.char("a")], label: "activity", help: "Show or hide the Activity pane (every call made)", screens: [], changesState: false, inFooter: true),
        Binding(action: .focusActivity, keys: [.tab], label: "focus activity", help: "Give the keys to the Activity pane (the movement keys scroll it back) and take them back", screens: [], changesState: false, inFooter: false),
        Binding(action: .help, keys: [.char("?"), .function(1)], label: "help", help: "Show this help", screens: [], changesState: false, inFooter: true),
        Binding(action: .quit, keys: [.char("q")], label: "quit", help: "Quit (Ctrl-C also quits)", screens: [], changesState: false, inFooter: true),
    ])

    /// The action `key` triggers on `screen`, if any.
    public func action(for key: Key, on screen: ScreenKind) -> Action? {
        bindings.first { $0.applies(to: screen) && $0.keys.contains(key) }?.action
    }

    public func binding(_ action: Action) -> Binding? { bindings.first { $0.action == action } }

    /// The first key of an action, for hints ("press D").
    public func keyName(_ action: Action) -> String { binding(action)?.keys.first?.name ?? "?" }

    /// Applies a keymap file: `action = key [key...]` per line, `#` comments. Any problem rejects the
    /// whole file (the defaults stay) with a message naming the line.
    public func applying(file text: String, path: String) -> (Keymap, String?) {
        var result = self
        var changed = Set<Action>()
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            // Comments are whole lines, so `#` itself can be bound.
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let where_ = "\(path):\(i + 1)"
            guard let eq = line.firstIndex(of: "=") else {
                return (self, "keymap \(where_): expected `action = key [key...]`; using the default keys")
            }
            let name = line[..<eq].trimmingCharacters(in: .whitespaces)
            guard let action = Action(rawValue: name) else {
                return (self, "keymap \(where_): unknown action \"\(name)\"; using the default keys")
            }
            let words = line[line.index(after: eq)...].split(separator: " ").map(String.init)
            guard !words.isEmpty else { return (self, "keymap \(where_): no key given for \(name); using the default keys") }
            var keys: [Key] = []
            for w in words {
                guard let k = Key(name: w) else { return (self, "keymap \(where_): unknown key \"\(w)\"; using the default keys") }
                if k == .ctrl("c") { return (self, "keymap \(where_): ctrl-c always quits and cannot be bound; using the default keys") }
                keys.append(k)
            }
            guard let index = result.bindings.firstIndex(where: { $0.action == action }) else { continue }
            result.bindings[index].keys = keys
            changed.insert(action)
        }
        // Keys freed from the defaults by a rebinding leave their old actions; a clash is an error.
        for a in changed {
            guard let b = result.binding(a) else { continue }
            for i in result.bindings.indices where result.bindings[i].action != a {
                let other = result.bindings[i]
                let overlap = b.screens.isEmpty || other.screens.isEmpty || !b.screens.isDisjoint(with: other.screens)
                guard overlap else { continue }
                let clash = other.keys.filter { b.keys.contains($0) }
                if clash.isEmpty { continue }
                if changed.contains(other.action) {
                    return (self, "keymap \(path): key \(clash[0].name) is bound to both \(a.rawValue) and \(other.action.rawValue); using the default keys")
                }
                result.bindings[i].keys.removeAll { clash.contains($0) }
            }
        }
        return (result, nil)
    }
}
