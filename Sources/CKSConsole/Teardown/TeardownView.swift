import CKSDomain
import CKSTeardown
import Foundation

/// Drawing of the teardown view: the plan as a checklist, the current step with its one action (or the
/// blocking reason), a progress bar for bulk calls, the countdown while waiting, the flagged keys to
/// acknowledge, warnings, per-key results, the alternatives and what is not deleted.
@MainActor
enum TeardownView {
    struct Line {
        var text: String
        var style: Style
        /// Index into `pendingFlags` when the line is a selectable flagged key.
        var flag: Int? = nil
        /// Drawn before `text` in its own style (a checklist mark and step title).
        var lead = ""
        var leadStyle = Style.normal
    }

    static func mark(_ status: TeardownStep.Status, _ s: Symbols) -> (String, Role) {
        switch status {
        case .done: return (s.isASCII ? "[x]" : " \(s.check) ", .ok)
        case .next: return (s.isASCII ? "[>]" : " \(s.cursor) ", .title)
        case .waiting: return (s.isASCII ? "[~]" : " \(s.ellipsis) ", .keyPendingDeletion)
        case .blocked: return (s.isASCII ? "[!]" : " \(s.cross) ", .danger)
        case .upcoming: return (s.isASCII ? "[ ]" : " · ", .muted)
        }
    }

    static let shortTitles: [TeardownStep.Kind: String] = [
        .inventory: "Inventory keys", .checkUse: "Check use", .scheduleDeletion: "Schedule deletion",
        .waitForDeletion: "Wait for deletion", .disconnect: "Disconnect", .waitForDisconnected: "Wait DISCONNECTED",
        .deleteStore: "Delete store",
    ]

    static func bar(done: Int, total: Int, width: Int, _ s: Symbols) -> String {
        let w = max(5, width)
        let filled = total > 0 ? min(w, done * w / total) : 0
        return "[" + String(repeating: s.isASCII ? "#" : "█", count: filled) + String(repeating: s.isASCII ? "-" : "░", count: w - filled) + "]"
    }

    /// The fixed top part: the checklist and the current step.
    static func head(_ c: TeardownController, now: Date, width: Int, _ s: Symbols) -> [Line] {
        var out: [Line] = []
        guard let plan = c.plan else {
            let found = c.progress.snapshot.found
            out.append(Line(text: " \(c.working ?? "Observing the store…")" + (found > 0 ? " \(found) keys so far" : ""), style: Style(.muted)))
            if let error = c.error { out.append(Line(text: " \(s.warning) \(error)", style: Style(.danger))) }
            return out
        }
        for step in plan.steps {
            let (m, role) = mark(step.status, s)
            let title = TextWidth.pad("\(step.kind.number). \(shortTitles[step.kind] ?? step.kind.title)", to: 21)
            let summaryRole: Role
            switch step.status {
            case .blocked: summaryRole = .danger
            case .next: summaryRole = .normal
            case .waiting: summaryRole = .keyPendingDeletion
            case .done, .upcoming: summaryRole = .muted
            }
            out.append(Line(text: step.summary, style: Style(summaryRole), lead: "\(m) \(title) ",
                            leadStyle: Style(role, step.status == .upcoming ? [] : [.bold])))
        }
        out.append(Line(text: "", style: .normal))
        out += now_(c, plan: plan, now: now, width: width, s)
        return out
    }

