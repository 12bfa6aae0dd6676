import CKSClient
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A `cks serve` child process on a loopback port, the suites' one wrapper of it. It keeps its data directory
/// across `kill -9` and restarts, and every byte it wrote to stdout and stderr (each start has its own log files,
/// all kept) so tests can grep them for secrets. Always stopped by its PID, also when the test fails: use
/// `withServe`.
public final class ServeProcess: @unchecked Sendable {
    public let dataDirectory: URL
    public let logDirectory: URL
    /// nil: the core creates `<data-dir>/principals.json` itself.
    public let principalsArgument: URL?
    public let extraArguments: [String]
    /// Whether the data directory's parent is a temporary directory this wrapper made (and may remove).
    private let ownsDataParent: Bool
    private let lock = NSLock()
    private var child: ChildProcess?
    public private(set) var port = 0
    public private(set) var principals: [TestPrincipal] = []
    /// The stdout line announcing the endpoint.
    public private(set) var listeningLine = ""
    public private(set) var starts = 0

    public var pid: Int32 { lock.withLock { child?.pid } ?? 0 }
    public var isRunning: Bool { lock.withLock { child?.isRunning } ?? false }
    /// The exit status of the last start once it has exited (128 + signal when a signal ended it).
    public var exitCode: Int32? { lock.withLock { child?.exitCode } }
    /// The signal that ended the last start, if one did.
    public var terminatingSignal: Int32? { lock.withLock { child?.terminatingSignal } }
    public var endpoint: URL { URL(string: "http://127.0.0.1:\(port)")! }
    public var principalsFile: URL { principalsArgument ?? dataDirectory.appendingPathComponent("principals.json") }
    public var databaseFile: URL { dataDirectory.appendingPathComponent("cks.sqlite") }
    /// The first principal allowed `kms:*` and `cks:*`.
    public var admin: TestPrincipal {
        principals.first { $0.allow.contains("kms:*") && $0.allow.contains("cks:*") } ?? principals[0]
    }

    private init(dataDirectory: URL, logDirectory: URL, principalsArgument: URL?, extraArguments: [String],
                 ownsDataParent: Bool) {
        self.dataDirectory = dataDirectory
        self.logDirectory = logDirectory
        self.principalsArgument = principalsArgument
        self.extraArguments = extraArguments
        self.ownsDataParent = ownsDataParent
    }

    /// A test that throws before stopping its core must not leave it running: killed by its PID when released.
    deinit { child?.send(SIGKILL) }

    /// Starts `cks serve --listen 127.0.0.1:0` on a fresh (or the given) data directory and waits for its
    /// `listening on http://HOST:PORT` line.
    /// - Parameter principals: written to a 0600 file passed with `--principals`; nil → the core creates its own.
    public static func start(dataDirectory: URL? = nil, principals: [TestPrincipal]? = nil,
                             extraArguments: [String] = [], environment: [String: String] = [:],
                             readyTimeout: Duration = .seconds(120)) async throws -> ServeProcess {
        let data = try dataDirectory ?? TemporaryDirectory(prefix: "cks-serve-data").url.appendingPathComponent("data")
        let logs = try TemporaryDirectory(prefix: "cks-serve-log").url
        var principalsURL: URL?
        if let principals {
            let url = logs.appendingPathComponent("principals.json")
            try writePrincipals(principals, to: url)
            principalsURL = url
        }
        let serve = ServeProcess(dataDirectory: data, logDirectory: logs, principalsArgument: principalsURL,
                                 extraArguments: extraArguments, ownsDataParent: dataDirectory == nil)
        try await serve.launch(port: 0, environment: environment, readyTimeout: readyTimeout)
        return serve
    }

    /// Starts again on the same data directory (after `kill()` or `stop()`); `samePort` reuses the previous port so
    /// a console pointed at it can resume.
    public func restart(samePort: Bool = false, readyTimeout: Duration = .seconds(120)) async throws {
        precondition(!isRunning, "restart a stopped core only")
        try await launch(port: samePort ? port : 0, environment: [:], readyTimeout: readyTimeout)
    }

