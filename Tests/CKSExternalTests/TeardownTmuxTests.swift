import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The guided teardown end to end under tmux against the real binary: an aborted teardown
/// (the keys come back Disabled and enabling them again is offered), and a teardown resumed after the console
/// was killed with SIGKILL mid-wait (the journal survives, the console offers to resume, the plan is what the
/// core holds). The whole teardown with fast-forward is in `ConsoleTmuxTests`.
@Suite("teardown under tmux")
struct TeardownTmuxTests {
    typealias UI = ConsoleTmuxTests

    /// Opens `:teardown STORE`, acknowledges every flagged key, schedules deletion of every key (default window)
    /// and waits until the plan waits for the deletions. Returns the screen.
    static func scheduleEverything(_ store: String, in tmux: TmuxSession) async throws -> String {
        try await tmux.send(":")
        try await tmux.send("teardown \(store)", literal: true)
        try await tmux.send("Enter")
        var plan = try await tmux.waitFor("the use check of \(store) done", timeout: UI.useCheckTimeout) {
            $0.contains("Teardown") && ($0.contains("to acknowledge") || $0.contains("Enter opens the ScheduleKeyDeletion dialog"))
        }
        if plan.contains("to acknowledge") {
            try await UI.press("Y", until: "the acknowledge dialog", in: tmux) { $0.contains("Acknowledge ") && $0.contains("Cancel") }
            try await UI.confirmDialog("Acknowledge", in: tmux)
            plan = try await tmux.waitFor("every flagged key acknowledged") { $0.contains("Enter opens the ScheduleKeyDeletion dialog") }
        }
        try await UI.press("Enter", until: "the schedule dialog", in: tmux) { $0.contains("Schedule deletion of") }
        try await UI.confirmDialog("Schedule deletion of", in: tmux)
        return try await tmux.waitFor("waiting for the deletions of \(store)", timeout: .seconds(60)) {
            $0.contains("Waiting: ") && $0.contains("keys left; last deletion")
        }
    }

    /// "CancelKeyDeletion on 22 keys it scheduled" → 22.
    static func abortableCount(_ screen: String) -> Int? {
        screen.firstMatch(of: #/CancelKeyDeletion on (\d+) keys? it scheduled/#).flatMap { Int($0.1) }
    }

    @Test("abort during the wait: every key the teardown scheduled comes back Disabled, enabling them again is offered",
          .enabled(if: ExternalTools.usable(.tmux), "needs tmux (CKS_REQUIRE_EXTERNAL=1 turns this skip into a failure)"))
    func abortedTeardown() async throws {
        try ExternalTools.require(.tmux)
        let binary = try Locations.requireCksBinary()
        let scratch = try TemporaryDirectory(prefix: "cks-qa-abort")
        defer { scratch.remove() }
        try await withTmux([binary.path, "--demo"], environment: UI.isolatedEnvironment(scratch)) { tmux in
            let stores = try await UI.waitForCountedStores("the stores screen", in: tmux) { $0.contains("EMBEDDED") }
            // The external key store with keys: some Enabled, some Disabled, two pending deletion by someone else.
            let target = try #require(UI.storeRows(stores).first { $0.name == "partner-xks" }, "partner-xks:\n\(stores)")
            let waiting = try await Self.scheduleEverything(target.name, in: tmux)
            let scheduled = try #require(Self.abortableCount(waiting), "the abort offer names the keys:\n\(waiting)")
            #expect(scheduled > 0 && scheduled < target.keys, "keys pending before the teardown are not its own:\n\(waiting)")

            // X: a dialog naming CancelKeyDeletion and the consequence (Disabled, not Enabled); confirm.
            let dialog = try await UI.press("X", until: "the abort dialog", in: tmux) { $0.contains("Abort the teardown of \(target.name)?") }
            #expect(dialog.contains("CancelKeyDeletion") && dialog.contains("Disabled"), "the call and its consequence:\n\(dialog)")
            try await UI.confirmDialog("Abort the teardown of", in: tmux)
            // Offered: only the keys that were Enabled when the teardown scheduled them (partner-xks had 3 Disabled).
            let offer = try await tmux.waitFor("the enable-again offer", timeout: .seconds(60)) {
                $0.contains("Enable \(scheduled - 3) keys again?")
            }
            #expect(offer.contains("EnableKey"), "the offer names its call:\n\(offer)")
            // Declined: the keys stay Disabled, and the view says so.
            try await tmux.send("Escape")
            let after = try await tmux.waitFor("the offer closed, the abort's result shown") {
                !$0.contains("keys again?") && $0.contains("\(scheduled) keys given back by the abort are Disabled")
            }
            #expect(after.contains("CancelKeyDeletion: \(scheduled) of \(scheduled) succeeded"), "per-key results:\n\(after)")
            #expect(Self.abortableCount(after) == nil, "nothing left to abort:\n\(after)")

            // On the Keys screen: the teardown's keys Disabled, the two pending before it still pending, none Enabled.
            try await tmux.send("Escape")
            try await tmux.waitFor("the stores again") { UI.storeRows($0).contains { $0.id == target.id } }
            try await tmux.send(":")
            try await tmux.send("keys \(target.name)", literal: true)
            try await tmux.send("Enter")
            let keys = try await tmux.waitFor("every key of \(target.name)", timeout: .seconds(30)) {
                UI.keyRows($0).count == target.keys
            }
            let states = UI.keyRows(keys).map(\.state)
            #expect(states.filter { $0 == "Disabled" }.count == scheduled, "the aborted keys are Disabled:\n\(keys)")
            #expect(states.filter { $0 == "PendingDeletion" }.count == target.keys - scheduled, "others' pending keys untouched:\n\(keys)")
            #expect(!states.contains("Enabled"), "nothing is Enabled before the operator enables it:\n\(keys)")
            try await tmux.send("q")
            _ = try await tmux.waitForExit()
        }
    }

    @Test("a teardown resumed after the console is killed mid-wait: journal intact, resume offered, the plan is the core's",
          .enabled(if: ExternalTools.usable(.tmux, .python3, .boto3),
                   "needs tmux, python3 and boto3 (CKS_REQUIRE_EXTERNAL=1 turns this skip into a failure)"))
    func resumedAfterKill() async throws {
        try ExternalTools.require(.tmux, .python3, .boto3)
        let binary = try Locations.requireCksBinary()
        // Real time: the 30-day wait does not pass while the test runs; the core outlives both consoles.
        try await withServe { core in
            let state = core.logDirectory.appendingPathComponent("teardown-state.json")
            let setup = try await Python.run("suite_scripted_teardown.py", ["setup", state.path], core: core)
            guard setup.status == 0 else { Issue.record(suiteFailureReport(setup, core: core)); return }
            let info = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: state)) as? [String: Any])
            let target = try #require(info["target"] as? String)
            let keyCount = try #require(info["keys"] as? [String]).count
            let scratch = try TemporaryDirectory(prefix: "cks-qa-resume")
            defer { scratch.remove() }
            var environment = UI.isolatedEnvironment(scratch)
            environment.merge(core.awsEnvironment()) { _, new in new }
            let journal = scratch.url.appendingPathComponent("state/cks/teardowns.jsonl")

