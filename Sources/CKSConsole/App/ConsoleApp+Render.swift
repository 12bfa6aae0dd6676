import CKSDomain
import CKSTeardown
import Foundation

/// Drawing: header, title, banner, the screen, the Activity pane, the status line, the footer, overlays.
extension ConsoleApp {
    /// Draws the whole frame on `surface`.
    public func render(on surface: any Surface) {
        drainInbox()
        surface.clear()
        let size = surface.size
        lastWidth = size.width
        captionRows = 0..<0
        if size.width < options.minimumSize.width || size.height < options.minimumSize.height {
            drawTooSmall(size, on: surface)
            surface.flush()
            return
        }
        var row = 0
        drawHeader(on: surface, width: size.width)
        row += 1
        drawTitle(on: surface, row: row, width: size.width)
        row += 1
        if let text = banner {
            // The whole message, wrapped (four rows at most, so the data behind stays in view).
            let pieces = TextWidth.wrap("\(symbols.warning) " + text, to: size.width - 2)
            for (i, piece) in pieces.prefix(4).enumerated() {
                let last = i == 3 && pieces.count > 4
                surface.put(row, 0, TextWidth.pad(" " + (last ? TextWidth.truncate(piece + " " + symbols.ellipsis, to: size.width - 2, ellipsis: symbols.ellipsis) : piece),
                                                  to: size.width, ellipsis: symbols.ellipsis), Style(.banner))
                row += 1
            }
        }
        let captionRows = caption.map { captionLines($0, width: size.width) } ?? []
        let footerRow = size.height - 1 - captionRows.count
        self.captionRows = footerRow..<(footerRow + captionRows.count)
        var bottom = footerRow
        let status = statusLine()
        // A message takes two rows when it needs them, so what it says to do is not cut off.
        let statusRows = status.map { Array(TextWidth.wrap($0.0, to: size.width - 2).prefix(2)) } ?? []
        if commandLine?.candidates.isEmpty == false { bottom -= 1 } else { bottom -= statusRows.count }
        var activityRect: Rect?
        if showActivity {
            let h = max(6, (bottom - row) / (activityFocused ? 2 : 3))
            activityRect = Rect(row: bottom - h, column: 0, width: size.width, height: h)
            bottom -= h
        }
        let main = Rect(row: row, column: 0, width: size.width, height: bottom - row)
        if showHelp {
            drawHelp(in: main, on: surface)
        } else if let t = teardown {
            drawTeardown(t, in: main, on: surface)
        } else {
            screen.handler.draw(self, in: main, on: surface)
        }
        if let r = activityRect { drawActivity(in: r, on: surface) }
        if let cands = commandLine?.candidates, !cands.isEmpty {
            surface.put(footerRow - 1, 0, TextWidth.pad(" " + cands.joined(separator: "  "), to: size.width, ellipsis: symbols.ellipsis), Style(.muted))
        } else if let (text, role) = status {
            let cut = TextWidth.wrap(text, to: size.width - 2).count > statusRows.count
            for (i, piece) in statusRows.enumerated() {
                let last = i == statusRows.count - 1
                let shown = last && cut ? TextWidth.truncate(piece + " " + symbols.ellipsis, to: size.width - 2, ellipsis: symbols.ellipsis) : piece
                surface.put(footerRow - statusRows.count + i, 0, TextWidth.pad(" " + shown, to: size.width, ellipsis: symbols.ellipsis), Style(role))
            }
        }
        for (i, line) in captionRows.enumerated() {
            surface.put(footerRow + i, 0, line, Style(caption?.role ?? .headerAccent))
        }
        drawFooter(on: surface, row: size.height - 1, width: size.width)
        if let d = dialog {
            d.draw(in: Rect(row: 1, column: 0, width: size.width, height: size.height - 2), on: surface, symbols: symbols,
                   keyHint: "Cancel is selected")
        }
        surface.flush()
        screen.handler.didDraw(self)
    }

    /// The caption's rows (two at most, padded to the width): the text, and the autopilot's keys on the right of the
    /// last row when they fit.
    func captionLines(_ caption: DemoCaption, width: Int) -> [String] {
        let marker = caption.paused ? (symbols.isASCII ? "||" : "⏸") : (symbols.isASCII ? ">" : "▶")
        let hint = caption.hint.isEmpty ? "" : "  " + caption.hint + " "
        var pieces = Array(TextWidth.wrap("\(marker) " + caption.text, to: width - 2).prefix(2))
        if pieces.isEmpty { pieces = [marker] }
        return pieces.enumerated().map { i, piece in
            let last = i == pieces.count - 1
            let room = width - 1 - TextWidth.of(piece)
            if last, !hint.isEmpty, room >= TextWidth.of(hint) {
                return " " + piece + String(repeating: " ", count: room - TextWidth.of(hint)) + hint
            }
            return TextWidth.pad(" " + piece, to: width, ellipsis: symbols.ellipsis)
        }
    }