    private func launch(port requested: Int, environment: [String: String], readyTimeout: Duration) async throws {
        let binary = try Locations.requireCksBinary()
        starts += 1
        let stdoutURL = logDirectory.appendingPathComponent("stdout.\(starts)")
        let stderrURL = logDirectory.appendingPathComponent("stderr.\(starts)")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        var arguments = ["serve", "--listen", "127.0.0.1:\(requested)", "--data-dir", dataDirectory.path]
        if let principalsArgument { arguments += ["--principals", principalsArgument.path] }
        arguments += extraArguments
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { _, new in new }
        let process = try ChildProcess([binary.path] + arguments, environment: env,
                                       stdoutPath: stdoutURL.path, stderrPath: stderrURL.path)
        lock.withLock { child = process }

        // A restart on the same port may meet the old socket for a moment: the core retries its bind.
        let deadline = ContinuousClock.now + readyTimeout
        while true {
            let out = (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? ""
            if let line = out.split(separator: "\n").first(where: { $0.contains("listening on http://") }).map(String.init),
               let port = Self.parsePort(line) {
                self.port = port
                self.listeningLine = line
                break
            }
            if !process.isRunning || ContinuousClock.now > deadline {
                let reason = process.isRunning ? "no `listening on` line within \(readyTimeout)"
                                               : "exited with status \(process.exitCode ?? -1)"
                if process.isRunning { process.send(SIGKILL); _ = await process.wait() }
                throw HarnessError("cks \(arguments.joined(separator: " ")) \(reason)\n\(log)")
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
        guard !principals.isEmpty else {
            await kill()
            throw HarnessError("no principal in \(principalsFile.path)")
        }
    }

    /// `kill -9` (or another signal) and wait for the exit. The data directory stays.
    public func kill(signal: Int32 = SIGKILL) async {
        guard let process = lock.withLock({ child }), process.isRunning else { return }
        process.send(signal)
        _ = await process.wait(timeout: .seconds(30))
    }

    /// SIGTERM, then SIGKILL after 10 s.
    public func stop() async {
        guard let process = lock.withLock({ child }), process.isRunning else { return }
        process.send(SIGTERM)
        if await !process.wait(timeout: .seconds(10)) { await kill() }
    }

    /// Removes the data and log directories (after `stop`).
    public func removeFiles() {
        try? FileManager.default.removeItem(at: ownsDataParent ? dataDirectory.deletingLastPathComponent() : dataDirectory)
        try? FileManager.default.removeItem(at: logDirectory)
    }

    /// Everything every start of this core wrote to stdout and stderr.
    public var log: String {
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
    public func client(as principal: TestPrincipal? = nil, region: String = "us-east-1",
                       retryPolicy: RetryPolicy = .none, timeout: TimeInterval = 30) -> KMSClient {
        KMSClient(endpoint: endpoint, region: region, credentials: (principal ?? admin).credentials,
                  retryPolicy: retryPolicy, defaultTimeout: timeout)
    }

    /// The environment that points boto3 / the aws CLI at this core as `principal` (admin by default), isolated
    /// from any AWS configuration of the machine.
    public func awsEnvironment(as principal: TestPrincipal? = nil, region: String = "us-east-1") -> [String: String] {
        let who = principal ?? admin
        return [
            "AWS_ACCESS_KEY_ID": who.accessKeyId,
            "AWS_SECRET_ACCESS_KEY": who.secretAccessKey,
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_PAGER": "",
            "CKS_ENDPOINT": endpoint.absoluteString,
            "CKS_PRINCIPALS_FILE": principalsFile.path,
            "CKS_DATA_DIR": dataDirectory.path,
        ]
    }

    /// Writes a principals file (`{"principals": [...]}`) with `mode`.
    public static func writePrincipals(_ principals: [TestPrincipal], to url: URL, mode: Int = 0o600) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(PrincipalsFile(principals: principals))
        _ = FileManager.default.createFile(atPath: url.path, contents: data, attributes: [.posixPermissions: mode])
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: url.path)
    }

    /// The port of a `listening on http://HOST:PORT` line.
    public static func parsePort(_ line: String) -> Int? {
        guard let range = line.range(of: "listening on http://") else { return nil }
        let rest = line[range.upperBound...]
        guard let colon = rest.lastIndex(of: ":") else { return nil }
        return Int(rest[rest.index(after: colon)...].prefix { $0.isNumber })
    }
}

private struct PrincipalsFile: Codable { var principals: [TestPrincipal] }

/// Runs `body` against a fresh core, always stopped afterwards by its PID; the files are removed when `body`
/// succeeds and kept (their paths and the core's output in the failure) when it throws.
public func withServe<T>(principals: [TestPrincipal]? = nil, extraArguments: [String] = [],
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