    /// "Now": the one action, or the blocking reason, with progress or countdown.
    static func now_(_ c: TeardownController, plan: TeardownPlan, now: Date, width: Int, _ s: Symbols) -> [Line] {
        var out: [Line] = []
        let p = c.progress.snapshot
        if let bulk = c.bulk {
            let counts = "\(p.done)/\(bulk.total)" + (p.failed > 0 ? ", \(p.failed) failed" : "")
            let room = width - TextWidth.of(bulk.label) - TextWidth.of(counts) - 8
            out.append(Line(text: " \(bulk.label): " + bar(done: p.done, total: bulk.total, width: max(10, min(40, room)), s) + " " + counts,
                            style: Style(.warning, [.bold])))
            return out + busyLines(c, s)
        }
        if let working = c.working {
            out.append(Line(text: " \(working)" + (p.done > 0 ? " \(p.done) done" : ""), style: Style(.muted)))
            if let read = p.evidence {
                out.append(Line(text: "   Reading grants, key policies and tags… \(read.done) of \(read.total)", style: Style(.muted)))
            }
            if let trail = p.trail {
                out.append(Line(text: "   Reading CloudTrail's KMS events, one pass for every key: "
                                + "\(TeardownText.count(trail.events, "event")) in \(TeardownText.count(trail.requests, "LookupEvents request"))…",
                                style: Style(.muted)))
            }
            return out + busyLines(c, s)
        }
        switch plan.status {
        case .done:
            out.append(Line(text: " \(s.check) The store \(c.storeName) is deleted. Esc returns to the stores.", style: Style(.ok, [.bold])))
        case .ready:
            out.append(Line(text: " Next: \(TeardownPlanText.action(plan.action, now: now))", style: Style(.title)))
            if case .scheduleDeletion = plan.action, plan.observation == nil {
                out.append(Line(text: "   \(c.keyName(.observe)) disables the keys and watches for refused calls first (AWS's advice; 7 days by default)",
                                style: Style(.muted)))
            }
            out.append(Line(text: "   Enter \(verb(plan.action))" + (c.lastResults.map { r in
                let failed = r.results.filter { !$0.succeeded }.count
                return failed > 0 ? " (retries the \(failed) failed)" : ""
            } ?? ""), style: Style(.muted)))
        case .waiting:
            if let w = plan.waitProgress, case .waitForDeletion = plan.action {
                let remaining = w.lastDeletionDate.map { max(0, $0.timeIntervalSince(now)) } ?? 0
                var text = " Waiting: \(TeardownText.count(w.keysLeft, "key")) left"
                if let last = w.lastDeletionDate { text += "; last deletion after \(TeardownText.date(last)), in \(TeardownText.duration(remaining))" }
                out.append(Line(text: text, style: Style(.keyPendingDeletion, [.bold])))
                // The deletion timeline: keys coming due per day until the last one.
                let perDay = Sparkline.deletionTimeline(w.deletionDates, now: now)
                if !perDay.isEmpty {
                    let room = max(10, min(60, width - 30))
                    let fitted = Sparkline.fit(perDay, width: room)
                    let unit = perDay.count > room ? "\((perDay.count + room - 1) / room) days" : "day"
                    out.append(Line(text: "   due per \(unit): " + Sparkline.render(fitted, ascii: s.isASCII)
                                    + " (peak \(perDay.max() ?? 0), \(perDay.count) days)", style: Style(.keyPendingDeletion)))
                }
                var hint = "   Nothing to do but wait; the plan updates by itself. \(c.keyName(.abortTeardown)) aborts (keys come back Disabled)"
                if c.demo { hint += "; \(c.keyName(.fastForward)) fast-forwards (after a dialog naming what it deletes)" }
                out.append(Line(text: hint, style: Style(.muted)))
            } else if let watched = plan.observation, case .waitForObservation = plan.action {
                let remaining = max(0, watched.until.timeIntervalSince(now))
                out.append(Line(text: " Observing: \(TeardownText.count(watched.keyIds.count, "key")) disabled; watching for refused calls "
                                + "until \(TeardownText.date(watched.until)), \(TeardownText.duration(remaining)) left",
                                style: Style(.keyPendingDeletion, [.bold])))
                let total = watched.until.timeIntervalSince(watched.from)
                let elapsed = Int(max(0, min(total, total - remaining)))
                out.append(Line(text: "   " + bar(done: elapsed, total: Int(max(1, total)), width: min(40, width - 10), s)
                                + " refused so far: \(watched.refusals.count)", style: Style(watched.refusals.isEmpty ? .muted : .danger)))
                var hint = "   Refused calls appear below as they happen. \(c.keyName(.abortTeardown)) aborts: re-enables exactly the "
                    + "\(watched.disabledByTeardown.count) keys the teardown disabled"
                if c.demo { hint += "; \(c.keyName(.fastForward)) fast-forwards (after a dialog naming what it deletes)" }
                out.append(Line(text: hint, style: Style(.muted)))
            } else {
                out.append(Line(text: " Waiting: \(TeardownPlanText.action(plan.action, now: now))", style: Style(.keyPendingDeletion, [.bold])))
            }
        case .blocked(let reason):
            out.append(Line(text: " Blocked: \(reason)", style: Style(.danger, [.bold])))
            if case .acknowledge = plan.action {
                out.append(Line(text: "   \(c.keyName(.acknowledge)) acknowledges the key under the cursor, or the marked ones (space marks); "
                                + "\(c.keyName(.acknowledgeAll)) all; each through a dialog. Enter does nothing until they are acknowledged.",
                                style: Style(.muted)))
            }
        }
        out += busyLines(c, s)
        if let error = c.error { out.append(Line(text: " \(s.warning) \(error)", style: Style(.danger))) }
        return out
    }

