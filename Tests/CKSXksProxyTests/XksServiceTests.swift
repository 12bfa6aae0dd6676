import CKSWire
import Foundation
import Testing
@testable import CKSXksProxy

/// The XKS Proxy API as the spec v1.0.3 states it, checked in process against the software backend.
@Suite struct XksServiceTests {
    let healthBody = #"{"requestMetadata":{"kmsOperation":"KmsHealthCheck","kmsRequestId":"4112f4d6-db54-4af4-ae30-c55a22a8dfae"}}"#
    let metadataBody = #"{"requestMetadata":{"awsPrincipalArn":"arn:aws:iam::123456789012:user/Alice","kmsOperation":"CreateKey","kmsRequestId":"r1"}}"#

    @Test func healthReportsTheFleetAndADeepCheck() throws {
        let f = try ServiceFixture()
        defer { f.remove() }
        let response = f.post(f.path(.getHealthStatus), healthBody)
        #expect(response.status == 200)
        let health = try #require(response.json.flatMap(XKSHealthStatus.init(json:)))
        #expect(health.xksProxyFleetSize == 1 && health.ekmFleetDetails.count == 1)
        #expect(health.ekmFleetDetails[0].healthStatus == .active)
        #expect(!health.xksProxyVendor.isEmpty && !health.ekmVendor.isEmpty && !health.xksProxyModel.isEmpty)
        // Every kmsOperation is accepted, including ones KMS may add later.
        for operation in ["CreateCustomKeyStore", "ConnectCustomKeyStore", "UpdateCustomKeyStore", "SomeFutureOperation"] {
            let body = #"{"requestMetadata":{"kmsOperation":"\#(operation)","kmsRequestId":"x"}}"#
            #expect(f.post(f.path(.getHealthStatus), body).status == 200)
        }
        // The store without a prefix lives at /kms/xks/v1.
        #expect(f.post("/kms/xks/v1/health", healthBody).status == 200)
    }

    @Test func keyMetadataShowsUsageAndStatus() throws {
        let f = try ServiceFixture()
        defer { f.remove() }
        func metadata(_ key: String) -> XKSKeyMetadata? { f.post(f.path(.getKeyMetadata, key: key), metadataBody).json.flatMap(XKSKeyMetadata.init(json:)) }
        #expect(metadata("foo") == XKSKeyMetadata(keyUsage: ["ENCRYPT", "DECRYPT"], keyStatus: "ENABLED"))
        #expect(metadata("encrypt-only") == XKSKeyMetadata(keyUsage: ["ENCRYPT"], keyStatus: "ENABLED"))
        #expect(metadata("decrypt-only") == XKSKeyMetadata(keyUsage: ["DECRYPT"], keyStatus: "ENABLED"))
        #expect(metadata("unusable") == XKSKeyMetadata(keyUsage: [], keyStatus: "ENABLED"))
        #expect(metadata("disabled") == XKSKeyMetadata(keyUsage: ["ENCRYPT", "DECRYPT"], keyStatus: "DISABLED"))
        let missing = f.post(f.path(.getKeyMetadata, key: "non_existing_key"), metadataBody)
        #expect(missing.status == 404 && missing.errorName == "KeyNotFoundException")
        // A key of another key store is not found here.
        #expect(f.post(f.path(.getKeyMetadata, key: "root-key"), metadataBody).errorName == "KeyNotFoundException")
    }

    @Test func encryptDecryptRoundTripsWithAndWithoutAAD() throws {
        let f = try ServiceFixture()
        defer { f.remove() }
        let plaintext = Data("Hello World!".utf8)
        let aad = Data("project=nile,department=marketing".utf8)
        for withAAD in [false, true] {
            let response = f.encrypt("foo", plaintext, aad: withAAD ? aad : nil)
            #expect(response.status == 200)
            let sealed = try #require(response.encrypted)
            #expect(sealed.ciphertext.count == plaintext.count)
            #expect(sealed.initializationVector.count == 12 && sealed.authenticationTag.count == 16)
            #expect((sealed.ciphertextMetadata?.count ?? 0) <= 20)
            #expect(sealed.ciphertextDataIntegrityValue == nil)
            #expect(f.decrypt("foo", sealed, aad: withAAD ? aad : nil).plaintext == plaintext)
        }
        // Fresh IVs: the same plaintext never gives the same ciphertext.
        let a = try #require(f.encrypt("foo", plaintext).encrypted), b = try #require(f.encrypt("foo", plaintext).encrypted)
        #expect(a.initializationVector != b.initializationVector && a.ciphertext != b.ciphertext)
    }

