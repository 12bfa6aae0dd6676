import CKSDomain
import CKSServer
import CKSWire
import CKSTestSupport
import Foundation
import Testing

/// The front in front of the real engine (`CoreServer.start(_:)`): what a client sees end to end.
@Suite struct EngineProtocolTests {
    /// An operator in the admin's account who may create and read but not delete or disconnect.
    static let operatorPrincipal = Principal(
        name: "operator", account: "111122223333", accessKeyId: "AKIAOPERATOROPERATO3",
        secretAccessKey: "operatorSecretKeyoperatorSecretKeyoper3",
        allow: ["kms:Describe*", "kms:List*", "kms:Create*", "kms:Connect*", "cks:*"])

    private func withEngineCore(_ body: (FrontHarness) async throws -> Void) async throws {
        let directory = try TemporaryDirectory(prefix: "cks-tests")
        let principalsFile = directory.url.appendingPathComponent("principals.json")
        try TestPrincipals.write(to: principalsFile,
                                 principals: [TestPrincipals.admin, TestPrincipals.reader, Self.operatorPrincipal])
        var configuration = CoreConfiguration(dataDirectory: directory.url.appendingPathComponent("data"))
        configuration.port = 0
        configuration.principalsFile = principalsFile
        let server = try await CoreServer.start(configuration)
        let core = FrontHarness(server: server, directory: directory)
        do { try await body(core) } catch { await core.stop(); throw error }
        await core.stop()
    }

    private func createStore(_ core: FrontHarness, name: String = "ExampleKeyStore") async throws -> String {
        let cluster = try await core.call("CksAdmin.CreateCloudHsmCluster", #"{"HsmCount":2,"KmsUserPassword":"kmsPswd1"}"#)
        #expect(cluster.status == 200)
        let clusterId = try #require(cluster.json["ClusterId"] as? String)
        let anchor = try #require(cluster.json["TrustAnchorCertificate"] as? String)
        let body = try JSONSerialization.data(withJSONObject: [
            "CustomKeyStoreName": name, "CloudHsmClusterId": clusterId, "KeyStorePassword": "kmsPswd1",
            "TrustAnchorCertificate": anchor,
        ])
        let created = try await core.call("TrentService.CreateCustomKeyStore", String(decoding: body, as: UTF8.self),
                                          principal: Self.operatorPrincipal)
        #expect(created.status == 200)
        return try #require(created.json["CustomKeyStoreId"] as? String)
    }

    @Test func serializationAndValidationErrorsComeFromTheRealEngine() async throws {
        try await withEngineCore { core in
            let type = try await core.call("TrentService.DescribeKey", #"{"KeyId":["a"]}"#)
            #expect(type.status == 400)
            #expect(type.errorType == "SerializationException")
            #expect(type.message == "Start of list found where not expected")
            let limit = try await core.call("TrentService.ListKeys", #"{"Limit":"ten"}"#)
            #expect(limit.message == "class java.lang.String can not be converted to an Integer")
            let random = try await core.call("TrentService.GenerateRandom", #"{"NumberOfBytes":1025}"#)
            #expect(random.errorType == "ValidationException")
            #expect(random.message == "1 validation error detected: Value '1025' at 'numberOfBytes' failed to "
                    + "satisfy constraint: Member must have value less than or equal to 1024")
            let missing = try await core.call("TrentService.DeleteCustomKeyStore", "")
            #expect(missing.message == "1 validation error detected: Value null at 'customKeyStoreId' failed to "
                    + "satisfy constraint: Member must not be null")
            let unknownMembers = try await core.call("TrentService.ListKeys", #"{"FutureMember":{"x":[1]}}"#)
            #expect(unknownMembers.status == 200)
            #expect(unknownMembers.json["Keys"] is [Any])
        }
    }

    @Test func deniedActionChangesNothing() async throws {
        try await withEngineCore { core in
            let storeId = try await createStore(core)
            let denied = try await core.call("TrentService.DeleteCustomKeyStore", "{\"CustomKeyStoreId\":\"\(storeId)\"}",
                                             principal: Self.operatorPrincipal)
            #expect(denied.errorType == "AccessDeniedException")
            #expect(denied.message == "User: arn:aws:iam::111122223333:user/operator is not authorized to perform: "
                    + "kms:DeleteCustomKeyStore on resource: * because no identity-based policy allows the "
                    + "kms:DeleteCustomKeyStore action")
            let described = try await core.call("TrentService.DescribeCustomKeyStores",
                                                "{\"CustomKeyStoreId\":\"\(storeId)\"}", principal: Self.operatorPrincipal)
            #expect(described.status == 200)
            let stores = try #require(described.json["CustomKeyStores"] as? [[String: Any]])
            #expect(stores.map { $0["CustomKeyStoreId"] as? String } == [storeId])
            #expect(stores.first?["ConnectionState"] as? String == "DISCONNECTED")
            #expect(stores.first?["CreationDate"] is Double)
        }
    }

    @Test func accountsAreIsolatedAndRegionsComeFromTheScope() async throws {
        try await withEngineCore { core in
            let storeId = try await createStore(core)
            let other = try await core.call("TrentService.DescribeCustomKeyStores", "{\"CustomKeyStoreId\":\"\(storeId)\"}",
                                            principal: TestPrincipals.reader)
            #expect(other.errorType == "CustomKeyStoreNotFoundException")
            let otherRegion = try await core.call("TrentService.DescribeCustomKeyStores",
                                                  "{\"CustomKeyStoreId\":\"\(storeId)\"}", region: "eu-central-1")
            #expect(otherRegion.errorType == "CustomKeyStoreNotFoundException")
            let key = try await core.call("TrentService.CreateKey", "{}", region: "ap-south-1")
            let arn = (key.json["KeyMetadata"] as? [String: Any])?["Arn"] as? String
            #expect(arn?.hasPrefix("arn:aws:kms:ap-south-1:111122223333:key/") == true)
        }
    }
}
