import CKSDomain
import Foundation
import Testing
@testable import CKSWire

@Suite struct XKSWireTests {
    /// The spec's appendix C example: 33 bytes of AAD, 13 of ciphertextMetadata, 12 of IV, 12 of ciphertext, 16 of tag.
    @Test func ciphertextDataIntegrityValueMatchesTheSpecsAppendixVector() throws {
        let aad = Data("project=nile,department=marketing".utf8)
        let metadata = try #require(Data(base64Encoded: "a2V5X3ZlcnNpb249MQ=="))
        let iv = try #require(Data(base64Encoded: "HMrlRw85cAJUd5Ax"))
        let ciphertext = try #require(Data(base64Encoded: "ghxkK1txeDNn3q8Y"))
        let tag = try #require(Data(base64Encoded: "vBxN2ncH1oEkR8WVXpmyYQ=="))
        #expect(aad.count == 33 && metadata.count == 13 && iv.count == 12 && ciphertext.count == 12 && tag.count == 16)
        let cdiv = XKSIntegrity.ciphertextDataIntegrityValue(additionalAuthenticatedData: aad, ciphertextMetadata: metadata,
                                                             initializationVector: iv, ciphertext: ciphertext, authenticationTag: tag)
        #expect(cdiv.base64EncodedString() == "qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc=")
        #expect(SigV4.hex(cdiv) == "a8703f2260bd8791ec2d15ea0b23e65a0631eedcf2a13a65cc82db3f47cf5ec7")
        // Absent members count as empty strings.
        let withoutAAD = XKSIntegrity.ciphertextDataIntegrityValue(additionalAuthenticatedData: nil, ciphertextMetadata: nil,
                                                                   initializationVector: iv, ciphertext: ciphertext, authenticationTag: tag)
        #expect(SigV4.hexSHA256(iv + ciphertext + tag) == SigV4.hex(withoutAAD))
    }

    @Test func errorNamesCarryTheSpecsStatuses() {
        let expected: [XKSErrorName: Int] = [
            .validation: 400, .invalidState: 400, .invalidCiphertext: 400, .invalidKeyUsage: 400,
            .authenticationFailed: 401, .accessDenied: 403, .keyNotFound: 404, .invalidUriPath: 404,
            .throttling: 429, .unsupportedOperation: 501, .dependencyTimeout: 503, .internalFailure: 500,
        ]
        #expect(XKSErrorName.allCases.count == 12)
        for name in XKSErrorName.allCases { #expect(name.httpStatus == expected[name], "\(name)") }
        #expect(XKSErrorName.internalFailure.rawValue == "InternalException")
    }

    @Test func errorBodiesAreBoundedPrintableASCIIAndReadBack() throws {
        let long = String(repeating: "é\u{1}x", count: 400)
        let body = XKSError(.invalidCiphertext, long).encodedBody
        let parsed = try JSONValue.parse(body)
        guard case let .string(message)? = parsed["errorMessage"] else { Issue.record("no message"); return }
        #expect(message.utf8.count == 511)
        #expect(message.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E })
        #expect(XKSError.decode(body: body)?.name == .invalidCiphertext)
        #expect(XKSError.decode(body: Data(#"{"errorName":"NoSuchThing"}"#.utf8)) == nil)
        #expect(String(decoding: XKSError(.keyNotFound).encodedBody, as: UTF8.self) == #"{"errorName":"KeyNotFoundException"}"#)
    }

    @Test func pathsAreRecognisedWithAndWithoutPrefix() {
        #expect(XKSPath.parse("/kms/xks/v1/health") == XKSPath(prefix: "", operation: .getHealthStatus))
        #expect(XKSPath.parse("/a/b-c/kms/xks/v1/keys/foo.1_x/encrypt")
                == XKSPath(prefix: "a/b-c", operation: .encrypt, keyId: "foo.1_x"))
        #expect(XKSPath.parse("/p/kms/xks/v1/keys/k/metadata")?.operation == .getKeyMetadata)
        #expect(XKSPath.parse("/p/kms/xks/v1/keys/k/decrypt")?.keyId == "k")
        for bad in ["/", "/kms/xks/v1", "/kms/xks/v1/", "/kms/xks/v1/keys/k", "/kms/xks/v1/keys//encrypt",
                    "/kms/xks/v2/health", "/p/kms/xks/v1/keys/k/health", "/p//kms/xks/v1/health", "kms/xks/v1/health",
                    "/p/kms/xks/v1/keys/k/encrypt/", "/p/kms/xks/v1/health/x", "/ping"] {
            #expect(XKSPath.parse(bad) == nil, "\(bad)")
        }
        #expect(XKSPath(prefix: "/a/b/", operation: .decrypt, keyId: "k").rendered == "/a/b/kms/xks/v1/keys/k/decrypt")
        #expect(XKSPath.isValidKeyId(String(repeating: "a", count: 128)))
        #expect(!XKSPath.isValidKeyId(String(repeating: "a", count: 129)))
        #expect(!XKSPath.isValidKeyId("a/b") && !XKSPath.isValidKeyId("") && !XKSPath.isValidKeyId("ké"))
    }