    @Test func ciphertextDataIntegrityValueIsReturnedAndCorrect() throws {
        let f = try ServiceFixture()
        defer { f.remove() }
        let aad = Data("project=nile,department=marketing".utf8)
        for requestAAD in [nil, aad] {
            let sealed = try #require(f.encrypt("foo", Data("Hello World!".utf8), aad: requestAAD, cdiv: true).encrypted)
            let expected = XKSIntegrity.ciphertextDataIntegrityValue(
                additionalAuthenticatedData: requestAAD, ciphertextMetadata: sealed.ciphertextMetadata,
                initializationVector: sealed.initializationVector, ciphertext: sealed.ciphertext, authenticationTag: sealed.authenticationTag)
            #expect(sealed.ciphertextDataIntegrityValue == expected)
            #expect(f.decrypt("foo", sealed, aad: requestAAD).plaintext == Data("Hello World!".utf8))
        }
    }

    @Test func tamperedCiphertextsAreInvalidCiphertext() throws {
        let f = try ServiceFixture()
        defer { f.remove() }
        let aad = Data("project=nile,department=marketing".utf8)
        let sealed = try #require(f.encrypt("foo", Data("plaintext\n".utf8), aad: aad).encrypted)
        func expectInvalid(_ response: XksResponse, _ why: Comment) {
            #expect(response.status == 400 && response.errorName == "InvalidCiphertextException", why)
        }
        expectInvalid(f.decrypt("foo", sealed), "missing AAD")
        expectInvalid(f.decrypt("foo", sealed, aad: Data("project=blue,department=finance".utf8)), "different AAD")
        var changed = sealed
        changed.ciphertext[0] ^= 1
        expectInvalid(f.decrypt("foo", changed, aad: aad), "flipped ciphertext bit")
        changed = sealed
        changed.authenticationTag[15] ^= 0x80
        expectInvalid(f.decrypt("foo", changed, aad: aad), "flipped tag bit")
        changed = sealed
        changed.initializationVector[0] ^= 1
        expectInvalid(f.decrypt("foo", changed, aad: aad), "other IV")
        changed = sealed
        changed.ciphertextMetadata = Data("cks-xks-v2".utf8)
        expectInvalid(f.decrypt("foo", changed, aad: aad), "modified ciphertextMetadata")
        changed.ciphertextMetadata = nil
        expectInvalid(f.decrypt("foo", changed, aad: aad), "missing ciphertextMetadata")
        changed = sealed
        changed.initializationVector = Data(count: 16)
        expectInvalid(f.decrypt("foo", changed, aad: aad), "16-byte IV of another key")
        changed.initializationVector = Data(count: 13)
        expectInvalid(f.decrypt("foo", changed, aad: aad), "13-byte IV")
        changed = sealed
        changed.authenticationTag = Data(count: 12)
        expectInvalid(f.decrypt("foo", changed, aad: aad), "short tag")
        changed = sealed
        changed.ciphertextMetadata = Data(count: 21)
        expectInvalid(f.decrypt("foo", changed, aad: aad), "metadata over 20 bytes")
        // The spec's case for length-prefixing: no AAD at encrypt, then the metadata passed off as AAD.
        let bare = try #require(f.encrypt("foo", Data("x".utf8)).encrypted)
        var shifted = bare
        shifted.ciphertextMetadata = nil
        expectInvalid(f.decrypt("foo", shifted, aad: bare.ciphertextMetadata), "metadata moved into the AAD")
        // Another key cannot open it.
        let other = f.post(f.path(.decrypt, key: "decrypt-only"), XKSDecryptRequest(
            requestMetadata: ServiceFixture.metadata("Decrypt"), ciphertext: sealed.ciphertext, ciphertextMetadata: sealed.ciphertextMetadata,
            additionalAuthenticatedData: aad, initializationVector: sealed.initializationVector, authenticationTag: sealed.authenticationTag).json)
        expectInvalid(other, "another key")
    }

