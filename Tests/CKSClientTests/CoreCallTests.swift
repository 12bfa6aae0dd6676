import CKSDomain
import CKSServer
import CKSWire
import Foundation
import Testing
@testable import CKSClient

/// Every call of the client against a core started in-process: each typed method reaches the engine through
/// the real HTTP front (SigV4 verified there) and its answer decodes.
@Suite(.serialized) struct CoreCallTests {
    @Test func everyOperation() async throws {
        try await InProcessCore.with { core in
            let c = core.client

            // Admin: clock, clusters.
            let t0 = try await c.simulatedNow()
            let t1 = try await c.advanceClock(seconds: 60)
            #expect(t1.timeIntervalSince(t0) >= 60)
            let cluster = try await c.createCloudHsmCluster(kmsUserPassword: "kmsPswd-1", hsmCount: 2)
            #expect(cluster.clusterId.hasPrefix("cluster-"))
            let clusters = try await c.describeCloudHsmClusters()
            #expect(clusters.contains { $0.clusterId == cluster.clusterId })
            _ = try await c.updateCloudHsmCluster(UpdateCloudHsmClusterRequest(clusterId: cluster.clusterId, hsmCount: 3))
            #expect(try await c.describeCloudHsmClusters(clusterId: cluster.clusterId).first?.hsmCount == 3)

            // Stores: create, describe (by id, by name, all), update, connect.
            let created = try await c.createCustomKeyStore(CreateCustomKeyStoreRequest(
                customKeyStoreName: "calls-hsm", cloudHsmClusterId: cluster.clusterId,
                trustAnchorCertificate: cluster.trustAnchorCertificate, keyStorePassword: "kmsPswd-1"))
            let storeId = try #require(created.customKeyStoreId)
            #expect(try await c.customKeyStore(idOrName: storeId).customKeyStoreName == "calls-hsm")
            #expect(try await c.customKeyStore(idOrName: "calls-hsm").customKeyStoreId == storeId)
            try await c.updateCustomKeyStore(UpdateCustomKeyStoreRequest(customKeyStoreId: storeId, newCustomKeyStoreName: "calls-hsm-2"))
            #expect(try await c.allCustomKeyStores().map(\.customKeyStoreName) == ["calls-hsm-2"])
            try await c.connectCustomKeyStore(id: storeId)
            try await core.waitForState(storeId, .connected)

            // Keys: create (store and plain), describe, list, enable/disable, last usage.
            let key = try #require(try await c.createKey(CreateKeyRequest(description: "hsm key", origin: .awsCloudHsm,
                                                                           customKeyStoreId: storeId)).keyMetadata)
            #expect(key.customKeyStoreId == storeId)
            #expect(key.origin == .awsCloudHsm)
            let plain = try #require(try await c.createKey().keyMetadata)
            #expect(try await c.describeKey(keyId: key.keyId).description == "hsm key")
            let listed = try await c.listKeys(limit: 10)
            #expect(Set((listed.keys ?? []).compactMap(\.keyId)) == [key.keyId, plain.keyId])
            try await c.disableKey(keyId: plain.keyId)
            #expect(try await c.describeKey(keyId: plain.keyId).keyState == .disabled)
            try await c.enableKey(keyId: plain.keyId)
            #expect(try await c.describeKey(keyId: plain.keyId).keyState == .enabled)
            _ = try await c.getKeyLastUsage(keyId: key.keyId)

            // Aliases.
            try await c.createAlias(aliasName: "alias/calls", targetKeyId: key.keyId)
            #expect(try await c.describeKey(keyId: "alias/calls").keyId == key.keyId)
            #expect(try await c.allAliases(keyId: key.keyId).map(\.aliasName) == ["alias/calls"])
            #expect(try await c.listAliases(keyId: key.keyId).aliases?.count == 1)
            try await c.deleteAlias(aliasName: "alias/calls")
            #expect(try await c.allAliases(keyId: key.keyId).isEmpty)

            // Cryptography through the store's key.
            let plaintext = Data("attack at dawn".utf8)
            let encrypted = try await c.encrypt(EncryptRequest(keyId: key.keyId, plaintext: plaintext))
            let decrypted = try await c.decrypt(DecryptRequest(ciphertextBlob: encrypted.ciphertextBlob))
            #expect(decrypted.plaintext == plaintext)
            let dataKey = try await c.generateDataKey(GenerateDataKeyRequest(keyId: key.keyId, numberOfBytes: 32))
            #expect(dataKey.plaintext?.count == 32)
            #expect(try await c.generateRandom(numberOfBytes: 16).plaintext?.count == 16)

            // Deletion: schedule, cancel, schedule; the store refuses to go while the key exists.
            let scheduled = try await c.scheduleKeyDeletion(keyId: key.keyId, pendingWindowInDays: 7)
            #expect(scheduled.keyState == .pendingDeletion)
            try await c.cancelKeyDeletion(keyId: key.keyId)
            #expect(try await c.describeKey(keyId: key.keyId).keyState == .disabled)
            _ = try await c.scheduleKeyDeletion(keyId: key.keyId, pendingWindowInDays: 7)
            do throws(KMSClientError) {
                try await c.deleteCustomKeyStore(id: storeId)
                Issue.record("DeleteCustomKeyStore succeeded with a key pending deletion")
            } catch {
                #expect(error.code == .customKeyStoreHasCMKs || error.code == .customKeyStoreInvalidState)
            }
            try await c.advanceClock(seconds: 8 * 86_400)
            do throws(KMSClientError) {
                _ = try await c.describeKey(keyId: key.keyId)
                Issue.record("the key outlived its waiting period")
            } catch {
                #expect(error.code == .notFound)
            }

            // Faults, disconnect, delete.
            try await c.disconnectCustomKeyStore(id: storeId)
            try await core.waitForState(storeId, .disconnected, step: 30)
            try await c.setConnectionFault(customKeyStoreId: storeId, code: .networkErrors)
            try await c.connectCustomKeyStore(id: storeId)
            try await core.waitForState(storeId, .failed)
            #expect(try await c.customKeyStore(idOrName: storeId).connectionErrorCode == .networkErrors)
            try await c.setConnectionFault(customKeyStoreId: storeId, code: nil)
            try await c.disconnectCustomKeyStore(id: storeId)
            try await core.waitForState(storeId, .disconnected, step: 30)
            try await c.deleteCustomKeyStore(id: storeId)
            #expect(try await c.allCustomKeyStores().isEmpty)

            // External key store through a simulated proxy.
            _ = try await c.createXksProxy(CreateXksProxyRequest(uriEndpoint: "https://xks.example.com", uriPath: "/kms/xks/v1",
                                                             accessKeyId: "ABCDEFGHIJKLMNOPQRST",
                                                             rawSecretAccessKey: "DXjSUawnel2fr6SKC7G25CNxTyWKE5PF9XX6H/u9pSo=",
                                                             externalKeyIds: ["ext-key-1"]))
            let xks = try await c.createCustomKeyStore(CreateCustomKeyStoreRequest(
                customKeyStoreName: "calls-xks", customKeyStoreType: .externalKeyStore,
                xksProxyUriEndpoint: "https://xks.example.com", xksProxyUriPath: "/kms/xks/v1",
                xksProxyAuthenticationCredential: XksProxyAuthenticationCredentialType(
                    accessKeyId: "ABCDEFGHIJKLMNOPQRST", rawSecretAccessKey: "DXjSUawnel2fr6SKC7G25CNxTyWKE5PF9XX6H/u9pSo="),
                xksProxyConnectivity: .publicEndpoint))
            let xksId = try #require(xks.customKeyStoreId)
            #expect(try await c.customKeyStore(idOrName: xksId).customKeyStoreType == .externalKeyStore)
        }
    }

    @Test func serverErrorsAreTyped() async throws {
        try await InProcessCore.with { core in
            do throws(KMSClientError) {
                _ = try await core.client.describeKey(keyId: "1234abcd-12ab-34cd-56ef-1234567890ab")
                Issue.record("expected NotFoundException")
            } catch {
                #expect(error.code == .notFound)
                #expect(error.httpStatus == 400)
                #expect(error.requestId?.isEmpty == false)
                #expect(error.operation == "DescribeKey")
            }
            // A client with the wrong secret is refused by the front's SigV4 verifier.
            let admin = core.server.adminPrincipal
            let wrong = KMSClient(endpoint: core.server.endpoint, region: "us-east-1",
                                  credentials: AWSCredentials(accessKeyId: admin.accessKeyId, secretAccessKey: "wrong"))
            do throws(KMSClientError) {
                _ = try await wrong.listKeys()
                Issue.record("expected InvalidSignatureException")
            } catch {
                #expect(error.code == .invalidSignature)
            }
            let unknown = KMSClient(endpoint: core.server.endpoint, region: "us-east-1",
                                    credentials: AWSCredentials(accessKeyId: "AKIDUNKNOWN", secretAccessKey: "x"))
            do throws(KMSClientError) {
                _ = try await unknown.listKeys()
                Issue.record("expected UnrecognizedClientException")
            } catch {
                #expect(error.code == .unrecognizedClient)
            }
        }
    }

    @Test func stoppedCoreCannotBeReached() async throws {
        let core = try await InProcessCore.start()
        let endpoint = core.server.endpoint
        await core.stop()
        let client = KMSClient(endpoint: endpoint, region: "us-east-1",
                               credentials: AWSCredentials(accessKeyId: "a", secretAccessKey: "b"),
                               retryPolicy: RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(1)))
        do throws(KMSClientError) {
            _ = try await client.listKeys()
            Issue.record("expected a connection failure")
        } catch {
            #expect(error.kind == .cannotReachEndpoint)
            #expect(!error.requestMayHaveReachedServer)
        }
    }
}

