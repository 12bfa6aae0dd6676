import CKSWire
import Foundation
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A server under measurement, listening on 127.0.0.1 and started by the benchmark.
protocol MeasuredServer: AnyObject {
    var label: String { get }
    var port: Int { get }
    var pid: Int32 { get }
    var factory: RequestFactory { get }
    @discardableResult func stop() -> Double
}

// MARK: - The core

/// `cks serve` on a free port over a data directory the benchmark owns, with a principal the benchmark wrote.
final class CoreProcess: MeasuredServer {
    static let credentials = AWSCredentials(accessKeyId: "AKIACKSBENCH00000001",
                                            secretAccessKey: "cksBenchSecretKey0000000000000000000000000")
    static let account = "111122223333"
    static let region = "us-east-1"

    let label = "cks core"
    let port: Int
    let child: ChildProcess
    let dataDirectory: URL
    /// Seconds from spawning the process to its first 2xx answer.
    let startSeconds: Double
    var pid: Int32 { child.pid }
    var factory: RequestFactory { RequestFactory(port: port, signing: .sigV4(Self.credentials, region: Self.region)) }
    var endpoint: URL { URL(string: "http://127.0.0.1:\(port)")! }

    /// Writes the principals file (mode 0600) when absent, so the credentials are known before the core starts.
    static func prepare(dataDirectory: URL) throws {
        let fm = FileManager.default
        if !fm.fileExists(atPath: dataDirectory.path) {
            try fm.createDirectory(at: dataDirectory, withIntermediateDirectories: true,
                                   attributes: [.posixPermissions: 0o700])
        }
        let file = dataDirectory.appendingPathComponent("principals.json")
        guard !fm.fileExists(atPath: file.path) else { return }
        let json = """
        {"principals":[{"name":"bench","account":"\(account)","accessKeyId":"\(credentials.accessKeyId)",\
        "secretAccessKey":"\(credentials.secretAccessKey)","allow":["kms:*","cks:*","cloudtrail:LookupEvents"]}]}

        """
        guard fm.createFile(atPath: file.path, contents: Data(json.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw BenchError("cannot write \(file.path)")
        }
    }

    /// Starts the core and waits for its first signed ListKeys to answer 2xx (polling every millisecond).
    init(executable: String, dataDirectory: URL, logDirectory: URL, extraArguments: [String] = []) throws {
        try Self.prepare(dataDirectory: dataDirectory)
        self.dataDirectory = dataDirectory
        let port = try Host.freePort()
        self.port = port
        let factory = RequestFactory(port: port, signing: .sigV4(Self.credentials, region: Self.region))
        let started = Date()
        child = try ChildProcess(name: "cks serve", executable: executable,
                                 arguments: ["serve", "--listen", "127.0.0.1:\(port)", "--data-dir", dataDirectory.path]
                                     + extraArguments,
                                 logFile: logDirectory.appendingPathComponent("core-\(port).log"))
        var answered: Double?
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, child.isRunning {
            if let answer = RawConnection.once(port: port, factory.make("TrentService.ListKeys", #"{"Limit":1}"#)) {
                guard (200..<300).contains(answer.status) else {
                    child.stop()
                    throw BenchError("the core answered ListKeys with \(answer.status): \(String(decoding: answer.body, as: UTF8.self))")
                }
                answered = Date().timeIntervalSince(started)
                break
            }
            usleep(1000)
        }
        guard let answered else {
            child.stop()
            throw BenchError("the core did not answer within 60 s:\n\(child.logTail())")
        }
        startSeconds = answered
    }

    @discardableResult func stop() -> Double { child.stop() }
}

// MARK: - moto

/// moto's standalone server. It closes every connection and does not verify signatures.
final class MotoProcess: MeasuredServer {
    let label = "moto"
    let port: Int
    let child: ChildProcess
    var pid: Int32 { child.pid }
    var factory: RequestFactory { RequestFactory(port: port, signing: .staticHeader) }
    var endpoint: URL { URL(string: "http://127.0.0.1:\(port)")! }

    /// The moto_server script itself rather than pyenv's shim (the shim adds a shell and a python start).
    static func executable() -> String? {
        if let pyenv = Host.which("pyenv"), let result = try? Host.capture(pyenv, ["which", "moto_server"]),
           result.0 == 0 {
            let path = result.1.trimmingCharacters(in: .whitespacesAndNewlines)
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return Host.which("moto_server")
    }

    /// moto's version, from pip's metadata.
    static func version() -> String {
        let python = Host.which("python3") ?? "/usr/bin/python3"
        let out = (try? Host.capture(python, ["-c", "import moto; print(moto.__version__)"]).1) ?? ""
        return out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    init(executable: String, logDirectory: URL) throws {
        port = try Host.freePort()
        child = try ChildProcess(name: "moto_server", executable: executable, arguments: ["-H", "127.0.0.1", "-p", "\(port)"],
                                 logFile: logDirectory.appendingPathComponent("moto-\(port).log"))
        child.stopSignal = SIGINT
        // Preflight: without Authorization moto answers from its S3 backend, so check for KMS JSON, not a status.
        let factory = RequestFactory(port: port, signing: .staticHeader)
        var ok = false
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, child.isRunning {
            if let answer = RawConnection.once(port: port, factory.make("TrentService.ListKeys", "{}")) {
                let text = String(decoding: answer.body, as: UTF8.self)
                guard answer.status == 200, text.contains("\"Keys\"") else {
                    child.stop()
                    throw BenchError("moto preflight failed: ListKeys answered \(answer.status) \(text.prefix(200))")
                }
                ok = true
                break
            }
            usleep(20_000)
        }
        guard ok else {
            child.stop()
            throw BenchError("moto did not answer within 60 s:\n\(child.logTail())")
        }
    }

    /// moto often needs a few seconds to exit after traffic; do not wait longer than that.
    @discardableResult func stop() -> Double { child.stop(grace: 5) }
}

// MARK: - nginx (the ceiling)

/// nginx with one worker and keep-alive, answering every request with a fixed small JSON body.
final class NginxProcess: MeasuredServer {
    let label = "nginx (1 worker)"
    let port: Int
    let child: ChildProcess
    var pid: Int32 { child.pid }
    var factory: RequestFactory { RequestFactory(port: port, signing: .staticHeader) }

    static func version(_ executable: String) -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = ["-v"]
        let pipe = Pipe()
        p.standardError = pipe
        p.standardOutput = pipe
        try? p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: "nginx version: ", with: "")
    }

    init(executable: String, directory: URL, workers: Int = 1) throws {
        port = try Host.freePort()
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        let d = directory.path
        let conf = """
        worker_processes \(workers);
        daemon off;
        master_process on;
        pid \(d)/nginx.pid;
        error_log \(d)/error.log warn;
        events { worker_connections 1024; }
        http {
            access_log off;
            keepalive_timeout 65;
            keepalive_requests 10000000;
            client_body_temp_path \(d)/body;
            proxy_temp_path \(d)/proxy;
            fastcgi_temp_path \(d)/fastcgi;
            uwsgi_temp_path \(d)/uwsgi;
            scgi_temp_path \(d)/scgi;
            server {
                listen 127.0.0.1:\(port);
                location / {
                    default_type application/x-amz-json-1.1;
                    return 200 '{}';
                }
            }
        }

        """
        let confURL = directory.appendingPathComponent("nginx.conf")
        try conf.write(to: confURL, atomically: true, encoding: .utf8)
        child = try ChildProcess(name: "nginx", executable: executable,
                                 arguments: ["-p", d, "-c", confURL.path, "-e", "\(d)/error.log"],
                                 logFile: directory.appendingPathComponent("nginx.out"))
        guard Host.waitFor(10, { Host.isListening(port: port) }) else {
            child.stop()
            throw BenchError("nginx did not listen:\n\(child.logTail())")
        }
    }

    @discardableResult func stop() -> Double { child.stop() }
}

// MARK: - The framework alone

/// `cks-bench-hello`: Hummingbird answering `POST /` with `{}`, built from the core's own dependency graph and
/// started like nginx; the core's cost per request beyond it is the core's own.
final class HelloProcess: MeasuredServer {
    let label = "Hummingbird hello world"
    let port: Int
    let child: ChildProcess
    var pid: Int32 { child.pid }
    var factory: RequestFactory { RequestFactory(port: port, signing: .staticHeader) }

    init(executable: String, logDirectory: URL) throws {
        port = try Host.freePort()
        child = try ChildProcess(name: "cks-bench-hello", executable: executable, arguments: [String(port)],
                                 logFile: logDirectory.appendingPathComponent("hello.out"))
        guard Host.waitFor(10, { Host.isListening(port: port) }) else {
            child.stop()
            throw BenchError("cks-bench-hello did not listen:\n\(child.logTail())")
        }
    }

    @discardableResult func stop() -> Double { child.stop() }
}
