@testable import CKSServer
import CKSDomain
import CKSWire
import Foundation
import Testing

@Suite("Engine: the seed's safe teardown path and every DeleteCustomKeyStore error")
struct EngineTeardownTests {
    /// Schedule every key → wait → disconnect → delete, meeting each documented error on the way.
    @Test("the whole safe teardown path")
    func teardown() async throws {
        try await withEngine { h in
            let (storeId, clusterId) = try await h.hsmStore(name: "ExampleKeyStore")
            #expect(CustomKeyStoreIdentifiers.isWellFormed(storeId))
            #expect(try await h.state(storeId) == .disconnected)

            // Connect is asynchronous: 200 at once, CONNECTING until the simulated duration has passed.
            try await h.connect(storeId, wait: false)
            #expect(try await h.state(storeId) == .connecting)
            await h.expect(.customKeyStoreInvalidState, CreateKeyRequest(origin: .awsCloudHsm, customKeyStoreId: storeId))
            try await h.advance(1199)
            #expect(try await h.state(storeId) == .connecting)
            try await h.advance(1)
            #expect(try await h.state(storeId) == .connected)

            // Fill it: keys, an alias, some ciphertext.
            let k1 = try await h.createKey(in: storeId, description: "app data")
            let k2 = try await h.createKey(in: storeId)
            #expect(k1.origin == .awsCloudHsm)
            #expect(k1.customKeyStoreId == storeId)
            #expect(k1.cloudHsmClusterId == clusterId)
            #expect(k1.keyState == .enabled)
            try await h.call(CreateAliasRequest(aliasName: "alias/app", targetKeyId: k1.keyId))
            let sealed = try await h.call(EncryptRequest(keyId: "alias/app", plaintext: Data("secret".utf8)))

            // Deleting now: the store is CONNECTED.
            let connected = await h.failure(DeleteCustomKeyStoreRequest(customKeyStoreId: storeId))
            #expect(connected?.code == .customKeyStoreInvalidState)
            #expect(connected?.message.contains("CONNECTED") == true)

            // Find the store's keys the AWS way (ListKeys, then DescribeKey each), schedule their deletion.
            var mine: [String] = []
            for id in try await h.listAllKeys(limit: 1) {
                let md = try await h.call(DescribeKeyRequest(keyId: id)).keyMetadata!
                if md.customKeyStoreId == storeId { mine.append(id) }
            }
            #expect(Set(mine) == [k1.keyId, k2.keyId])
            for id in mine {
                let r = try await h.schedule(id, days: 7)
                #expect(r.keyState == .pendingDeletion)
                #expect(r.pendingWindowInDays == 7)
                #expect(r.keyId == EngineHarness.alice.arn(key: id))
            }
            #expect(try await h.keyState(k1.keyId) == .pendingDeletion)
            // Still CONNECTED with keys: InvalidState; the keys are checked only once it is DISCONNECTED.
            await h.expect(.customKeyStoreInvalidState, DeleteCustomKeyStoreRequest(customKeyStoreId: storeId))

            // Wait out the waiting period: the keys are really deleted.
            try await h.advance(7 * 86_400)
            await h.expect(.notFound, DescribeKeyRequest(keyId: k1.keyId))
            await h.expect(.notFound, DescribeKeyRequest(keyId: "alias/app"))
            await h.expect(.notFound, DecryptRequest(ciphertextBlob: sealed.ciphertextBlob))
            #expect(try await h.listAllKeys().isEmpty)
            // The store stayed connected, so no key material was orphaned.
            let clusters = try await h.call(DescribeCloudHsmClustersRequest(clusterId: clusterId)).clusters
            #expect(clusters.first?.orphanedKeyMaterial?.isEmpty != false)

            // Disconnect, then delete.
            try await h.disconnect(storeId, wait: false)
            #expect(try await h.state(storeId) == .disconnecting)
            await h.expect(.customKeyStoreInvalidState, DeleteCustomKeyStoreRequest(customKeyStoreId: storeId))
            try await h.advance(30)
            #expect(try await h.state(storeId) == .disconnected)
            try await h.call(DeleteCustomKeyStoreRequest(customKeyStoreId: storeId))
            await h.expect(.customKeyStoreNotFound, DescribeCustomKeyStoresRequest(customKeyStoreId: storeId))
            await h.expect(.customKeyStoreNotFound, DeleteCustomKeyStoreRequest(customKeyStoreId: storeId))
            // The cluster is untouched and can back a new store.
            let again = try await h.call(DescribeCloudHsmClustersRequest(clusterId: clusterId)).clusters.first
            #expect(again?.customKeyStoreId == nil)
            #expect(again?.hsmCount == 2)
        }
    }

