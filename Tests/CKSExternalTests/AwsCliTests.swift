import Foundation
import Testing

/// The installed aws CLI (v1.45.11) against a started `cks serve`: the seed's commands end to end,
/// asserting on exit codes and on the exact text the CLI prints for errors.
@Suite("aws CLI against cks serve")
struct AwsCliTests {
    static let password = "kmsuser-pass-1"

    /// `aws kms <arguments> --endpoint-url <core> --output json`.
    static func aws(_ arguments: [String], core: ServeProcess, as principal: TestPrincipal? = nil) async throws -> ProcessResult {
        // The CLI's own retry settings (as an operator has them): with AWS_MAX_ATTEMPTS set, the
        // printed error gains "(reached max retries: N)" and no longer matches the seed's text.
        try await ProcessRunner.run(
            ["aws", "kms"] + arguments + ["--endpoint-url", core.endpoint.absoluteString, "--output", "json"],
            environment: core.awsEnvironment(as: principal),
            removingEnvironment: ["AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_PROFILE"], timeout: .seconds(180))
    }

    /// Runs a command that must succeed and returns its JSON output (empty dictionary for no output).
    @discardableResult
    static func ok(_ arguments: [String], core: ServeProcess, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [String: Any] {
        let result = try await aws(arguments, core: core)
        guard result.status == 0 else {
            Issue.record("aws kms \(arguments.joined(separator: " ")) failed:\n\(result)", sourceLocation: sourceLocation)
            throw HarnessError("aws command failed")
        }
        let text = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.isEmpty { return [:] }
        guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw HarnessError("not a JSON object: \(text)")
        }
        return object
    }

    /// Runs a command that must fail as the CLI does for a service error: exit 255 and
    /// `An error occurred (<code>) when calling the <operation> operation: <message>` on stderr.
    @discardableResult
    static func fails(_ arguments: [String], code: String, operation: String, core: ServeProcess,
                      as principal: TestPrincipal? = nil, messageContains: String? = nil,
                      sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let result = try await aws(arguments, core: core, as: principal)
        let prefix = "An error occurred (\(code)) when calling the \(operation) operation: "
        let line = result.stderr.split(separator: "\n").first { $0.hasPrefix("An error occurred") }.map(String.init) ?? ""
        #expect(result.status == 255, "exit status of a service error:\n\(result)", sourceLocation: sourceLocation)
        #expect(line.hasPrefix(prefix), "expected stderr `\(prefix)…`:\n\(result)", sourceLocation: sourceLocation)
        #expect(line.count > prefix.count, "the error message is empty:\n\(result)", sourceLocation: sourceLocation)
        if let messageContains {
            #expect(line.contains(messageContains), "message lacks `\(messageContains)`:\n\(result)", sourceLocation: sourceLocation)
        }
        return String(line.dropFirst(min(prefix.count, line.count)))
    }

    static func storeState(_ id: String, core: ServeProcess) async throws -> [String: Any] {
        let out = try await ok(["describe-custom-key-stores", "--custom-key-store-id", id], core: core)
        let stores = out["CustomKeyStores"] as? [[String: Any]] ?? []
        guard stores.count == 1 else { throw HarnessError("describe-custom-key-stores \(id): \(out)") }
        return stores[0]
    }

