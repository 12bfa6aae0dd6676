@testable import CKSServer
import CKSDomain
import CKSWire
import Foundation
import Testing

@Suite("Engine: external key stores")
struct EngineXksTests {
    @Test("create checks the proxy and the credential; CreateKey checks the external key")
    func rules() async throws {
        try await withEngine { h in
            await h.expect(.xksProxyUriUnreachable, h.xksStoreRequest(name: "ext"))
            try await h.registerProxy()
            await h.expect(.xksProxyIncorrectAuthenticationCredential,
                           h.xksStoreRequest(name: "ext", secret: String(repeating: "A", count: 43)))
            let storeId = try await h.call(h.xksStoreRequest(name: "ext")).customKeyStoreId!
            let entry = try await h.entry(storeId)
            #expect(entry.customKeyStoreType == .externalKeyStore)
            #expect(entry.xksProxyConfiguration?.accessKeyId == EngineHarness.xksAccessKey)
            #expect(entry.xksProxyConfiguration?.uriPath == "/kms/xks/v1")
            #expect(entry.cloudHsmClusterId == nil)

            // Uniqueness: same endpoint + path.
            await h.expect(.xksProxyUriInUse, h.xksStoreRequest(name: "ext2"))

            try await h.connect(storeId)
            #expect(try await h.state(storeId) == .connected)
            await h.expect(.validation, CreateKeyRequest(origin: .externalKeyStore, customKeyStoreId: storeId))
            await h.expect(.xksKeyNotFound, CreateKeyRequest(origin: .externalKeyStore, customKeyStoreId: storeId, xksKeyId: "nope"))
            let key = try await h.createKey(in: storeId, origin: .externalKeyStore, xksKeyId: "ext-key-1")
            #expect(key.origin == .externalKeyStore)
            #expect(key.xksKeyConfiguration?.id == "ext-key-1")
            #expect(key.cloudHsmClusterId == nil)
            await h.expect(.xksKeyAlreadyInUse, CreateKeyRequest(origin: .externalKeyStore, customKeyStoreId: storeId, xksKeyId: "ext-key-1"))
            // Origin must match the store's type.
            await h.expect(.validation, CreateKeyRequest(origin: .awsCloudHsm, customKeyStoreId: storeId))
            await h.expect(.validation, CreateKeyRequest(customKeyStoreId: storeId))
            // GenerateRandom: external key store ids are not valid.
            await h.expect(.unsupportedOperation, GenerateRandomRequest(numberOfBytes: 16, customKeyStoreId: storeId))

            // Crypto works; a pending-deletion XKS key keeps its external key "in use".
            let sealed = try await h.call(EncryptRequest(keyId: key.keyId, plaintext: Data("hi".utf8)))
            let opened = try await h.call(DecryptRequest(ciphertextBlob: sealed.ciphertextBlob))
            #expect(opened.plaintext == Data("hi".utf8))
            _ = try await h.schedule(key.keyId)
            await h.expect(.xksKeyAlreadyInUse, CreateKeyRequest(origin: .externalKeyStore, customKeyStoreId: storeId, xksKeyId: "ext-key-1"))
            // No orphaned material for external keys: KMS never touches them.
            try await h.disconnect(storeId)
            try await h.advance(7 * 86_400)
            try await h.call(DeleteCustomKeyStoreRequest(customKeyStoreId: storeId))
        }
    }

    @Test("connect fails asynchronously: unreachable proxy, refused credential")
    func connectFailures() async throws {
        try await withEngine { h in
            try await h.registerProxy()
            let storeId = try await h.call(h.xksStoreRequest(name: "ext")).customKeyStoreId!
            // The proxy's credential is rotated away from the store's.
            try await h.call(CreateXksProxyRequest(uriEndpoint: "https://xks.example.com", uriPath: "/kms/xks/v1",
                                                   accessKeyId: "QRSTUVWXYZ234567ABCD", rawSecretAccessKey: EngineHarness.xksSecret,
                                                   externalKeyIds: ["ext-key-1"]))
            try await h.connect(storeId)
            #expect(try await h.entry(storeId).connectionErrorCode == .invalidCredentials)
            try await h.disconnect(storeId)
            // Fix the store's credential (validated against the proxy at once).
            await h.expect(.xksProxyIncorrectAuthenticationCredential,
                           UpdateCustomKeyStoreRequest(customKeyStoreId: storeId, xksProxyAuthenticationCredential:
                                                        XksProxyAuthenticationCredentialType(accessKeyId: "QRSTUVWXYZ234567ABCD",
                                                                                             rawSecretAccessKey: String(repeating: "B", count: 43))))
            try await h.call(UpdateCustomKeyStoreRequest(customKeyStoreId: storeId, xksProxyAuthenticationCredential:
                                                          XksProxyAuthenticationCredentialType(accessKeyId: "QRSTUVWXYZ234567ABCD",
                                                                                               rawSecretAccessKey: EngineHarness.xksSecret)))
            try await h.connect(storeId)
            #expect(try await h.state(storeId) == .connected)
            // While CONNECTED the path and credential may change, the endpoint may not.
            await h.expect(.customKeyStoreInvalidState, UpdateCustomKeyStoreRequest(customKeyStoreId: storeId, xksProxyUriEndpoint: "https://other.example.com"))
            await h.expect(.xksProxyUriUnreachable, UpdateCustomKeyStoreRequest(customKeyStoreId: storeId, xksProxyUriPath: "/prefix/kms/xks/v1"))
            try await h.call(UpdateCustomKeyStoreRequest(customKeyStoreId: storeId, newCustomKeyStoreName: "renamed"))
        }
    }