/// Paging, streaming and bulk at scale against the core.
@Suite(.serialized) struct CoreScaleTests {
    @Test func paginationOverMoreThanAThousandKeys() async throws {
        try await InProcessCore.with { core in
            let created = try await core.createKeys(1_050, inStore: nil)
            #expect(created.count == 1_050)
            var pages = 0
            var seen: [String] = []
            for try await page in core.client.listKeysPages(limit: 100) {
                pages += 1
                #expect((page.keys ?? []).count <= 100)
                seen += (page.keys ?? []).compactMap(\.keyId)
            }
            #expect(pages == 11)
            #expect(seen.count == 1_050)
            #expect(Set(seen) == Set(created))
            #expect(try await core.client.allKeys(pageSize: 1000).count == 1_050)

            // Aliases and stores page too.
            let aliased = Array(created.prefix(120))
            let results = await core.client.bulk(aliased) { (id: String) throws(KMSClientError) in
                try await core.client.createAlias(aliasName: "alias/a-\(id)", targetKeyId: id)
            }
            #expect(results.allSatisfy { $0.error == nil })
            var aliasPages = 0
            var aliasCount = 0
            for try await page in core.client.listAliasesPages(limit: 50) {
                aliasPages += 1
                aliasCount += page.aliases?.count ?? 0
            }
            #expect(aliasCount == 120)
            #expect(aliasPages == 3)
        }
    }

