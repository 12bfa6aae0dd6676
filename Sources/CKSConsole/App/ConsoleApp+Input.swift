import CKSDomain
import CKSTeardown
import Foundation

/// Keys: overlays first (dialog, command line, filter, help), then the binding table.
extension ConsoleApp {
    /// Handles one key press.
    public func handle(_ key: Key) {
        defer { changed() }
        drainInbox()
        if key == .ctrl("c") { running = false; exitStatus = ScriptedExit.interrupted.rawValue; return }
        if key == .resize { return }
        if let d = dialog {
            switch d.handle(key) {
            case .stay: break
            case .close, .confirmed: if dialog === d { dialog = nil }
            case .foreignKey(let c):
                if dialog === d { dialog = nil }
                say("\(d.title) closed, nothing done: \(c) is not one of its keys (Tab, Enter, Esc). "
                    + "Press \(c) again if it was meant for this view.", .warning, seconds: 10)
            }
            return
        }
        if commandLine != nil { handleCommandLine(key); return }
        if let t = teardown, !showHelp, t.handleRaw(key) { return }
        if filterEditing { handleFilter(key); return }
        if showHelp {
            switch key {
            case .escape, .char("q"), .char("?"), .enter, .function(1): showHelp = false; helpScroll = 0
            case .down, .char("j"): helpScroll += 1
            case .up, .char("k"): helpScroll = max(0, helpScroll - 1)
            case .pageDown, .char(" "), .ctrl("f"): helpScroll += 10
            case .pageUp, .ctrl("b"): helpScroll = max(0, helpScroll - 10)
            case .end, .char("G"): helpScroll = Int.max / 2
            case .home, .char("g"): helpScroll = 0
            default: break
            }
            return
        }
        guard let action = keymap.action(for: key, on: teardown != nil ? .teardown : screen.kind) else { return }
        perform(action)
    }

    /// Handles a sequence of keys (tests and scripted demos).
    public func press(_ keys: [Key]) { for k in keys { handle(k) } }

    /// Types text as individual key presses.
    public func type(_ text: String) { for ch in text { handle(.char(ch)) } }

    func handleCommandLine(_ key: Key) {
        guard var line = commandLine else { return }
        switch key {
        case .escape: commandLine = nil; return
        case .enter:
            commandLine = nil
            flash = nil
            run(line.text)
            return
        case .tab:
            line.complete(stores: stores.map(\.name) + stores.map(\.id), themes: ThemeCatalog.shippedNames,
                          contexts: contexts?.catalog.contexts.map(\.name) ?? [],
                          regions: regionChoices().map(\.region))
        case .backspace:
            if line.text.isEmpty { commandLine = nil; return }
            line.backspace()
        case .char(let c): line.type(c)
        default: break
        }
        commandLine = line
    }

    /// Runs a `:` command line (a new command clears the previous message).
    public func run(_ text: String) {
        flash = nil
        switch CommandLineState.parse(text) {
        case .failure(let e): say(e.message, .warning)
        case .success(let cmd):
            switch cmd {
            case .quit: running = false
            case .stores: stack = [.stores]; showHelp = false; teardown = nil
            case .allStores: showHelp = false; teardown = nil; openAllStores()
            case .context(nil): openContextList()
            case .context(let name?):
                guard let switching = contexts else { say("Only one context is known here.", .warning); return }
                guard let context = switching.catalog.context(named: name) else {
                    say("No context named \(name); :ctx lists them.", .warning)
                    return
                }
                switchContext(context, region: context.region)
            case .region(nil): openRegionPicker()
            case .region(let name?):
                guard Self.isRegionName(name) else {
                    say("\(name) is not a region name (such as us-east-1 or eu-west-1).", .warning)
                    return
                }
                switchRegion(name)
            case .export(let format, let path): export(format: format, path: path)
            case .help: showHelp = true
            case .activity:
                showActivity.toggle()
                if !showActivity { activityFocused = false; activityScroll = 0 }
            case .keys(let name):
                guard let s = findStore(name) else { say("No store named \(name).", .warning); return }
                stack = [.stores]
                teardown = nil
                storesTable.select(s.id)
                openKeys(s)
            case .teardown(let name):
                guard let s = findStore(name) else { say("No store named \(name).", .warning); return }
                storesTable.select(s.id)
                if let reason = teardownUnavailableReason() { say(reason, .warning) } else { teardownHandler?(self, s) }
            case .theme(let name):
                if let problem = themeHandler?(name) { say(problem, .warning) } else { say("Theme \(name).", .ok) }
            case .proxy(let verb):
                guard let handler = demoProxyHandler else {
                    say(":proxy stops and starts the demo's XKS proxy; it exists only in cks --demo", .warning)
                    return
                }
                Task { @MainActor [weak self] in
                    let (message, ok) = await handler(verb)
                    self?.say(message, ok ? .ok : .warning)
                    self?.onChange?()
                }
            }
        }
    }

