@testable import CKSServer
import CKSDomain
import CKSWire
import Foundation
import Testing

@Suite("Engine: key states across disconnect and reconnect")
struct EngineKeyStateTests {
    @Test("Unavailable while disconnected, PendingDeletion kept, previous states restored on reconnect")
    func acrossDisconnect() async throws {
        try await withEngine { h in
            let (storeId, _) = try await h.hsmStore()
            try await h.connect(storeId)
            let enabled = try await h.createKey(in: storeId)
            let disabled = try await h.createKey(in: storeId)
            let pending = try await h.createKey(in: storeId)
            try await h.call(DisableKeyRequest(keyId: disabled.keyId))
            _ = try await h.schedule(pending.keyId, days: 30)

            try await h.disconnect(storeId, wait: false)
            // DISCONNECTING already makes the keys Unavailable (the store is not CONNECTED).
            #expect(try await h.keyState(enabled.keyId) == .unavailable)
            try await h.advance(30)
            #expect(try await h.keyState(enabled.keyId) == .unavailable)
            #expect(try await h.keyState(disabled.keyId) == .unavailable)
            #expect(try await h.keyState(pending.keyId) == .pendingDeletion)
            let md = try await h.call(DescribeKeyRequest(keyId: enabled.keyId)).keyMetadata!
            #expect(md.enabled == false)

            // Crypto on Unavailable keys: KMSInvalidStateException "... is unavailable."
            let err = await h.failure(EncryptRequest(keyId: enabled.keyId, plaintext: Data("x".utf8)))
            #expect(err?.code == .kmsInvalidState)
            #expect(err?.message == "\(EngineHarness.alice.arn(key: enabled.keyId)) is unavailable.")
            // Creating keys needs CONNECTED.
            await h.expect(.customKeyStoreInvalidState, CreateKeyRequest(origin: .awsCloudHsm, customKeyStoreId: storeId))

            // Enable/Disable on Unavailable succeed without visible change…
            try await h.call(EnableKeyRequest(keyId: disabled.keyId))
            try await h.call(DisableKeyRequest(keyId: enabled.keyId))
            #expect(try await h.keyState(disabled.keyId) == .unavailable)
            // …ScheduleKeyDeletion works on Unavailable keys, CancelKeyDeletion without reconnecting.
            try await h.call(CancelKeyDeletionRequest(keyId: pending.keyId))
            #expect(try await h.keyState(pending.keyId) == .unavailable)

            // A connect attempt that fails keeps the keys Unavailable.
            try await h.call(SetConnectionFaultRequest(customKeyStoreId: storeId, connectionErrorCode: .internalError))
            try await h.connect(storeId)
            #expect(try await h.keyState(enabled.keyId) == .unavailable)
            try await h.disconnect(storeId)
            try await h.call(SetConnectionFaultRequest(customKeyStoreId: storeId, connectionErrorCode: nil))

            try await h.connect(storeId, wait: false)
            #expect(try await h.keyState(enabled.keyId) == .unavailable)
            try await h.advance(1200)
            #expect(try await h.keyState(enabled.keyId) == .disabled)
            #expect(try await h.keyState(disabled.keyId) == .enabled)
            #expect(try await h.keyState(pending.keyId) == .disabled)
        }
    }

    @Test("table 2.3 through the engine, with exact messages")
    func table() async throws {
        try await withEngine { h in
            let key = try await h.createKey()
            let arn = EngineHarness.alice.arn(key: key.keyId)
            await h.expect(.kmsInvalidState, CancelKeyDeletionRequest(keyId: key.keyId))
            try await h.call(DisableKeyRequest(keyId: key.keyId))
            let disabled = await h.failure(EncryptRequest(keyId: key.keyId, plaintext: Data("x".utf8)))
            #expect(disabled?.code == .disabled)
            #expect(disabled?.message == "\(arn) is disabled.")
            let r = try await h.schedule(key.keyId, days: nil)
            #expect(r.pendingWindowInDays == 30)
            for request in [ScheduleKeyDeletionRequest(keyId: key.keyId)] {
                let e = await h.failure(request)
                #expect(e?.message == "\(arn) is pending deletion.")
            }
            await h.expect(.kmsInvalidState, EnableKeyRequest(keyId: key.keyId))
            await h.expect(.kmsInvalidState, DisableKeyRequest(keyId: key.keyId))
            await h.expect(.kmsInvalidState, CreateAliasRequest(aliasName: "alias/late", targetKeyId: key.keyId))
            await h.expect(.kmsInvalidState, GenerateDataKeyRequest(keyId: key.keyId, keySpec: "AES_256"))
            let md = try await h.call(DescribeKeyRequest(keyId: key.keyId)).keyMetadata!
            #expect(md.keyState == .pendingDeletion)
            #expect(md.deletionDate != nil)
            #expect(md.enabled == false)
            try await h.call(CancelKeyDeletionRequest(keyId: key.keyId))
            let after = try await h.call(DescribeKeyRequest(keyId: key.keyId)).keyMetadata!
            #expect(after.keyState == .disabled)
            #expect(after.deletionDate == nil)
        }
    }

