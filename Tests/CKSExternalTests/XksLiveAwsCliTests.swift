import CKSTestSupport
import Foundation
import Testing

/// The stock aws CLI against `cks serve` and a real `cks xks-proxy` process: an external key store created,
/// connected, used, broken (proxy killed, wrong credentials), repaired, rotated and torn down, as the README's
/// "External key stores on a real proxy" walks through it.
@Suite("aws CLI against cks serve and a real cks xks-proxy", .serialized)
struct XksLiveAwsCliTests {
    static let path = "/example/uri/path/prefix/kms/xks/v1"

    static func credential(_ c: (accessKeyId: String, secretAccessKey: String)) -> String {
        "AccessKeyId=\(c.accessKeyId),RawSecretAccessKey=\(c.secretAccessKey)"
    }

    static func startProxy(_ directory: TemporaryDirectory, port: Int? = nil) async throws -> XksProxyProcess {
        var file = XksProxyConfigFile()
        file.tls = ["enabled": true]
        let config = try file.write(to: directory.url.appendingPathComponent("proxy.json"))
        return try await XksProxyProcess.start(config: config, dataDirectory: directory.url.appendingPathComponent("proxy-data").path,
                                               extraArguments: port.map { ["--listen", "127.0.0.1:\($0)"] } ?? [])
    }

    static func killHard(_ proxy: XksProxyProcess) async {
        kill(proxy.process.pid, SIGKILL)
        let deadline = ContinuousClock.now + .seconds(10)
        while proxy.process.process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
    }

