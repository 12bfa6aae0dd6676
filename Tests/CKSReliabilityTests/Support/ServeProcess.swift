import CKSClient
import CKSWire
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One principal of a principals file, as the core reads it.
struct TestPrincipal: Codable, Sendable, Equatable {
    var name: String
    var account: String
    var accessKeyId: String
    var secretAccessKey: String
    var allow: [String]

    var credentials: AWSCredentials { AWSCredentials(accessKeyId: accessKeyId, secretAccessKey: secretAccessKey) }
}

private struct PrincipalsFile: Codable { var principals: [TestPrincipal] }

/// A `cks serve` child process. It keeps its data directory across `kill -9` and restarts, and every byte it wrote
/// to stdout and stderr (each start has its own log files, all kept) so tests can grep them for secrets.
/// Always stopped by its PID.
final class ServeProcess: @unchecked Sendable {
    let dataDirectory: URL
    let logDirectory: URL
    /// nil: the core creates `<data-dir>/principals.json` itself.
    let principalsArgument: URL?
    let extraArguments: [String]
    /// Whether the data directory's parent is a temporary directory this harness made (and may remove).
    let ownsDataParent: Bool
    private(set) var process: Process
    private(set) var port: Int
    private(set) var principals: [TestPrincipal]
    private(set) var listeningLine: String
    private(set) var starts = 0

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var endpoint: URL { URL(string: "http://127.0.0.1:\(port)")! }
    var principalsFile: URL { principalsArgument ?? dataDirectory.appendingPathComponent("principals.json") }
    var databaseFile: URL { dataDirectory.appendingPathComponent("cks.sqlite") }
    /// The first principal allowed `kms:*` and `cks:*`.
    var admin: TestPrincipal {
        principals.first { $0.allow.contains("kms:*") && $0.allow.contains("cks:*") } ?? principals[0]
    }

    private init(dataDirectory: URL, logDirectory: URL, principalsArgument: URL?, extraArguments: [String],
                 ownsDataParent: Bool) {
        self.ownsDataParent = ownsDataParent
        self.dataDirectory = dataDirectory
        self.logDirectory = logDirectory
        self.principalsArgument = principalsArgument
        self.extraArguments = extraArguments
        self.process = Process()
        self.port = 0
        self.principals = []
        self.listeningLine = ""
    }

    /// A test that throws before stopping its core must not leave it running: killed by its PID when released.
    deinit {
        if process.isRunning { _ = sendSignal(process.processIdentifier, SIGKILL) }
    }

    /// Starts `cks serve --listen 127.0.0.1:0` on a fresh (or the given) data directory and waits for its
    /// `listening on http://HOST:PORT` line; the admin credentials come from the principals file.
    static func start(dataDirectory: URL? = nil, principals: [TestPrincipal]? = nil,
                      extraArguments: [String] = [], environment: [String: String] = [:]) async throws -> ServeProcess {
        let data = try dataDirectory ?? TemporaryDirectory(prefix: "cks-rel-data").url.appendingPathComponent("data")
        let logs = try TemporaryDirectory(prefix: "cks-rel-log").url
        var principalsURL: URL?
        if let principals {
            let url = logs.appendingPathComponent("principals.json")
            try writePrincipals(principals, to: url)
            principalsURL = url
        }
        let serve = ServeProcess(dataDirectory: data, logDirectory: logs, principalsArgument: principalsURL,
                                 extraArguments: extraArguments, ownsDataParent: dataDirectory == nil)
        try await serve.launch(port: 0, environment: environment)
        return serve
    }

    /// Starts again on the same data directory (after `kill()`); `samePort` reuses the previous port so a
    /// console pointed at it can resume.
    func restart(samePort: Bool = false) async throws {
        precondition(!process.isRunning, "restart a stopped core only")
        try await launch(port: samePort ? port : 0, environment: [:])
    }