    /// Polls describe-custom-key-stores until `wanted`, advancing the simulated clock through transient states.
    static func waitForState(_ id: String, _ wanted: String, core: ServeProcess) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        var seen: [String] = []
        while ContinuousClock.now < deadline {
            let state = try await storeState(id, core: core)["ConnectionState"] as? String ?? "?"
            if seen.last != state { seen.append(state) }
            if state == wanted { return }
            switch state {
            case "CONNECTING": try await Python.admin("AdvanceClock", ["Seconds": 20 * 60 + 5], core: core)
            case "DISCONNECTING": try await Python.admin("AdvanceClock", ["Seconds": 31], core: core)
            default: try await Task.sleep(for: .milliseconds(50))
            }
        }
        throw HarnessError("store \(id) never reached \(wanted); states seen \(seen)")
    }

    @Test("the seed's safe teardown with stock aws kms commands, meeting every DeleteCustomKeyStore error",
          .enabled(if: ExternalTools.usable(.aws, .python3, .boto3),
                   "needs the aws CLI and python3 with boto3 (CKS_REQUIRE_EXTERNAL=1 turns this skip into a failure)"))
    func seedTeardown() async throws {
        try ExternalTools.require(.aws, .python3, .boto3)
        try await withServe { core in
            let cluster = try await Python.admin("CreateCloudHsmCluster", ["HsmCount": 2, "KmsUserPassword": Self.password], core: core)
            let clusterId = try #require(cluster["ClusterId"] as? String)
            let anchor = core.logDirectory.appendingPathComponent("customerCA.crt")
            try Data((cluster["TrustAnchorCertificate"] as? String ?? "").utf8).write(to: anchor)

            let created = try await Self.ok([
                "create-custom-key-store", "--custom-key-store-name", "ExampleKeyStore",
                "--cloud-hsm-cluster-id", clusterId, "--trust-anchor-certificate", "file://\(anchor.path)",
                "--key-store-password", Self.password], core: core)
            let id = try #require(created["CustomKeyStoreId"] as? String)
            #expect(id.range(of: #"^cks-[0-9a-f]{17}$"#, options: .regularExpression) != nil, "id \(id)")
            let entry = try await Self.storeState(id, core: core)
            #expect(entry["ConnectionState"] as? String == "DISCONNECTED")
            #expect(entry["CustomKeyStoreName"] as? String == "ExampleKeyStore")
            #expect(entry["CloudHsmClusterId"] as? String == clusterId)
            #expect(entry["CreationDate"] is NSNumber, "CLI v1 prints CreationDate as a number: \(entry)")
            try await Self.fails(["create-custom-key-store", "--custom-key-store-name", "AnotherKeyStore",
                                  "--cloud-hsm-cluster-id", clusterId, "--trust-anchor-certificate", "file://\(anchor.path)",
                                  "--key-store-password", Self.password],
                                 code: "CloudHsmClusterInUseException", operation: "CreateCustomKeyStore", core: core)

            // DeleteCustomKeyStore errors: not found.
            try await Self.fails(["delete-custom-key-store", "--custom-key-store-id", "cks-1234567890abcdef0"],
                                 code: "CustomKeyStoreNotFoundException", operation: "DeleteCustomKeyStore", core: core)

            let connected = try await Self.aws(["connect-custom-key-store", "--custom-key-store-id", id], core: core)
            #expect(connected.status == 0 && connected.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
                    "connect prints nothing (empty JSON object): \(connected)")
            #expect(try await Self.storeState(id, core: core)["ConnectionState"] as? String == "CONNECTING")
            // …not disconnected: CONNECTING.
            try await Self.fails(["delete-custom-key-store", "--custom-key-store-id", id],
                                 code: "CustomKeyStoreInvalidStateException", operation: "DeleteCustomKeyStore", core: core)
            try await Self.waitForState(id, "CONNECTED", core: core)

            let key = try await Self.ok(["create-key", "--custom-key-store-id", id, "--origin", "AWS_CLOUDHSM",
                                         "--description", "seed key"], core: core)
            let metadata = try #require(key["KeyMetadata"] as? [String: Any])
            let keyId = try #require(metadata["KeyId"] as? String)
            #expect(metadata["Origin"] as? String == "AWS_CLOUDHSM")
            #expect(metadata["CustomKeyStoreId"] as? String == id)
            #expect(metadata["CloudHsmClusterId"] as? String == clusterId)
            #expect(metadata["KeyState"] as? String == "Enabled")
            try await Self.ok(["create-alias", "--alias-name", "alias/ExampleAlias", "--target-key-id", keyId], core: core)
            let keys = try await Self.ok(["list-keys"], core: core)
            #expect((keys["Keys"] as? [[String: Any]] ?? []).contains { $0["KeyId"] as? String == keyId })

            // …not disconnected: CONNECTED.
            try await Self.fails(["delete-custom-key-store", "--custom-key-store-id", id],
                                 code: "CustomKeyStoreInvalidStateException", operation: "DeleteCustomKeyStore", core: core)
            // …holds keys (even disconnected).
            try await Self.ok(["disconnect-custom-key-store", "--custom-key-store-id", id], core: core)
            try await Self.waitForState(id, "DISCONNECTED", core: core)
            let described = try await Self.ok(["describe-key", "--key-id", keyId], core: core)
            #expect((described["KeyMetadata"] as? [String: Any])?["KeyState"] as? String == "Unavailable")
            try await Self.fails(["delete-custom-key-store", "--custom-key-store-id", id],
                                 code: "CustomKeyStoreHasCMKsException", operation: "DeleteCustomKeyStore", core: core)

            // Reconnect so the cluster's key material is deleted too, then schedule deletion.
            try await Self.ok(["connect-custom-key-store", "--custom-key-store-id", id], core: core)
            try await Self.waitForState(id, "CONNECTED", core: core)
            try await Self.fails(["schedule-key-deletion", "--key-id", keyId, "--pending-window-in-days", "6"],
                                 code: "ValidationException", operation: "ScheduleKeyDeletion", core: core,
                                 messageContains: "PendingWindowInDays must be between 7 and 30")
            let scheduled = try await Self.ok(["schedule-key-deletion", "--key-id", keyId, "--pending-window-in-days", "7"], core: core)
            #expect(scheduled["KeyState"] as? String == "PendingDeletion")
            #expect(scheduled["DeletionDate"] is NSNumber, "CLI v1 prints DeletionDate as a number: \(scheduled)")
            #expect(scheduled["PendingWindowInDays"] as? Int == 7)
            // …keys pending deletion still block.
            try await Self.ok(["disconnect-custom-key-store", "--custom-key-store-id", id], core: core)
            try await Self.waitForState(id, "DISCONNECTED", core: core)
            try await Self.fails(["delete-custom-key-store", "--custom-key-store-id", id],
                                 code: "CustomKeyStoreHasCMKsException", operation: "DeleteCustomKeyStore", core: core)
            try await Self.ok(["connect-custom-key-store", "--custom-key-store-id", id], core: core)
            try await Self.waitForState(id, "CONNECTED", core: core)

            try await Python.admin("AdvanceClock", ["Seconds": 7 * 86_400 + 60], core: core)
            try await Self.fails(["describe-key", "--key-id", keyId], code: "NotFoundException", operation: "DescribeKey",
                                 core: core, messageContains: "does not exist")
            let after = try await Self.ok(["list-keys"], core: core)
            #expect(!(after["Keys"] as? [[String: Any]] ?? []).contains { $0["KeyId"] as? String == keyId })

            try await Self.ok(["disconnect-custom-key-store", "--custom-key-store-id", id], core: core)
            try await Self.waitForState(id, "DISCONNECTED", core: core)
            let deleted = try await Self.aws(["delete-custom-key-store", "--custom-key-store-id", id], core: core)
            #expect(deleted.status == 0 && deleted.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(deleted)")
            try await Self.fails(["describe-custom-key-stores", "--custom-key-store-id", id],
                                 code: "CustomKeyStoreNotFoundException", operation: "DescribeCustomKeyStores", core: core)
            try await Self.fails(["delete-custom-key-store", "--custom-key-store-id", id],
                                 code: "CustomKeyStoreNotFoundException", operation: "DeleteCustomKeyStore", core: core)
        }
    }

    @Test("FAILED connection, the error code in describe-custom-key-stores, and recovery through disconnect",
          .enabled(if: ExternalTools.usable(.aws, .python3, .boto3),
                   "needs the aws CLI and python3 with boto3 (CKS_REQUIRE_EXTERNAL=1 turns this skip into a failure)"))
    func failedConnection() async throws {
        try ExternalTools.require(.aws, .python3, .boto3)
        try await withServe { core in
            let cluster = try await Python.admin("CreateCloudHsmCluster", ["HsmCount": 2, "KmsUserPassword": Self.password], core: core)
            let anchor = core.logDirectory.appendingPathComponent("anchor.crt")
            try Data((cluster["TrustAnchorCertificate"] as? String ?? "").utf8).write(to: anchor)
            let created = try await Self.ok([
                "create-custom-key-store", "--custom-key-store-name", "WrongPassword",
                "--cloud-hsm-cluster-id", cluster["ClusterId"] as? String ?? "", "--trust-anchor-certificate",
                "file://\(anchor.path)", "--key-store-password", "not-the-password"], core: core)
            let id = try #require(created["CustomKeyStoreId"] as? String)
            try await Self.ok(["connect-custom-key-store", "--custom-key-store-id", id], core: core)
            try await Self.waitForState(id, "FAILED", core: core)
            #expect(try await Self.storeState(id, core: core)["ConnectionErrorCode"] as? String == "INVALID_CREDENTIALS")
            try await Self.fails(["connect-custom-key-store", "--custom-key-store-id", id],
                                 code: "CustomKeyStoreInvalidStateException", operation: "ConnectCustomKeyStore", core: core)
            try await Self.fails(["delete-custom-key-store", "--custom-key-store-id", id],
                                 code: "CustomKeyStoreInvalidStateException", operation: "DeleteCustomKeyStore", core: core)
            try await Self.ok(["disconnect-custom-key-store", "--custom-key-store-id", id], core: core)
            try await Self.waitForState(id, "DISCONNECTED", core: core)
            try await Self.ok(["update-custom-key-store", "--custom-key-store-id", id, "--key-store-password", Self.password], core: core)
            try await Self.ok(["connect-custom-key-store", "--custom-key-store-id", id], core: core)
            try await Self.waitForState(id, "CONNECTED", core: core)
        }
    }

    @Test("encrypt and decrypt with fileb:// blobs (CLI v1 base64-encodes blob arguments again, stack notes P18)",
          .enabled(if: ExternalTools.usable(.aws), "needs the aws CLI (CKS_REQUIRE_EXTERNAL=1 turns this skip into a failure)"))
    func blobsRoundTrip() async throws {
        try ExternalTools.require(.aws)
        try await withServe { core in
            let key = try await Self.ok(["create-key", "--description", "cli blobs"], core: core)
            let keyId = try #require((key["KeyMetadata"] as? [String: Any])?["KeyId"] as? String)
            let plain = core.logDirectory.appendingPathComponent("plain.bin")
            let secret = Data("the application's secret \u{00e9}".utf8) + Data([0, 255, 7])
            try secret.write(to: plain)
            let encrypted = try await Self.ok(["encrypt", "--key-id", keyId, "--plaintext", "fileb://\(plain.path)"], core: core)
            let blob = try #require(Data(base64Encoded: encrypted["CiphertextBlob"] as? String ?? ""))
            let ciphertext = core.logDirectory.appendingPathComponent("ct.bin")
            try blob.write(to: ciphertext)
            let decrypted = try await Self.ok(["decrypt", "--ciphertext-blob", "fileb://\(ciphertext.path)"], core: core)
            #expect(Data(base64Encoded: decrypted["Plaintext"] as? String ?? "") == secret)
            #expect((decrypted["KeyId"] as? String)?.hasSuffix(":key/\(keyId)") == true)
        }
    }

    @Test("access denied and bad credentials as the CLI prints them",
          .enabled(if: ExternalTools.usable(.aws), "needs the aws CLI (CKS_REQUIRE_EXTERNAL=1 turns this skip into a failure)"))
    func deniedAndUnrecognized() async throws {
        try ExternalTools.require(.aws)
        try await withServe(principals: TestPrincipal.standardSet) { core in
            try await Self.fails(["delete-custom-key-store", "--custom-key-store-id", "cks-1234567890abcdef0"],
                                 code: "AccessDeniedException", operation: "DeleteCustomKeyStore", core: core,
                                 as: .reader, messageContains: "is not authorized to perform: kms:DeleteCustomKeyStore")
            var stranger = TestPrincipal.reader
            stranger.accessKeyId = "AKIAUNKNOWNUNKNOWN00"
            try await Self.fails(["list-keys"], code: "UnrecognizedClientException", operation: "ListKeys", core: core,
                                 as: stranger, messageContains: "The security token included in the request is invalid.")
            var wrongSecret = TestPrincipal.admin
            wrongSecret.secretAccessKey = "not-the-right-secret-not-the-right-secret"
            try await Self.fails(["list-keys"], code: "InvalidSignatureException", operation: "ListKeys", core: core,
                                 as: wrongSecret, messageContains: "The request signature we calculated does not match")
        }
    }
}
