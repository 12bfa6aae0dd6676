import CKSTestSupport
import Foundation
import Testing

// This suite's own ExternalTool (enum of the aws/boto3/tmux tools) shadows the shared one.
private typealias Tool = CKSTestSupport.ExternalTool

/// `cks xks-proxy` in front of a PKCS#11 token: Debian's SoftHSM v2 (`softhsm2`), keys made with OpenSC's
/// `pkcs11-tool`, exactly as an operator would make them on an HSM.
@Suite(.serialized) struct XksProxyPKCS11Tests {
    static let modulePath = "/usr/lib/softhsm/libsofthsm2.so"
    static var available: Bool {
        Tool.isRequired || (Tool.locate("softhsm2-util") != nil && Tool.locate("pkcs11-tool") != nil
            && FileManager.default.fileExists(atPath: modulePath))
    }
    static let skipNote = Comment(rawValue: "skipped: softhsm2 (softhsm2-util, \(modulePath)) or opensc (pkcs11-tool) is not installed "
        + "(set CKS_REQUIRE_EXTERNAL=1 to make this a failure)")

    /// A SoftHSM configuration and an initialised token in `directory`, with the keys of the test config.
    struct Token {
        let environment: [String: String]
        let pinFile: String

        init(directory: URL, label: String = "xks-test", pin: String = "1234") throws {
            let softhsm = try Tool.require("softhsm2-util"), tool = try Tool.require("pkcs11-tool")
            guard FileManager.default.fileExists(atPath: XksProxyPKCS11Tests.modulePath) else {
                throw Tool.Missing(name: XksProxyPKCS11Tests.modulePath)
            }
            let tokens = directory.appendingPathComponent("tokens")
            try FileManager.default.createDirectory(at: tokens, withIntermediateDirectories: true)
            let conf = directory.appendingPathComponent("softhsm2.conf")
            try "directories.tokendir = \(tokens.path)\nobjectstore.backend = file\nlog.level = ERROR\n".write(to: conf, atomically: true, encoding: .utf8)
            var environment = ProcessInfo.processInfo.environment
            environment["SOFTHSM2_CONF"] = conf.path
            self.environment = environment
            func run(_ program: URL, _ arguments: [String]) throws {
                let result = try ProgramRun.run(program, arguments, environment: environment)
                guard result.status == 0 else {
                    throw ManagedProcess.ProcessFailure(description: "\(program.lastPathComponent) \(arguments): \(result.output)\(result.error)")
                }
            }
            try run(softhsm, ["--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", "87654321"])
            for (keyLabel, bytes) in [("foo", 32), ("encrypt-only", 32), ("decrypt-only", 32), ("unusable", 32), ("disabled", 32), ("aes128", 16)] {
                try run(tool, ["--module", XksProxyPKCS11Tests.modulePath, "--token-label", label, "--login", "--pin", pin,
                               "--keygen", "--key-type", "AES:\(bytes)", "--label", keyLabel])
            }
            pinFile = directory.appendingPathComponent("pin").path
            FileManager.default.createFile(atPath: pinFile, contents: Data("\(pin)\n".utf8), attributes: [.posixPermissions: 0o600])
        }

        func arguments(label: String = "xks-test", pinFile: String? = nil, module: String = XksProxyPKCS11Tests.modulePath) -> [String] {
            ["--pkcs11-module", module, "--token-label", label, "--pin-file", pinFile ?? self.pinFile]
        }
    }