    /// The action running now and what becomes of keys pressed meanwhile (they wait for an observation, are
    /// refused during a change); after a change, which keys were refused, until the next key.
    static func busyLines(_ c: TeardownController, _ s: Symbols) -> [Line] {
        var out: [Line] = []
        if let busy = c.busy {
            if busy.changes {
                let what = c.bulk != nil ? "   Running" : "   \(busy.label.prefix(1).uppercased() + busy.label.dropFirst()) is running"
                out.append(Line(text: what + "… (keys wait: acting keys are refused until it ends)", style: Style(.muted)))
                if !c.refused.isEmpty {
                    let names = c.refused.map(c.keyLabel).joined(separator: ", ")
                    out.append(Line(text: " \(s.warning) Refused while it runs: \(names). Press again once it is done.",
                                    style: Style(.warning, [.bold])))
                }
            } else if let q = c.queued {
                // After a few seconds the time taken shows, so a slow or stuck observation is visible as such.
                let elapsed = c.busySeconds ?? 0
                let took = elapsed >= 3 ? " (\(elapsed) s so far)" : ""
                out.append(Line(text: "   Observing the store\(took)… \(c.keyLabel(q)) waits and runs when it ends.", style: Style(.muted)))
            }
        } else if let notice = c.refusalNotice {
            out.append(Line(text: " \(s.warning) \(notice)", style: Style(.warning, [.bold])))
        }
        return out
    }

    static func verb(_ action: TeardownAction) -> String {
        switch action {
        case .scheduleDeletion: return "opens the ScheduleKeyDeletion dialog"
        case .reconnect: return "opens the reconnect dialog"
        case .disconnect: return "opens the DisconnectCustomKeyStore dialog"
        case .deleteStore: return "asks for the store's name, then deletes it"
        case .takeInventory, .checkUse: return "observes again"
        default: return "does it"
        }
    }

