@testable import CKSServer
import CKSDomain
import CKSWire
import Foundation
import Testing

@Suite("Engine: restart, clock, crypto, protocol")
struct EngineRestartAndCryptoTests {
    @Test("reopening the database keeps stores, keys, aliases, clusters, proxies and the clock offset")
    func restart() async throws {
        try await withEngine { h in
            let (storeId, clusterId) = try await h.hsmStore(name: "persisted")
            try await h.connect(storeId)
            let key = try await h.createKey(in: storeId, description: "kept")
            try await h.call(CreateAliasRequest(aliasName: "alias/kept", targetKeyId: key.keyId))
            let sealed = try await h.call(EncryptRequest(keyId: key.keyId, plaintext: Data("survives".utf8)))
            _ = try await h.schedule(key.keyId, days: 7)
            try await h.registerProxy()
            try await h.advance(86_400)
            let before = try await h.call(GetClockRequest()).now

            try h.restart()
            let after = try await h.call(GetClockRequest()).now
            #expect(abs(after.timeIntervalSince(before)) < 0.01, "the offset survives a restart")
            #expect(try await h.state(storeId) == .connected)
            let md = try await h.call(DescribeKeyRequest(keyId: "alias/kept")).keyMetadata!
            #expect(md.keyState == .pendingDeletion)
            #expect(md.description == "kept")
            try await h.call(CancelKeyDeletionRequest(keyId: key.keyId))
            try await h.call(EnableKeyRequest(keyId: key.keyId))
            let opened = try await h.call(DecryptRequest(ciphertextBlob: sealed.ciphertextBlob))
            #expect(opened.plaintext == Data("survives".utf8))
            #expect(try await h.call(DescribeCloudHsmClustersRequest(clusterId: clusterId)).clusters.first?.customKeyStoreId == storeId)
            _ = try await h.call(h.xksStoreRequest(name: "ext"))
        }
    }

    @Test("a CONNECTING store completes after a restart, from its persisted timestamps")
    func connectingAcrossRestart() async throws {
        try await withEngine { h in
            let (storeId, _) = try await h.hsmStore()
            try await h.connect(storeId, wait: false)
            h.wall.advance(by: 600)
            try h.restart()
            #expect(try await h.state(storeId) == .connecting)
            h.wall.advance(by: 600)
            #expect(try await h.state(storeId) == .connected)
        }
    }

    @Test("a changed time scale continues simulated time where it was")
    func timeScale() async throws {
        try await withEngine { h in
            let before = try await h.call(GetClockRequest()).now
            try h.restart(timeScale: 60)
            let t1 = try await h.call(GetClockRequest()).now
            #expect(abs(t1.timeIntervalSince(before)) < 0.01)
            h.wall.advance(by: 20)
            let t2 = try await h.call(GetClockRequest()).now
            #expect(abs(t2.timeIntervalSince(t1) - 1200) < 0.01)
        }
    }

    @Test("AdvanceClock returns the new simulated now")
    func advance() async throws {
        try await withEngine { h in
            let t0 = try await h.call(GetClockRequest()).now
            let t1 = try await h.call(AdvanceClockRequest(seconds: 3600)).now
            #expect(abs(t1.timeIntervalSince(t0) - 3600) < 0.01)
        }
    }

    @Test("Encrypt/Decrypt/GenerateDataKey with AES-256-GCM; the ciphertext carries the key id")
    func crypto() async throws {
        try await withEngine { h in
            let key = try await h.createKey()
            let other = try await h.createKey()
            let context = ["purpose": "test", "tenant": "a"]
            let sealed = try await h.call(EncryptRequest(keyId: key.keyId, plaintext: Data("plaintext".utf8), encryptionContext: context))
            #expect(sealed.keyId == key.arn)
            #expect(sealed.encryptionAlgorithm == "SYMMETRIC_DEFAULT")
            let blob = try #require(sealed.ciphertextBlob)
            let opened = try await h.call(DecryptRequest(ciphertextBlob: blob, encryptionContext: context))
            #expect(opened.plaintext == Data("plaintext".utf8))
            #expect(opened.keyId == key.arn)
            await h.expect(.invalidCiphertext, DecryptRequest(ciphertextBlob: blob))
            await h.expect(.invalidCiphertext, DecryptRequest(ciphertextBlob: blob, encryptionContext: ["purpose": "other", "tenant": "a"]))
            await h.expect(.incorrectKey, DecryptRequest(ciphertextBlob: blob, encryptionContext: context, keyId: other.keyId))
            #expect(try await h.call(DecryptRequest(ciphertextBlob: blob, encryptionContext: context, keyId: key.arn)).plaintext == Data("plaintext".utf8))
            var tampered = blob
            tampered[tampered.count - 1] ^= 0x01
            await h.expect(.invalidCiphertext, DecryptRequest(ciphertextBlob: tampered, encryptionContext: context))
            await h.expect(.invalidCiphertext, DecryptRequest(ciphertextBlob: Data("short".utf8)))

            let dk = try await h.call(GenerateDataKeyRequest(keyId: key.keyId, keySpec: "AES_256"))
            #expect(dk.plaintext?.count == 32)
            let unwrapped = try await h.call(DecryptRequest(ciphertextBlob: dk.ciphertextBlob))
            #expect(unwrapped.plaintext == dk.plaintext)
            #expect(try await h.call(GenerateDataKeyRequest(keyId: key.keyId, numberOfBytes: 7)).plaintext?.count == 7)
            await h.expect(.validation, GenerateDataKeyRequest(keyId: key.keyId))
            await h.expect(.validation, GenerateDataKeyRequest(keyId: key.keyId, numberOfBytes: 16, keySpec: "AES_128"))
            await h.expect(.dryRunOperation, EncryptRequest(keyId: key.keyId, plaintext: Data("x".utf8), dryRun: true))

            // After the key is disabled, Decrypt fails: what a teardown step does is visible to applications.
            try await h.call(DisableKeyRequest(keyId: key.keyId))
            await h.expect(.disabled, DecryptRequest(ciphertextBlob: blob, encryptionContext: context))
        }
    }