    @Test("CustomKeyStoreNotFoundException: unknown id, another account's store, another region's store")
    func notFound() async throws {
        try await withEngine { h in
            let (storeId, _) = try await h.hsmStore()
            await h.expect(.customKeyStoreNotFound, DeleteCustomKeyStoreRequest(customKeyStoreId: "cks-0000000000000000a"))
            await h.expect(.customKeyStoreNotFound, DeleteCustomKeyStoreRequest(customKeyStoreId: "not-even-an-id"))
            await h.expect(.customKeyStoreNotFound, DeleteCustomKeyStoreRequest(customKeyStoreId: storeId), as: EngineHarness.bob)
            await h.expect(.customKeyStoreNotFound, DeleteCustomKeyStoreRequest(customKeyStoreId: storeId), as: EngineHarness.aliceWest)
            // …and nothing changed for the owner.
            #expect(try await h.state(storeId) == .disconnected)
        }
    }

    @Test("CustomKeyStoreInvalidStateException in CONNECTING, CONNECTED, DISCONNECTING and FAILED")
    func invalidState() async throws {
        try await withEngine { h in
            let (storeId, _) = try await h.hsmStore()
            try await h.connect(storeId, wait: false)
            let connecting = await h.failure(DeleteCustomKeyStoreRequest(customKeyStoreId: storeId))
            #expect(connecting?.code == .customKeyStoreInvalidState)
            #expect(connecting?.message.contains("CONNECTING") == true)
            try await h.advance(1200)
            await h.expect(.customKeyStoreInvalidState, DeleteCustomKeyStoreRequest(customKeyStoreId: storeId))
            try await h.disconnect(storeId, wait: false)
            await h.expect(.customKeyStoreInvalidState, DeleteCustomKeyStoreRequest(customKeyStoreId: storeId))
            try await h.advance(30)

            let (failing, _) = try await h.hsmStore(password: "not-the-password")
            try await h.connect(failing)
            #expect(try await h.state(failing) == .failed)
            let failed = await h.failure(DeleteCustomKeyStoreRequest(customKeyStoreId: failing))
            #expect(failed?.code == .customKeyStoreInvalidState)
            #expect(failed?.message.contains("FAILED") == true)
        }
    }

    @Test("CustomKeyStoreHasCMKsException while any key exists, pending deletion or not")
    func hasCMKs() async throws {
        try await withEngine { h in
            let (storeId, clusterId) = try await h.hsmStore()
            try await h.connect(storeId)
            let k1 = try await h.createKey(in: storeId)
            let k2 = try await h.createKey(in: storeId)
            _ = try await h.schedule(k1.keyId, days: 7)
            try await h.disconnect(storeId)

            let both = await h.failure(DeleteCustomKeyStoreRequest(customKeyStoreId: storeId))
            #expect(both?.code == .customKeyStoreHasCMKs)
            #expect(both?.message.contains("2 KMS keys") == true)
            // One key left, pending deletion: still blocked.
            _ = try await h.schedule(k2.keyId, days: 30)
            await h.expect(.customKeyStoreHasCMKs, DeleteCustomKeyStoreRequest(customKeyStoreId: storeId))
            // k1's waiting period ends while the store is disconnected: deleted, material orphaned.
            try await h.advance(7 * 86_400)
            let one = await h.failure(DeleteCustomKeyStoreRequest(customKeyStoreId: storeId))
            #expect(one?.message.contains("1 KMS key.") == true)
            try await h.advance(23 * 86_400)
            try await h.call(DeleteCustomKeyStoreRequest(customKeyStoreId: storeId))
            let orphans = try await h.call(DescribeCloudHsmClustersRequest(clusterId: clusterId)).clusters.first?.orphanedKeyMaterial ?? []
            #expect(Set(orphans.map(\.keyId)) == [k1.keyId, k2.keyId])
            #expect(orphans.allSatisfy { $0.customKeyStoreId == storeId })
        }
    }
}

extension Caller {
    func arn(key id: String) -> String { "arn:aws:kms:\(region):\(account):key/\(id)" }
}
