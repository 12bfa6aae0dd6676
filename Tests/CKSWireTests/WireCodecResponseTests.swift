import CKSDomain
import Foundation
import Testing
@testable import CKSWire

/// Response encoding (server), lenient response decoding (client), error bodies, shapes' metadata and redaction.
@Suite struct WireCodecResponseTests {
    private func object(_ data: Data) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func responsesOmitNilMembersAndWriteEpochSeconds() throws {
        let metadata = KeyMetadata(keyId: "1234abcd-12ab-34cd-56ef-1234567890ab",
                                   creationDate: Date(timeIntervalSince1970: 1_537_582_718.431),
                                   enabled: true, keyState: .unavailable, origin: .awsCloudHsm,
                                   customKeyStoreId: "cks-5ebd4ef395a96288e")
        let data = WireCodec.encodeResponse(DescribeKeyResponse(keyMetadata: metadata))
        let text = String(decoding: data, as: UTF8.self)
        #expect(!text.contains("null"))
        let json = try object(data)
        let meta = try #require(json["KeyMetadata"] as? [String: Any])
        #expect(Set(meta.keys) == ["KeyId", "CreationDate", "Enabled", "KeyState", "Origin", "CustomKeyStoreId"])
        let date = try #require(meta["CreationDate"] as? Double)
        #expect(abs(date - 1_537_582_718.431) < 0.001)
        #expect(meta["KeyState"] as? String == "Unavailable")
        #expect(meta["Origin"] as? String == "AWS_CLOUDHSM")
    }

    @Test func emptyOutputsAreEmptyObjects() {
        #expect(WireCodec.encodeResponse(EmptyResponse()) == Data("{}".utf8))
        #expect(WireCodec.encodeResponse(ConnectCustomKeyStoreResponse()) == Data("{}".utf8))
    }

    @Test func blobsAreBase64() throws {
        let data = WireCodec.encodeResponse(GenerateRandomResponse(plaintext: Data([0, 1, 2, 255])))
        #expect(try object(data)["Plaintext"] as? String == "AAEC/w==")
    }

    @Test func clientDecodingIsLenient() throws {
        // Empty body → {} for output-less operations.
        #expect(try WireCodec.decodeResponse(EmptyResponse.self, from: Data()) == EmptyResponse())
        // Unknown members ignored; unknown enum values read as nil; ISO dates and numeric strings accepted.
        let body = Data("""
            {"CustomKeyStores":[{"CustomKeyStoreId":"cks-1","ConnectionState":"HALF_CONNECTED",
              "ConnectionErrorCode":"NETWORK_ERRORS","CreationDate":"2024-08-20T23:01:43Z","Brand":"new"},
             {"CustomKeyStoreId":"cks-2","ConnectionState":"CONNECTED","CreationDate":1.499288695918E9}],
             "Truncated":false,"Extra":{"x":1}}
            """.utf8)
        let response = try WireCodec.decodeResponse(DescribeCustomKeyStoresResponse.self, from: body)
        let stores = try #require(response.customKeyStores)
        #expect(stores.count == 2)
        #expect(stores[0].connectionState == nil)
        #expect(stores[0].connectionErrorCode == .networkErrors)
        #expect(stores[0].creationDate == Date(timeIntervalSince1970: 1_724_194_903))
        #expect(stores[1].connectionState == .connected)
        #expect(abs(stores[1].creationDate!.timeIntervalSince1970 - 1_499_288_695.918) < 0.001)
        #expect(response.truncated == false)
    }