    /// The status line: a bulk action's progress, else the last message until it expires or the next action.
    func statusLine() -> (String, Role)? {
        if let b = bulk { return ("\(b.label): \(b.done)/\(b.total) done\(b.failed > 0 ? ", \(b.failed) failed" : "")…", .warning) }
        if let f = flash, f.until > wallClock() { return (f.text, f.role) }
        return nil
    }

    func drawTooSmall(_ size: Size, on surface: any Surface) {
        let msg = "terminal too small: \(size.width)x\(size.height), needs \(options.minimumSize.width)x\(options.minimumSize.height)"
        let y = max(0, size.height / 2)
        surface.put(y, max(0, (size.width - TextWidth.of(msg)) / 2), msg, Style(.warning))
        if size.height > 2 { surface.put(y + 1, max(0, (size.width - 9) / 2), "q to quit", Style(.muted)) }
    }

    func drawHeader(on surface: any Surface, width: Int) {
        surface.put(0, 0, String(repeating: " ", count: width), Style(.header))
        let updated: String
        if let last = storesPoll.lastSuccess {
            updated = "updated \(Int(max(0, wallClock().timeIntervalSince(last))))s ago "
        } else {
            updated = "not updated yet "
        }
        // "updated Ns ago" always shows; then mode, account, region and (in a demo) the core's clock; the endpoint
        // gives way first (cut, then left out), the separators shrink.
        let ux = width - TextWidth.of(updated)
        var x = 0
        func put(_ text: String, _ role: Role) {
            guard x < ux - 1 else { return }
            let shown = TextWidth.truncate(text, to: ux - 1 - x, ellipsis: symbols.ellipsis)
            surface.put(0, x, shown, Style(role))
            x += TextWidth.of(shown)
        }
        put(" cks ", .header)
        if let e = endpoint {
            put(" \(e.mode.rawValue) ", .badgeMode)
            put(" ", .header)
            if options.readOnly { put(" READ-ONLY ", .badgeReadOnly); put(" ", .header) }
            // The context always shows (before the endpoint, which gives way first).
            if let name = e.contextName { put("ctx ", .header); put(name, .headerAccent); put("  ", .header) }
            let endpointText = e.endpoint.replacingOccurrences(of: "http://", with: "").replacingOccurrences(of: "https://", with: "")
            let clock = e.note.map { _ in coreNow }
            let longNote = e.note.map { note in "\(note), clock \(formatting.dateTime(clock ?? coreNow))" }
            let shortNote = e.note.map { _ in "clock \(formatting.dateTime(clock ?? coreNow).dropFirst(5))" }
            let room = ux - 1 - x
            func width(_ gap: String, _ note: String?) -> Int {
                TextWidth.of("\(gap)acct \(e.account)\(gap)\(e.region)") + (note.map { TextWidth.of(gap + $0) } ?? 0)
            }
            var gap = "  "
            var note = longNote
            if TextWidth.of(endpointText) + width(gap, note) > room { gap = " " }
            if TextWidth.of(endpointText) + width(gap, note) > room { note = shortNote }
            if width(gap, note) > room { note = nil }
            let endpointRoom = room - width(gap, note)
            if endpointRoom >= 8 {
                put(TextWidth.truncate(endpointText, to: endpointRoom, ellipsis: symbols.ellipsis), .headerAccent)
                put("\(gap)acct ", .header)
            } else {
                put("acct ", .header)
            }
            put(e.account, .headerAccent)
            put(gap, .header)
            put(e.region, .headerAccent)
            if let note { put(gap + note, .header) }
        } else {
            if options.readOnly { put(" READ-ONLY ", .badgeReadOnly) }
            put(" connecting\(symbols.ellipsis)", .header)
        }
        if ux > 1 { surface.put(0, ux, updated, Style(banner == nil ? .header : .banner)) }
    }

