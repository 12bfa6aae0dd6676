import Foundation

/// Credentials shaped as AWS KMS requires for an external key store (20-30 of A-Z2-7; 43-64 Base64 characters).
public enum XksTestCredentials {
    public static let first = (accessKeyId: "MUBSXM6K3KMXHN6RRCXI7TWQH4", secretAccessKey: "FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE")
    public static let second = (accessKeyId: "ABCDEFGHIJKLMNOPQRST234567", secretAccessKey: "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=")
}

/// A `cks xks-proxy` configuration file for tests, written with mode 0600.
public struct XksProxyConfigFile {
    public var tls: [String: Any] = ["enabled": false]
    public var prefix = "example/uri/path/prefix"
    public var credentials: [(String, String)] = [XksTestCredentials.first, XksTestCredentials.second]
    /// (id, usage, status)
    public var keys: [(String, [String], String)] = [
        ("foo", ["ENCRYPT", "DECRYPT"], "ENABLED"),
        ("encrypt-only", ["ENCRYPT"], "ENABLED"),
        ("decrypt-only", ["DECRYPT"], "ENABLED"),
        ("unusable", [], "ENABLED"),
        ("disabled", ["ENCRYPT", "DECRYPT"], "DISABLED"),
    ]

    public init() {}

    public var json: Data {
        let object: [String: Any] = [
            "tls": tls,
            "keyStores": [[
                "uriPathPrefix": prefix,
                "credentials": credentials.map { ["accessKeyId": $0.0, "secretAccessKey": $0.1] },
                "keys": keys.map { ["id": $0.0, "usage": $0.1, "status": $0.2] },
            ]],
        ]
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    }

    /// Writes the file (mode 0600) and returns its path.
    @discardableResult
    public func write(to url: URL) throws -> String {
        try? FileManager.default.removeItem(at: url)
        FileManager.default.createFile(atPath: url.path, contents: json, attributes: [.posixPermissions: 0o600])
        return url.path
    }
}

/// A running `cks xks-proxy`, started from the built binary; stdout and stderr kept apart.
public final class XksProxyProcess: Sendable {
    public let process: ManagedProcess
    /// `http(s)://127.0.0.1:PORT` from the first stdout line.
    public let endpoint: String
    /// From the `certificate FILE` line (TLS on).
    public let certificate: String?

    public var port: Int { Int(endpoint.split(separator: ":").last ?? "") ?? 0 }
    /// `127.0.0.1:PORT`, the HOST (with its port) a client such as AWS's test client is given.
    public var hostAndPort: String { String(endpoint.split(separator: "/").last ?? "") }

    private init(process: ManagedProcess, endpoint: String, certificate: String?) {
        self.process = process
        self.endpoint = endpoint
        self.certificate = certificate
    }

    /// Starts the proxy and waits for its first stdout line (and the certificate line when TLS is on).
    public static func start(config: String, dataDirectory: String, extraArguments: [String] = [],
                             environment: [String: String]? = nil, timeout: Duration = .seconds(60)) async throws -> XksProxyProcess {
        let cks = try Locations.requireCksBinary()
        let process = try ManagedProcess(cks, ["xks-proxy", "--config", config, "--data-dir", dataDirectory,
                                               "--listen", "127.0.0.1:0"] + extraArguments, environment: environment,
                                     separateStandardError: true)
        do {
            let endpoint: String = try await process.waitFor(timeout: timeout) { output in
                guard let first = output.split(separator: "\n", omittingEmptySubsequences: false).first, output.contains("\n"),
                      first.hasPrefix("xks proxy listening on ") else { return nil }
                return String(first.dropFirst("xks proxy listening on ".count))
            }
            var certificate: String?
            if endpoint.hasPrefix("https://") {
                certificate = try await process.waitFor(timeout: .seconds(10)) { output in
                    let lines = output.split(separator: "\n")
                    guard lines.count >= 2, lines[1].hasPrefix("certificate ") else { return nil }
                    return String(lines[1].dropFirst("certificate ".count))
                }
            }
            return XksProxyProcess(process: process, endpoint: endpoint, certificate: certificate)
        } catch {
            await process.stop()
            throw error
        }
    }

    /// Runs `cks xks-proxy ARGS` to completion: (exit status, stdout, stderr).
    public static func run(_ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, output: String, error: String) {
        let cks = try Locations.requireCksBinary()
        return try ProgramRun.run(cks, ["xks-proxy"] + arguments, environment: environment)
    }

    public func stop() async { await process.stop() }
}