    @Test("PendingWindowInDays is enforced by the service: 7...30")
    func window() async throws {
        try await withEngine { h in
            let key = try await h.createKey()
            for days in [1, 6, 31, 365] {
                let e = await h.failure(ScheduleKeyDeletionRequest(keyId: key.keyId, pendingWindowInDays: days))
                #expect(e?.code == .validation)
                #expect(e?.message == "PendingWindowInDays must be between 7 and 30")
            }
            #expect(try await h.keyState(key.keyId) == .enabled)
            let r = try await h.schedule(key.keyId, days: 7)
            let created = try await h.call(GetClockRequest()).now
            #expect(abs(r.deletionDate!.timeIntervalSince(created) - 7 * 86_400) < 1)
        }
    }

    @Test("the waiting period ends at DeletionDate: the key, its aliases and its ListKeys entry are gone")
    func deletion() async throws {
        try await withEngine { h in
            let key = try await h.createKey()
            let other = try await h.createKey()
            try await h.call(CreateAliasRequest(aliasName: "alias/doomed", targetKeyId: key.keyId))
            _ = try await h.schedule(key.keyId, days: 7)
            try await h.advance(7 * 86_400 - 1)
            #expect(try await h.keyState(key.keyId) == .pendingDeletion)
            try await h.advance(1)
            let e = await h.failure(DescribeKeyRequest(keyId: key.keyId))
            #expect(e?.code == .notFound)
            #expect(e?.message == "Key '\(EngineHarness.alice.arn(key: key.keyId))' does not exist")
            #expect(try await h.listAllKeys() == [other.keyId])
            let aliases = try await h.call(ListAliasesRequest()).aliases ?? []
            #expect(aliases.isEmpty)
            await h.expect(.notFound, CancelKeyDeletionRequest(keyId: key.keyId))
            // The alias name is free again.
            try await h.call(CreateAliasRequest(aliasName: "alias/doomed", targetKeyId: other.keyId))
        }
    }

    @Test("key material of a CloudHSM key deleted while its store is not connected is orphaned on the cluster")
    func orphaned() async throws {
        try await withEngine { h in
            let (storeId, clusterId) = try await h.hsmStore()
            try await h.connect(storeId)
            let kept = try await h.createKey(in: storeId)
            let orphan = try await h.createKey(in: storeId)
            _ = try await h.schedule(kept.keyId, days: 7)
            _ = try await h.schedule(orphan.keyId, days: 8)
            // kept's period ends while CONNECTED: KMS deletes its material.
            try await h.advance(7 * 86_400 + 10)
            // Disconnect before orphan's period ends.
            try await h.disconnect(storeId)
            try await h.advance(86_400)
            await h.expect(.notFound, DescribeKeyRequest(keyId: orphan.keyId))
            let cluster = try await h.call(DescribeCloudHsmClustersRequest(clusterId: clusterId)).clusters.first
            let material = cluster?.orphanedKeyMaterial ?? []
            #expect(material.map(\.keyId) == [orphan.keyId])
            #expect(material.first?.customKeyStoreId == storeId)
            #expect(material.first?.deletionDate != nil)
            #expect(material.first?.keyHandle != nil)
            #expect(cluster?.customKeyStoreId == storeId)
        }
    }

    @Test("the orphan decision uses the store's state at the deletion date, even when nothing ran in between")
    func orphanedRetroactively() async throws {
        try await withEngine { h in
            let (storeId, clusterId) = try await h.hsmStore()
            try await h.connect(storeId)
            let key = try await h.createKey(in: storeId)
            _ = try await h.schedule(key.keyId, days: 7)
            try await h.disconnect(storeId, wait: false)
            // One jump over both the DISCONNECTING end and the deletion date.
            h.wall.advance(by: 8 * 86_400)
            let cluster = try await h.call(DescribeCloudHsmClustersRequest(clusterId: clusterId)).clusters.first
            #expect(cluster?.orphanedKeyMaterial?.map(\.keyId) == [key.keyId])
        }
    }
}
