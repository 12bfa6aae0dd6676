import Foundation
import Synchronization
import Testing

// Shared rule for suites that drive third-party programs (moto_server, aws, tmux, ...):
//
//   @Test(.enabled(if: ExternalTool.shouldRun("moto_server"), ExternalTool.skipNote("moto_server")))
//   func againstMoto() async throws {
//       let moto = try ExternalTool.require("moto_server")   // throws (a failure) if missing and required
//       ...
//   }
//
// A missing program skips the test with a visible reason, unless CKS_REQUIRE_EXTERNAL=1: then the test runs
// and fails, so CI cannot pass by silently skipping.

public enum ExternalTool {
    public struct Missing: Error, CustomStringConvertible {
        public var name: String
        public init(name: String) { self.name = name }
        public var description: String { "\(name) was not found on PATH and CKS_REQUIRE_EXTERNAL=1 requires it" }
    }

    /// CKS_REQUIRE_EXTERNAL=1: a missing program is a failure, not a skip.
    public static var isRequired: Bool { ProcessInfo.processInfo.environment["CKS_REQUIRE_EXTERNAL"] == "1" }

    /// The program's path on PATH, if any.
    public static func locate(_ name: String) -> URL? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? URL(fileURLWithPath: name) : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") where !dir.isEmpty {
            let candidate = URL(fileURLWithPath: String(dir)).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    /// For `.enabled(if:)`: run when the program exists, or when it is required (so its absence fails).
    public static func shouldRun(_ name: String) -> Bool { isRequired || locate(name) != nil }

    public static func skipNote(_ name: String) -> Comment {
        Comment(rawValue: "skipped: \(name) not found on PATH (set CKS_REQUIRE_EXTERNAL=1 to make this a failure)")
    }

    /// The program's path; throws (failing the test that calls it) when it is missing.
    public static func require(_ name: String) throws -> URL {
        guard let url = locate(name) else { throw Missing(name: name) }
        return url
    }
}

/// A child process started for a test: output captured, a line awaited with a deadline, stopped by its PID.
// @unchecked: Process is not Sendable, but only its thread-safe accessors (isRunning, processIdentifier) are used after launch.
public final class ManagedProcess: @unchecked Sendable {
    public let process: Process
    private let output = OutputBuffer()
    private let errors = OutputBuffer()

    /// With `separateStandardError`, stderr goes to `capturedError` and `capturedOutput` is stdout alone.
    public init(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil,
                separateStandardError: Bool = false) throws {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var env = environment ?? ProcessInfo.processInfo.environment
        env["PYTHONUNBUFFERED"] = "1"   // Python servers print their "Running on" line at once
        process.environment = env
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardInput = FileHandle.nullDevice
        self.process = process
        let output = self.output
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil; return }
            output.append(String(decoding: data, as: UTF8.self))
        }
        if separateStandardError {
            let errorPipe = Pipe()
            process.standardError = errorPipe
            let errors = self.errors
            errorPipe.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                if data.isEmpty { handle.readabilityHandler = nil; return }
                errors.append(String(decoding: data, as: UTF8.self))
            }
        } else {
            process.standardError = pipe
        }
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }
    public var capturedOutput: String { output.text }
    /// stderr, when it was kept apart.
    public var capturedError: String { errors.text }

    /// Polls the output until `match` returns a value, the process exits, or the deadline passes.
    public func waitFor<T>(timeout: Duration = .seconds(30), _ match: (String) -> T?) async throws -> T {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let found = match(capturedOutput) { return found }
            if !process.isRunning {
                throw ProcessFailure(description: "process exited (\(process.terminationStatus)) before it was ready:\n\(capturedOutput)\(capturedError)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ProcessFailure(description: "not ready within \(timeout):\n\(capturedOutput)")
    }

    /// SIGTERM by PID, then SIGKILL if it lingers; waits (with a deadline) until it is gone.
    public func stop() async {
        guard process.isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(5)
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning {
            kill(pid, SIGKILL)
            let hard = ContinuousClock.now + .seconds(5)
            while process.isRunning, ContinuousClock.now < hard { try? await Task.sleep(for: .milliseconds(50)) }
        }
    }

    public struct ProcessFailure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }
}

/// Text collected from a pipe on another thread.
public final class OutputBuffer: Sendable {
    private let storage = Mutex("")
    public init() {}
    public func append(_ text: String) { storage.withLock { $0 += text } }
    public var text: String { storage.withLock { $0 } }
}
