import Foundation
import Testing

/// One boto3 suite file and the principals file it needs.
struct Boto3Suite: Sendable, CustomTestStringConvertible {
    var file: String
    /// nil: the core creates its own principals file (one admin); else the given principals.
    var principals: [TestPrincipal]?

    var testDescription: String { file }

    static let all: [Boto3Suite] = [
        Boto3Suite(file: "suite_teardown_path.py", principals: nil),
        Boto3Suite(file: "suite_delete_errors.py", principals: TestPrincipal.standardSet),
        Boto3Suite(file: "suite_connect.py", principals: nil),
        Boto3Suite(file: "suite_xks.py", principals: nil),
        Boto3Suite(file: "suite_key_states.py", principals: nil),
        Boto3Suite(file: "suite_auth.py", principals: TestPrincipal.standardSet),
        Boto3Suite(file: "suite_validation.py", principals: nil),
        Boto3Suite(file: "suite_pagination_crypto.py", principals: nil),
        Boto3Suite(file: "suite_grants_policies_tags.py", principals: TestPrincipal.standardSet),
        Boto3Suite(file: "suite_cloudtrail.py", principals: TestPrincipal.auditSet),
    ]
}

extension TestPrincipal {
    /// An auditor of account 111122223333: may look up CloudTrail events, nothing of KMS.
    static let auditor = TestPrincipal(
        name: "qa-auditor", account: "111122223333",
        accessKeyId: "AKIAQAAUDITOR0000005", secretAccessKey: "qaAuditorSecretKey00000000000000000000005",
        allow: ["cloudtrail:LookupEvents"])
    static let auditSet: [TestPrincipal] = standardSet + [.auditor]
}

/// boto3 1.43 (the real SDK) against a started `cks serve`: each suite file runs against its own core.
@Suite("boto3 against cks serve")
struct Boto3Tests {
    @Test("boto3 suite", .enabled(if: ExternalTools.usable(.python3, .boto3),
                                  "needs python3 with boto3 (CKS_REQUIRE_EXTERNAL=1 turns this skip into a failure)"),
          arguments: Boto3Suite.all)
    func suite(_ suite: Boto3Suite) async throws {
        try ExternalTools.require(.python3, .boto3)
        try await withServe(principals: suite.principals) { core in
            let result = try await Python.run(suite.file, core: core)
            recordKnownDefects(result)
            if result.status != 0 {
                Issue.record(suiteFailureReport(result, core: core))
            }
        }
    }

    /// Every answered call's event survives SIGKILL of the core while calls are in flight (the event is in the
    /// event log before the answer; the next start folds what was not folded), and none is recorded twice.
    @Test("kill -9 while recording loses no event of an answered call",
          .enabled(if: ExternalTools.usable(.python3, .boto3),
                   "needs python3 with boto3 (CKS_REQUIRE_EXTERNAL=1 turns this skip into a failure)"))
    func killNineWhileRecording() async throws {
        try ExternalTools.require(.python3, .boto3)
        let first = try await ServeProcess.start(principals: TestPrincipal.auditSet)
        let ledger = first.logDirectory.appendingPathComponent("answered.txt")
        let load = Task { try await Python.run("suite_record_kill.py", ["load", ledger.path], core: first) }
        // Let the load run until a few hundred calls were answered (however loaded the machine), then kill the
        // core in the middle of it.
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            let answered = (try? String(contentsOf: ledger, encoding: .utf8))?.split(separator: "\n").count ?? 0
            if answered >= 300 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        await first.kill(signal: SIGKILL)
        let loaded = try await load.value
        guard loaded.status == 0 else {
            Issue.record(suiteFailureReport(loaded, core: first))
            first.removeFiles()
            return
        }
        let second = try await ServeProcess.start(dataDirectory: first.dataDirectory, principals: TestPrincipal.auditSet)
        let verify = try await Python.run("suite_record_kill.py", ["verify", ledger.path], core: second)
        if verify.status != 0 { Issue.record(suiteFailureReport(verify, core: second)) }
        await second.stop()
        if verify.status == 0 {
            second.removeFiles()
            first.removeFiles()
        }
    }

    /// Acknowledged writes survive SIGKILL, the simulated clock offset included.
    @Test("kill -9 right after acknowledged writes loses nothing",
          .enabled(if: ExternalTools.usable(.python3, .boto3),
                   "needs python3 with boto3 (CKS_REQUIRE_EXTERNAL=1 turns this skip into a failure)"))
    func killNineLosesNothing() async throws {
        try ExternalTools.require(.python3, .boto3)
        let first = try await ServeProcess.start()
        let stateFile = first.logDirectory.appendingPathComponent("restart-state.json")
        let write = try await Python.run("suite_restart.py", ["write", stateFile.path], core: first)
        // Kill at once, before the core gets any chance to flush anything more.
        await first.kill(signal: SIGKILL)
        guard write.status == 0 else {
            Issue.record(suiteFailureReport(write, core: first))
            first.removeFiles()
            return
        }
        let second: ServeProcess
        do {
            second = try await ServeProcess.start(dataDirectory: first.dataDirectory)
        } catch {
            Issue.record("restart on the same data directory failed: \(error)")
            return
        }
        #expect(second.admin == first.admin, "the principals file created at first start is reused, not replaced")
        let verify = try await Python.run("suite_restart.py", ["verify", stateFile.path], core: second)
        recordKnownDefects(verify)
        if verify.status != 0 {
            Issue.record(suiteFailureReport(verify, core: second))
        }
        await second.stop()
        if verify.status == 0 {
            second.removeFiles()
            first.removeFiles()
        }
    }
}