    func handleFilter(_ key: Key) {
        let table = activeTableFilter
        switch key {
        case .escape: table?.set(""); filterEditing = false
        case .enter, .down, .up: filterEditing = false
        case .backspace: if let t = table { var f = t.get(); if !f.isEmpty { f.removeLast() }; t.set(f) }
        case .char(let c): if let t = table { t.set(t.get() + String(c)) }
        default: break
        }
    }

    /// The table on screen (the screens with a list register it here); nil on the key detail.
    var activeTable: (any NavigableTable)? { screen.handler.table(self) }

    /// The filter of the table on screen, as get/set closures.
    var activeTableFilter: (get: () -> String, set: (String) -> Void)? {
        guard let t = activeTable else { return nil }
        return ({ t.filter }, { t.setFilter($0) })
    }

    // MARK: actions

    /// Keys that only move or scroll: they keep the message on the status line (every other action clears it).
    static let movementActions: Set<Action> = [.moveUp, .moveDown, .pageUp, .pageDown, .top, .bottom]

    func perform(_ action: Action) {
        if !Self.movementActions.contains(action) { flash = nil }
        if let binding = keymap.binding(action), binding.changesState, options.readOnly {
            say("Read-only mode (--read-only): \(binding.label) is refused; nothing was changed.", .warning)
            return
        }
        if activityFocused {
            // The Activity pane has the keys: movement scrolls it (back in time is up), Esc gives the keys back.
            switch action {
            case .moveUp: activityScroll += 1; return
            case .moveDown: activityScroll = max(0, activityScroll - 1); return
            case .pageUp: activityScroll += 10; return
            case .pageDown: activityScroll = max(0, activityScroll - 10); return
            case .top: activityScroll = Int.max / 2; return
            case .bottom: activityScroll = 0; return
            case .back, .focusActivity: activityFocused = false; return
            default: break
            }
        }
        if let t = teardown, Self.teardownRoutedActions.contains(action) { t.perform(action); return }
        switch action {
        case .moveUp: move(-1)
        case .moveDown: move(1)
        case .pageUp: page(-1)
        case .pageDown: page(1)
        case .top: moveTo(top: true)
        case .bottom: moveTo(top: false)
        case .open: open()
        case .back: back()
        case .filter: if activeTableFilter != nil { filterEditing = true }
        case .command: commandLine = CommandLineState()
        case .help: showHelp = true; helpScroll = 0
        case .quit: running = false
        case .toggleActivity:
            showActivity.toggle()
            if !showActivity { activityFocused = false; activityScroll = 0 }
        case .focusActivity:
            if showActivity { activityFocused.toggle() } else { showActivity = true; activityFocused = true }
        case .refresh: refreshNow()
        case .mark: if let t = screen.handler.markableTable(self) { t.toggleMark(); t.move(by: 1) }
        case .markAll: screen.handler.markableTable(self)?.toggleMarkAll()
        case .sortNext: activeTable?.sortNext(width: lastWidth)
        case .sortReverse: activeTable?.reverseSort()
        case .teardown:
            if screen == .allStores { openFromAllStores(teardown: true); return }
            if let reason = availability(.teardown) { say(reason, .warning); return }
            if let s = storesTable.current?.record { teardownHandler?(self, s) }
        case .connect, .disconnect, .scheduleDeletion, .cancelDeletion, .enableKey, .disableKey:
            if let reason = availability(action) { say(reason, .warning); return }
            openDialog(for: action)
        case .teardownStep, .teardownMark, .acknowledge, .acknowledgeAll, .abortTeardown, .disconnectOnly, .acceptOrphaning, .fastForward,
             .observe:
            teardown?.perform(action)
        case .yank: yank()
        case .regionPicker: openRegionPicker()
        }
    }

    func move(_ delta: Int) {
        if let t = activeTable { t.move(by: delta) } else { detailScroll = max(0, detailScroll + delta) }
    }

    func page(_ direction: Int) {
        if let t = activeTable { t.page(direction) } else { detailScroll = max(0, detailScroll + direction * 10) }
    }

    func moveTo(top: Bool) {
        screen.handler.moveTo(self, top: top)
    }

    func open() {
        screen.handler.open(self)
    }

    func openKeys(_ s: StoreRecord) {
        stack.append(.keys(storeId: s.id))
        keysOpened(s.id)
    }

    func back() {
        if let f = activeTableFilter, !f.get().isEmpty { f.set(""); return }
        if stack.count > 1 { stack.removeLast() }
    }

    func refreshNow() {
        refreshStores(label: "refresh")
        screen.handler.refresh(self)
    }

    /// `us-east-1`, `eu-central-2`, `us-gov-west-1`: letters and digits in dash-separated words ending in a number.
    static func isRegionName(_ name: String) -> Bool {
        let parts = name.split(separator: "-", omittingEmptySubsequences: false)
        return parts.count >= 3 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber) } }
            && parts.last!.allSatisfy(\.isNumber) && name.count <= 30
    }

    func teardownUnavailableReason() -> String? {
        teardownHandler == nil ? "The guided teardown is not available in this build." : nil
    }
}