    @Test("create, connect, use, break, repair, rotate and tear down an external key store on a real proxy",
          .enabled(if: ExternalTools.usable(.aws, .python3, .boto3),
                   "needs the aws CLI and python3 with boto3 (CKS_REQUIRE_EXTERNAL=1 turns this skip into a failure)"))
    func walkThrough() async throws {
        try ExternalTools.require(.aws, .python3, .boto3)
        let directory = try TemporaryDirectory(prefix: "xks-live")
        defer { directory.remove() }
        var proxy = try await Self.startProxy(directory)
        let port = proxy.port
        let certificate = try #require(proxy.certificate)
        // The proxy's self-signed certificate names localhost; the core reaches "https://localhost" at the proxy's port.
        // The budget is KMS's 250 ms; a loaded CI machine gets more so that successes stay successes.
        let arguments = ["--time-scale", "50000", "--xks-resolve", "localhost=127.0.0.1:\(port)", "--xks-ca-file", certificate,
                         "--xks-timeout-ms", "5000"]
        defer { Task { [proxy] in await proxy.stop() } }
        try await withServe(extraArguments: arguments) { core in
            func cli(_ a: [String]) async throws -> [String: Any] { try await AwsCliTests.ok(a, core: core) }
            // CLI v1 fetches any parameter value that starts with https:// (cli_follow_urlparam), so the endpoint
            // goes in --cli-input-json.
            let store = ["--custom-key-store-type", "EXTERNAL_KEY_STORE", "--xks-proxy-connectivity", "PUBLIC_ENDPOINT",
                         "--cli-input-json", #"{"XksProxyUriEndpoint": "https://localhost"}"#, "--xks-proxy-uri-path", Self.path]
            // Wrong credentials: the proxy refuses them during CreateCustomKeyStore's health check.
            try await AwsCliTests.fails(["create-custom-key-store", "--custom-key-store-name", "wrong"] + store
                                            + ["--xks-proxy-authentication-credential",
                                               Self.credential((XksTestCredentials.first.accessKeyId, String(repeating: "Z", count: 43)))],
                                        code: "XksProxyIncorrectAuthenticationCredentialException", operation: "CreateCustomKeyStore",
                                        core: core)
            let created = try await cli(["create-custom-key-store", "--custom-key-store-name", "live"] + store
                                            + ["--xks-proxy-authentication-credential", Self.credential(XksTestCredentials.first)])
            let id = try #require(created["CustomKeyStoreId"] as? String)
            try await cli(["connect-custom-key-store", "--custom-key-store-id", id])
            try await AwsCliTests.waitForState(id, "CONNECTED", core: core)
            let key = try await cli(["create-key", "--origin", "EXTERNAL_KEY_STORE", "--custom-key-store-id", id, "--xks-key-id", "foo"])
            let keyId = try #require((key["KeyMetadata"] as? [String: Any])?["KeyId"] as? String)
            try await AwsCliTests.fails(["create-key", "--origin", "EXTERNAL_KEY_STORE", "--custom-key-store-id", id, "--xks-key-id", "nope"],
                                        code: "XksKeyNotFoundException", operation: "CreateKey", core: core)

            let plain = directory.url.appendingPathComponent("plain.txt")
            try Data("attack at dawn".utf8).write(to: plain)
            func roundTrip() async throws {
                let sealed = try await cli(["encrypt", "--key-id", keyId, "--plaintext", "fileb://\(plain.path)"])
                let blob = try #require((sealed["CiphertextBlob"] as? String).flatMap { Data(base64Encoded: $0) })
                let blobFile = directory.url.appendingPathComponent("blob.bin")
                try blob.write(to: blobFile)
                let opened = try await cli(["decrypt", "--ciphertext-blob", "fileb://\(blobFile.path)"])
                #expect((opened["Plaintext"] as? String).flatMap { Data(base64Encoded: $0) } == Data("attack at dawn".utf8))
            }
            try await roundTrip()

            // Rotation without downtime: the proxy serves both credential sets; the store moves to the second while CONNECTED.
            try await cli(["update-custom-key-store", "--custom-key-store-id", id, "--xks-proxy-authentication-credential",
                           Self.credential(XksTestCredentials.second)])
            #expect(try await AwsCliTests.storeState(id, core: core)["ConnectionState"] as? String == "CONNECTED")
            try await roundTrip()

            // kill -9 of the proxy: crypto fails with KMSInvalidStateException at once, Connect ends FAILED.
            await Self.killHard(proxy)
            let started = ContinuousClock.now
            try await AwsCliTests.fails(["encrypt", "--key-id", keyId, "--plaintext", "fileb://\(plain.path)"],
                                        code: "KMSInvalidStateException", operation: "Encrypt", core: core,
                                        messageContains: "cannot communicate with the external key store proxy")
            #expect(ContinuousClock.now - started < .seconds(60), "the CLI got its answer without hanging")
            try await cli(["disconnect-custom-key-store", "--custom-key-store-id", id])
            try await AwsCliTests.waitForState(id, "DISCONNECTED", core: core)
            try await cli(["connect-custom-key-store", "--custom-key-store-id", id])
            try await AwsCliTests.waitForState(id, "FAILED", core: core)
            #expect(try await AwsCliTests.storeState(id, core: core)["ConnectionErrorCode"] as? String == "XKS_PROXY_NOT_REACHABLE")

            // The proxy returns on its port: disconnect, connect, and the keys work again.
            proxy = try await Self.startProxy(directory, port: port)
            try await cli(["disconnect-custom-key-store", "--custom-key-store-id", id])
            try await AwsCliTests.waitForState(id, "DISCONNECTED", core: core)
            try await cli(["connect-custom-key-store", "--custom-key-store-id", id])
            try await AwsCliTests.waitForState(id, "CONNECTED", core: core)
            try await roundTrip()

            // A whole teardown of the store, with the proxy killed first: the teardown never calls the proxy.
            await Self.killHard(proxy)
            guard let binary = Locations.cksBinary else { throw HarnessError("the cks binary is not built") }
            var environment = core.awsEnvironment()
            environment["XDG_STATE_HOME"] = core.logDirectory.appendingPathComponent("state").path
            environment["HOME"] = core.logDirectory.path
            let run = try await ProcessRunner.run([binary.path, "teardown", id, "--endpoint", core.endpoint.absoluteString, "--yes", "--wait",
                                                   "--window-days", "7", "--acknowledge-flagged",
                                                   // The proxy was broken on purpose above: the key's refused calls are known.
                                                   "--acknowledge-reason", "refused", "--poll-seconds", "0.5",
                                                   "--output", "json"], environment: environment, timeout: .seconds(300))
            #expect(run.status == 0, "teardown --yes --wait exits 0 once the store is deleted:\n\(run)")
            // The final report names the external key left in the proxy.
            #expect(run.stdout.contains("external keys (foo): KMS never touches them"), "the final report names foo:\n\(run)")
            try await AwsCliTests.fails(["describe-custom-key-stores", "--custom-key-store-id", id],
                                        code: "CustomKeyStoreNotFoundException", operation: "DescribeCustomKeyStores", core: core)
        }
    }
}
