import CKSWire
import Foundation
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `cks xks-proxy` on a free port, over a data directory and config the benchmark owns, with its default settings
/// (one log line per request, written to the log file).
final class XksProxyBenchProcess: MeasuredServer {
    static let credentials = AWSCredentials(accessKeyId: "MUBSXM6K3KMXHN6RRCXI7TWQH4",
                                            secretAccessKey: "FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE")
    static let prefix = "bench/store"
    static let keyIds = ["bench-key-1", "bench-key-2"]

    let label = "cks xks-proxy"
    let port: Int
    let tls: Bool
    let child: ChildProcess
    var pid: Int32 { child.pid }
    /// Not used for XKS loads (they are built by `requests`); present for `MeasuredServer`.
    var factory: RequestFactory { RequestFactory(port: port, signing: .staticHeader) }

    /// Writes the config (mode 0600) and starts the proxy; returns once its first stdout line says it listens.
    init(executable: String, directory: URL, logDirectory: URL, tls: Bool, extraArguments: [String] = [],
         environment: [String: String]? = nil) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let config = directory.appendingPathComponent("proxy.json")
        let keys = Self.keyIds.map { #"{"id":"\#($0)","usage":["ENCRYPT","DECRYPT"],"status":"ENABLED"}"# }.joined(separator: ",")
        let json = #"{"tls":{"enabled":\#(tls)},"keyStores":[{"uriPathPrefix":"\#(Self.prefix)","credentials":[{"accessKeyId":"\#(Self.credentials.accessKeyId)","secretAccessKey":"\#(Self.credentials.secretAccessKey)"}],"keys":[\#(keys)]}]}"#
        try? fm.removeItem(at: config)
        guard fm.createFile(atPath: config.path, contents: Data(json.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw BenchError("cannot write \(config.path)")
        }
        port = try Host.freePort()
        self.tls = tls
        child = try ChildProcess(name: "cks xks-proxy", executable: executable,
                                 arguments: ["xks-proxy", "--config", config.path, "--data-dir", directory.appendingPathComponent("data").path,
                                             "--listen", "127.0.0.1:\(port)"] + extraArguments,
                                 environment: environment,
                                 logFile: logDirectory.appendingPathComponent("xks-proxy-\(port).log"))
        let listening = Host.waitFor(60, every: 0.005) { [child] in
            ((try? String(contentsOf: child.logFile, encoding: .utf8)) ?? "").contains("xks proxy listening on")
        }
        guard listening else {
            child.stop()
            throw BenchError("the XKS proxy did not start within 60 s:\n\(child.logTail())")
        }
    }

    @discardableResult func stop() -> Double { child.stop() }

    /// An XKS request signed as KMS signs it (host;x-amz-date; valid ±5 minutes, so built before each run).
    static func request(port: Int, operation: String, key: String, body: JSONValue) -> RawRequest {
        let path = "/\(prefix)/kms/xks/v1/keys/\(key)/\(operation)"
        let text = body.serialized
        let host = "127.0.0.1:\(port)"
        let headers = [("Host", host), ("Content-Type", "application/json")]
            + XKSRequestSigning.sign(path: path, host: host, body: Data(text.utf8), credentials: credentials, region: "us-east-1")
        return RawRequest(target: operation, body: text, headers: headers, path: path)
    }

    static func metadata(_ operation: String, _ i: Int) -> XKSRequestMetadata {
        XKSRequestMetadata(awsPrincipalArn: "arn:aws:iam::111122223333:role/bench",
                           kmsKeyArn: "arn:aws:kms:us-east-1:111122223333:key/0000000\(i % 10)-0000-0000-0000-000000000000",
                           kmsOperation: operation, kmsRequestId: UUID().uuidString.lowercased())
    }
}

/// What KMS sends for a GenerateDataKey and the Decrypt of its result: a 32-byte data key, about 100 bytes of AAD,
/// and a CDIV on encrypt. Decrypts use ciphertexts made by the proxy beforehand.
struct XksWorkload {
    struct Sealed { var key: String; var aad: Data; var response: XKSEncryptResponse }
    let plaintexts: [(key: String, plaintext: Data, aad: Data)]
    var sealed: [Sealed] = []

    init(count: Int = 64) {
        var rng = SystemRandomNumberGenerator()
        plaintexts = (0..<count).map { i in
            (XksProxyBenchProcess.keyIds[i % XksProxyBenchProcess.keyIds.count],
             Data((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }),
             Data("aws:kms:context:bench-\(i):".utf8) + Data((0..<72).map { _ in UInt8.random(in: 0...255, using: &rng) }))
        }
    }

    func encryptBody(_ i: Int) -> JSONValue {
        let p = plaintexts[i]
        return XKSEncryptRequest(requestMetadata: XksProxyBenchProcess.metadata("GenerateDataKey", i), plaintext: p.plaintext,
                                 additionalAuthenticatedData: p.aad, ciphertextDataIntegrityValueAlgorithm: "SHA_256").json
    }

    func decryptBody(_ s: Sealed, _ i: Int) -> JSONValue {
        XKSDecryptRequest(requestMetadata: XksProxyBenchProcess.metadata("Decrypt", i), ciphertext: s.response.ciphertext,
                          ciphertextMetadata: s.response.ciphertextMetadata, additionalAuthenticatedData: s.aad,
                          initializationVector: s.response.initializationVector, authenticationTag: s.response.authenticationTag).json
    }