    /// The scrolling part: flagged keys, warnings, results, notes, alternatives, what is not deleted.
    static func body(_ c: TeardownController, now: Date, width: Int, _ s: Symbols) -> [Line] {
        guard let plan = c.plan else { return [] }
        var out: [Line] = []
        func section(_ title: String) { out.append(Line(text: title, style: Style(.border))) }
        let pending = c.pendingFlags
        // What the last action did comes first: it must stay in view above a long list of flags.
        if let (label, results) = c.lastResults {
            let failed = results.filter { !$0.succeeded }
            section("Last action: \(label): \(results.count - failed.count) of \(results.count) succeeded")
            for r in failed.prefix(8) {
                out.append(Line(text: " \(s.cross) \(r.target): \(r.error?.description ?? "?")", style: Style(.danger)))
            }
            if failed.count > 8 { out.append(Line(text: "   and \(failed.count - 8) more (see the Activity pane)", style: Style(.muted))) }
        }
        if let given = c.givenBack, !given.keyIds.isEmpty {
            out.append(Line(text: " \(TeardownText.count(given.keyIds.count, "key")) given back by the abort \(given.keyIds.count == 1 ? "is" : "are") Disabled"
                            + (given.enableAgain.isEmpty ? "." : "; \(given.enableAgain.count) of them can be enabled again (Enabled before the teardown)."),
                            style: Style(.warning)))
            for note in given.unchangedNotes { out.append(Line(text: "   \(note)", style: Style(.muted))) }
        }
        if let watched = plan.observation, !watched.refusals.isEmpty {
            section("Refused while observed: \(watched.refusals.count) (newest first, live)")
            for r in watched.refusals.prefix(12) {
                out.append(Line(text: " \(s.cross) \(TeardownText.date(r.call.time)) \(r.call.operation) on \(r.keyId.prefix(8))… by "
                                + "\(r.call.caller): \(r.call.errorCode ?? "refused")", style: Style(.danger)))
            }
            if watched.refusals.count > 12 { out.append(Line(text: "   and \(watched.refusals.count - 12) more", style: Style(.muted))) }
        }
        if !plan.flaggedKeys.isEmpty {
            let acked = plan.flaggedKeys.count - pending.count
            var byReason: [EvidenceReason: Int] = [:]
            for flag in plan.flaggedKeys { byReason[flag.reason.name, default: 0] += 1 }
            let counts = byReason.keys.sorted().map { "\($0.rawValue) \(byReason[$0]!)" }.joined(separator: ", ")
            section("Evidence: \(plan.flaggedKeys.count) flags (\(counts)), \(acked) acknowledged (one per reason)")
            for (i, flag) in pending.enumerated() {
                let box = c.marks.contains(flag.keyId) ? (s.isASCII ? "[*]" : "[\(s.mark)]") : "[ ]"
                let name = TextWidth.pad(flag.aliases.first ?? String(flag.keyId.prefix(13)) + "…", to: 26)
                let reason = TextWidth.pad(flag.reason.name.rawValue, to: 8)
                out.append(Line(text: " \(box) \(name) \(reason) \(TeardownPlanText.reason(flag.reason, now: now, short: true))",
                                style: Style(flag.reason.name == .observed || flag.reason.name == .refused ? .danger : .warning), flag: i))
            }
            // Acknowledged flags in the same order as the pending ones (by alias, then id), whatever order they were acknowledged in.
            for flag in TeardownController.displayOrder(plan.flaggedKeys.filter(\.isAcknowledged)) {
                out.append(Line(text: " \(s.check) \(TextWidth.pad(flag.aliases.first ?? flag.keyId, to: 26)) "
                                + "\(TextWidth.pad(flag.reason.name.rawValue, to: 8)) acknowledged", style: Style(.muted)))
            }
        }
        for w in plan.warnings {
            let role: Role = w.kind == .externalKeysUntouched ? .normal : (w.isAcknowledged ? .muted : .warning)
            out.append(Line(text: " \(s.warning) \(w.message)" + (w.isAcknowledged ? " (acknowledged)" : ""), style: Style(role)))
            if w.kind == .keyMaterialWillBeOrphaned && !w.isAcknowledged {
                out.append(Line(text: "   Enter reconnects when offered; P goes on without reconnecting (orphans the material)", style: Style(.muted)))
            }
        }
        for note in plan.notes { out.append(Line(text: " \(note)", style: Style(.muted))) }
        if let option = plan.disconnectOnly {
            section("Alternative: disconnect only (o)")
            let unavailable = option.isAvailable ? "" : " Not available: \(option.unavailableReason ?? "")."
            out.append(Line(text: " \(option.explanation)\(unavailable)", style: Style(.normal)))
        }
        if plan.abort == nil, let watched = plan.observation, !watched.disabledByTeardown.isEmpty {
            out.append(Line(text: " \(c.keyName(.abortTeardown)) aborts the observation: EnableKey on exactly the "
                            + "\(TeardownText.count(watched.disabledByTeardown.count, "key")) the teardown disabled (tag \(ObservationMark.teardownTag)), nothing else.",
                            style: Style(.muted)))
        }
        if let abort = plan.abort {
            out.append(Line(text: " \(c.keyName(.abortTeardown)) aborts the teardown: CancelKeyDeletion on \(TeardownText.count(abort.keyIds.count, "key")) it scheduled (they come back Disabled"
                            + (abort.enableAgain.isEmpty ? ")." : "; the \(abort.enableAgain.count) Enabled before can then be enabled again)."),
                            style: Style(.muted)))
        }
        section(plan.status == .done ? "Not deleted" : "Not deleted by this teardown")
        for item in plan.notDeleted { out.append(Line(text: " - \(item)", style: Style(.muted))) }
        return out
    }

    /// Wraps long lines at spaces so nothing is cut off (flag lines stay selectable on their first row).
    static func wrap(_ lines: [Line], width: Int) -> [Line] {
        lines.flatMap { line -> [Line] in
            let leadWidth = TextWidth.of(line.lead)
            if leadWidth > 0 || line.style.role == .border {
                // Checklist rows and section rules stay on one line (truncated when narrow): the seven steps must
                // fit at 80x24, and a rule wrapped in two reads as two sections.
                return [line]
            }
            let indent = line.text.prefix { $0 == " " }.count
            let text = String(line.text.dropFirst(indent))
            let pieces = Dialog.wrap(text, width: max(10, width - 1 - indent - 2))
            let first = String(repeating: " ", count: indent)
            let rest = String(repeating: " ", count: indent + 2)
            return pieces.enumerated().map { i, piece in
                i == 0 ? Line(text: first + piece, style: line.style, flag: line.flag)
                    : Line(text: rest + piece, style: line.style)
            }
        }
    }
}

