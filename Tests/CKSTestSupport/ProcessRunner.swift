import Foundation

/// What a finished child process left behind.
public struct ProcessResult: Sendable, CustomStringConvertible {
    public var arguments: [String]
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var timedOut: Bool

    public var description: String {
        var text = "$ \(arguments.joined(separator: " "))\nexit status \(status)\(timedOut ? " (killed: timed out)" : "")"
        if !stdout.isEmpty { text += "\n--- stdout ---\n\(stdout)" }
        if !stderr.isEmpty { text += "\n--- stderr ---\n\(stderr)" }
        return text
    }
}

/// Runs external programs without blocking Swift's cooperative threads: output goes to temporary
/// files (a full pipe can never stall the child), and the exit is awaited (see `ChildProcess`).
public enum ProcessRunner {
    /// Runs `arguments` (resolved on PATH) with `environment` added to ours.
    /// The child and its process group are killed with SIGKILL after `timeout`.
    public static func run(
        _ arguments: [String],
        environment: [String: String] = [:],
        removingEnvironment: [String] = [],
        currentDirectory: URL? = nil,
        stdin: Data? = nil,
        timeout: Duration = .seconds(120)
    ) async throws -> ProcessResult {
        let scratch = try TemporaryDirectory(prefix: "cks-qa-run")
        defer { scratch.remove() }
        let outURL = scratch.url.appendingPathComponent("stdout")
        let errURL = scratch.url.appendingPathComponent("stderr")
        var stdinPath = "/dev/null"
        if let stdin {
            let inURL = scratch.url.appendingPathComponent("stdin")
            try stdin.write(to: inURL)
            stdinPath = inURL.path
        }
        var env = ProcessInfo.processInfo.environment
        for name in removingEnvironment { env.removeValue(forKey: name) }
        env.merge(environment) { _, new in new }
        let child = try ChildProcess(arguments, environment: env, stdinPath: stdinPath,
                                     stdoutPath: outURL.path, stderrPath: errURL.path,
                                     currentDirectory: currentDirectory?.path)
        let timedOut = await !child.wait(timeout: timeout)
        if timedOut {
            child.sendToGroup(SIGKILL)
            child.send(SIGKILL)
        }
        let status = await child.wait()
        return ProcessResult(
            arguments: arguments,
            status: status,
            stdout: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "",
            timedOut: timedOut
        )
    }

    /// Runs a short probe synchronously (only while the test plan is built), returning exit status and output.
    public static func runSynchronously(_ arguments: [String]) -> (status: Int32, output: String) {
        guard let scratch = try? TemporaryDirectory(prefix: "cks-qa-probe") else { return (-1, "") }
        defer { scratch.remove() }
        let out = scratch.url.appendingPathComponent("out").path
        guard let child = try? ChildProcess(arguments, environment: ProcessInfo.processInfo.environment,
                                            stdoutPath: out, stderrPath: out) else { return (-1, "") }
        let status = child.waitSynchronously()
        return (status, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
    }
}

/// A failure of a test harness itself (cannot start a program, an unreadable answer), with what explains it.
public struct HarnessError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