    @Test func clientDecodingReportsWhatIsWrong() {
        do {
            _ = try WireCodec.decodeResponse(DescribeKeyResponse.self, from: Data(#"{"KeyMetadata":{"Arn":"x"}}"#.utf8))
            Issue.record("a KeyMetadata without KeyId must not decode")
        } catch {
            #expect(error.code == .serialization)
            #expect(error.message.contains("KeyId"))
        }
    }

    @Test func requestsRoundTrip() throws {
        let request = CreateKeyRequest(description: "d", origin: .awsCloudHsm, customKeyStoreId: "cks-1",
                                       tags: [Tag(tagKey: "k", tagValue: "v")])
        let data = try WireCodec.encodeRequest(request)
        #expect(try WireCodec.decodeRequest(CreateKeyRequest.self, from: data) == request)
        let json = try object(data)
        #expect(Set(json.keys) == ["Description", "Origin", "CustomKeyStoreId", "Tags"])
        let clear = try object(try WireCodec.encodeRequest(SetConnectionFaultRequest(customKeyStoreId: "cks-1",
                                                                                     connectionErrorCode: nil)))
        #expect(clear["ConnectionErrorCode"] is NSNull)
    }

    @Test func errorBodies() throws {
        let data = WireCodec.encodeError(KMSError(.customKeyStoreHasCMKs, "Key store \"x\" has keys"))
        let json = try object(data)
        #expect(json["__type"] as? String == "CustomKeyStoreHasCMKsException")
        #expect(json["message"] as? String == "Key store \"x\" has keys")
        #expect(WireCodec.encodeError(KMSError(.unknownOperation, "")) == Data(#"{"__type":"UnknownOperationException"}"#.utf8))
    }

    @Test func errorDecodingAcceptsEveryCarrier() {
        func decode(_ body: String, header: String? = nil, status: Int = 400) -> KMSError {
            WireCodec.decodeError(status: status, errorTypeHeader: header, body: Data(body.utf8))
        }
        #expect(decode(#"{"__type":"NotFoundException","message":"gone"}"#) == KMSError(.notFound, "gone"))
        #expect(decode(#"{"__type":"AccessDeniedException","Message":"no"}"#) == KMSError(.accessDenied, "no"))
        #expect(decode(#"{"__type":"com.amazon.coral.service#SerializationException","Message":"bad"}"#)
                == KMSError(.serialization, "bad"))
        #expect(decode(#"{"__type":"ValidationException:http://internal.amazon.com/coral/","message":"m"}"#)
                == KMSError(.validation, "m"))
        #expect(decode("", header: "ThrottlingException:http://x") == KMSError(.throttling, ""))
        #expect(decode(#"{"message":"m"}"#, header: "aws.protocols#KMSInternalException", status: 500)
                == KMSError(.kmsInternal, "m"))
        #expect(decode("<html>oops</html>", status: 502) == KMSError(.kmsInternal, "HTTP 502"))
        #expect(decode(#"{"__type":"BrandNewException","message":"m"}"#) == KMSError(.validation, "BrandNewException: m"))
        let raw = WireCodec.decodeErrorBody(status: 400, errorTypeHeader: nil, body: Data(#"{"__type":"BrandNewException"}"#.utf8))
        #expect(raw.type == "BrandNewException" && raw.code == nil)
    }

    @Test func targetsAndIAMActions() {
        #expect(CreateKeyRequest.target == "TrentService.CreateKey")
        #expect(CreateKeyRequest.iamAction == "kms:CreateKey")
        #expect(DeleteCustomKeyStoreRequest.iamAction == "kms:DeleteCustomKeyStore")
        #expect(AdvanceClockRequest.iamAction == "cks:AdvanceClock")
        #expect(TrentService.operations.count == 36)
        #expect(CksAdmin.operations.count == 10)
        #expect(CloudTrailService.operations.count == 1)
        #expect(LookupEventsRequest.iamAction == "cloudtrail:LookupEvents")
        #expect(LookupEventsRequest.operationName == "LookupEvents")
        #expect(WireOperation.signingName(for: LookupEventsRequest.target) == "cloudtrail")
        #expect(WireOperation.signingName(for: CreateGrantRequest.target) == "kms")
        #expect(WireOperation.signingName(for: StartWorkloadRequest.target) == "kms")
        #expect(WireOperation.lookup(target: "TrentService.EnableKey")?.iamAction == "kms:EnableKey")
        #expect(WireOperation.lookup(target: "TrentService.RotateKeyOnDemand") == nil)
        #expect(WireOperation.lookup(target: "CksAdmin.GetClock")?.name == "GetClock")
        // Operations without an output shape answer EmptyResponse.
        #expect(EnableKeyRequest.Response.self == EmptyResponse.self)
        #expect(CreateAliasRequest.Response.self == EmptyResponse.self)
    }

    @Test func sensitiveMembersNeverAppearInDescriptions() {
        let credential = XksProxyAuthenticationCredentialType(accessKeyId: "AKIDSECRETAAAAAAAAAAAA",
                                                              rawSecretAccessKey: "TOPSECRETtopsecretTOPSECRETtopsecretTOPSECRET")
        let request = CreateCustomKeyStoreRequest(customKeyStoreName: "store", keyStorePassword: "hunter2hunter2",
                                                  xksProxyAuthenticationCredential: credential)
        let encrypt = EncryptRequest(keyId: "k", plaintext: Data("PLAINTEXTSECRET".utf8))
        let cluster = CreateCloudHsmClusterRequest(hsmCount: 2, kmsUserPassword: "hunter2hunter2")
        let proxy = CreateXksProxyRequest(uriEndpoint: "https://xks.example.com", uriPath: "/kms/xks/v1",
                                          accessKeyId: "AKIDSECRETAAAAAAAAAAAA",
                                          rawSecretAccessKey: "TOPSECRETtopsecretTOPSECRETtopsecretTOPSECRET")
        var dumped = ""
        dump(request, to: &dumped)
        dump(proxy, to: &dumped)
        let renderings = [
            "\(request)", String(reflecting: request), "\(credential)", String(reflecting: credential),
            "\(encrypt)", String(reflecting: encrypt), "\(cluster)", "\(proxy)", String(reflecting: [request]), dumped,
            "\(Optional(request) as Any)",
        ]
        for text in renderings {
            #expect(!text.contains("hunter2"), "\(text)")
            #expect(!text.contains("TOPSECRET"), "\(text)")
            #expect(!text.contains("AKIDSECRET"), "\(text)")
            #expect(!text.contains("PLAINTEXT"), "\(text)")
        }
        #expect("\(request)".contains("\"store\""))
        #expect("\(request)".contains("KeyStorePassword: <redacted>"))
    }
}
