import CKSDomain
import CKSWire
import Foundation
import Testing
@testable import CKSClient

/// The typed calls for grants, key policies, tags and alias/description updates against moto, which implements
/// them (it has no CloudTrail LookupEvents for KMS events, so the use record is tested against the core only).
@Suite(.serialized) struct MotoEvidenceTests {
    @Test(.enabled(if: ExternalTool.shouldRun("moto_server"), ExternalTool.skipNote("moto_server")))
    func grantsPoliciesAndTagsAgainstMoto() async throws {
        try await MotoTests.withMoto(exercise)
    }

    private func exercise(_ c: KMSClient) async throws {
        let key = try #require(try await c.createKey(CreateKeyRequest(
            description: "evidence", tags: [Tag(tagKey: "owner", tagValue: "billing")])).keyMetadata)
        let other = try #require(try await c.createKey().keyMetadata)

        let grantee = "arn:aws:iam::123456789012:role/app"
        let grant = try await c.createGrant(CreateGrantRequest(keyId: key.keyId, granteePrincipal: grantee,
                                                               retiringPrincipal: grantee, operations: ["Decrypt", "Encrypt"]))
        let grantId = try #require(grant.grantId)
        let listed = try await c.allGrants(keyId: key.keyId)
        #expect(listed.map(\.grantId) == [grantId])
        #expect(Set(listed.first?.operations ?? []) == ["Decrypt", "Encrypt"])
        #expect(listed.first?.granteePrincipal == grantee)
        try await c.revokeGrant(keyId: key.keyId, grantId: grantId)
        #expect(try await c.allGrants(keyId: key.keyId).isEmpty)

        let policy = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"}]}"#
        try await c.putKeyPolicy(keyId: key.keyId, policy: policy)
        #expect(try await c.getKeyPolicy(keyId: key.keyId) == policy)
        #expect(try await c.listKeyPolicies(keyId: key.keyId) == ["default"])

        try await c.tagResource(keyId: key.keyId, tags: [Tag(tagKey: "team", tagValue: "a")])
        #expect(Set(try await c.allResourceTags(keyId: key.keyId).map(\.tagKey)) == ["owner", "team"])
        try await c.untagResource(keyId: key.keyId, tagKeys: ["owner"])
        #expect(try await c.allResourceTags(keyId: key.keyId).map(\.tagKey) == ["team"])

        try await c.createAlias(aliasName: "alias/moto-evidence", targetKeyId: key.keyId)
        try await c.updateAlias(aliasName: "alias/moto-evidence", targetKeyId: other.keyId)
        #expect(try await c.describeKey(keyId: "alias/moto-evidence").keyId == other.keyId)
        try await c.updateKeyDescription(keyId: other.keyId, description: "replacement")
        #expect(try await c.describeKey(keyId: other.keyId).description == "replacement")
    }
}
