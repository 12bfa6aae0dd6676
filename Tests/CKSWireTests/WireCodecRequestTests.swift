import CKSDomain
import Foundation
import Testing
@testable import CKSWire

/// Server-side request decoding: serialization errors, then AWS-style validation messages.
@Suite struct WireCodecRequestTests {
    private func body(_ json: String) -> Data { Data(json.utf8) }

    private func error<R: WireRequest>(_ type: R.Type, _ json: String) -> KMSError? {
        do {
            _ = try WireCodec.decodeRequest(type, from: body(json))
            return nil
        } catch {
            return error
        }
    }

    @Test func emptyBodyIsAnEmptyObject() throws {
        let request = try WireCodec.decodeRequest(ListKeysRequest.self, from: Data())
        #expect(request == ListKeysRequest())
        let blank = try WireCodec.decodeRequest(DescribeCustomKeyStoresRequest.self, from: body("  \n"))
        #expect(blank == DescribeCustomKeyStoresRequest())
    }

    @Test func decodesAValidRequestAndIgnoresUnknownMembers() throws {
        let request = try WireCodec.decodeRequest(CreateCustomKeyStoreRequest.self, from: body("""
            {"CustomKeyStoreName":"ExampleKeyStore","CloudHsmClusterId":"cluster-234abcdefABC",
             "KeyStorePassword":"kmsPswd1","TrustAnchorCertificate":"-----BEGIN CERTIFICATE-----",
             "CustomKeyStoreType":"AWS_CLOUDHSM","SomethingNew":{"deep":[1,2,3]}}
            """))
        #expect(request.customKeyStoreName == "ExampleKeyStore")
        #expect(request.cloudHsmClusterId == "cluster-234abcdefABC")
        #expect(request.keyStorePassword == "kmsPswd1")
        #expect(request.customKeyStoreType == .awsCloudHsm)
    }