    func drawTitle(on surface: any Surface, row: Int, width: Int) {
        var parts: [String] = []
        var filterText = ""
        if let t = teardown {
            parts = ["Stores", t.storeName, "Teardown"]
        } else {
            (parts, filterText) = screen.handler.title(self)
        }
        let title = " " + parts.joined(separator: " \(symbols.separator) ")
        surface.put(row, 0, String(repeating: " ", count: width), Style(.title))
        surface.put(row, 0, TextWidth.truncate(title, to: width), Style(.title))
        var x = TextWidth.of(title) + 2
        if filterEditing || !filterText.isEmpty {
            let f = "/" + filterText + (filterEditing ? "▏" : "")
            let label = (symbols.isASCII ? f.replacingOccurrences(of: "▏", with: "_") : f)
            surface.put(row, x, "filter ", Style(.muted))
            surface.put(row, x + 7, label, Style(.filter))
            x += 7 + TextWidth.of(label)
        }
    }

    func drawStores(in rect: Rect, on surface: any Surface) {
        guard rect.height > 0 else { return }
        // The selected store's details below the table, values wrapped (not cut) while the table keeps 8 rows.
        var details: [(String, String, Style)] = []
        if rect.height >= 14, let row = storesTable.current {
            for line in StoresScreen.details(row, formatting: formatting) {
                for (i, piece) in TextWidth.wrap(line.1, to: max(10, rect.width - 11)).enumerated() {
                    details.append((i == 0 ? line.0 : "", piece, line.2))
                }
            }
        }
        let detailHeight = details.isEmpty ? 0 : min(details.count + 1, max(6, rect.height - 8))
        let tableRect = Rect(row: rect.row, column: 0, width: rect.width, height: rect.height - detailHeight)
        var table = tableRect
        if let note = keyCountsUnavailable, table.height > 4 {
            let pieces = TextWidth.wrap(note, to: rect.width - 2).prefix(2)
            for (i, piece) in pieces.enumerated() { surface.put(table.row + i, 1, piece, Style(.warning)) }
            table = Rect(row: table.row + pieces.count, column: 0, width: table.width, height: table.height - pieces.count)
        }
        storesTable.draw(in: table, on: surface, symbols: symbols, focused: dialog == nil && !activityFocused,
                         empty: storesPoll.lastSuccess != nil ? "No custom key stores."
                            : banner != nil ? "No data: the endpoint cannot be used as configured (see the message above)."
                            : "Loading stores\(symbols.ellipsis)")
        guard detailHeight > 0, let row = storesTable.current else { return }
        let top = rect.bottom - detailHeight
        drawRule(on: surface, row: top, width: rect.width, title: row.record.name)
        for (i, line) in details.prefix(detailHeight - 1).enumerated() {
            surface.put(top + 1 + i, 2, TextWidth.pad(line.0, to: 7), Style(.muted))
            surface.put(top + 1 + i, 10, TextWidth.truncate(line.1, to: rect.width - 11, ellipsis: symbols.ellipsis), line.2)
        }
    }

    func drawRule(on surface: any Surface, row: Int, width: Int, title: String) {
        let label = title.isEmpty ? "" : " \(title) "
        let line = symbols.horizontal + symbols.horizontal + label + String(repeating: symbols.horizontal, count: max(0, width - 2 - TextWidth.of(label)))
        surface.put(row, 0, line, Style(.border))
        if !label.isEmpty { surface.put(row, 2, label, Style(.title)) }
    }

    func drawKeys(_ storeId: String, in rect: Rect, on surface: any Surface) {
        let v = keysView(storeId)
        var r = rect
        if let s = store(storeId), s.connectionState != .connected {
            let note = " \(s.name) is \(s.stateText): keys are Unavailable (pending deletions still run)."
            surface.put(r.row, 0, TextWidth.pad(note, to: r.width, ellipsis: symbols.ellipsis), Style(Role.of(s.connectionState)))
            r = Rect(row: r.row + 1, column: 0, width: r.width, height: r.height - 1)
        }
        if v.unconfirmed > 0, r.height > 3 {
            let seen = v.unconfirmedAsOf.map { " from \(Formatting.ago($0, now: wallClock()))" } ?? ""
            let note = scan != nil
                ? " States\(seen) (key index): describing again, \(TeardownText.grouped(v.unconfirmed)) left."
                : " \(TeardownText.grouped(v.unconfirmed)) states\(seen) (key index) not confirmed: press r to list again."
            surface.put(r.row, 0, TextWidth.pad(note, to: r.width, ellipsis: symbols.ellipsis), Style(.warning))
            r = Rect(row: r.row + 1, column: 0, width: r.width, height: r.height - 1)
        }
        let empty = v.error.map { "Could not list keys: \($0)" }
            ?? (v.loading ? "Loading keys\(symbols.ellipsis)" : "This store has no keys.")
        v.table.draw(in: r, on: surface, symbols: symbols, focused: dialog == nil && !activityFocused, empty: empty)
    }

