import CKSDomain
import Foundation
import Testing
@testable import CKSWire

/// The core decodes requests from the validated JSON tree; it must read exactly what Foundation's JSONDecoder
/// (with the wire's strategies) read from the same text.
@Suite struct JSONValueDecoderTests {
    private func both<T: Decodable & Equatable>(_ type: T.Type, _ json: String) throws -> (T, T) {
        let tree = try JSONValue.parse(Data(json.utf8))
        let ours = try JSONValueDecoder.decode(type, from: tree)
        let foundation = try WireCodec.makeDecoder().decode(type, from: Data(json.utf8))
        return (ours, foundation)
    }

    @Test func requestsDecodeAsFoundationDecodesThem() throws {
        let create = try both(CreateKeyRequest.self, #"""
            {"Description":"caf\u00e9 \"quoted\" \\ key","KeyUsage":"ENCRYPT_DECRYPT","Origin":"AWS_CLOUDHSM",
             "CustomKeyStoreId":"cks-1234567890abcdef0","BypassPolicyLockoutSafetyCheck":false,"MultiRegion":true,
             "Tags":[{"TagKey":"team","TagValue":"payments"},{"TagKey":"env","TagValue":""}]}
            """#)
        #expect(create.0 == create.1)
        #expect(create.0.tags?.count == 2 && create.0.origin == .awsCloudHsm && create.0.multiRegion == true)

        let schedule = try both(ScheduleKeyDeletionRequest.self, #"{"KeyId":"alias/x","PendingWindowInDays":7}"#)
        #expect(schedule.0 == schedule.1 && schedule.0.pendingWindowInDays == 7)

        let encrypt = try both(EncryptRequest.self, #"""
            {"KeyId":"k","Plaintext":"aGVsbG8gd29ybGQ=","EncryptionContext":{"a":"1","b":"two"},"GrantTokens":["t1","t2"]}
            """#)
        #expect(encrypt.0 == encrypt.1 && encrypt.0.plaintext == Data("hello world".utf8))

        let update = try both(UpdateCustomKeyStoreRequest.self, #"""
            {"CustomKeyStoreId":"cks-1234567890abcdef0","XksProxyConnectivity":"NOT_A_VALUE",
             "XksProxyAuthenticationCredential":{"AccessKeyId":"ABCDEFGHIJKLMNOPQRST","RawSecretAccessKey":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}}
            """#)
        #expect(update.0 == update.1 && update.0.xksProxyConnectivity == nil, "an unknown enum value reads as nil in both")

        let list = try both(ListKeysRequest.self, #"{"Limit":1e2,"Marker":"abc"}"#)
        #expect(list.0 == list.1 && list.0.limit == 100)
        let empty = try both(DescribeCustomKeyStoresRequest.self, "{}")
        #expect(empty.0 == empty.1)
    }

    @Test func typeErrorsAndMissingMembersAreReported() throws {
        #expect(throws: DecodingError.self) { try JSONValueDecoder.decode(DescribeKeyRequest.self, from: try JSONValue.parse(Data("{}".utf8))) }
        #expect(throws: DecodingError.self) {
            try JSONValueDecoder.decode(DescribeKeyRequest.self, from: try JSONValue.parse(Data(#"{"KeyId":5}"#.utf8)))
        }
        #expect(throws: DecodingError.self) {
            try JSONValueDecoder.decode(ScheduleKeyDeletionRequest.self, from: try JSONValue.parse(Data(#"{"KeyId":"k","PendingWindowInDays":7.5}"#.utf8)))
        }
        #expect(throws: DecodingError.self) {
            try JSONValueDecoder.decode(EncryptRequest.self, from: try JSONValue.parse(Data(#"{"KeyId":"k","Plaintext":"not base64!"}"#.utf8)))
        }
        let date = try JSONValueDecoder.decode([String: Date].self, from: try JSONValue.parse(Data(#"{"d":1700000000.5}"#.utf8)))
        #expect(date["d"] == Date(timeIntervalSince1970: 1_700_000_000.5))
    }
}