    @Test func nullMembersAreAbsent() throws {
        let request = try WireCodec.decodeRequest(ListKeysRequest.self, from: body(#"{"Limit":null,"Marker":null}"#))
        #expect(request.limit == nil && request.marker == nil)
    }

    @Test(arguments: [
        "{", "[]", "\"text\"", "42", "null", "{\"Limit\":}", "{\"Limit\":1,}", "{'Limit':1}", "{\"Limit\":01}",
        "{} {}", "{\"Marker\":\"a\u{01}\"}",
    ])
    func malformedOrNonObjectBodiesAreSerializationErrors(_ json: String) {
        #expect(error(ListKeysRequest.self, json)?.code == .serialization)
    }

    @Test func invalidUTF8IsASerializationError() {
        var bytes = Array(#"{"Marker":""#.utf8)
        bytes += [0xC3, 0x28, 0xFF]
        bytes += Array(#""}"#.utf8)
        #expect(throws: KMSError.self) { try WireCodec.decodeRequest(ListKeysRequest.self, from: Data(bytes)) }
        #expect((try? WireCodec.decodeRequest(ListKeysRequest.self, from: Data(bytes))) == nil)
        #expect(error(ListKeysRequest.self, String(decoding: bytes, as: UTF8.self)) != nil)
        do {
            _ = try WireCodec.decodeRequest(ListKeysRequest.self, from: Data(bytes))
        } catch {
            #expect(error.code == .serialization)
        }
    }

    @Test func loneSurrogateEscapeIsASerializationError() {
        #expect(error(ListKeysRequest.self, #"{"Marker":"\ud800"}"#)?.code == .serialization)
        let ok = try? WireCodec.decodeRequest(DescribeKeyRequest.self, from: body(#"{"KeyId":"\ud83d\ude00 \u00e9"}"#))
        #expect(ok?.keyId == "😀 é")
    }

    @Test func deepNestingIsRefusedNotACrash() {
        let deep = "{\"X\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"
        #expect(error(ListKeysRequest.self, deep)?.code == .serialization)
    }

    @Test func wrongJSONTypesUseCoralWording() {
        let cases: [(String, String)] = [
            (#"{"KeyId":{}}"#, "Start of structure or map found where not expected."),
            (#"{"KeyId":[]}"#, "Start of list found where not expected"),
            (#"{"KeyId":1}"#, "class java.math.BigDecimal can not be converted to an String"),
            (#"{"KeyId":true}"#, "class java.lang.Boolean can not be converted to an String"),
        ]
        for (json, message) in cases {
            let e = error(DescribeKeyRequest.self, json)
            #expect(e == KMSError(.serialization, message), "\(json)")
        }
        #expect(error(ListKeysRequest.self, #"{"Limit":"10"}"#)
                == KMSError(.serialization, "class java.lang.String can not be converted to an Integer"))
        #expect(error(DescribeKeyRequest.self, #"{"KeyId":"k","GrantTokens":"t"}"#)
                == KMSError(.serialization, "Expected list or null"))
        #expect(error(EncryptRequest.self, #"{"KeyId":"k","Plaintext":"aGk=","EncryptionContext":[]}"#)
                == KMSError(.serialization, "Start of list found where not expected"))
        #expect(error(ListKeysRequest.self, #"{"Limit":4294967296}"#)?.code == .serialization)
    }

    @Test func sensitiveBadBase64IsNotEchoed() throws {
        let e = try #require(error(EncryptRequest.self, #"{"KeyId":"k","Plaintext":"secret!!"}"#))
        #expect(e.code == .serialization)
        #expect(!e.message.contains("secret"))
        let c = try #require(error(DecryptRequest.self, #"{"CiphertextBlob":"abc"}"#))
        #expect(c == KMSError(.serialization,
            "'abc' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 bytes but found: 3"))
    }

    @Test func oneValidationErrorHasAWSText() {
        let name = String(repeating: "x", count: 257)
        let e = error(CreateCustomKeyStoreRequest.self, "{\"CustomKeyStoreName\":\"\(name)\"}")
        #expect(e == KMSError(.validation, "1 validation error detected: Value '\(name)' at 'customKeyStoreName' "
                              + "failed to satisfy constraint: Member must have length less than or equal to 256"))
        #expect(error(GenerateRandomRequest.self, #"{"NumberOfBytes":1025}"#) == KMSError(.validation,
            "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: "
            + "Member must have value less than or equal to 1024"))
    }

    @Test func missingRequiredMemberIsNull() {
        #expect(error(ConnectCustomKeyStoreRequest.self, "{}") == KMSError(.validation,
            "1 validation error detected: Value null at 'customKeyStoreId' failed to satisfy constraint: "
            + "Member must not be null"))
        #expect(error(DescribeKeyRequest.self, #"{"KeyId":null}"#)?.message
                == "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null")
    }

    @Test func severalErrorsAreJoinedInModelOrder() {
        let e = error(CreateAliasRequest.self, #"{"AliasName":"bad name!"}"#)
        #expect(e == KMSError(.validation, "2 validation errors detected: Value 'bad name!' at 'aliasName' failed to "
            + "satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$; Value null at "
            + "'targetKeyId' failed to satisfy constraint: Member must not be null"))
    }

    @Test func enumAndPatternViolations() {
        #expect(error(CreateCustomKeyStoreRequest.self, #"{"CustomKeyStoreName":"a","CustomKeyStoreType":"HSM"}"#)?.message
            == "1 validation error detected: Value 'HSM' at 'customKeyStoreType' failed to satisfy constraint: "
            + "Member must satisfy enum value set: [AWS_CLOUDHSM, EXTERNAL_KEY_STORE]")
        // Java's matches(): the pattern must cover the whole value.
        #expect(error(CreateCustomKeyStoreRequest.self,
                      #"{"CustomKeyStoreName":"a","CloudHsmClusterId":"xcluster-234abcdefABC"}"#)?.message
            == "1 validation error detected: Value 'xcluster-234abcdefABC' at 'cloudHsmClusterId' failed to satisfy "
            + "constraint: Member must satisfy regular expression pattern: cluster-[2-7a-zA-Z]{11,16}")
    }

    @Test func nestedListPathsAreOneBasedWithMember() {
        let e = error(CreateKeyRequest.self, #"{"Tags":[{"TagKey":"ok","TagValue":"v"},{"TagKey":"","TagValue":"v"}]}"#)
        #expect(e?.message == "1 validation error detected: Value '' at 'tags.2.member.tagKey' failed to satisfy "
                + "constraint: Member must have length greater than or equal to 1")
        let missing = error(CreateKeyRequest.self, #"{"Tags":[{"TagValue":"v"}]}"#)
        #expect(missing?.message == "1 validation error detected: Value null at 'tags.1.member.tagKey' failed to "
                + "satisfy constraint: Member must not be null")
    }

    @Test func sensitiveValuesAreRedactedInValidationMessages() throws {
        let plaintext = Data(count: 4097).base64EncodedString()
        let e = try #require(error(EncryptRequest.self, "{\"KeyId\":\"k\",\"Plaintext\":\"\(plaintext)\"}"))
        #expect(e.message == "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
                + "Member must have length less than or equal to 4096")
        let password = error(CreateCustomKeyStoreRequest.self, #"{"CustomKeyStoreName":"a","KeyStorePassword":"abc"}"#)
        #expect(password?.message == "1 validation error detected: Value at 'keyStorePassword' failed to satisfy "
                + "constraint: Member must have length greater than or equal to 7")
        let credential = try #require(error(CreateCustomKeyStoreRequest.self, """
            {"CustomKeyStoreName":"a","XksProxyAuthenticationCredential":{"AccessKeyId":"lowercase-secret-id-xx",
             "RawSecretAccessKey":"short"}}
            """))
        #expect(credential.message.hasPrefix("2 validation errors detected: "))
        #expect(credential.message.contains("Value at 'xksProxyAuthenticationCredential.accessKeyId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[A-Z2-7]+$"))
        #expect(credential.message.contains("Value at 'xksProxyAuthenticationCredential.rawSecretAccessKey'"))
        #expect(!credential.message.contains("lowercase-secret") && !credential.message.contains("short"))
    }

    @Test func nonSensitiveBlobsPrintAsJavaByteBuffers() {
        #expect(error(DecryptRequest.self, #"{"CiphertextBlob":""}"#)?.message
            == "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=0 cap=0]' at 'ciphertextBlob' "
            + "failed to satisfy constraint: Member must have length greater than or equal to 1")
    }

    @Test func atMostTenErrorsAreReported() throws {
        let tags = (0..<12).map { _ in #"{"TagKey":"","TagValue":"v"}"# }.joined(separator: ",")
        let e = try #require(error(CreateKeyRequest.self, "{\"Tags\":[\(tags)]}"))
        #expect(e.message.hasPrefix("10 validation errors detected: "))
        #expect(e.message.components(separatedBy: "; ").count == 10)
    }

    @Test func fractionalIntegersAreTruncatedAsJacksonDoes() throws {
        let request = try WireCodec.decodeRequest(ListKeysRequest.self, from: body(#"{"Limit":10.9}"#))
        #expect(request.limit == 10)
        #expect(error(ListKeysRequest.self, #"{"Limit":0}"#)?.message == "1 validation error detected: Value '0' at "
                + "'limit' failed to satisfy constraint: Member must have value greater than or equal to 1")
    }

    @Test func booleanStringsAreCoerced() throws {
        let request = try WireCodec.decodeRequest(CreateKeyRequest.self, from: body(#"{"MultiRegion":"true"}"#))
        #expect(request.multiRegion == true)
        #expect(error(CreateKeyRequest.self, #"{"MultiRegion":"maybe"}"#)
                == KMSError(.serialization, "'MAYBE' can not be converted to an Boolean"))
    }

    @Test func blobsDecodeFromBase64() throws {
        let request = try WireCodec.decodeRequest(EncryptRequest.self, from: body(#"{"KeyId":"alias/x","Plaintext":"aGk="}"#))
        #expect(request.plaintext == Data("hi".utf8))
    }

    @Test func adminRequestsAreValidatedToo() throws {
        #expect(error(AdvanceClockRequest.self, #"{"Seconds":-1}"#)?.message == "1 validation error detected: "
                + "Value '-1' at 'seconds' failed to satisfy constraint: Member must have value greater than or equal to 0")
        let fault = try WireCodec.decodeRequest(SetConnectionFaultRequest.self,
                                                from: body(#"{"CustomKeyStoreId":"cks-1","ConnectionErrorCode":null}"#))
        #expect(fault.connectionErrorCode == nil)
        let set = try WireCodec.decodeRequest(SetConnectionFaultRequest.self,
                                              from: body(#"{"CustomKeyStoreId":"cks-1","ConnectionErrorCode":"NETWORK_ERRORS"}"#))
        #expect(set.connectionErrorCode == .networkErrors)
        #expect(error(SetConnectionFaultRequest.self, #"{"CustomKeyStoreId":"cks-1","ConnectionErrorCode":"NOPE"}"#)?.code
                == .validation)
        let cluster = try #require(error(CreateCloudHsmClusterRequest.self, #"{"HsmCount":2,"KmsUserPassword":"pw"}"#))
        #expect(cluster.message.contains("Value at 'kmsUserPassword'") && !cluster.message.contains("'pw'"))
    }
}