    func drawKeyDetail(storeId: String, keyId: String, in rect: Rect, on surface: any Surface) {
        guard keysViews[storeId]?.table.rows.contains(where: { $0.id == keyId }) == true else {
            surface.put(rect.row + 1, 2, "This key no longer exists (deleted at the end of its waiting period).", Style(.muted))
            return
        }
        guard let k = detailRecord, k.id == keyId else {
            let text = detailFailure.map { "Could not describe the key: \($0). Press r to try again." } ?? "Describing the key\(symbols.ellipsis)"
            surface.put(rect.row + 1, 2, TextWidth.truncate(text, to: max(0, rect.width - 4)), Style(detailFailure == nil ? .muted : .danger))
            return
        }
        var usageLine = usageText(keyId)
        if case .known(let u, _)? = usage[keyId], let d = u.lastUsed {
            usageLine = "\(formatting.dateTime(d)) (\(Formatting.ago(d, now: coreNow)))" + (u.operation.map { ", \($0)" } ?? "")
        } else if case .known(let u, _)? = usage[keyId], let t = u.trackingStartDate {
            usageLine = "never since tracking began \(formatting.date(t))"
        }
        var fields = KeyDetailScreen.fields(k, store: store(storeId), usage: usageLine, formatting: formatting, now: coreNow)
        if let shown = detailEvidence, shown.keyId == keyId {
            if let evidence = shown.evidence {
                fields += KeyEvidenceView.fields(evidence, aliases: k.aliases, width: rect.width - 36, ascii: symbols.isASCII,
                                                 formatting: formatting, now: coreNow)
            } else {
                fields.append(("Evidence of use", "this endpoint cannot tell (no grants, policy or CloudTrail)", Style(.muted)))
            }
        } else {
            fields.append(("Evidence of use", "gathering grants, policy, tags and CloudTrail\(symbols.ellipsis)", Style(.muted)))
        }
        let labelWidth = min(30, (fields.map { TextWidth.of($0.0) }.max() ?? 10) + 1)
        // Long values continue on the next lines rather than being cut.
        let valueWidth = max(10, rect.width - labelWidth - 4)
        var lines: [(String, String, Style)] = []
        for f in fields {
            for (i, piece) in TextWidth.wrap(f.1, to: valueWidth).enumerated() {
                lines.append((i == 0 ? f.0 : "", piece, f.2))
            }
        }
        detailScroll = min(detailScroll, max(0, lines.count - rect.height + 1))
        for (i, f) in lines.dropFirst(detailScroll).prefix(max(0, rect.height - 1)).enumerated() {
            let y = rect.row + 1 + i
            surface.put(y, 2, TextWidth.pad(f.0, to: labelWidth), Style(.tableHeader))
            surface.put(y, 3 + labelWidth, f.1, f.2)
        }
    }

    func drawActivity(in rect: Rect, on surface: any Surface) {
        let calls = activity.groups.reduce(0) { $0 + $1.total }
        let focusNote = activityFocused ? " (focused: \(keymap.keyName(.moveUp))/\(keymap.keyName(.moveDown)) scroll, "
            + "\(keymap.keyName(.focusActivity)) back)" : ""
        let scrolled = activityScroll > 0 ? ", scrolled back \(activityScroll) lines" : ""
        drawRule(on: surface, row: rect.row, width: rect.width, title: "Activity: \(calls) calls\(scrolled)\(focusNote)")
        let lines = activityLines(width: rect.width)
        let body = rect.height - 1
        // Scrolled back, the view stays on the same lines while new ones arrive below.
        if activityScroll > 0 { activityScroll += max(0, lines.count - activityLineCount) }
        activityLineCount = lines.count
        activityScroll = min(activityScroll, max(0, lines.count - body))
        let end = lines.count - activityScroll
        for (i, line) in lines[max(0, end - body)..<end].enumerated() {
            surface.put(rect.row + 1 + i, 1, TextWidth.truncate(line.0, to: rect.width - 2, ellipsis: symbols.ellipsis), line.1)
        }
    }

