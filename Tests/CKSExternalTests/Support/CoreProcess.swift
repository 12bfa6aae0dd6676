import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// One principal of a principals file (`{"principals": [...]}`), as the core reads it.
struct TestPrincipal: Codable, Sendable, Equatable {
    var name: String
    var account: String
    var accessKeyId: String
    var secretAccessKey: String
    var allow: [String]

    /// The admin of account 111122223333, allowed everything.
    static let admin = TestPrincipal(
        name: "qa-admin", account: "111122223333",
        accessKeyId: "AKIAQAADMIN000000001", secretAccessKey: "qaAdminSecretKey0000000000000000000000001",
        allow: ["kms:*", "cks:*"])
    /// An admin of another account, 444455556666: must see nothing of the first.
    static let otherAccount = TestPrincipal(
        name: "qa-other", account: "444455556666",
        accessKeyId: "AKIAQAOTHER000000002", secretAccessKey: "qaOtherSecretKey0000000000000000000000002",
        allow: ["kms:*", "cks:*"])
    /// A read-only operator of the first account: may describe and list, nothing else.
    static let reader = TestPrincipal(
        name: "qa-reader", account: "111122223333",
        accessKeyId: "AKIAQAREADER00000003", secretAccessKey: "qaReaderSecretKey000000000000000000000003",
        allow: ["kms:Describe*", "kms:List*", "kms:Get*"])
    /// An operator who may do everything on keys and stores except delete stores, and no admin API.
    static let operatorNoDelete = TestPrincipal(
        name: "qa-operator", account: "111122223333",
        accessKeyId: "AKIAQAOPERATOR000004", secretAccessKey: "qaOperatorSecretKey0000000000000000000004",
        allow: ["kms:Create*", "kms:Describe*", "kms:List*", "kms:Connect*", "kms:Disconnect*",
                "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:Encrypt", "kms:Decrypt"])

    static let standardSet: [TestPrincipal] = [.admin, .otherAccount, .reader, .operatorNoDelete]
}

/// A `cks serve` child process on a free loopback port, with its own data directory.
/// Always stopped by PID (`stop()` / `kill()`), also when the test fails: use `withCore`.
final class CoreProcess: @unchecked Sendable {
    let process: ChildProcess
    let dataDirectory: URL
    let logDirectory: URL
    let port: Int
    let principalsFile: URL
    /// The first principal allowed `kms:*` and `cks:*`.
    let admin: TestPrincipal
    /// All principals of the file the core uses.
    let principals: [TestPrincipal]
    /// The stdout line announcing the endpoint.
    let listeningLine: String

    var endpoint: String { "http://127.0.0.1:\(port)" }
    var pid: Int32 { process.pid }

    private init(process: ChildProcess, dataDirectory: URL, logDirectory: URL, port: Int, principalsFile: URL,
                 principals: [TestPrincipal], listeningLine: String) throws {
        self.process = process
        self.dataDirectory = dataDirectory
        self.logDirectory = logDirectory
        self.port = port
        self.principalsFile = principalsFile
        self.principals = principals
        self.listeningLine = listeningLine
        guard let admin = principals.first(where: { $0.allow.contains("kms:*") && $0.allow.contains("cks:*") }) else {
            throw HarnessError("no principal with kms:* and cks:* in \(principalsFile.path)")
        }
        self.admin = admin
    }

    /// Everything the server wrote so far (stdout, then stderr), for failure reports.
    var log: String {
        let out = (try? String(contentsOf: logDirectory.appendingPathComponent("stdout"), encoding: .utf8)) ?? ""
        let err = (try? String(contentsOf: logDirectory.appendingPathComponent("stderr"), encoding: .utf8)) ?? ""
        return "--- cks serve stdout ---\n\(out)--- cks serve stderr ---\n\(err)"
    }