    @Test("moving a store to an unregistered endpoint is refused; an unreachable proxy ends FAILED with XKS_PROXY_NOT_REACHABLE")
    func unreachable() async throws {
        try await withEngine { h in
            try await h.registerProxy()
            let storeId = try await h.call(h.xksStoreRequest(name: "ext")).customKeyStoreId!
            await h.expect(.xksProxyUriUnreachable, UpdateCustomKeyStoreRequest(customKeyStoreId: storeId, xksProxyUriEndpoint: "https://gone.example.com"))
            try await h.call(SetConnectionFaultRequest(customKeyStoreId: storeId, connectionErrorCode: .xksProxyNotReachable))
            try await h.connect(storeId)
            #expect(try await h.entry(storeId).connectionErrorCode == .xksProxyNotReachable)
        }
    }

    @Test("VPC endpoint service connectivity")
    func vpc() async throws {
        try await withEngine { h in
            let service = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"
            var request = h.xksStoreRequest(name: "vpc", endpoint: "https://xks.private.example.com")
            request.xksProxyConnectivity = .vpcEndpointService
            await h.expect(.validation, request)
            request.xksProxyVpcEndpointServiceName = service
            await h.expect(.xksProxyVpcEndpointServiceNotFound, request)
            try await h.registerProxy(endpoint: "https://xks.private.example.com", vpc: service)
            let storeId = try await h.call(request).customKeyStoreId!
            try await h.connect(storeId)
            #expect(try await h.state(storeId) == .connected)
            var second = h.xksStoreRequest(name: "vpc2", endpoint: "https://xks.private.example.com", path: "/other/kms/xks/v1")
            second.xksProxyConnectivity = .vpcEndpointService
            second.xksProxyVpcEndpointServiceName = "com.amazonaws.vpce.us-east-1.vpce-svc-0fedcba987654321"
            await h.expect(.xksProxyUriEndpointInUse, second)
        }
    }
}

@Suite("Engine: accounts, regions, pagination")
struct EngineIsolationTests {
    @Test("another account's or region's stores, keys and aliases do not exist")
    func isolation() async throws {
        try await withEngine { h in
            let (storeId, clusterId) = try await h.hsmStore(name: "shared-name")
            try await h.connect(storeId)
            let key = try await h.createKey(in: storeId)
            try await h.call(CreateAliasRequest(aliasName: "alias/mine", targetKeyId: key.keyId))
            for other in [EngineHarness.bob, EngineHarness.aliceWest] {
                await h.expect(.customKeyStoreNotFound, DescribeCustomKeyStoresRequest(customKeyStoreId: storeId), as: other)
                await h.expect(.customKeyStoreNotFound, DescribeCustomKeyStoresRequest(customKeyStoreName: "shared-name"), as: other)
                await h.expect(.customKeyStoreNotFound, ConnectCustomKeyStoreRequest(customKeyStoreId: storeId), as: other)
                await h.expect(.customKeyStoreNotFound, CreateKeyRequest(origin: .awsCloudHsm, customKeyStoreId: storeId), as: other)
                await h.expect(.notFound, DescribeKeyRequest(keyId: key.keyId), as: other)
                await h.expect(.notFound, DescribeKeyRequest(keyId: key.arn!), as: other)
                await h.expect(.notFound, ScheduleKeyDeletionRequest(keyId: key.keyId), as: other)
                await h.expect(.notFound, DescribeKeyRequest(keyId: "alias/mine"), as: other)
                await h.expect(.cloudHsmClusterNotFound, DescribeCloudHsmClustersRequest(clusterId: clusterId), as: other)
                #expect(try await h.listAllKeys(as: other).isEmpty)
                #expect(try await h.call(DescribeCustomKeyStoresRequest(), as: other).customKeyStores?.isEmpty == true)
                // The same name is free there.
                _ = try await h.hsmStore(name: "shared-name", as: other)
            }
            #expect(try await h.keyState(key.keyId) == .enabled)
        }
    }

