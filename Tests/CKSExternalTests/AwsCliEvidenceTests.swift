import Foundation
import Testing

/// The installed aws CLI against a started `cks serve` for who may use a key (grants, key policy, tags),
/// moving work off a key (update-alias) and `aws cloudtrail lookup-events --endpoint-url`, unchanged.
@Suite("aws CLI: grants, policies, tags and CloudTrail lookup-events against cks serve")
struct AwsCliEvidenceTests {
    static func cloudtrail(_ arguments: [String], core: ServeProcess, as principal: TestPrincipal) async throws -> ProcessResult {
        try await ProcessRunner.run(
            ["aws", "cloudtrail"] + arguments + ["--endpoint-url", core.endpoint.absoluteString, "--output", "json"],
            environment: core.awsEnvironment(as: principal),
            removingEnvironment: ["AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_PROFILE"], timeout: .seconds(180))
    }

    @Test("grants, key policy, tags, update-alias and cloudtrail lookup-events with the stock CLI",
          .enabled(if: ExternalTools.usable(.aws, .python3, .boto3),
                   "needs the aws CLI and python3 with boto3 (CKS_REQUIRE_EXTERNAL=1 turns this skip into a failure)"))
    func evidence() async throws {
        try ExternalTools.require(.aws, .python3, .boto3)
        try await withServe(principals: TestPrincipal.auditSet) { core in
            let key = try #require(try await AwsCliTests.ok(["create-key", "--description", "cli",
                                                             "--tags", "TagKey=owner,TagValue=billing"],
                                                            core: core)["KeyMetadata"] as? [String: Any])
            let keyId = try #require(key["KeyId"] as? String)
            let arn = try #require(key["Arn"] as? String)
            let reader = "arn:aws:iam::111122223333:user/qa-reader"

            let grant = try await AwsCliTests.ok(["create-grant", "--key-id", keyId, "--grantee-principal", reader,
                                                  "--operations", "Decrypt", "Encrypt"], core: core)
            let grantId = try #require(grant["GrantId"] as? String)
            let listed = try await AwsCliTests.ok(["list-grants", "--key-id", keyId], core: core)
            let grants = listed["Grants"] as? [[String: Any]] ?? []
            #expect(grants.count == 1 && grants.first?["GrantId"] as? String == grantId, "list-grants: \(listed)")
            #expect(grants.first?["GranteePrincipal"] as? String == reader)
            try await AwsCliTests.fails(["revoke-grant", "--key-id", keyId, "--grant-id", String(repeating: "0", count: 64)],
                                        code: "NotFoundException", operation: "RevokeGrant", core: core)
            try await AwsCliTests.ok(["revoke-grant", "--key-id", keyId, "--grant-id", grantId], core: core)

            let policy = try await AwsCliTests.ok(["get-key-policy", "--key-id", keyId, "--policy-name", "default"], core: core)
            #expect((policy["Policy"] as? String ?? "").contains("arn:aws:iam::111122223333:root"), "default policy: \(policy)")
            try await AwsCliTests.fails(["put-key-policy", "--key-id", keyId, "--policy-name", "default", "--policy", "{oops"],
                                        code: "MalformedPolicyDocumentException", operation: "PutKeyPolicy", core: core)

            let tags = try await AwsCliTests.ok(["list-resource-tags", "--key-id", keyId], core: core)
            #expect((tags["Tags"] as? [[String: String]]) == [["TagKey": "owner", "TagValue": "billing"]], "tags: \(tags)")
            try await AwsCliTests.fails(["tag-resource", "--key-id", keyId, "--tags", "TagKey=aws:x,TagValue=y"],
                                        code: "TagException", operation: "TagResource", core: core)

            let other = try #require(try await AwsCliTests.ok(["create-key"], core: core)["KeyMetadata"] as? [String: Any])
            let otherId = try #require(other["KeyId"] as? String)
            try await AwsCliTests.ok(["create-alias", "--alias-name", "alias/cli-app", "--target-key-id", keyId], core: core)
            try await AwsCliTests.fails(["create-alias", "--alias-name", "alias/cli-app", "--target-key-id", otherId],
                                        code: "AlreadyExistsException", operation: "CreateAlias", core: core)
            try await AwsCliTests.ok(["update-alias", "--alias-name", "alias/cli-app", "--target-key-id", otherId], core: core)
            let described = try await AwsCliTests.ok(["describe-key", "--key-id", "alias/cli-app"], core: core)
            #expect((described["KeyMetadata"] as? [String: Any])?["KeyId"] as? String == otherId, "alias re-pointed")

            try await AwsCliTests.ok(["disable-key", "--key-id", keyId], core: core)
            let failed = try await AwsCliTests.aws(["encrypt", "--key-id", keyId, "--plaintext", "aGVsbG8="], core: core)
            #expect(failed.status == 255 && failed.stderr.contains("DisabledException"), "\(failed)")

            // aws cloudtrail lookup-events, unchanged, paginating on its own
            let lookup = try await Self.cloudtrail(["lookup-events", "--lookup-attributes",
                                                    "AttributeKey=ResourceName,AttributeValue=\(arn)"],
                                                   core: core, as: .auditor)
            #expect(lookup.status == 0, "lookup-events: \(lookup)")
            let object = try JSONSerialization.jsonObject(with: Data(lookup.stdout.utf8)) as? [String: Any] ?? [:]
            let events = object["Events"] as? [[String: Any]] ?? []
            let names = events.map { $0["EventName"] as? String ?? "?" }
            #expect(names.first == "Encrypt", "newest first: \(names)")
            #expect(names.contains("CreateGrant") && names.contains("RevokeGrant") && names.contains("ListResourceTags"),
                    "the CLI's calls on the key are recorded: \(names)")
            let newest = try JSONSerialization.jsonObject(with: Data((events.first?["CloudTrailEvent"] as? String ?? "{}").utf8))
                as? [String: Any] ?? [:]
            #expect(newest["errorCode"] as? String == "DisabledException", "errorCode of the refused Encrypt: \(newest)")
            #expect((newest["requestParameters"] as? [String: Any])?["keyId"] as? String == keyId)
            #expect((newest["userIdentity"] as? [String: Any])?["arn"] as? String == "arn:aws:iam::111122223333:user/qa-admin")

            let denied = try await Self.cloudtrail(["lookup-events", "--max-results", "5"], core: core, as: .admin)
            #expect(denied.status == 255 && denied.stderr.contains("AccessDeniedException")
                    && denied.stderr.contains("cloudtrail:LookupEvents"), "kms:* does not allow lookup-events: \(denied)")
        }
    }
}
