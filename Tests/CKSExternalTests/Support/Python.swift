import Foundation
import Testing

/// Runs the Python files of Tests/CKSExternalTests/python against a started core.
enum Python {
    /// Runs `python3 <file> <arguments>` with the core's endpoint and `principal`'s credentials.
    static func run(
        _ file: String,
        _ arguments: [String] = [],
        core: ServeProcess,
        as principal: TestPrincipal? = nil,
        timeout: Duration = .seconds(300)
    ) async throws -> ProcessResult {
        var environment = core.awsEnvironment(as: principal)
        environment["PYTHONPATH"] = Locations.pythonDirectory.path
        environment["PYTHONDONTWRITEBYTECODE"] = "1"   // no __pycache__ in the repository
        environment["PYTHONUNBUFFERED"] = "1"
        return try await ProcessRunner.run(
            ["python3", Locations.pythonDirectory.appendingPathComponent(file).path] + arguments,
            environment: environment, timeout: timeout)
    }

    /// Calls `CksAdmin.<op>` through cks_admin.py and returns the decoded JSON answer.
    @discardableResult
    static func admin(_ op: String, _ body: [String: Any] = [:], core: ServeProcess) async throws -> [String: Any] {
        let json = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
        let result = try await run("cks_admin.py", [op, json], core: core, timeout: .seconds(180))
        guard result.status == 0,
              let object = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        else { throw HarnessError("CksAdmin.\(op) failed:\n\(result)") }
        return object
    }
}

/// A failure report for a suite run: the suite's own PASS/FAIL report, then the end of the server log.
func suiteFailureReport(_ result: ProcessResult, core: ServeProcess) -> Comment {
    let serverLog = core.log.split(separator: "\n", omittingEmptySubsequences: false).suffix(40).joined(separator: "\n")
    return Comment(rawValue: "\(result)\n\(serverLog)")
}

/// Turns the `KNOWN-DEFECT` / `FIXED` lines of a suite run (see `known_defect` in cks_harness.py)
/// into Swift Testing issues: a known defect is a known issue; a fixed one fails until its marker goes.
func recordKnownDefects(_ result: ProcessResult, sourceLocation: SourceLocation = #_sourceLocation) {
    for line in result.stdout.split(separator: "\n") {
        if line.hasPrefix("KNOWN-DEFECT ") {
            withKnownIssue(Comment(rawValue: String(line))) {
                Issue.record(Comment(rawValue: String(line)), sourceLocation: sourceLocation)
            }
        } else if line.hasPrefix("FIXED ") {
            Issue.record(Comment(rawValue: String(line)), sourceLocation: sourceLocation)
        }
    }
}

extension Locations {
    /// The Python suites and their helper module.
    static let pythonDirectory: URL = repositoryRoot.appendingPathComponent("Tests/CKSExternalTests/python")
}