    /// The Activity pane's lines: each action with its calls (the last five of a long one). Runs of automatic refreshes
    /// fold into one line, so an action's calls are not pushed out of view every five seconds.
    func activityLines(width: Int) -> [(String, Style)] {
        var lines: [(String, Style)] = []
        // The target column gives way on narrow terminals so status and latency stay visible (request ids last).
        let targetWidth = max(8, min(36, width - 2 - 39 - 21 - 37))
        let groups = activity.groups
        var i = 0
        while i < groups.count {
            let g = groups[i]
            var run = i
            while run + 1 < groups.count, Self.isAutomatic(groups[run + 1]), Self.isAutomatic(g), groups[run].failures == 0,
                  groups[run + 1].failures == 0 { run += 1 }
            if run > i {
                let folded = groups[i...run]
                let total = folded.reduce(0) { $0 + $1.total }
                let labels = Array(Set(folded.map(\.label))).sorted().joined(separator: ", ")
                lines.append(("\(formatting.clock(g.started))\(symbols.isASCII ? "-" : "–")\(formatting.clock(groups[run].started))  "
                              + "\(labels) \(symbols.isASCII ? "x" : "×")\(folded.count)  (\(total) calls, all OK)", Style(.activityTime)))
                i = run + 1
                continue
            }
            let failures = g.failures > 0 ? ", \(g.failures) failed" : ""
            lines.append(("\(formatting.clock(g.started))  \(g.label)  (\(g.total) call\(g.total == 1 ? "" : "s")\(failures))", Style(.activity, [.bold])))
            let shown = g.calls.count > 6 ? Array(g.calls.suffix(5)) : g.calls
            if g.calls.count > 6 || g.dropped > 0 {
                lines.append(("    \(symbols.ellipsis) \(g.total - shown.count) earlier calls", Style(.activityTime)))
            }
            for c in shown {
                let status = c.statusText
                let text = "    " + formatting.clock(c.start) + "  " + TextWidth.pad(c.operation, to: 24) + " "
                    + TextWidth.pad(c.target, to: targetWidth, ellipsis: symbols.ellipsis) + " " + TextWidth.pad(status, to: 10) + " "
                    + TextWidth.pad(Formatting.latency(c.latency), to: 7, alignRight: true) + "  " + (c.requestId ?? "-")
                let failed: Bool
                if case .failed = c.outcome { failed = true } else { failed = false }
                lines.append((text, Style(failed ? .activityError : .activity)))
            }
            i += 1
        }
        return lines
    }

    /// The console's own polling (its labels end in "(auto)").
    static func isAutomatic(_ group: ActivityLog.Group) -> Bool { group.label.hasSuffix("(auto)") }

    func drawFooter(on surface: any Surface, row: Int, width: Int) {
        surface.put(row, 0, String(repeating: " ", count: width), Style(.footer))
        if let line = commandLine {
            surface.put(row, 0, ":" + line.text + (symbols.isASCII ? "_" : "▏"), Style(.prompt))
            let hint = "Tab completes · Enter runs · Esc cancels"
            if width - TextWidth.of(hint) - 1 > TextWidth.of(line.text) + 4 {
                surface.put(row, width - TextWidth.of(hint) - 1, hint, Style(.footer))
            }
            return
        }
        if filterEditing {
            surface.put(row, 1, "Type to filter · Enter keeps it · Esc clears", Style(.footer))
            return
        }
        if let d = dialog {
            // The keys of the dialog, not of the screen behind it.
            let keys = d.kind == .message ? "Enter or Esc closes"
                : "Tab moves · Enter activates · Esc cancels" + (d.window != nil ? " · +/- window" : "")
                    + (d.choiceCount > 1 ? " · Up/Down picks" : "") + " · PgDn/PgUp scroll"
            surface.put(row, 1, TextWidth.truncate(keys, to: width - 2, ellipsis: symbols.ellipsis), Style(.footer))
            return
        }
        var x = 1
        let kind = showHelp ? nil : Optional(teardown != nil ? ScreenKind.teardown : screen.kind)
        // Only what applies now: an action that cannot run (and why) is in the help, not in the footer.
        let bindings = keymap.bindings.filter { b in
            guard let kind else { return b.action == .help || b.action == .quit }
            return b.inFooter && b.applies(to: kind) && availability(b.action) == nil
        }
        let filtered = teardown == nil && !showHelp && activeTableFilter.map { !$0.get().isEmpty } == true
        // "? help" always shows (the way to every other key): the others fill what is left before it.
        let helpBinding = bindings.first { $0.action == .help }
        let helpWidth = helpBinding.flatMap { b in b.keys.first.map { TextWidth.of($0.label(ascii: symbols.isASCII)) + 1 + TextWidth.of(b.label) + 2 } } ?? 0
        var full = false
        for b in bindings.filter({ $0.action != .help }) + (helpBinding.map { [$0] } ?? []) {
            guard let key = b.keys.first else { continue }
            var label = b.label
            // Esc clears a kept filter first (then goes back); on the Stores screen it has nothing else to do.
            if b.action == .back && kind != nil && teardown == nil {
                if filtered { label = "clear filter" } else if screen.handler.backIsIdleWithoutFilter { continue }
            }
            let keyText = key.label(ascii: symbols.isASCII)
            let entry = TextWidth.of(keyText) + 1 + TextWidth.of(label) + 2
            if b.action == .help {
                if x + entry > width + 2 { break }
            } else {
                if full || x + entry > width - helpWidth { full = true; continue }
            }
            surface.put(row, x, keyText, Style(.footerKey))
            surface.put(row, x + TextWidth.of(keyText) + 1, label, Style(.footer))
            x += entry
        }
    }

