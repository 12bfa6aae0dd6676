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
    ]
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