    @Test func storePagesOneByOne() async throws {
        try await InProcessCore.with { core in
            for i in 0..<4 {
                let cluster = try await core.client.createCloudHsmCluster(kmsUserPassword: "kmsPswd-\(i)")
                _ = try await core.client.createCustomKeyStore(CreateCustomKeyStoreRequest(
                    customKeyStoreName: "store-\(i)", cloudHsmClusterId: cluster.clusterId,
                    trustAnchorCertificate: cluster.trustAnchorCertificate, keyStorePassword: "kmsPswd-\(i)"))
            }
            var names: [String] = []
            var pages = 0
            for try await page in core.client.describeCustomKeyStoresPages(limit: 1) {
                pages += 1
                names += (page.customKeyStores ?? []).compactMap(\.customKeyStoreName)
            }
            #expect(pages == 4)
            #expect(names.sorted() == ["store-0", "store-1", "store-2", "store-3"])
        }
    }

    @Test func keysInStoreOfAThousandKeys() async throws {
        try await InProcessCore.with { core in
            let store = try await core.connectedCloudHsmStore(name: "big")
            let other = try await core.connectedCloudHsmStore(name: "small")
            let inStore = try await core.createKeys(1_000, inStore: store)
            _ = try await core.createKeys(25, inStore: other)
            _ = try await core.createKeys(25, inStore: nil)
            var streamed: [String] = []
            for try await key in core.client.keys(inStore: store, concurrency: 16) {
                #expect(key.customKeyStoreId == store)
                streamed.append(key.keyId)
            }
            #expect(streamed.count == 1_000)
            #expect(Set(streamed) == Set(inStore))
        }
    }

    @Test func bulkScheduleReportsPartialFailureItemByItem() async throws {
        try await InProcessCore.with { core in
            let keys = try await core.createKeys(30, inStore: nil)
            _ = try await core.client.scheduleKeyDeletion(keyId: keys[5], pendingWindowInDays: 7)
            let missing = "1234abcd-12ab-34cd-56ef-1234567890ab"
            let ids = keys + [missing]
            let results = await core.client.scheduleKeyDeletion(keyIds: ids, pendingWindowInDays: 7, concurrency: 6)
            #expect(results.map(\.id) == ids)
            #expect(results.filter { $0.error == nil }.count == 29)
            #expect(results[5].error?.code == .kmsInvalidState)
            #expect(results[30].error?.code == .notFound)
            #expect(results[0].value?.keyState == .pendingDeletion)
            #expect(results[0].value?.pendingWindowInDays == 7)
            let cancelled = await core.client.cancelKeyDeletion(keyIds: keys, concurrency: 6)
            #expect(cancelled.allSatisfy { $0.error == nil })
            let described = await core.client.describeKeys(keyIds: keys)
            #expect(described.allSatisfy { $0.value?.keyState == .disabled })
        }
    }
}
