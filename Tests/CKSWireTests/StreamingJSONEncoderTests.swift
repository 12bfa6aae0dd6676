import Foundation
import Testing
@testable import CKSWire

/// The streaming response encoder must write what Foundation's `JSONEncoder` (with WireCodec's settings) writes,
/// member order aside.
struct StreamingJSONEncoderTests {
    /// Members sorted by name at every level, so two encoders' outputs compare regardless of member order.
    private func normalized(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let members): return .object(members.map { ($0.0, normalized($0.1)) }.sorted { $0.0 < $1.0 })
        case .array(let items): return .array(items.map(normalized))
        default: return value
        }
    }

    private func expectSameJSON<T: Encodable & Decodable & Equatable>(_ type: T.Type, _ text: String,
                                                                     sourceLocation: SourceLocation = #_sourceLocation) throws {
        let value = try WireCodec.decodeResponse(T.self, from: Data(text.utf8))
        let streamed = try StreamingJSONEncoder.encode(value)
        let reference = try WireCodec.makeEncoder().encode(value)
        #expect(normalized(try JSONValue.parse(streamed)) == normalized(try JSONValue.parse(reference)),
                "\(String(decoding: streamed, as: UTF8.self)) vs \(String(decoding: reference, as: UTF8.self))",
                sourceLocation: sourceLocation)
        #expect(try WireCodec.decodeResponse(T.self, from: streamed) == value, sourceLocation: sourceLocation)
        #expect(WireCodec.encodeResponse(value) == streamed, sourceLocation: sourceLocation)
    }

    @Test func describeKeyWithEveryKindOfMember() throws {
        try expectSameJSON(DescribeKeyResponse.self, #"""
        {"KeyMetadata":{"AWSAccountId":"111122223333","KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab",
         "Arn":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
         "CreationDate":1764463200.123,"DeletionDate":1764463200,"Enabled":false,
         "Description":"quote \" backslash \\ slash / tab \t newline \n bell \u0007 unit \u001f é 😀 \u2028",
         "KeyUsage":"ENCRYPT_DECRYPT","KeyState":"PendingDeletion","Origin":"AWS_CLOUDHSM",
         "CustomKeyStoreId":"cks-1234567890abcdef0","CloudHsmClusterId":"cluster-1234567890a","KeyManager":"CUSTOMER",
         "KeySpec":"SYMMETRIC_DEFAULT","EncryptionAlgorithms":["SYMMETRIC_DEFAULT"],"MultiRegion":false}}
        """#)
    }

    @Test func listsEmptiesBlobsAndNumbers() throws {
        try expectSameJSON(ListKeysResponse.self, #"""
        {"Keys":[{"KeyId":"a","KeyArn":"arn:a"},{"KeyId":"b","KeyArn":"arn:b"}],"NextMarker":"bWFya2Vy","Truncated":true}
        """#)
        try expectSameJSON(ListKeysResponse.self, #"{"Keys":[],"Truncated":false}"#)
        try expectSameJSON(ListKeysResponse.self, #"{}"#)
        try expectSameJSON(EncryptResponse.self, #"{"CiphertextBlob":"AQID+g==","KeyId":"k","EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}"#)
        try expectSameJSON(DescribeCustomKeyStoresResponse.self, #"""
        {"CustomKeyStores":[{"CustomKeyStoreId":"cks-1","CustomKeyStoreName":"n","ConnectionState":"FAILED",
         "ConnectionErrorCode":"NETWORK_ERRORS","CreationDate":1.5,"CustomKeyStoreType":"EXTERNAL_KEY_STORE",
         "XksProxyConfiguration":{"Connectivity":"PUBLIC_ENDPOINT","AccessKeyId":"ABCDEFGHIJKLMNOPQRST",
         "UriEndpoint":"https://xks.example.com","UriPath":"/kms/xks/v1"}}],"Truncated":false}
        """#)
    }

    @Test func numbersAsFoundationWritesThem() throws {
        struct Numbers: Codable, Equatable {
            var dates: [Date]
            var ints: [Int]
            var doubles: [Double]
        }
        let value = Numbers(dates: [Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 1764463200),
                                    Date(timeIntervalSince1970: -1.5)],
                            ints: [0, -5, Int.max], doubles: [0.1, 1e20, -2.5e-7, 3])
        let streamed = try JSONValue.parse(StreamingJSONEncoder.encode(value))
        let reference = try JSONValue.parse(WireCodec.makeEncoder().encode(value))
        #expect(normalized(streamed) == normalized(reference))
    }
}