    /// Makes the ciphertexts the decrypts use, over plain HTTP.
    mutating func seal(port: Int) throws {
        sealed = []
        for i in plaintexts.indices {
            let p = plaintexts[i]
            guard let answer = RawConnection.once(port: port, XksProxyBenchProcess.request(port: port, operation: "encrypt", key: p.key,
                                                                                             body: encryptBody(i))),
                  answer.status == 200, let json = try? JSONValue.parse(answer.body), let response = XKSEncryptResponse(json: json)
            else { throw BenchError("the XKS proxy did not encrypt the workload's data keys") }
            sealed.append(Sealed(key: p.key, aad: p.aad, response: response))
        }
    }

    /// Encrypt and decrypt alternating, each request signed for `port`.
    func load(port: Int) -> WrkLoad {
        var requests: [RawRequest] = []
        for (i, s) in sealed.enumerated() {
            requests.append(XksProxyBenchProcess.request(port: port, operation: "encrypt", key: plaintexts[i].key, body: encryptBody(i)))
            requests.append(XksProxyBenchProcess.request(port: port, operation: "decrypt", key: s.key, body: decryptBody(s, i)))
        }
        return .rotate(requests)
    }
}

extension Bench {
    /// 6. The XKS proxy: encrypt+decrypt (KMS's GenerateDataKey and Decrypt shapes) per key store, software keys
    /// over HTTP and HTTPS, and SoftHSM over HTTPS when it is installed. AWS's default quota per external key store
    /// is 1,800 requests/s, and the spec asks for answers well within KMS's 250 ms (35 ms round trips).
    func xksProxy() throws {
        let section = "6 xks proxy"
        let directory = try freshDirectory("xks")
        var workload = XksWorkload()
        for tls in [false, true] {
            Host.log("6. xks proxy: software keys over \(tls ? "HTTPS" : "HTTP")")
            let proxy = try XksProxyBenchProcess(executable: config.cksExecutable, directory: directory, logDirectory: logDirectory, tls: tls)
            defer { proxy.stop() }
            if !tls { try workload.seal(port: proxy.port) }
            for c in config.connections {
                try cell(section, proxy, serverName: "cks xks-proxy, software keys", workload: "Encrypt+Decrypt over \(tls ? "HTTPS" : "HTTP")",
                         keys: nil, connections: c, note: "32-byte data keys, 104-byte AAD, CDIV on encrypt", tls: tls) { _ in
                    workload.load(port: proxy.port)
                }
            }
            if let memory = Host.memory(pid: proxy.pid) {
                figure(section, "xks proxy RSS after the \(tls ? "HTTPS" : "HTTP") runs", "MiB", [memory.rss])
            }
        }
        try softHSMCells(section: section)
    }

    /// The same workload with keys on a SoftHSM token (skipped, with a note, when softhsm2 or pkcs11-tool is missing).
    func softHSMCells(section: String) throws {
        let module = "/usr/lib/softhsm/libsofthsm2.so"
        guard let softhsm = Host.which("softhsm2-util"), let tool = Host.which("pkcs11-tool"),
              FileManager.default.fileExists(atPath: module) else {
            results.notes.append("The XKS proxy was not measured over PKCS#11: softhsm2 or opensc is not installed.")
            return
        }
        let directory = try freshDirectory("xks-softhsm")
        let tokens = directory.appendingPathComponent("tokens")
        try FileManager.default.createDirectory(at: tokens, withIntermediateDirectories: true)
        let conf = directory.appendingPathComponent("softhsm2.conf")
        try "directories.tokendir = \(tokens.path)\nobjectstore.backend = file\nlog.level = ERROR\n".write(to: conf, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["SOFTHSM2_CONF"] = conf.path
        func run(_ executable: String, _ arguments: [String]) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            process.environment = environment
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw BenchError("\(executable) \(arguments.first ?? "") failed") }
        }
        try run(softhsm, ["--init-token", "--free", "--label", "bench", "--pin", "1234", "--so-pin", "87654321"])
        for key in XksProxyBenchProcess.keyIds {
            try run(tool, ["--module", module, "--token-label", "bench", "--login", "--pin", "1234", "--keygen", "--key-type", "AES:32", "--label", key])
        }
        let pin = directory.appendingPathComponent("pin")
        guard FileManager.default.createFile(atPath: pin.path, contents: Data("1234".utf8), attributes: [.posixPermissions: 0o600]) else {
            throw BenchError("cannot write the token PIN file \(pin.path)")
        }
        let arguments = ["--pkcs11-module", module, "--token-label", "bench", "--pin-file", pin.path]
        var workload = XksWorkload()
        for tls in [false, true] {
            Host.log("6. xks proxy: SoftHSM keys over \(tls ? "HTTPS" : "HTTP")")
            let proxy = try XksProxyBenchProcess(executable: config.cksExecutable, directory: directory, logDirectory: logDirectory,
                                                 tls: tls, extraArguments: arguments, environment: environment)
            defer { proxy.stop() }
            if !tls { try workload.seal(port: proxy.port); continue }
            for c in config.connections {
                try cell(section, proxy, serverName: "cks xks-proxy, SoftHSM 2.6 (PKCS#11)", workload: "Encrypt+Decrypt over HTTPS",
                         keys: nil, connections: c, note: "32-byte data keys, 104-byte AAD, CDIV on encrypt", tls: true) { _ in
                    workload.load(port: proxy.port)
                }
            }
        }
    }
}