    /// The environment that points boto3 / the aws CLI at this core as `principal` (admin by default),
    /// isolated from any AWS configuration of the machine.
    func awsEnvironment(as principal: TestPrincipal? = nil, region: String = "us-east-1") -> [String: String] {
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
            "CKS_ENDPOINT": endpoint,
            "CKS_PRINCIPALS_FILE": principalsFile.path,
            "CKS_DATA_DIR": dataDirectory.path,
        ]
    }

    /// Starts `cks serve --listen 127.0.0.1:0 --data-dir <dir>` and waits for `listening on http://HOST:PORT`.
    /// - Parameters:
    ///   - dataDirectory: reuse a data directory (restart); a fresh temporary one when nil.
    ///   - principals: written to a 0600 file passed with `--principals`; when nil the core creates its own file.
    static func start(
        dataDirectory: URL? = nil,
        principals: [TestPrincipal]? = nil,
        extraArguments: [String] = [],
        readyTimeout: Duration = .seconds(120)
    ) async throws -> CoreProcess {
        guard let binary = Locations.cksBinary else {
            throw HarnessError("the cks executable was not found next to the test bundle; build with `swift build` or set CKS_BINARY")
        }
        let dataDir = try dataDirectory ?? TemporaryDirectory(prefix: "cks-qa-data").url
        let logDir = try TemporaryDirectory(prefix: "cks-qa-log").url
        var arguments = ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir.path]
        var principalsFile = dataDir.appendingPathComponent("principals.json")
        if let principals {
            principalsFile = logDir.appendingPathComponent("principals.json")
            try writePrincipals(principals, to: principalsFile)
            arguments += ["--principals", principalsFile.path]
        }
        arguments += extraArguments

        let stdoutURL = logDir.appendingPathComponent("stdout")
        let stderrURL = logDir.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        let process = try ChildProcess([binary.path] + arguments, environment: ProcessInfo.processInfo.environment,
                                       stdoutPath: stdoutURL.path, stderrPath: stderrURL.path)

        let deadline = ContinuousClock.now + readyTimeout
        var line: String?
        while line == nil {
            let out = (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? ""
            line = out.split(separator: "\n").first { $0.contains("listening on http://") }.map(String.init)
            if line != nil { break }
            if !process.isRunning || ContinuousClock.now > deadline {
                let reason = process.isRunning ? "no `listening on` line within \(readyTimeout)" : "exited with status \(process.exitCode ?? -1)"
                if process.isRunning { process.send(SIGKILL); _ = await process.wait() }
                let out = (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? ""
                let err = (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? ""
                throw HarnessError("cks \(arguments.joined(separator: " ")) \(reason)\n--- stdout ---\n\(out)--- stderr ---\n\(err)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        guard let line, let port = parsePort(line) else {
            process.send(SIGKILL)
            _ = await process.wait()
            throw HarnessError("cannot read the port from \(line ?? "nil")")
        }
        do {
            let data = try Data(contentsOf: principalsFile)
            let file = try JSONDecoder().decode(PrincipalsFile.self, from: data)
            return try CoreProcess(process: process, dataDirectory: dataDir, logDirectory: logDir, port: port,
                                   principalsFile: principalsFile, principals: file.principals, listeningLine: line)
        } catch {
            process.send(SIGKILL)
            _ = await process.wait()
            throw HarnessError("cannot read principals file \(principalsFile.path): \(error)")
        }
    }

    /// Sends `signal` and waits for the exit (SIGKILL simulates a crash; the data directory stays).
    func kill(signal: Int32 = SIGKILL) async {
        guard process.isRunning else { return }
        process.send(signal)
        _ = await process.wait(timeout: .seconds(10))
    }

    /// SIGTERM, then SIGKILL if it does not stop within 5 s.
    func stop() async {
        guard process.isRunning else { return }
        process.send(SIGTERM)
        if await !process.wait(timeout: .seconds(5)) {
            process.send(SIGKILL)
            _ = await process.wait(timeout: .seconds(5))
        }
    }

    /// Removes the data and log directories (call after `stop`).
    func removeFiles() {
        try? FileManager.default.removeItem(at: dataDirectory)
        try? FileManager.default.removeItem(at: logDirectory)
    }

    static func writePrincipals(_ principals: [TestPrincipal], to url: URL, mode: Int = 0o600) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(PrincipalsFile(principals: principals))
        _ = FileManager.default.createFile(atPath: url.path, contents: data, attributes: [.posixPermissions: mode])
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: url.path)
    }

    private static func parsePort(_ line: String) -> Int? {
        guard let range = line.range(of: "listening on http://") else { return nil }
        let rest = line[range.upperBound...]
        guard let colon = rest.lastIndex(of: ":") else { return nil }
        let digits = rest[rest.index(after: colon)...].prefix { $0.isNumber }
        return Int(digits)
    }
}

private struct PrincipalsFile: Codable {
    var principals: [TestPrincipal]
}

/// Runs `body` against a fresh core and always stops it afterwards by its PID; the files are
/// removed when `body` succeeds and kept (path in the failure) when it throws.
func withCore<T>(
    principals: [TestPrincipal]? = nil,
    extraArguments: [String] = [],
    _ body: (CoreProcess) async throws -> T
) async throws -> T {
    let core = try await CoreProcess.start(principals: principals, extraArguments: extraArguments)
    do {
        let result = try await body(core)
        await core.stop()
        core.removeFiles()
        return result
    } catch {
        await core.stop()
        throw HarnessError("\(error)\n(core data kept in \(core.dataDirectory.path))\n\(core.log)")
    }
}