    func drawHelp(in rect: Rect, on surface: any Surface) {
        var lines: [(String, String, Style)] = []
        let groups: [(String, (Binding) -> Bool)] = [
            ("Everywhere", { $0.screens.isEmpty }),
            ("Stores", { $0.screens.contains(.stores) && !$0.screens.isEmpty }),
            ("Keys of a store, key detail", { $0.screens.contains(.keys) }),
            ("Key detail", { $0.screens.contains(.keyDetail) }),
            ("Teardown", { $0.screens.contains(.teardown) }),
        ]
        // Each binding is listed once, under the first group it belongs to, so the whole table fits at 160x48.
        var listed = Set<Action>()
        for (title, test) in groups {
            let members = keymap.bindings.filter { test($0) && !listed.contains($0.action) }
            guard !members.isEmpty else { continue }
            listed.formUnion(members.map(\.action))
            lines.append((title, "", Style(.title)))
            for b in members {
                let keys = b.keys.map { $0.name }.joined(separator: ", ")
                var text = b.help
                var style = Style.normal
                if b.applies(to: teardown != nil ? .teardown : screen.kind), let reason = availability(b.action) {
                    text += "  (now: \(reason))"
                    style = Style(.footerDisabled)
                } else if b.changesState && options.readOnly {
                    text += "  (refused: read-only)"
                    style = Style(.footerDisabled)
                }
                lines.append((keys, text, style))
            }
            lines.append(("", "", .normal))
        }
        lines.append(("Dialogs", "Cancel is selected first: Tab moves, Enter activates, Esc cancels. Deletion needs a second Enter.", Style(.muted)))
        lines.append(("Commands", "\(CommandLineState.usage)   (unique prefixes work: :act; Tab completes)", Style(.muted)))
        lines.append(("Keymap", "remap in $XDG_CONFIG_HOME/cks/keymap: one `action = key [key...]` per line (e.g. schedule-deletion = X); "
                      + "the actions: " + keymap.bindings.map(\.action.rawValue).joined(separator: ", "), Style(.muted)))
        // Long descriptions continue on the next lines rather than being cut.
        lines = lines.flatMap { line -> [(String, String, Style)] in
            guard !line.1.isEmpty else { return [line] }
            return TextWidth.wrap(line.1, to: max(10, rect.width - 20)).enumerated().map { i, piece in (i == 0 ? line.0 : "", piece, line.2) }
        }
        drawRule(on: surface, row: rect.row, width: rect.width, title: "Help: keys (Esc closes, j/k scroll)")
        helpScroll = min(helpScroll, max(0, lines.count - (rect.height - 1)))
        for (i, line) in lines.dropFirst(helpScroll).prefix(rect.height - 1).enumerated() {
            let y = rect.row + 1 + i
            if line.1.isEmpty {
                surface.put(y, 2, line.0, line.2)
            } else if line.0.isEmpty {
                surface.put(y, 19, TextWidth.truncate(line.1, to: rect.width - 20, ellipsis: symbols.ellipsis), line.2)
            } else {
                surface.put(y, 2, TextWidth.pad(line.0, to: 16), Style(.footerKey))
                surface.put(y, 19, TextWidth.truncate(line.1, to: rect.width - 20, ellipsis: symbols.ellipsis), line.2)
            }
        }
    }
}
