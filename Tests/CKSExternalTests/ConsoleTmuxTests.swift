import Foundation
import Testing

/// The console end to end under tmux against the real binary (issues 4 and 5): `cks --demo` in a
/// 120x40 session with LANG=C.UTF-8, keys sent with send-keys, the screen read with capture-pane.
/// Skipped (with the reason) while `cks console` / `cks teardown` are still placeholders.
@Suite("console under tmux")
struct ConsoleTmuxTests {
    /// Keeps the demo's files (data, journal, config) out of the user's home.
    static func isolatedEnvironment(_ scratch: TemporaryDirectory) -> [String: String] {
        [
            "XDG_DATA_HOME": scratch.url.appendingPathComponent("data").path,
            "XDG_STATE_HOME": scratch.url.appendingPathComponent("state").path,
            "XDG_CONFIG_HOME": scratch.url.appendingPathComponent("config").path,
            "HOME": scratch.url.path,
            "ESCDELAY": "25",
        ]
    }

    static let uuidPattern = #"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"#

    static func firstMatch(_ pattern: String, in text: String) -> String? {
        guard let range = text.range(of: pattern, options: .regularExpression) else { return nil }
        return String(text[range])
    }

    /// The key bound to an action, read from the help overlay (`?`), which issue 4 generates from the
    /// same binding table as the footer: the cell before the first cell mentioning `action`.
    static func binding(for action: String, in help: String) -> String? {
        for line in help.split(separator: "\n") where line.lowercased().contains(action.lowercased()) {
            let cells = line.split(separator: "  ", omittingEmptySubsequences: true)
                .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " │|")) }
                .filter { !$0.isEmpty }
            if let index = cells.firstIndex(where: { $0.lowercased().contains(action.lowercased()) }), index > 0 {
                return cells[index - 1]
            }
        }
        return nil
    }

    /// A tmux key name for a binding as help shows it (`d`, `D`, `space`, `ctrl-d`, `C-d`).
    static func tmuxKey(_ shown: String) -> String {
        let lower = shown.lowercased()
        if lower == "space" || lower == "␣" { return "Space" }
        if lower == "enter" || lower == "⏎" { return "Enter" }
        if lower.hasPrefix("ctrl-") || lower.hasPrefix("ctrl+") { return "C-" + lower.dropFirst(5) }
        if lower.hasPrefix("^") && shown.count == 2 { return "C-" + lower.dropFirst() }
        return shown
    }

    @Test("browse stores → keys → detail, filter, mark, schedule and cancel deletion, resize, quit",
          .enabled(if: ExternalTools.usable(.tmux), "needs tmux (CKS_REQUIRE_EXTERNAL=1 turns this skip into a failure)"),
          .enabled(if: CksFeatures.consoleBuilt, "`cks console` is still a placeholder (no --demo): console issue not landed"))
    func browseAndActOnKeys() async throws {
        try ExternalTools.require(.tmux)
        let binary = try #require(Locations.cksBinary)
        let scratch = try TemporaryDirectory(prefix: "cks-qa-console")
        defer { scratch.remove() }
        try await withTmux([binary.path, "--demo"], environment: Self.isolatedEnvironment(scratch)) { tmux in
            // Stores screen: header with EMBEDDED; the demo's states in words, FAILED with its code.
            let stores = try await tmux.waitFor("the stores screen of the demo estate", timeout: .seconds(60)) {
                $0.contains("EMBEDDED") && $0.contains("CONNECTED") && $0.contains("DISCONNECTED") && $0.contains("FAILED (")
            }
            #expect(stores.contains("AWS_CLOUDHSM") || stores.contains("CloudHSM"), "store types shown:\n\(stores)")
            #expect(stores.contains("EXTERNAL_KEY_STORE") || stores.contains("External"), "store types shown:\n\(stores)")

            // Filter by the name of the store on the first data row that is CONNECTED and has keys.
            let storeId = try #require(Self.firstMatch(#"cks-[0-9a-f]{17}"#, in: stores), "store ids on screen:\n\(stores)")
            try await tmux.send("/")
            try await tmux.send(storeId, literal: true)
            try await tmux.send("Enter")
            let filtered = try await tmux.waitFor("the filter applied") { screen in
                screen.contains(storeId) && screen.components(separatedBy: "cks-").count - 1 <= 2
            }
            #expect(filtered.contains(storeId))
            try await tmux.send("Escape")
            try await tmux.waitFor("the filter cleared") { $0.components(separatedBy: "cks-").count - 1 > 2 }

            // Enter on a store → its keys (ids, states); Enter on a key → every DescribeKey field.
            try await tmux.send("Enter")
            let keys = try await tmux.waitFor("the keys screen", timeout: .seconds(30)) {
                $0.range(of: Self.uuidPattern, options: .regularExpression) != nil
            }
            let keyId = try #require(Self.firstMatch(Self.uuidPattern, in: keys))
            try await tmux.send("Enter")
            let detail = try await tmux.waitFor("the key detail") {
                $0.contains(keyId) && $0.contains("KeySpec") || $0.contains("Origin") && $0.contains(keyId)
            }
            for field in ["Origin", "CustomKeyStoreId", "KeyState", "CreationDate"] {
                #expect(detail.contains(field), "DescribeKey field \(field) on the detail screen:\n\(detail)")
            }
            try await tmux.send("Escape")
            try await tmux.waitFor("back on the keys screen") { !$0.contains("KeySpec") && $0.contains(keyId) }

            // The action keys come from the help overlay (generated from the binding table).
            try await tmux.send("?")
            let help = try await tmux.waitFor("the help overlay") { $0.lowercased().contains("schedule") }
            let schedule = try #require(Self.binding(for: "schedule", in: help), "no schedule binding in help:\n\(help)")
            let cancel = try #require(Self.binding(for: "cancel deletion", in: help), "no cancel-deletion binding in help:\n\(help)")
            try await tmux.send("Escape")
            try await tmux.waitFor("help closed") { !$0.lowercased().contains("cancel deletion") || $0.contains(keyId) }

            // Mark two keys, schedule their deletion: the dialog names the call, Cancel is focused.
            try await tmux.send("Space")
            try await tmux.send("Down")
            try await tmux.send("Space")
            try await tmux.send(Self.tmuxKey(schedule))
            let dialog = try await tmux.waitFor("the schedule dialog") { $0.contains("ScheduleKeyDeletion") }
            #expect(dialog.contains("30") || dialog.contains("7"), "the window is shown:\n\(dialog)")
            // Enter on the focused Cancel does nothing.
            try await tmux.send("Enter")
            try await tmux.waitFor("the dialog closed") { !$0.contains("ScheduleKeyDeletion") }
            #expect(!(try await tmux.capture()).contains("PendingDeletion") || keys.contains("PendingDeletion"),
                    "Cancel in the dialog must change nothing")
            // Now confirm: move off Cancel, confirm (irreversible ones need more than one press).
            try await tmux.send(Self.tmuxKey(schedule))
            try await tmux.waitFor("the schedule dialog again") { $0.contains("ScheduleKeyDeletion") }
            try await tmux.send("Tab")
            try await tmux.send("Enter")
            var screen = try await tmux.capture()
            if screen.contains("ScheduleKeyDeletion") {   // a second confirmation step
                try await tmux.send("Enter")
            }
            screen = try await tmux.waitFor("two keys pending deletion") {
                $0.components(separatedBy: "PendingDeletion").count - 1 >= 2
            }
            // Cancel deletion of the marked keys → Disabled (as AWS does).
            try await tmux.send(Self.tmuxKey(cancel))
            try await tmux.waitFor("the cancel dialog") { $0.contains("CancelKeyDeletion") }
            try await tmux.send("Tab")
            try await tmux.send("Enter")
            screen = try await tmux.capture()
            if screen.contains("CancelKeyDeletion") { try await tmux.send("Enter") }
            try await tmux.waitFor("the keys Disabled again") { $0.contains("Disabled") }

            // Resize: below 80x24 a notice, back to normal after.
            try await tmux.resize(width: 70, height: 20)
            try await tmux.waitFor("terminal too small")
            try await tmux.resize(width: 100, height: 30)
            try await tmux.waitFor("the keys after growing again") { $0.contains(keyId) || $0.range(of: Self.uuidPattern, options: .regularExpression) != nil }

            // Quit: the program exits 0 and the terminal is restored (alternate screen left).
            try await tmux.send("q")
            let deadline = ContinuousClock.now + .seconds(15)
            var dead = (dead: false, status: "")
            while ContinuousClock.now < deadline {
                dead = try await tmux.paneDead()
                if dead.dead && !dead.status.isEmpty { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(dead.dead && dead.status == "0", "cks exited after q with status \(dead.status)")
            let after = try await tmux.capture()
            #expect(!after.contains("EMBEDDED"), "the console's screen is gone after quitting (terminal restored):\n\(after)")
        }
    }

    @Test("a whole teardown of a demo store with fast-forward",
          .enabled(if: ExternalTools.usable(.tmux), "needs tmux (CKS_REQUIRE_EXTERNAL=1 turns this skip into a failure)"),
          .enabled(if: CksFeatures.consoleBuilt && CksFeatures.teardownBuilt,
                   "`cks console`/`cks teardown` are still placeholders: console and teardown issues not landed"))
    func demoTeardownWithFastForward() async throws {
        try ExternalTools.require(.tmux)
        let binary = try #require(Locations.cksBinary)
        let scratch = try TemporaryDirectory(prefix: "cks-qa-teardown")
        defer { scratch.remove() }
        try await withTmux([binary.path, "--demo"], environment: Self.isolatedEnvironment(scratch)) { tmux in
            let stores = try await tmux.waitFor("the stores screen", timeout: .seconds(60)) {
                $0.contains("EMBEDDED") && $0.contains("CONNECTED")
            }
            let storeId = try #require(Self.firstMatch(#"cks-[0-9a-f]{17}"#, in: stores))
            try await tmux.send(":")
            try await tmux.send("teardown \(storeId)", literal: true)
            try await tmux.send("Enter")
            try await tmux.waitFor("the teardown plan") { $0.contains("ScheduleKeyDeletion") || $0.lowercased().contains("schedule") }
            // The plan is driven by its one action per step; fast-forward skips the wait (demo only).
            try await tmux.waitFor("the plan's steps") { $0.lowercased().contains("disconnect") && $0.lowercased().contains("delete") }
        }
    }
}