    private func launch(port requested: Int, environment: [String: String]) async throws {
        guard let binary = Locations.cksBinary else {
            throw HarnessError("the cks executable was not found next to the test bundle; run `swift build` or set CKS_BINARY")
        }
        starts += 1
        let stdoutURL = logDirectory.appendingPathComponent("stdout.\(starts)")
        let stderrURL = logDirectory.appendingPathComponent("stderr.\(starts)")
        FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        var arguments = ["serve", "--listen", "127.0.0.1:\(requested)", "--data-dir", dataDirectory.path]
        if let principalsArgument { arguments += ["--principals", principalsArgument.path] }
        arguments += extraArguments
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { _, new in new }
        process.environment = env
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        self.process = process

        // A restart on the same port may meet the old socket for a moment: retry the bind a few times.
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            let out = (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? ""
            if let line = out.split(separator: "\n").first(where: { $0.contains("listening on http://") }).map(String.init),
               let port = Self.parsePort(line) {
                self.port = port
                self.listeningLine = line
                break
            }
            if !process.isRunning || ContinuousClock.now > deadline {
                if process.isRunning { sendSignal(process.processIdentifier, SIGKILL); process.waitUntilExit() }
                throw HarnessError("cks \(arguments.joined(separator: " ")) did not start "
                    + "(\(process.isRunning ? "timeout" : "exit \(process.terminationStatus)"))\n\(log)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        do {
            let file = try JSONDecoder().decode(PrincipalsFile.self, from: Data(contentsOf: principalsFile))
            principals = file.principals
        } catch {
            await kill()
            throw HarnessError("cannot read the principals file \(principalsFile.path): \(error)")
        }
    }

    /// `kill -9` (or another signal) and wait for the exit. The data directory stays.
    func kill(signal: Int32 = SIGKILL) async {
        guard process.isRunning else { return }
        sendSignal(process.processIdentifier, signal)
        _ = await poll(timeout: .seconds(30), every: .milliseconds(5)) { !process.isRunning }
    }

    /// SIGTERM, then SIGKILL after 10 s.
    func stop() async {
        guard process.isRunning else { return }
        sendSignal(process.processIdentifier, SIGTERM)
        if !(await poll(timeout: .seconds(10), every: .milliseconds(10)) { !process.isRunning }) {
            await kill()
        }
    }

    func removeFiles() {
        try? FileManager.default.removeItem(at: ownsDataParent ? dataDirectory.deletingLastPathComponent() : dataDirectory)
        try? FileManager.default.removeItem(at: logDirectory)
    }

    /// Everything every start of this core wrote to stdout and stderr.
    var log: String {
        var text = ""
        for n in stride(from: 1, through: starts, by: 1) {
            for stream in ["stdout", "stderr"] {
                let content = (try? String(contentsOf: logDirectory.appendingPathComponent("\(stream).\(n)"),
                                           encoding: .utf8)) ?? ""
                if !content.isEmpty { text += "--- \(stream) (start \(n)) ---\n\(content)" }
            }
        }
        return text
    }

    /// A client of this core as `principal` (the admin by default).
    func client(as principal: TestPrincipal? = nil, region: String = "us-east-1",
                retryPolicy: RetryPolicy = .none, timeout: TimeInterval = 30) -> KMSClient {
        KMSClient(endpoint: endpoint, region: region, credentials: (principal ?? admin).credentials,
                  retryPolicy: retryPolicy, defaultTimeout: timeout)
    }

    static func writePrincipals(_ principals: [TestPrincipal], to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(PrincipalsFile(principals: principals))
        FileManager.default.createFile(atPath: url.path, contents: data, attributes: [.posixPermissions: 0o600])
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: url.path)
    }

    static func parsePort(_ line: String) -> Int? {
        guard let range = line.range(of: "listening on http://") else { return nil }
        let rest = line[range.upperBound...]
        guard let colon = rest.lastIndex(of: ":") else { return nil }
        return Int(rest[rest.index(after: colon)...].prefix { $0.isNumber })
    }
}

/// Runs `body` against a fresh core, always stopped afterwards by its PID; files are kept when `body` throws.
func withServe<T>(principals: [TestPrincipal]? = nil, extraArguments: [String] = [],
                  _ body: (ServeProcess) async throws -> T) async throws -> T {
    let core = try await ServeProcess.start(principals: principals, extraArguments: extraArguments)
    do {
        let result = try await body(core)
        await core.stop()
        core.removeFiles()
        return result
    } catch {
        await core.kill()
        throw HarnessError("\(error)\n(core files kept in \(core.dataDirectory.path) and \(core.logDirectory.path))\n"
            + String(core.log.suffix(4000)))
    }
}

/// Runs a program to its end (stdout and stderr to files, so a full pipe never stalls it); killed after `timeout`.
/// Spawned with posix_spawn and reaped with waitpid here: Foundation's Process monitor was seen leaving a
/// `tmux new-session` client as a zombie it never reported, which hung the test.
func runProgram(_ executable: URL, _ arguments: [String], environment: [String: String] = [:],
                timeout: Duration = .seconds(60)) async throws -> (status: Int32, stdout: String, stderr: String) {
    let scratch = try TemporaryDirectory(prefix: "cks-rel-run")
    defer { scratch.remove() }
    let out = scratch.url.appendingPathComponent("out"), err = scratch.url.appendingPathComponent("err")
    var env = ProcessInfo.processInfo.environment
    env.merge(environment) { _, new in new }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, out.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, err.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    let argv = ([executable.path] + arguments).map { strdup($0) } + [nil]
    let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, executable.path, &actions, nil, argv, envp)
    guard spawned == 0 else { throw HarnessError("cannot run \(executable.path): error \(spawned)") }
    var status: Int32 = 0
    let deadline = ContinuousClock.now + timeout
    while waitpid(pid, &status, WNOHANG) == 0 {
        if ContinuousClock.now > deadline {
            kill(pid, SIGKILL)
            _ = waitpid(pid, &status, 0)
            break
        }
        try? await Task.sleep(for: .milliseconds(5))
    }
    let exitStatus: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    return (exitStatus,
            (try? String(contentsOf: out, encoding: .utf8)) ?? "",
            (try? String(contentsOf: err, encoding: .utf8)) ?? "")
}
