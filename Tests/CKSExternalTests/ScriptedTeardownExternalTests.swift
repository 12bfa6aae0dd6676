import Foundation
import Testing

/// `cks teardown STORE` against a started `cks serve`, checked afterwards with boto3.
@Suite("cks teardown against cks serve")
struct ScriptedTeardownExternalTests {
    @Test("--dry-run and a non-TTY run without --yes change nothing; --yes --wait tears the store down and nothing else",
          .enabled(if: ExternalTools.usable(.python3, .boto3),
                   "needs python3 with boto3 (CKS_REQUIRE_EXTERNAL=1 turns this skip into a failure)"))
    func scriptedTeardownWithWait() async throws {
        try ExternalTools.require(.python3, .boto3)
        let binary = try Locations.requireCksBinary()
        // 50,000 simulated seconds per second: a 7-day window passes in about 12 s.
        try await withServe(extraArguments: ["--time-scale", "50000"]) { core in
            let state = core.logDirectory.appendingPathComponent("teardown-state.json")
            let setup = try await Python.run("suite_scripted_teardown.py", ["setup", state.path], core: core)
            guard setup.status == 0 else { Issue.record(suiteFailureReport(setup, core: core)); return }
            let target = try #require(
                (try JSONSerialization.jsonObject(with: Data(contentsOf: state)) as? [String: Any])?["target"] as? String)
            let stateHome = core.logDirectory.appendingPathComponent("state")
            var environment = core.awsEnvironment()
            environment["XDG_STATE_HOME"] = stateHome.path
            environment["HOME"] = core.logDirectory.path
            func teardown(_ extra: [String], timeout: Duration = .seconds(180)) async throws -> ProcessResult {
                try await ProcessRunner.run([binary.path, "teardown", target, "--endpoint", core.endpoint.absoluteString] + extra,
                                            environment: environment, timeout: timeout)
            }

            let dryRun = try await teardown(["--dry-run", "--window-days", "7", "--acknowledge-flagged"])
            #expect(dryRun.status == 12, "--dry-run with changes to make exits 12:\n\(dryRun)")
            #expect(dryRun.stdout.contains("ScheduleKeyDeletion"), "the dry run prints the plan:\n\(dryRun)")
            let afterDryRun = try await Python.run("suite_scripted_teardown.py", ["unchanged", state.path], core: core)
            if afterDryRun.status != 0 { Issue.record(suiteFailureReport(afterDryRun, core: core)) }

            let refused = try await teardown(["--window-days", "7", "--acknowledge-flagged"])
            #expect(refused.status != 0 && refused.status != 10 && !refused.timedOut,
                    "without --yes on a non-TTY the teardown refuses:\n\(refused)")
            let afterRefusal = try await Python.run("suite_scripted_teardown.py", ["unchanged", state.path], core: core)
            if afterRefusal.status != 0 { Issue.record(suiteFailureReport(afterRefusal, core: core)) }
            // Neither wrote anything a later run would obey (no window, no acknowledgement, no teardown to resume).
            let journalAfterRefusal = (try? String(contentsOf: stateHome.appendingPathComponent("cks/teardowns.jsonl"), encoding: .utf8)) ?? ""
            #expect(journalAfterRefusal.isEmpty, "a dry run and a refused run leave the journal empty:\n\(journalAfterRefusal)")

            let run = try await teardown(["--yes", "--wait", "--window-days", "7", "--acknowledge-flagged",
                                          "--poll-seconds", "0.5", "--output", "json"], timeout: .seconds(300))
            #expect(run.status == 0, "teardown --yes --wait exits 0 once the store is deleted:\n\(run)")
            let verify = try await Python.run("suite_scripted_teardown.py", ["verify", state.path], core: core)
            if verify.status != 0 { Issue.record(suiteFailureReport(verify, core: core)) }

            // Every action is in the journal under the state directory.
            let journal = stateHome.appendingPathComponent("cks/teardowns.jsonl")
            let lines = ((try? String(contentsOf: journal, encoding: .utf8)) ?? "").split(separator: "\n")
            for operation in ["ScheduleKeyDeletion", "DisconnectCustomKeyStore", "DeleteCustomKeyStore"] {
                #expect(lines.contains { $0.contains(target) && $0.contains(operation) },
                        "journal \(journal.path) records \(operation) for \(target); last lines: \(lines.suffix(3))")
            }
            for line in lines {
                #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any], "journal line is JSON: \(line)")
            }
        }
    }

    @Test("--abort --enable-again: a store with 5 keys, 2 disabled beforehand, comes back with the 2 Disabled and the 3 Enabled",
          .enabled(if: ExternalTools.usable(.python3, .boto3),
                   "needs python3 with boto3 (CKS_REQUIRE_EXTERNAL=1 turns this skip into a failure)"))
    func scriptedAbortRestoresTheStateBefore() async throws {
        try ExternalTools.require(.python3, .boto3)
        let binary = try Locations.requireCksBinary()
        try await withServe { core in
            let state = core.logDirectory.appendingPathComponent("abort-state.json")
            let setup = try await Python.run("suite_scripted_teardown.py", ["setup-abort", state.path], core: core)
            guard setup.status == 0 else { Issue.record(suiteFailureReport(setup, core: core)); return }
            let info = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: state)) as? [String: Any])
            let target = try #require(info["target"] as? String)
            let disabled = Set(try #require(info["disabled"] as? [String]))
            let enabled = Set(try #require(info["enabled"] as? [String]))
            var environment = core.awsEnvironment()
            environment["XDG_STATE_HOME"] = core.logDirectory.appendingPathComponent("state").path
            environment["HOME"] = core.logDirectory.path
            func teardown(_ extra: [String]) async throws -> ProcessResult {
                try await ProcessRunner.run([binary.path, "teardown", target, "--endpoint", core.endpoint.absoluteString] + extra,
                                            environment: environment, timeout: .seconds(120))
            }

            let scheduled = try await teardown(["--yes", "--output", "json"])
            #expect(scheduled.status == 10, "every key scheduled, the teardown waits:\n\(scheduled)")
            let pending = try await Python.run("suite_scripted_teardown.py", ["pending", state.path], core: core)
            if pending.status != 0 { Issue.record(suiteFailureReport(pending, core: core)) }

            // Without --yes on a non-terminal the abort refuses too, and changes nothing.
            let refused = try await teardown(["--abort", "--enable-again"])
            #expect(refused.status == 11, "refused without --yes:\n\(refused)")

            let aborted = try await teardown(["--abort", "--enable-again", "--yes", "--output", "json"])
            #expect(aborted.status == 0, "the abort exits 0 when done:\n\(aborted)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(aborted.stdout.utf8)) as? [String: Any],
                                      "one JSON document:\n\(aborted.stdout)")
            let keys = try #require(report["keys"] as? [[String: Any]], "the keys, each with its state before and after:\n\(aborted.stdout)")
            #expect(Set(keys.compactMap { $0["keyId"] as? String }) == disabled.union(enabled))
            for key in keys {
                let id = key["keyId"] as? String ?? "?"
                let expected = disabled.contains(id) ? "Disabled" : "Enabled"
                #expect(key["stateBefore"] as? String == expected, "\(id) before: \(key)")
                #expect(key["stateAfter"] as? String == expected, "\(id) after: \(key)")
            }
            let restored = try await Python.run("suite_scripted_teardown.py", ["restored", state.path], core: core)
            if restored.status != 0 { Issue.record(suiteFailureReport(restored, core: core)) }
        }
    }
}