    @Test("GetKeyLastUsage records the last successful cryptographic operation")
    func lastUsage() async throws {
        try await withEngine { h in
            let key = try await h.createKey()
            let fresh = try await h.call(GetKeyLastUsageRequest(keyId: key.keyId))
            #expect(fresh.keyLastUsage == nil)
            #expect(fresh.keyCreationDate == key.creationDate)
            #expect(fresh.trackingStartDate != nil)
            let sealed = try await h.call(EncryptRequest(keyId: key.keyId, plaintext: Data("x".utf8)))
            try await h.advance(60)
            _ = try await h.call(DecryptRequest(ciphertextBlob: sealed.ciphertextBlob))
            let used = try await h.call(GetKeyLastUsageRequest(keyId: key.keyId))
            #expect(used.keyLastUsage?.operation == "Decrypt")
            #expect(used.keyLastUsage?.kmsRequestId?.isEmpty == false)
            #expect(used.keyId == key.arn)
            // The front's request id, when it passes one, is the recorded KmsRequestId.
            var caller = EngineHarness.alice
            caller.requestId = "5d1b5a2e-0000-4000-8000-000000000001"
            _ = try await h.call(EncryptRequest(keyId: key.keyId, plaintext: Data("x".utf8)), as: caller)
            let tracked = try await h.call(GetKeyLastUsageRequest(keyId: key.keyId)).keyLastUsage
            #expect(tracked?.operation == "Encrypt")
            #expect(tracked?.kmsRequestId == caller.requestId)
            // A failed (disabled) use is not recorded.
            try await h.call(DisableKeyRequest(keyId: key.keyId))
            _ = await h.failure(EncryptRequest(keyId: key.keyId, plaintext: Data("x".utf8)))
            #expect(try await h.call(GetKeyLastUsageRequest(keyId: key.keyId)).keyLastUsage?.operation == "Encrypt")
        }
    }

    @Test("GenerateRandom: sizes and CustomKeyStoreId rules")
    func random() async throws {
        try await withEngine { h in
            #expect(try await h.call(GenerateRandomRequest(numberOfBytes: 64)).plaintext?.count == 64)
            await h.expect(.validation, GenerateRandomRequest())
            await h.expect(.validation, GenerateRandomRequest(numberOfBytes: 1025))
            let (storeId, _) = try await h.hsmStore()
            await h.expect(.customKeyStoreInvalidState, GenerateRandomRequest(numberOfBytes: 8, customKeyStoreId: storeId))
            await h.expect(.customKeyStoreNotFound, GenerateRandomRequest(numberOfBytes: 8, customKeyStoreId: "cks-00000000000000000"))
            try await h.connect(storeId)
            #expect(try await h.call(GenerateRandomRequest(numberOfBytes: 8, customKeyStoreId: storeId)).plaintext?.count == 8)
        }
    }

    @Test("CreateKey: ordinary keys, origins and specs")
    func createKey() async throws {
        try await withEngine { h in
            let plain = try await h.createKey(description: "plain")
            #expect(plain.origin == .awsKMS)
            #expect(plain.keyState == .enabled)
            #expect(plain.keyManager == "CUSTOMER")
            #expect(plain.keySpec == "SYMMETRIC_DEFAULT")
            #expect(plain.encryptionAlgorithms == ["SYMMETRIC_DEFAULT"])
            #expect(plain.customKeyStoreId == nil)
            #expect(plain.currentKeyMaterialId?.count == 64)
            #expect(KeyIdentifiers.isKeyId(plain.keyId))
            #expect(plain.arn == EngineHarness.alice.arn(key: plain.keyId))
            #expect(plain.awsAccountId == "111122223333")
            let imported = try await h.createKey(origin: .external)
            #expect(imported.keyState == .pendingImport)
            await h.expect(.kmsInvalidState, EncryptRequest(keyId: imported.keyId, plaintext: Data("x".utf8)))
            _ = try await h.schedule(imported.keyId)
            try await h.call(CancelKeyDeletionRequest(keyId: imported.keyId))
            #expect(try await h.keyState(imported.keyId) == .pendingImport)
            await h.expect(.unsupportedOperation, CreateKeyRequest(keySpec: "RSA_2048"))
            await h.expect(.validation, CreateKeyRequest(keyUsage: "SIGN_VERIFY"))
            await h.expect(.validation, CreateKeyRequest(origin: .awsCloudHsm))
            await h.expect(.customKeyStoreNotFound, CreateKeyRequest(origin: .awsCloudHsm, customKeyStoreId: "cks-00000000000000000"))
            let (storeId, _) = try await h.hsmStore()
            try await h.connect(storeId)
            await h.expect(.unsupportedOperation, CreateKeyRequest(keySpec: "HMAC_256", origin: .awsCloudHsm, customKeyStoreId: storeId))
            await h.expect(.unsupportedOperation, CreateKeyRequest(origin: .awsCloudHsm, customKeyStoreId: storeId, multiRegion: true))
            await h.expect(.validation, CreateKeyRequest(origin: .awsKMS, customKeyStoreId: storeId))
        }
    }