            // First console: schedule every key of the target, then SIGKILL it while the teardown waits.
            try await withTmux([binary.path, "--endpoint", core.endpoint.absoluteString], environment: environment) { tmux in
                try await tmux.waitFor("the stores screen", timeout: .seconds(60)) { $0.contains("REMOTE") && $0.contains(target) }
                let waiting = try await Self.scheduleEverything(target, in: tmux)
                #expect(waiting.contains("Waiting: \(keyCount) keys left"), "\(waiting)")
                let pid = try #require(Int32(try await tmux.tmux(["display-message", "-p", "-t", tmux.name, "#{pane_pid}"])
                    .stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "the console's pid")
                #expect(kill(pid, SIGKILL) == 0)
                let exit = try await tmux.waitForExit()
                // (tmux does not always fill in #{pane_dead_signal} in time: the pane being dead is what counts.)
                #expect(exit.dead, "the console died of SIGKILL: \(exit)")
            }

            // The journal survived the kill: every line JSON, the scheduling recorded with its targets.
            let lines = ((try? String(contentsOf: journal, encoding: .utf8)) ?? "").split(separator: "\n")
            #expect(!lines.isEmpty, "a journal at \(journal.path)")
            for line in lines {
                #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any], "journal line is JSON: \(line)")
            }
            #expect(lines.contains { $0.contains("ScheduleKeyDeletion") && $0.contains(target) }, "\(lines)")
            let pending = try await Python.run("suite_scripted_teardown.py", ["pending", state.path], core: core)
            if pending.status != 0 { Issue.record(suiteFailureReport(pending, core: core)) }

            // Second console: the teardown in progress is offered at start; resuming shows the core's plan.
            try await withTmux([binary.path, "--endpoint", core.endpoint.absoluteString], environment: environment) { tmux in
                let offer = try await tmux.waitFor("the resume offer", timeout: .seconds(60)) {
                    $0.contains("1 teardown in progress") && $0.contains("Resume")
                }
                #expect(offer.contains(target) && offer.contains("\(keyCount) keys scheduled"), "the offer names the store:\n\(offer)")
                try await tmux.send("Tab")
                try await tmux.send("Enter")
                let resumed = try await tmux.waitFor("the resumed plan", timeout: .seconds(60)) {
                    $0.contains("Teardown") && $0.contains("Waiting: ")
                }
                #expect(resumed.contains("Waiting: \(keyCount) keys left; last deletion"), "the plan counts what the core holds:\n\(resumed)")
                #expect(resumed.contains("X aborts the teardown: CancelKeyDeletion on \(keyCount) keys it scheduled"),
                        "the journal's record makes the keys this teardown's own (abortable):\n\(resumed)")
                for step in ["Inventory keys", "Check use", "Schedule deletion"] {
                    #expect(resumed.split(separator: "\n").contains { $0.contains(step) && ($0.contains("✓") || $0.contains("[x]")) },
                            "\(step) is done:\n\(resumed)")
                }
                try await tmux.send("q")
                _ = try await tmux.waitForExit()
            }
            let after = ((try? String(contentsOf: journal, encoding: .utf8)) ?? "").split(separator: "\n")
            #expect(Array(after.prefix(lines.count)) == lines, "the journal only grows")
        }
    }
}
