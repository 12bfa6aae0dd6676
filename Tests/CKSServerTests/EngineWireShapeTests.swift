@testable import CKSServer
import CKSDomain
import CKSWire
import Foundation
import Testing

/// The JSON the engine answers, member by member, as botocore reads it.
@Suite("Engine: response bodies")
struct EngineWireShapeTests {
    func json(_ data: Data) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test("DescribeKey of a CloudHSM key carries the fields of semantics §2.6, dates as epoch numbers")
    func describeKey() async throws {
        try await withEngine { h in
            let (storeId, clusterId) = try await h.hsmStore()
            try await h.connect(storeId)
            let key = try await h.createKey(in: storeId)
            let data = try await h.engine.handle(target: "TrentService.DescribeKey", body: Data("{\"KeyId\":\"\(key.keyId)\"}".utf8),
                                                 caller: EngineHarness.alice)
            let md = try #require(try json(data)["KeyMetadata"] as? [String: Any])
            #expect(md["AWSAccountId"] as? String == "111122223333")
            #expect(md["KeyId"] as? String == key.keyId)
            #expect(md["Arn"] as? String == EngineHarness.alice.arn(key: key.keyId))
            #expect(md["CreationDate"] is NSNumber)
            #expect(md["Enabled"] as? Bool == true)
            #expect(md["Description"] as? String == "")
            #expect(md["KeyUsage"] as? String == "ENCRYPT_DECRYPT")
            #expect(md["KeyState"] as? String == "Enabled")
            #expect(md["Origin"] as? String == "AWS_CLOUDHSM")
            #expect(md["CustomKeyStoreId"] as? String == storeId)
            #expect(md["CloudHsmClusterId"] as? String == clusterId)
            #expect(md["KeyManager"] as? String == "CUSTOMER")
            #expect(md["CustomerMasterKeySpec"] as? String == "SYMMETRIC_DEFAULT")
            #expect(md["KeySpec"] as? String == "SYMMETRIC_DEFAULT")
            #expect(md["EncryptionAlgorithms"] as? [String] == ["SYMMETRIC_DEFAULT"])
            #expect(md["MultiRegion"] as? Bool == false)
            #expect(md["DeletionDate"] == nil)
            #expect(md["CurrentKeyMaterialId"] == nil)
            #expect(md["XksKeyConfiguration"] == nil)
        }
    }

    @Test("DescribeCustomKeyStores never returns the password or the proxy secret")
    func secrets() async throws {
        try await withEngine { h in
            let (storeId, _) = try await h.hsmStore(password: "verysecret1")
            try await h.registerProxy()
            _ = try await h.call(h.xksStoreRequest(name: "ext"))
            let data = try await h.engine.handle(target: "TrentService.DescribeCustomKeyStores", body: Data(), caller: EngineHarness.alice)
            let text = String(decoding: data, as: UTF8.self)
            #expect(!text.contains("verysecret1"))
            #expect(!text.contains(EngineHarness.xksSecret))
            #expect(!text.contains(EngineHarness.password))
            let stores = try #require(try json(data)["CustomKeyStores"] as? [[String: Any]])
            let hsm = try #require(stores.first { $0["CustomKeyStoreId"] as? String == storeId })
            #expect(hsm["ConnectionState"] as? String == "DISCONNECTED")
            #expect(hsm["ConnectionErrorCode"] == nil)
            #expect(hsm["CustomKeyStoreType"] as? String == "AWS_CLOUDHSM")
            #expect(hsm["TrustAnchorCertificate"] is String)
            #expect(hsm["CreationDate"] is NSNumber)
            #expect(try json(data)["Truncated"] as? Bool == false)
            let admin = try await h.engine.handle(target: "CksAdmin.DescribeCloudHsmClusters", body: Data(), caller: EngineHarness.alice)
            #expect(!String(decoding: admin, as: UTF8.self).contains(EngineHarness.password))
        }
    }
}