/// Runs a program to completion, collecting stdout and stderr.
public enum ProgramRun {
    public static func run(_ executable: URL, _ arguments: [String], input: Data? = nil,
                           environment: [String: String]? = nil) throws -> (status: Int32, output: String, error: String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let stdin = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        let outBuffer = OutputBuffer(), errBuffer = OutputBuffer()
        out.fileHandleForReading.readabilityHandler = { h in
            let d = h.availableData
            if d.isEmpty { h.readabilityHandler = nil } else { outBuffer.append(String(decoding: d, as: UTF8.self)) }
        }
        err.fileHandleForReading.readabilityHandler = { h in
            let d = h.availableData
            if d.isEmpty { h.readabilityHandler = nil } else { errBuffer.append(String(decoding: d, as: UTF8.self)) }
        }
        try process.run()
        if let input {
            stdin.fileHandleForWriting.write(input)
            try? stdin.fileHandleForWriting.close()
        }
        process.waitUntilExit()
        // Let the handlers drain what is left in the pipes.
        Thread.sleep(forTimeInterval: 0.05)
        out.fileHandleForReading.readabilityHandler = nil
        err.fileHandleForReading.readabilityHandler = nil
        let restOut = (try? out.fileHandleForReading.readToEnd()) ?? nil
        let restErr = (try? err.fileHandleForReading.readToEnd()) ?? nil
        return (process.terminationStatus, outBuffer.text + String(decoding: restOut ?? Data(), as: UTF8.self),
                errBuffer.text + String(decoding: restErr ?? Data(), as: UTF8.self))
    }
}

/// XKS calls through curl's own SigV4 (`--aws-sigv4 "aws:amz:REGION:kms-xks-proxy"`), as AWS's XKS test client
/// and the spec's appendix D make them.
public struct XksCurl {
    public var endpoint: String
    public var prefix: String
    public var accessKeyId = XksTestCredentials.first.accessKeyId
    public var secretAccessKey = XksTestCredentials.first.secretAccessKey
    public var region = "us-east-1"
    /// Extra curl arguments (`--cacert`, `--cert`/`--key`).
    public var tlsArguments: [String] = []

    public init(endpoint: String, prefix: String) {
        self.endpoint = endpoint
        self.prefix = prefix
    }

    public struct Answer {
        public var status: Int
        public var body: String
        public var curlExit: Int32
        public var curlError: String
        public var json: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
        }
        public var errorName: String? { json?["errorName"] as? String }
    }

    /// The URI path of `target` ("health", "keys/foo/encrypt").
    public func path(_ target: String) -> String { "/\(prefix.isEmpty ? "" : prefix + "/")kms/xks/v1/\(target)" }

    /// POSTs `body` to `<endpoint>/<prefix>/kms/xks/v1/<target>` (or sends `method`), signed by curl; with
    /// `curlSigns` false, unsigned but for the headers in `extra` (`-H` arguments).
    public func call(_ target: String, _ body: String, method: String = "POST", extra: [String] = [],
                     curlSigns: Bool = true) throws -> Answer {
        guard let curl = ExternalTool.locate("curl") else { throw ExternalTool.Missing(name: "curl") }
        let url = endpoint + path(target)
        var arguments = ["--silent", "--show-error", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}",
                         "-X", method, "-H", "Content-Type:application/json", "--data-binary", "@-"]
        if curlSigns {
            arguments += ["--aws-sigv4", "aws:amz:\(region):kms-xks-proxy", "--user", "\(accessKeyId):\(secretAccessKey)"]
        }
        arguments += tlsArguments + extra + [url]
        let result = try ProgramRun.run(curl, arguments, input: Data(body.utf8))
        var lines = result.output.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.popLast() ?? "") ?? 0
        return Answer(status: status, body: lines.joined(separator: "\n"), curlExit: result.status, curlError: result.error)
    }

    /// A requestMetadata member as KMS sends it.
    public static func requestMetadata(_ operation: String, keyArn: Bool = true) -> String {
        let arn = keyArn ? #""kmsKeyArn":"arn:aws:kms:us-east-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab","# : ""
        return #""requestMetadata":{"awsPrincipalArn":"arn:aws:iam::123456789012:user/Alice",\#(arn)"kmsOperation":"\#(operation)","kmsRequestId":"\#(UUID().uuidString.lowercased())","kmsViaService":"ebs"}"#
    }

    public static let healthBody = #"{"requestMetadata":{"kmsOperation":"KmsHealthCheck","kmsRequestId":"4112f4d6-db54-4af4-ae30-c55a22a8dfae"}}"#
}