    @Test func usageStatusAndExistenceAreEnforced() throws {
        let f = try ServiceFixture()
        defer { f.remove() }
        let text = Data("plaintext".utf8)
        let sealed = try #require(f.encrypt("encrypt-only", text).encrypted)
        #expect(f.decrypt("encrypt-only", sealed).errorName == "InvalidKeyUsageException")
        #expect(f.encrypt("decrypt-only", text).errorName == "InvalidKeyUsageException")
        #expect(f.encrypt("decrypt-only", text, aad: Data("a".utf8), cdiv: true).status == 400)
        #expect(f.encrypt("unusable", text).errorName == "InvalidKeyUsageException")
        #expect(f.decrypt("unusable", sealed).errorName == "InvalidKeyUsageException")
        let disabled = f.encrypt("disabled", text)
        #expect(disabled.status == 400 && disabled.errorName == "InvalidStateException")
        #expect(f.decrypt("disabled", sealed).errorName == "InvalidStateException")
        let missing = f.encrypt("non_existing_key", text)
        #expect(missing.status == 404 && missing.errorName == "KeyNotFoundException")
        #expect(f.decrypt("non_existing_key", sealed).errorName == "KeyNotFoundException")
        #expect(f.post(f.path(.encrypt, key: "bad%20id"), XKSEncryptRequest(requestMetadata: ServiceFixture.metadata(), plaintext: text).json)
            .errorName == "ValidationException")
    }

    @Test func bothCredentialSetsWorkAndOthersAreRefused() throws {
        var f = try ServiceFixture()
        defer { f.remove() }
        #expect(f.post(f.path(.getHealthStatus), healthBody).status == 200)
        f.credentials = AWSCredentials(accessKeyId: ServiceFixture.second.accessKeyId, secretAccessKey: ServiceFixture.second.secretAccessKey)
        #expect(f.post(f.path(.getHealthStatus), healthBody).status == 200)
        #expect(f.encrypt("foo", Data("x".utf8)).status == 200)
        // The second credential belongs to the prefixed store only.
        #expect(f.post("/kms/xks/v1/health", healthBody).errorName == "AuthenticationFailedException")
        f.credentials = AWSCredentials(accessKeyId: "Invalid" + ServiceFixture.first.accessKeyId, secretAccessKey: ServiceFixture.first.secretAccessKey)
        let unknown = f.post(f.path(.getHealthStatus), healthBody)
        #expect(unknown.status == 401 && unknown.errorName == "AuthenticationFailedException")
        f.credentials = AWSCredentials(accessKeyId: ServiceFixture.first.accessKeyId, secretAccessKey: "Invalid" + ServiceFixture.first.secretAccessKey)
        #expect(f.post(f.path(.getKeyMetadata, key: "foo"), metadataBody).errorName == "AuthenticationFailedException")
        // Unsigned, and signed for another service.
        let path = f.path(.getHealthStatus)
        let unsigned = f.service.handle(method: "POST", path: path, query: "", headers: [("host", f.host)], body: Data(healthBody.utf8))
        #expect(unsigned.status == 401 && unsigned.errorName == "AuthenticationFailedException")
        let kmsSigned = SigV4.sign(method: "POST", path: path, query: "", headers: [("host", f.host)], body: Data(healthBody.utf8),
                                   credentials: AWSCredentials(accessKeyId: ServiceFixture.first.accessKeyId,
                                                               secretAccessKey: ServiceFixture.first.secretAccessKey),
                                   region: "us-east-1", service: "kms", date: Date(), policy: .hostAndDate)
        #expect(f.service.handle(method: "POST", path: path, query: "", headers: [("host", f.host)] + kmsSigned,
                                 body: Data(healthBody.utf8)).errorName == "AuthenticationFailedException")
    }

    @Test func aStoreBeyondItsQuotaIsThrottledUntilTheBucketRefills() throws {
        var configuration = ServiceFixture.configuration()
        configuration.keyStores[0].requestsPerSecond = 3
        var f = try ServiceFixture(configuration: configuration)
        defer { f.remove() }
        let health = f.path(.getHealthStatus)
        for _ in 0..<3 { #expect(f.post(health, healthBody).status == 200) }
        let throttled = f.post(health, healthBody)
        #expect(throttled.status == 429 && throttled.errorName == "ThrottlingException")
        #expect(f.encrypt("foo", Data("x".utf8)).errorName == "ThrottlingException")
        // Another store has its own quota (none); unauthenticated requests spend no token.
        #expect(f.post("/kms/xks/v1/health", healthBody).status == 200)
        f.now = f.now.addingTimeInterval(1.0 / 3)
        var stranger = f
        stranger.credentials = AWSCredentials(accessKeyId: "Invalid" + ServiceFixture.first.accessKeyId,
                                              secretAccessKey: ServiceFixture.first.secretAccessKey)
        #expect(stranger.post(health, healthBody).errorName == "AuthenticationFailedException")
        #expect(f.post(health, healthBody).status == 200)
        #expect(f.post(health, healthBody).errorName == "ThrottlingException")
        // A reload that keeps the rate keeps the bucket; one without a quota lifts it.
        f.service.apply(configuration)
        #expect(f.post(health, healthBody).errorName == "ThrottlingException")
        f.service.apply(ServiceFixture.configuration())
        #expect(f.post(health, healthBody).status == 200)
    }

    @Test func signaturesOutsideFiveMinutesAreRefused() throws {
        let f = try ServiceFixture()
        defer { f.remove() }
        let path = f.path(.getHealthStatus)
        #expect(f.post(path, healthBody, signedAt: f.now.addingTimeInterval(-240)).status == 200)
        #expect(f.post(path, healthBody, signedAt: f.now.addingTimeInterval(240)).status == 200)
        let old = f.post(path, healthBody, signedAt: f.now.addingTimeInterval(-360))
        #expect(old.status == 401 && old.errorName == "AuthenticationFailedException")
        #expect(f.post(path, healthBody, signedAt: f.now.addingTimeInterval(360)).errorName == "AuthenticationFailedException")
    }

    @Test func methodsAndPaths() throws {
        let f = try ServiceFixture()
        defer { f.remove() }
        for path in [f.path(.getHealthStatus), f.path(.getKeyMetadata, key: "foo"), f.path(.encrypt, key: "foo"), f.path(.decrypt, key: "foo")] {
            for method in ["GET", "PUT", "DELETE", "HEAD"] {
                let response = f.post(path, "", method: method)
                #expect(response.status == 405, "\(method) \(path)")
                #expect(response.headers.contains { $0.0 == "Allow" && $0.1 == "POST" })
            }
        }
        for path in ["/", "/kms/xks/v1", "/example/uri/path/prefix/kms/xks/v1/keys/foo/sign", "/other/prefix/kms/xks/v1/health",
                     "/example/uri/path/prefix/invalid/kms/xks/v1/keys/foo/encrypt", "/example/uri/path/prefix/kms/xks/v2/health"] {
            let response = f.post(path, healthBody)
            #expect(response.status == 404 && response.errorName == "InvalidUriPathException", "\(path)")
            #expect(f.post(path, "", method: "GET").status == 404)
        }
    }

    @Test func malformedRequestsAreValidationErrors() throws {
        let f = try ServiceFixture()
        defer { f.remove() }
        let md = #""requestMetadata":{"awsPrincipalArn":"arn:aws:iam::1:user/a","kmsKeyArn":"arn:aws:kms:us-east-1:1:key/k","kmsOperation":"Encrypt","kmsRequestId":"r"}"#
        let cases: [(XKSOperation, String)] = [
            (.getHealthStatus, "{}"), (.getHealthStatus, #"{"requestMetadata":{}}"#), (.getHealthStatus, "not json"),
            (.getHealthStatus, ""), (.getHealthStatus, "[]"), (.getKeyMetadata, "{}"), (.getKeyMetadata, #"{"requestMetadata":{}}"#),
            (.getKeyMetadata, #"{"requestMetadata":{"kmsOperation":"CreateKey","kmsRequestId":"r"}}"#),
            (.encrypt, "{\(md),\"encryptionAlgorithm\":\"AES_GCM\"}"),
            (.encrypt, "{\(md),\"plaintext\":\"%%%\",\"encryptionAlgorithm\":\"AES_GCM\"}"),
            (.encrypt, "{\(md),\"plaintext\":\"SGk=\"}"),
            (.encrypt, "{\(md),\"plaintext\":\"SGk=\",\"encryptionAlgorithm\":\"AES_CBC\"}"),
            (.encrypt, "{\(md),\"plaintext\":\"SGk=\",\"encryptionAlgorithm\":\"AES_GCM\",\"ciphertextDataIntegrityValueAlgorithm\":\"MD5\"}"),
            (.encrypt, "{\(md),\"plaintext\":\"\",\"encryptionAlgorithm\":\"AES_GCM\"}"),
            (.encrypt, "{\(md),\"plaintext\":7,\"encryptionAlgorithm\":\"AES_GCM\"}"),
            (.decrypt, "{\(md),\"ciphertext\":\"SGk=\",\"encryptionAlgorithm\":\"AES_GCM\",\"authenticationTag\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}"),
            (.decrypt, "{\(md),\"encryptionAlgorithm\":\"AES_GCM\",\"initializationVector\":\"AAAAAAAAAAAAAAAA\",\"authenticationTag\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}"),
        ]
        for (operation, body) in cases {
            let response = f.post(f.path(operation, key: operation == .getHealthStatus ? nil : "foo"), body)
            #expect(response.status == 400 && response.errorName == "ValidationException", "\(operation) \(body)")
        }
    }

    @Test func theSpecsSizesAreAcceptedAndLargerOnesRefused() throws {
        let f = try ServiceFixture()
        defer { f.remove() }
        let plaintext = Data((0..<4300).map { UInt8($0 % 251) })
        let aad = Data((0..<8192).map { UInt8($0 % 253) })
        let sealed = try #require(f.encrypt("foo", plaintext, aad: aad, cdiv: true).encrypted)
        #expect(f.decrypt("foo", sealed, aad: aad).plaintext == plaintext)
        let huge = f.encrypt("foo", Data(count: XKSLimits.maxPlaintextBytes + 1))
        #expect(huge.status == 501 && huge.errorName == "UnsupportedOperationException")
        let tooLarge = try #require(f.service.checkHead(method: "POST", path: f.path(.encrypt, key: "foo"), contentLength: 1 << 20))
        #expect(tooLarge.status == 501 && tooLarge.errorName == "UnsupportedOperationException")
    }

    @Test func appliedConfigurationRotatesCredentialsWithoutARestart() throws {
        var f = try ServiceFixture(configuration: ServiceFixture.configuration(credentials: [ServiceFixture.first]))
        defer { f.remove() }
        let path = f.path(.getHealthStatus)
        #expect(f.post(path, healthBody).status == 200)
        // Step 1: add the new credential. Step 4: remove the old one.
        f.service.apply(ServiceFixture.configuration(credentials: [ServiceFixture.first, ServiceFixture.second]))
        #expect(f.post(path, healthBody).status == 200)
        f.service.apply(ServiceFixture.configuration(credentials: [ServiceFixture.second]))
        #expect(f.post(path, healthBody).errorName == "AuthenticationFailedException")
        f.credentials = AWSCredentials(accessKeyId: ServiceFixture.second.accessKeyId, secretAccessKey: ServiceFixture.second.secretAccessKey)
        #expect(f.post(path, healthBody).status == 200)
    }

    /// Software keys are durable: material reopened from the database decrypts what was encrypted before.
    @Test func softwareKeysSurviveReopening() throws {
        let f = try ServiceFixture()
        defer { f.remove() }
        let sealed = try #require(f.encrypt("foo", Data("kept".utf8)).encrypted)
        let reopened = SoftwareBackend(store: try SoftwareKeyStore(path: f.data.keyDatabase.path))
        #expect(try reopened.prepare(keyIds: ["foo"]).isEmpty)
        let aad = XKSCipherConstruction.keyManagerAAD(additionalAuthenticatedData: nil, ciphertextMetadata: sealed.ciphertextMetadata)
        #expect(try reopened.open(keyId: "foo", iv: sealed.initializationVector, aad: aad, ciphertext: sealed.ciphertext,
                                  tag: sealed.authenticationTag) == Data("kept".utf8))
    }

    @Test func keyManagerAADIsLengthPrefixed() {
        let built = XKSCipherConstruction.keyManagerAAD(additionalAuthenticatedData: Data([1, 2, 3]), ciphertextMetadata: Data([9, 9]))
        #expect(built == Data([0, 3, 1, 2, 3, 2, 9, 9]))
        #expect(XKSCipherConstruction.keyManagerAAD(additionalAuthenticatedData: nil, ciphertextMetadata: nil) == Data([0, 0, 0]))
        let long = XKSCipherConstruction.keyManagerAAD(additionalAuthenticatedData: Data(count: 8192), ciphertextMetadata: nil)
        #expect(long.prefix(2) == Data([0x20, 0x00]) && long.count == 8195)
    }
}