extension ConsoleApp {
    /// Draws the teardown view in `rect`.
    func drawTeardown(_ c: TeardownController, in rect: Rect, on surface: any Surface) {
        let now = coreNow
        let head = TeardownView.wrap(TeardownView.head(c, now: now, width: rect.width, symbols), width: rect.width)
        var y = rect.row
        for line in head.prefix(rect.height) {
            let lead = TextWidth.of(line.lead)
            if lead > 0 { surface.put(y, 0, line.lead, line.leadStyle) }
            surface.put(y, lead, TextWidth.truncate(line.text, to: max(0, rect.width - lead), ellipsis: symbols.ellipsis), line.style)
            y += 1
        }
        let room = rect.bottom - y
        guard room > 0 else { return }
        var body = TeardownView.wrap(TeardownView.body(c, now: now, width: rect.width, symbols), width: rect.width)
        body = body.map { line in
            var line = line
            if line.style.role == .border {
                let label = " \(line.text) "
                line.text = symbols.horizontal + symbols.horizontal + label
                    + String(repeating: symbols.horizontal, count: max(0, rect.width - 2 - TextWidth.of(label)))
            }
            return line
        }
        // Keep the flagged key under the cursor in view.
        if let cursorLine = body.firstIndex(where: { $0.flag == c.cursor }) {
            if cursorLine < c.scroll { c.scroll = cursorLine }
            if cursorLine >= c.scroll + room { c.scroll = cursorLine - room + 1 }
        }
        c.scroll = max(0, min(c.scroll, max(0, body.count - room)))
        for line in body.dropFirst(c.scroll).prefix(room) {
            var style = line.style
            if let f = line.flag, f == c.cursor, dialog == nil, c.nameEntry == nil { style = Style(.cursor) }
            surface.put(y, 0, TextWidth.pad(line.text, to: rect.width, ellipsis: symbols.ellipsis), style)
            y += 1
        }
        if let entry = c.nameEntry { drawNameEntry(c, entry: entry, in: rect, on: surface) }
    }

    /// The final delete's confirmation: the store's name must be typed.
    func drawNameEntry(_ c: TeardownController, entry: String, in area: Rect, on surface: any Surface) {
        let width = max(24, min(area.width - 2, 76))
        guard area.height >= 8 else { return }
        var lines: [(String, Style)] = [
            ("Store: \(c.storeName) (\(c.storeId)): no keys left, DISCONNECTED", .normal),
            ("Call: DeleteCustomKeyStore {\"CustomKeyStoreId\": \"\(c.storeId)\"}", Style(.muted)),
            ("Irreversible: the store cannot be recovered (a new one can be created on the same backing store).", Style(.danger)),
        ]
        if let items = c.plan?.notDeleted.prefix(2) { lines += items.map { ("Not deleted: \($0)", Style(.muted)) } }
        var wrapped: [(String, Style)] = []
        for (t, st) in lines { for p in Dialog.wrap(t, width: width - 4) { wrapped.append((p, st)) } }
        let height = min(area.height, wrapped.count + 6)
        let top = area.row + max(0, (area.height - height) / 2)
        let left = area.column + max(0, (area.width - width) / 2)
        let inner = width - 2
        Dialog.drawBox(on: surface, in: area, top: top, left: left, width: width, height: height, title: "Delete \(c.storeName)?",
                       symbols: symbols)
        for (i, line) in wrapped.prefix(max(0, height - 5)).enumerated() {
            surface.put(top + 1 + i, left + 2, line.0, line.1.role == .normal ? Style(.dialog) : line.1)
        }
        let prompt = "Type the store's name to delete it: "
        surface.put(top + height - 3, left + 2, prompt, Style(.dialog, [.bold]))
        surface.put(top + height - 3, left + 2 + TextWidth.of(prompt),
                    TextWidth.truncate(entry + (symbols.isASCII ? "_" : "▏"), to: max(1, inner - 3 - TextWidth.of(prompt))), Style(.prompt))
        let hint = entry == c.storeName ? "Enter deletes the store · Esc cancels" : "Enter with another name changes nothing · Esc cancels"
        surface.put(top + height - 2, left + 2, TextWidth.truncate(hint, to: inner - 2, ellipsis: symbols.ellipsis), Style(.muted))
    }
}