    @Test("protocol: unknown targets, malformed bodies, bad key ids")
    func protocolErrors() async throws {
        try await withEngine { h in
            do {
                _ = try await h.engine.handle(target: "TrentService.NoSuchThing", body: Data("{}".utf8), caller: EngineHarness.alice)
                Issue.record("accepted")
            } catch let e as KMSError { #expect(e.code == .unknownOperation) }
            for body in ["{", "[]", "{\"KeyId\": 5}", "nul"] {
                do {
                    _ = try await h.engine.handle(target: "TrentService.DescribeKey", body: Data(body.utf8), caller: EngineHarness.alice)
                    Issue.record("accepted \(body)")
                } catch let e as KMSError { #expect(e.code == .serialization, "\(body): \(e)") }
            }
            do {
                _ = try await h.engine.handle(target: "TrentService.DescribeKey", body: Data(), caller: EngineHarness.alice)
                Issue.record("accepted an empty DescribeKey")
            } catch let e as KMSError { #expect(e.code == .validation) }
            // An empty body is {} and ListKeys accepts it.
            let data = try await h.engine.handle(target: "TrentService.ListKeys", body: Data(), caller: EngineHarness.alice)
            #expect(String(decoding: data, as: UTF8.self).contains("\"Truncated\":false"))
            let invalid = await h.failure(DescribeKeyRequest(keyId: "fake-key-id"))
            #expect(invalid?.code == .notFound)
            #expect(invalid?.message == "Invalid keyId 'fake-key-id'")
            let alias = await h.failure(DescribeKeyRequest(keyId: "alias/none"))
            #expect(alias?.message == "Alias arn:aws:kms:us-east-1:111122223333:alias/none is not found.")
            // Management operations take key ids and ARNs, not aliases.
            let k = try await h.createKey()
            try await h.call(CreateAliasRequest(aliasName: "alias/k", targetKeyId: k.keyId))
            await h.expect(.notFound, ScheduleKeyDeletionRequest(keyId: "alias/k"))
            // Enable/Disable answer {}.
            let enabled = try await h.engine.handle(target: "TrentService.EnableKey", body: Data("{\"KeyId\":\"\(k.keyId)\"}".utf8), caller: EngineHarness.alice)
            #expect(String(decoding: enabled, as: UTF8.self) == "{}")
        }
    }

    /// Racing DeleteCustomKeyStore against CreateKey: the rules hold whichever wins.
    @Test("racing requests are serialized: never a key in a deleted store")
    func racing() async throws {
        try await withEngine(quota: 100, connect: 0, disconnect: 0) { h in
            for i in 0..<15 {
                let (storeId, _) = try await h.hsmStore(name: "race-\(i)")
                try await h.connect(storeId)
                try await h.disconnect(storeId, wait: false)
                // Reconnect racing with delete: delete needs DISCONNECTED and no keys; CreateKey needs CONNECTED.
                async let connected: Void? = try? await h.connect(storeId, wait: false)
                async let deleted: DeleteCustomKeyStoreResponse? = try? await h.call(DeleteCustomKeyStoreRequest(customKeyStoreId: storeId))
                async let created: KeyMetadata? = try? await h.createKey(in: storeId)
                let (c, d, k) = await (connected, deleted, created)
                _ = c
                if d != nil { #expect(k == nil, "a key was created in a store that was deleted") }
                let stores = try await h.call(DescribeCustomKeyStoresRequest()).customKeyStores ?? []
                if !stores.contains(where: { $0.customKeyStoreId == storeId }), let k {
                    Issue.record("key \(k.keyId) created in deleted store \(storeId)")
                }
            }
            // Every key listed still has its store.
            let storeIds = Set((try await h.call(DescribeCustomKeyStoresRequest()).customKeyStores ?? []).compactMap(\.customKeyStoreId))
            for id in try await h.listAllKeys() {
                let md = try await h.call(DescribeKeyRequest(keyId: id)).keyMetadata!
                if let s = md.customKeyStoreId { #expect(storeIds.contains(s)) }
            }
        }
    }
}