    @Test("ListKeys pages with opaque markers; bad markers are InvalidMarkerException")
    func listKeys() async throws {
        try await withEngine { h in
            var created: [String] = []
            for _ in 0..<7 { created.append(try await h.createKey().keyId) }
            _ = try await h.createKey(as: EngineHarness.bob)
            let first = try await h.call(ListKeysRequest(limit: 3))
            #expect(first.keys?.count == 3)
            #expect(first.truncated == true)
            #expect(first.keys?.first?.keyArn == EngineHarness.alice.arn(key: first.keys!.first!.keyId!))
            #expect(try await h.listAllKeys(limit: 3) == created)
            #expect(try await h.listAllKeys() == created)
            let all = try await h.call(ListKeysRequest())
            #expect(all.truncated == false)
            #expect(all.nextMarker == nil)
            for bad in ["garbage", "Y2tzMTpzOjE=", Data("cks1:k:-5".utf8).base64EncodedString(), Data("cks1:a:alias/x".utf8).base64EncodedString()] {
                await h.expect(.invalidMarker, ListKeysRequest(marker: bad))
            }
        }
    }

    @Test("DescribeCustomKeyStores: filters, pagination, both filters refused")
    func describeStores() async throws {
        try await withEngine { h in
            var ids: [String] = []
            for i in 0..<5 { ids.append(try await h.hsmStore(name: "s\(i)").0) }
            var seen: [String] = []
            var marker: String?
            repeat {
                let page = try await h.call(DescribeCustomKeyStoresRequest(limit: 2, marker: marker))
                seen += page.customKeyStores?.compactMap(\.customKeyStoreId) ?? []
                marker = page.truncated == true ? page.nextMarker : nil
            } while marker != nil
            #expect(seen == ids)
            let byName = try await h.call(DescribeCustomKeyStoresRequest(customKeyStoreName: "s3"))
            #expect(byName.customKeyStores?.map(\.customKeyStoreId) == [ids[3]])
            await h.expect(.customKeyStoreNotFound, DescribeCustomKeyStoresRequest(customKeyStoreName: "nope"))
            await h.expect(.validation, DescribeCustomKeyStoresRequest(customKeyStoreId: ids[0], customKeyStoreName: "s0"))
            await h.expect(.invalidMarker, DescribeCustomKeyStoresRequest(marker: "x"))
            let keyMarker = try await { () async throws -> String? in
                for _ in 0..<2 { _ = try await h.createKey() }
                return try await h.call(ListKeysRequest(limit: 1)).nextMarker
            }()
            await h.expect(.invalidMarker, DescribeCustomKeyStoresRequest(marker: keyMarker))
        }
    }

    @Test("ListAliases pages by name and filters by key")
    func listAliases() async throws {
        try await withEngine { h in
            let a = try await h.createKey(), b = try await h.createKey()
            for name in ["alias/c", "alias/a", "alias/b"] { try await h.call(CreateAliasRequest(aliasName: name, targetKeyId: a.keyId)) }
            try await h.call(CreateAliasRequest(aliasName: "alias/z", targetKeyId: b.arn!))
            await h.expect(.alreadyExists, CreateAliasRequest(aliasName: "alias/a", targetKeyId: b.keyId))
            await h.expect(.invalidAliasName, CreateAliasRequest(aliasName: "alias/aws/s3", targetKeyId: b.keyId))
            await h.expect(.notFound, CreateAliasRequest(aliasName: "alias/y", targetKeyId: "alias/a"))
            let page1 = try await h.call(ListAliasesRequest(limit: 3))
            #expect(page1.aliases?.map(\.aliasName) == ["alias/a", "alias/b", "alias/c"])
            #expect(page1.truncated == true)
            let page2 = try await h.call(ListAliasesRequest(limit: 3, marker: page1.nextMarker))
            #expect(page2.aliases?.map(\.aliasName) == ["alias/z"])
            #expect(page2.aliases?.first?.aliasArn == "arn:aws:kms:us-east-1:111122223333:alias/z")
            #expect(page2.aliases?.first?.targetKeyId == b.keyId)
            let forB = try await h.call(ListAliasesRequest(keyId: b.keyId))
            #expect(forB.aliases?.map(\.aliasName) == ["alias/z"])
            await h.expect(.notFound, ListAliasesRequest(keyId: "1234abcd-12ab-34cd-56ef-1234567890ab"))
            try await h.call(DeleteAliasRequest(aliasName: "alias/z"))
            let e = await h.failure(DeleteAliasRequest(aliasName: "alias/z"))
            #expect(e?.message == "Alias arn:aws:kms:us-east-1:111122223333:alias/z is not found.")
            // Describe by alias name and alias ARN.
            #expect(try await h.call(DescribeKeyRequest(keyId: "alias/a")).keyMetadata?.keyId == a.keyId)
            #expect(try await h.call(DescribeKeyRequest(keyId: "arn:aws:kms:us-east-1:111122223333:alias/a")).keyMetadata?.keyId == a.keyId)
        }
    }
}
