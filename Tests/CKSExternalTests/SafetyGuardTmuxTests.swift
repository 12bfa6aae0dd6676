import Foundation
import Testing

/// The console's safety guards under tmux against the real binary: an abort gives back exactly what the teardown
/// changed, the "next step" key never acknowledges a flagged key, the demo's fast-forward asks first and names what
/// it deletes in other stores, every dialog carries every consequence, and wrong credentials show what to check.
@Suite("safety guards under tmux")
struct SafetyGuardTmuxTests {
    typealias UI = ConsoleTmuxTests

    /// The text inside the dialog box whose title contains `title`, as one line: the rows between its top and bottom
    /// border, cut to what lies between the box's side borders (what shows around the box is not part of the dialog),
    /// joined with spaces so a sentence the dialog wrapped reads whole.
    static func dialogText(_ screen: String, title: String) -> String? {
        let lines = screen.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0) }
        guard let top = lines.firstIndex(where: { String($0).contains(title) && ($0.contains("┌") || $0.contains("+")) }) else { return nil }
        let topLine = lines[top]
        guard let left = topLine.firstIndex(where: { $0 == "┌" || $0 == "+" }),
              let right = topLine.lastIndex(where: { $0 == "┐" || $0 == "+" }), right > left else { return nil }
        var inside: [String] = [String(topLine[left...right])]
        for line in lines[(top + 1)...] {
            guard line.count > left else { break }
            let piece = String(line[left...min(right, line.count - 1)])
            if piece.hasPrefix("└") || piece.hasPrefix("+-") { break }
            inside.append(piece.trimmingCharacters(in: CharacterSet(charactersIn: "│| ")))
        }
        return inside.filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// "88 keys to acknowledge" → 88.
    static func toAcknowledge(_ screen: String) -> Int? {
        screen.firstMatch(of: #/(\d+) keys? to acknowledge/#).flatMap { Int($0.1) }
    }

    /// Opens `:teardown STORE` and waits for the use check to finish.
    static func openTeardown(_ store: String, in tmux: TmuxSession) async throws -> String {
        try await tmux.send(":")
        try await tmux.send("teardown \(store)", literal: true)
        try await tmux.send("Enter")
        return try await tmux.waitFor("the use check of \(store) done", timeout: UI.useCheckTimeout) {
            $0.contains("Teardown") && ($0.contains("to acknowledge") || $0.contains("Enter opens the ScheduleKeyDeletion dialog"))
        }
    }

    @Test("Enter on the blocked use check acknowledges nothing; y and Y open the acknowledge dialog", .tags(.safety),
          .enabled(if: ExternalTools.usable(.tmux), "needs tmux (CKS_REQUIRE_EXTERNAL=1 turns this skip into a failure)"))
    func enterNeverAcknowledges() async throws {
        try ExternalTools.require(.tmux)
        let binary = try Locations.requireCksBinary()
        let scratch = try TemporaryDirectory(prefix: "cks-qa-enter")
        defer { scratch.remove() }
        try await withTmux([binary.path, "--demo"], environment: UI.isolatedEnvironment(scratch)) { tmux in
            try await UI.waitForCountedStores("the stores screen", in: tmux) { $0.contains("EMBEDDED") }
            _ = try await Self.openTeardown("payments-hsm", in: tmux)
            // The use check over: the view is blocked on the flagged keys and nothing runs.
            let blocked = try await tmux.waitFor("the view blocked on flagged keys, idle", timeout: .seconds(60)) {
                $0.contains("Blocked:") && $0.contains("acknowledges the key under the cursor")
                    && !$0.contains("Checking when") && !$0.contains("Observing")
            }
            let before = try #require(Self.toAcknowledge(blocked), "the use check flags recently used keys:\n\(blocked)")
            // Holding Enter ("next step") must not clear the safety check.
            for _ in 0..<6 {
                try await tmux.send("Enter")
                try await Task.sleep(for: .milliseconds(300))
            }
            try await Task.sleep(for: .seconds(2))
            let after = try await tmux.capture()
            #expect(Self.toAcknowledge(after) == before, "Enter acknowledged flagged keys:\n\(after)")
            #expect(!after.contains("Acknowledged 1 key"), "Enter acknowledged a key without a dialog:\n\(after)")
            // y on the key under the cursor asks first, with Cancel selected; Esc leaves the count as it was.
            let dialog = try await UI.press("y", until: "the acknowledge dialog for one key", in: tmux, timeout: .seconds(20)) {
                $0.contains("Acknowledge 1 flagged key?")
            }
            #expect(dialog.contains("[ Cancel ]"), "\(dialog)")
            try await tmux.send("Escape")
            let closed = try await tmux.waitFor("the dialog closed") { !$0.contains("Acknowledge 1 flagged key?") }
            #expect(Self.toAcknowledge(closed) == before, "Esc acknowledged nothing:\n\(closed)")
            try await tmux.send("q")
            _ = try await tmux.waitForExit()
        }
    }

    @Test("the schedule dialog of a DISCONNECTED CloudHSM store says the key material will be orphaned", .tags(.safety),
          .enabled(if: ExternalTools.usable(.tmux), "needs tmux (CKS_REQUIRE_EXTERNAL=1 turns this skip into a failure)"))
    func scheduleDialogCarriesTheOrphanWarning() async throws {
        try ExternalTools.require(.tmux)
        let binary = try Locations.requireCksBinary()
        let scratch = try TemporaryDirectory(prefix: "cks-qa-orphan")
        defer { scratch.remove() }
        try await withTmux([binary.path, "--demo"], environment: UI.isolatedEnvironment(scratch)) { tmux in
            try await UI.waitForCountedStores("the stores screen", in: tmux) { $0.contains("ledger-hsm") }
            let plan = try await Self.openTeardown("ledger-hsm", in: tmux)
            if plan.contains("to acknowledge") {
                try await UI.press("Y", until: "the acknowledge dialog", in: tmux) { $0.contains("Acknowledge ") && $0.contains("Cancel") }
                try await UI.confirmDialog("Acknowledge", in: tmux)
                try await tmux.waitFor("every flagged key acknowledged") { $0.contains("Enter opens the ScheduleKeyDeletion dialog") }
            }
            let screen = try await UI.press("Enter", until: "the schedule dialog", in: tmux) { $0.contains("Schedule deletion of") }
            let dialog = try #require(Self.dialogText(screen, title: "Schedule deletion of"), "a dialog box:\n\(screen)")
            #expect(dialog.contains("orphaned"), "the dialog itself names the orphaned key material:\n\(dialog)")
            #expect(dialog.contains("DISCONNECTED"), "the dialog says why (the store is DISCONNECTED):\n\(dialog)")
            try await tmux.send("Escape")
            try await tmux.send("q")
            _ = try await tmux.waitForExit()
        }
    }

    @Test("fast-forward asks first and lists what it deletes elsewhere; abort gives back exactly what the teardown changed",
          .tags(.safety),
          .enabled(if: ExternalTools.usable(.tmux), "needs tmux (CKS_REQUIRE_EXTERNAL=1 turns this skip into a failure)"))
    func fastForwardAsksAndAbortRestoresExactly() async throws {
        try ExternalTools.require(.tmux)
        let binary = try Locations.requireCksBinary()
        let scratch = try TemporaryDirectory(prefix: "cks-qa-restore")
        defer { scratch.remove() }
        try await withTmux([binary.path, "--demo"], environment: UI.isolatedEnvironment(scratch)) { tmux in
            try await UI.waitForCountedStores("the stores screen", in: tmux) { $0.contains("payments-hsm") }
            let waiting = try await TeardownTmuxTests.scheduleEverything("payments-hsm", in: tmux)
            let scheduled = try #require(TeardownTmuxTests.abortableCount(waiting), "\(waiting)")
            #expect(scheduled == 234, "240 keys, 6 pending before the teardown:\n\(waiting)")

            // F: a dialog first, naming every store whose keys it deletes and the material it orphans; Cancel selected.
            let screen = try await UI.press("F", until: "the fast-forward dialog", in: tmux, timeout: .seconds(20)) {
                $0.contains("Fast-forward the core's clock")
            }
            let dialog = try #require(Self.dialogText(screen, title: "Fast-forward the core's clock"), "\(screen)")
            #expect(dialog.contains("ledger-hsm") && dialog.contains("9 keys"),
                    "ledger-hsm's pending keys are listed:\n\(dialog)")
            #expect(dialog.contains("orphan"), "the key material ledger-hsm would orphan is named:\n\(dialog)")
            #expect(dialog.contains("partner-xks"), "partner-xks's pending keys are listed:\n\(dialog)")
            #expect(dialog.contains("[ Cancel ]"), "\(dialog)")
            try await tmux.send("Enter")   // on Cancel
            let kept = try await tmux.waitFor("the dialog closed") { !$0.contains("Fast-forward the core's clock") }
            #expect(kept.contains("Waiting: 240 keys left"), "Cancel changed nothing:\n\(kept)")

            // X: the abort dialog and the enable-again offer name the 12 keys that were Disabled before.
            let abort = try await UI.press("X", until: "the abort dialog", in: tmux) { $0.contains("Abort the teardown of payments-hsm?") }
            let abortText = try #require(Self.dialogText(abort, title: "Abort the teardown"), "\(abort)")
            #expect(abortText.contains("12 keys were Disabled before"), "\(abortText)")
            try await UI.confirmDialog("Abort the teardown of", in: tmux)
            let offer = try await tmux.waitFor("the enable-again offer", timeout: .seconds(60)) { $0.contains("keys again?") }
            let offerText = try #require(Self.dialogText(offer, title: "keys again?"), "\(offer)")
            #expect(offerText.contains("Enable 222 keys again?"), "only the keys Enabled before are offered:\n\(offerText)")
            #expect(offerText.contains("12 keys were Disabled before the teardown and stay Disabled"), "\(offerText)")
            try await UI.confirmDialog("keys again?", in: tmux)
            try await tmux.waitFor("the keys enabled again", timeout: .seconds(60)) { $0.contains("EnableKey: 222 of 222") }

            // The Keys screen: card-0001 (Disabled before) stays Disabled, card-0013 (Enabled before) is Enabled.
            try await tmux.send("Escape")
            try await tmux.send(":")
            try await tmux.send("keys payments-hsm", literal: true)
            try await tmux.send("Enter")
            for (alias, state) in [("card-0001", "Disabled"), ("card-0012", "Disabled"), ("card-0013", "Enabled")] {
                try await tmux.send("/")
                try await tmux.send(alias, literal: true)
                try await tmux.send("Enter")
                let row = try await tmux.waitFor("\(alias) listed", timeout: .seconds(30)) { screen in
                    UI.keyRows(screen).count == 1 && UI.keyRows(screen)[0].text.contains(alias)
                }
                #expect(UI.keyRows(row).first?.state == state, "\(alias) is \(state):\n\(row)")
                try await tmux.send("Escape")
            }
            try await tmux.send("q")
            _ = try await tmux.waitForExit()
        }
    }

    @Test("wrong credentials: within 10 s a banner with the AWS error, the credentials source, endpoint and region",
          .tags(.safety),
          .enabled(if: ExternalTools.usable(.tmux), "needs tmux (CKS_REQUIRE_EXTERNAL=1 turns this skip into a failure)"))
    func wrongCredentialsShowWhatToCheck() async throws {
        try ExternalTools.require(.tmux)
        let binary = try Locations.requireCksBinary()
        try await withServe { core in
            let scratch = try TemporaryDirectory(prefix: "cks-qa-creds")
            defer { scratch.remove() }
            var environment = UI.isolatedEnvironment(scratch)
            environment.merge(core.awsEnvironment()) { _, new in new }
            environment["AWS_ACCESS_KEY_ID"] = "AKIAWRONGWRONGWRONG0"
            environment["AWS_SECRET_ACCESS_KEY"] = "wrong-secret-wrong-secret-wrong-secret00"
            try await withTmux([binary.path, "--endpoint", core.endpoint.absoluteString], width: 80, height: 24, environment: environment) { tmux in
                let screen = try await tmux.waitFor("the credentials banner", timeout: .seconds(10)) {
                    !$0.contains("Loading") && $0.contains("UnrecognizedClientException") && $0.contains("Check")
                }
                let flat = screen.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
                #expect(flat.contains("AWS_ACCESS_KEY_ID"), "which credentials were used:\n\(screen)")
                #expect(flat.contains("127.0.0.1:\(core.port)") && flat.contains("us-east-1"), "endpoint and region:\n\(screen)")
                try await tmux.send("q")
                _ = try await tmux.waitForExit()
            }
        }
    }
}

extension Tag {
    /// The console's safety guards (an operator must never lose a key by mistake).
    @Tag static var safety: Self
}
