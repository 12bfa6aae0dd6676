import CKSDomain
import CKSServer
import CKSWire
import Foundation
import Testing
@testable import CKSClient

/// The typed calls for who may use a key and who did: grants, key policy, tags, alias and description updates,
/// ReEncrypt, workloads, and the CloudTrail client (LookupEvents as a paced AsyncSequence).
@Suite(.serialized) struct EvidenceCallTests {
    static func trail(_ core: InProcessCore, rate: Double = 50) -> CloudTrailClient {
        CloudTrailClient(endpoint: core.client.endpoint, region: core.client.region,
                         credentials: core.client.credentials, requestsPerSecond: rate)
    }

    @Test func grantsPoliciesTagsAndMovingWorkOffAKey() async throws {
        try await InProcessCore.with { core in
            let c = core.client
            let old = try #require(try await c.createKey(CreateKeyRequest(
                description: "old", tags: [Tag(tagKey: "owner", tagValue: "billing")])).keyMetadata)
            let new = try #require(try await c.createKey().keyMetadata)
            let grantee = "arn:aws:iam::111122223333:role/app"
            let grant = try await c.createGrant(CreateGrantRequest(keyId: old.keyId, granteePrincipal: grantee,
                                                                   retiringPrincipal: grantee, operations: ["Decrypt"]))
            let grants = try await c.allGrants(keyId: old.keyId)
            #expect(grants.map(\.grantId) == [grant.grantId])
            #expect(grants.first?.granteePrincipal == grantee)
            var retirable: [GrantListEntry] = []
            for try await page in c.listRetirableGrantsPages(retiringPrincipal: grantee) { retirable += page.grants ?? [] }
            #expect(retirable.map(\.grantId) == [grant.grantId])
            try await c.revokeGrant(keyId: old.keyId, grantId: try #require(grant.grantId))
            #expect(try await c.allGrants(keyId: old.keyId).isEmpty)
            do throws(KMSClientError) {
                try await c.revokeGrant(keyId: old.keyId, grantId: String(repeating: "a", count: 64))
                Issue.record("revoking an unknown grant succeeded")
            } catch {
                #expect(error.code == .notFound)
            }

            let policy = try await c.getKeyPolicy(keyId: old.keyId)
            #expect(policy.contains("arn:aws:iam::111122223333:root"))
            #expect(KeyPolicyRules.principals(inPolicy: policy) == ["arn:aws:iam::111122223333:root"])
            let mine = #"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/app"},"Action":"kms:Decrypt","Resource":"*"}]}"#
            try await c.putKeyPolicy(keyId: old.keyId, policy: mine)
            #expect(try await c.getKeyPolicy(keyId: old.keyId) == mine)
            #expect(try await c.listKeyPolicies(keyId: old.keyId) == ["default"])
            do throws(KMSClientError) {
                try await c.putKeyPolicy(keyId: old.keyId, policy: "{")
                Issue.record("a malformed policy was accepted")
            } catch {
                #expect(error.code == .malformedPolicyDocument)
            }

            try await c.tagResource(keyId: old.keyId, tags: [Tag(tagKey: "team", tagValue: "a")])
            #expect(try await c.allResourceTags(keyId: old.keyId).map(\.tagKey) == ["owner", "team"])
            try await c.untagResource(keyId: old.keyId, tagKeys: ["owner"])
            #expect(try await c.allResourceTags(keyId: old.keyId).map(\.tagKey) == ["team"])

            try await c.createAlias(aliasName: "alias/evidence", targetKeyId: old.keyId)
            let blob = try #require(try await c.encrypt(EncryptRequest(keyId: "alias/evidence", plaintext: Data("p".utf8))).ciphertextBlob)
            try await c.updateAlias(aliasName: "alias/evidence", targetKeyId: new.keyId)
            #expect(try await c.describeKey(keyId: "alias/evidence").keyId == new.keyId)
            let moved = try await c.reEncrypt(ReEncryptRequest(ciphertextBlob: blob, destinationKeyId: "alias/evidence"))
            #expect(moved.keyId == new.arn)
            let back = try await c.decrypt(DecryptRequest(ciphertextBlob: moved.ciphertextBlob))
            #expect(back.plaintext == Data("p".utf8))
            try await c.updateKeyDescription(keyId: new.keyId, description: "replacement")
            #expect(try await c.describeKey(keyId: new.keyId).description == "replacement")
            let dk = try await c.generateDataKeyWithoutPlaintext(GenerateDataKeyWithoutPlaintextRequest(keyId: new.keyId, numberOfBytes: 16))
            #expect(dk.ciphertextBlob != nil)
        }
    }

    @Test func lookupEventsIsAPacedSequenceNewestFirst() async throws {
        try await InProcessCore.with { core in
            let c = core.client
            let key = try #require(try await c.createKey().keyMetadata)
            for _ in 0..<120 { _ = try await c.describeKey(keyId: key.keyId) }
            _ = try await c.encrypt(EncryptRequest(keyId: key.keyId, plaintext: Data("x".utf8)))
            let trail = Self.trail(core, rate: 20)
            let started = ContinuousClock.now
            var events: [TrailEvent] = []
            for try await event in trail.events(attributeKey: "ResourceName", attributeValue: key.arn, pageSize: 50) {
                events.append(event)
            }
            let elapsed = ContinuousClock.now - started
            #expect(events.count == 121)
            #expect(events.first?.eventName == "Encrypt")
            #expect(Set(events.compactMap(\.eventId)).count == 121)
            let times = events.compactMap(\.eventTime)
            #expect(times == times.sorted(by: >))
            // Three pages at 20 requests per second: the second and third wait at least 50 ms each.
            #expect(elapsed >= .milliseconds(100), "paced: \(elapsed)")
            let usage = try await c.getKeyLastUsage(keyId: key.keyId)
            #expect(usage.keyLastUsage?.cloudTrailEventId == events.first?.eventId)
            trail.shutdown()
        }
    }

    @Test func theCloudTrailEndpointIsResolvedBeforeTheGenericOne() throws {
        let both = ClientConfigurationResolver(environment: [
            "AWS_ENDPOINT_URL_CLOUDTRAIL": "http://127.0.0.1:7001", "AWS_ENDPOINT_URL": "http://127.0.0.1:7002",
            "AWS_ENDPOINT_URL_KMS": "http://127.0.0.1:7003",
            "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret",
            "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        ])
        #expect(try both.resolve(service: "cloudtrail").endpoint == .remote(URL(string: "http://127.0.0.1:7001")!))
        #expect(try both.resolve().endpoint == .remote(URL(string: "http://127.0.0.1:7003")!))
        let generic = ClientConfigurationResolver(environment: [
            "AWS_ENDPOINT_URL": "http://127.0.0.1:7002", "AWS_ENDPOINT_URL_KMS": "http://127.0.0.1:7003",
            "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret",
            "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        ])
        let configuration = try generic.resolve(service: "cloudtrail")
        #expect(configuration.endpoint == .remote(URL(string: "http://127.0.0.1:7002")!))
        let client = try #require(CloudTrailClient(configuration: configuration))
        #expect(client.client.signingName == "cloudtrail")
        client.shutdown()
    }

    @Test func workloadsUseTheKeyOnTheSimulatedClockAndFailOnceDisabled() async throws {
        try await InProcessCore.with { core in
            let c = core.client
            let key = try #require(try await c.createKey().keyMetadata)
            let app = "arn:aws:iam::111122223333:role/payments"
            let id = try await c.startWorkload(keyId: key.keyId, operation: "Decrypt", principal: app, everyMinutes: 10)
            try await c.advanceClock(seconds: 3600 + 5)
            try await c.disableKey(keyId: key.keyId)
            try await c.advanceClock(seconds: 1800 + 5)
            try await c.stopWorkload(id: id)
            try await c.advanceClock(seconds: 3600)
            let trail = Self.trail(core)
            var uses: [TrailEvent] = []
            for try await e in trail.events(attributeKey: "Username", attributeValue: "payments") { uses.append(e) }
            #expect(uses.count == 9, "6 uses in the first hour, 3 after DisableKey, none once stopped: \(uses.count)")
            let codes = uses.reversed().map { e -> String? in
                let record = try? JSONSerialization.jsonObject(with: Data((e.cloudTrailEvent ?? "{}").utf8)) as? [String: Any]
                return record?["errorCode"] as? String
            }
            #expect(codes == [nil, nil, nil, nil, nil, nil, "DisabledException", "DisabledException", "DisabledException"])
            do throws(KMSClientError) {
                try await c.stopWorkload(id: id)
                Issue.record("stopping a stopped workload succeeded")
            } catch {
                #expect(error.code == .notFound)
            }
            trail.shutdown()
        }
    }
}