    @Test(.enabled(if: available, skipNote))
    func tokenKeysServeTheWholeAPI() async throws {
        _ = try Tool.require("curl")
        let directory = try TemporaryDirectory(prefix: "xks-p11")
        defer { directory.remove() }
        let token = try Token(directory: directory.url)
        var file = XksProxyConfigFile()
        file.keys += [("aes128", ["ENCRYPT", "DECRYPT"], "ENABLED"), ("not-on-token", ["ENCRYPT", "DECRYPT"], "ENABLED")]
        let config = try file.write(to: directory.url.appendingPathComponent("proxy.json"))
        let data = directory.url.appendingPathComponent("data").path
        let proxy = try await XksProxyProcess.start(config: config, dataDirectory: data, extraArguments: token.arguments(),
                                                    environment: token.environment)
        defer { Task { await proxy.stop() } }
        let curl = XksCurl(endpoint: proxy.endpoint, prefix: XksProxyConformanceTests.prefix)
        let failures = try XksProxyConformanceTests.conformance(curl)
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        // No software keys were made: the token holds them.
        #expect(!FileManager.default.fileExists(atPath: data + "/keys.sqlite"))
        let health = try curl.call("health", XksCurl.healthBody)
        #expect(health.body.contains(#""healthStatus":"ACTIVE""#) && health.body.contains("SoftHSM"), "\(health.body)")
        let metadata = "{\(XksCurl.requestMetadata("CreateKey", keyArn: false))}"
        // A label missing on the token, and a key that is not AES-256.
        #expect(try curl.call("keys/not-on-token/metadata", metadata).errorName == "KeyNotFoundException")
        #expect(try curl.call("keys/aes128/metadata", metadata).body.contains(#""keyUsage":[]"#))
        let encrypt = "{\(XksCurl.requestMetadata("Encrypt")),\"plaintext\":\"SGk=\",\"encryptionAlgorithm\":\"AES_GCM\"}"
        #expect(try curl.call("keys/aes128/encrypt", encrypt).errorName == "InvalidKeyUsageException")
        #expect(proxy.process.capturedError.contains("not-on-token"))

        // The token goes away under the running proxy: health says so, and requests fail with the spec's error.
        let softhsm = try Tool.require("softhsm2-util")
        _ = try ProgramRun.run(softhsm, ["--delete-token", "--token", "xks-test"], environment: token.environment)
        try await Task.sleep(for: .milliseconds(1200))   // past the health cache
        let gone = try curl.call("health", XksCurl.healthBody)
        #expect(gone.status == 200 && gone.body.contains(#""healthStatus":"UNAVAILABLE""#), "\(gone.body)")
        let failed = try curl.call("keys/foo/encrypt", encrypt)
        #expect([500, 404].contains(failed.status) && ["InternalException", "KeyNotFoundException"].contains(failed.errorName ?? ""),
                "\(failed.status) \(failed.body)")
        #expect(proxy.process.process.isRunning)
        await proxy.stop()
    }

    @Test(.enabled(if: available, skipNote))
    func startFailuresNameTheirCause() async throws {
        let directory = try TemporaryDirectory(prefix: "xks-p11-bad")
        defer { directory.remove() }
        let token = try Token(directory: directory.url)
        let config = try XksProxyConfigFile().write(to: directory.url.appendingPathComponent("proxy.json"))
        let data = directory.url.appendingPathComponent("data").path
        let wrongPin = directory.appendingPathComponent("wrong-pin").path
        FileManager.default.createFile(atPath: wrongPin, contents: Data("0000".utf8), attributes: [.posixPermissions: 0o600])
        let cases: [([String], String)] = [
            (token.arguments(pinFile: wrongPin), "PIN in \(wrongPin) is incorrect"),
            (token.arguments(module: "/nonexistent/libpkcs11.so"), "PKCS#11 module /nonexistent/libpkcs11.so does not exist"),
            (token.arguments(module: "/usr/lib/x86_64-linux-gnu/libc.so.6"), "not a PKCS#11 module"),
            (token.arguments(label: "no-such-token"), "no token labelled 'no-such-token'"),
        ]
        for (arguments, expected) in cases {
            let result = try XksProxyProcess.run(["--config", config, "--data-dir", data, "--listen", "127.0.0.1:0"] + arguments,
                                                 environment: token.environment)
            #expect(result.status == 1 && result.error.contains(expected), "\(arguments): \(result.status) \(result.error)")
            #expect(result.output.isEmpty)
        }
    }
}

private extension TemporaryDirectory {
    func appendingPathComponent(_ name: String) -> URL { url.appendingPathComponent(name) }
}