    @Test func requestMetadataRulesFollowTheOperation() throws {
        func parse(_ text: String, _ op: XKSOperation) throws(XKSError) -> XKSRequestMetadata {
            try XKSRequestMetadata.parse(body: try! JSONValue.parse(Data(text.utf8)), for: op)
        }
        #expect(throws: XKSError.self) { try parse("{}", .getHealthStatus) }
        #expect(throws: XKSError.self) { try parse(#"{"requestMetadata":{}}"#, .getHealthStatus) }
        #expect(throws: XKSError.self) { try parse(#"{"requestMetadata":[]}"#, .getHealthStatus) }
        let health = try parse(#"{"requestMetadata":{"kmsOperation":"SomethingNew","kmsRequestId":"x"}}"#, .getHealthStatus)
        #expect(health.kmsOperation == "SomethingNew")
        // GetKeyMetadata needs the principal but not the key ARN; Encrypt and Decrypt need both.
        let noArn = #"{"requestMetadata":{"awsPrincipalArn":"arn:aws:iam::1:user/a","kmsOperation":"CreateKey","kmsRequestId":"r"}}"#
        #expect(try parse(noArn, .getKeyMetadata).kmsKeyArn == nil)
        do {
            _ = try parse(noArn, .encrypt)
            Issue.record("accepted an Encrypt without kmsKeyArn")
        } catch {
            #expect(error.name == .validation && error.message?.contains("kmsKeyArn") == true)
        }
        #expect(throws: XKSError.self) {
            try parse(#"{"requestMetadata":{"awsPrincipalArn":5,"kmsOperation":"CreateKey","kmsRequestId":"r"}}"#, .getKeyMetadata)
        }
    }

    @Test func shapesRoundTripThroughTheirJSON() throws {
        let metadata = XKSRequestMetadata(awsPrincipalArn: "arn:aws:iam::123456789012:user/Alice",
                                          kmsKeyArn: "arn:aws:kms:us-east-2:123456789012:key/k", kmsOperation: "Encrypt",
                                          kmsRequestId: "4112f4d6", kmsViaService: "ebs")
        let encrypt = XKSEncryptRequest(requestMetadata: metadata, plaintext: Data("Hello World!".utf8),
                                        additionalAuthenticatedData: Data("aad".utf8), ciphertextDataIntegrityValueAlgorithm: "SHA_256")
        #expect(try XKSEncryptRequest(parsing: encrypt.json) == encrypt)
        let decrypt = XKSDecryptRequest(requestMetadata: metadata, ciphertext: Data([1, 2, 3]), ciphertextMetadata: Data([9]),
                                        initializationVector: Data(count: 12), authenticationTag: Data(count: 16))
        #expect(try XKSDecryptRequest(parsing: decrypt.json) == decrypt)
        let response = XKSEncryptResponse(ciphertext: Data([1]), ciphertextMetadata: nil, initializationVector: Data(count: 12),
                                          authenticationTag: Data(count: 16), ciphertextDataIntegrityValue: Data(count: 32))
        #expect(XKSEncryptResponse(json: response.json) == response)
        let health = XKSHealthStatus(xksProxyFleetSize: 1, xksProxyVendor: "v", xksProxyModel: "m", ekmVendor: "e",
                                     ekmFleetDetails: [.init(id: "1", model: "m", healthStatus: .degraded)])
        #expect(XKSHealthStatus(json: health.json) == health)
        #expect(XKSKeyMetadata(json: XKSKeyMetadata(keyUsage: ["ENCRYPT"], keyStatus: "ENABLED").json)?.keyUsage == ["ENCRYPT"])
        #expect(XKSDecryptResponse(json: XKSDecryptResponse(plaintext: Data([7])).json)?.plaintext == Data([7]))
    }

    /// The XKS signer signs exactly host;x-amz-date, and the verifier's XKS policy accepts it (and rejects a
    /// signature that leaves the date out); the KMS policy is unchanged by the generalisation.
    @Test func xksSigningRoundTripsThroughTheSharedVerifier() throws {
        let credentials = AWSCredentials(accessKeyId: "AKIAI2SFODNN7EXAMPLE", secretAccessKey: "FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE")
        let date = Date(timeIntervalSince1970: 1_700_000_000)
        let body = Data(#"{"requestMetadata":{"kmsOperation":"KmsHealthCheck","kmsRequestId":"1"}}"#.utf8)
        let path = "/prefix/kms/xks/v1/health"
        let signed = XKSRequestSigning.sign(path: path, host: "xks.example.com:8443", body: body, credentials: credentials,
                                            region: "us-east-1", date: date)
        let authorization = try #require(signed.first { $0.0 == "Authorization" }?.1)
        #expect(authorization.contains("/us-east-1/kms-xks-proxy/aws4_request, SignedHeaders=host;x-amz-date, Signature="))
        let headers = [("Host", "xks.example.com:8443"), ("Content-Type", "application/json")] + signed
        let parsed = try SigV4Authorization.parse(authorization)
        try SigV4Verifier.verify(parsed, method: "POST", path: path, query: "", headers: headers, body: body,
                                 secretAccessKey: credentials.secretAccessKey, expectedService: "kms-xks-proxy", now: date,
                                 policy: .hostAndDate)
        // Under the KMS policy an unsigned Content-Type is refused, as before.
        #expect(throws: KMSError.self) {
            try SigV4Verifier.verify(parsed, method: "POST", path: path, query: "", headers: headers, body: body,
                                     secretAccessKey: credentials.secretAccessKey, expectedService: "kms-xks-proxy", now: date)
        }
        // A body changed after signing, a wrong service, or a signature without the date: refused.
        #expect(throws: KMSError.self) {
            try SigV4Verifier.verify(parsed, method: "POST", path: path, query: "", headers: headers, body: body + Data(" ".utf8),
                                     secretAccessKey: credentials.secretAccessKey, expectedService: "kms-xks-proxy", now: date,
                                     policy: .hostAndDate)
        }
        #expect(throws: KMSError.self) {
            try SigV4Verifier.verify(parsed, method: "POST", path: path, query: "", headers: headers, body: body,
                                     secretAccessKey: credentials.secretAccessKey, expectedService: "kms", now: date,
                                     policy: .hostAndDate)
        }
        var hostOnly = parsed
        hostOnly.signedHeaders = ["host"]
        #expect(throws: KMSError.self) {
            try SigV4Verifier.verify(hostOnly, method: "POST", path: path, query: "", headers: headers, body: body,
                                     secretAccessKey: credentials.secretAccessKey, expectedService: "kms-xks-proxy", now: date,
                                     policy: .hostAndDate)
        }
    }
}
