import CKSTestSupport
import CKSWire
import Foundation
import Logging
@testable import CKSXksProxy

/// A software-key XKS service in a temporary data directory, and a client that signs like KMS.
struct ServiceFixture {
    static let first = ProxyConfiguration.Credential(accessKeyId: "MUBSXM6K3KMXHN6RRCXI7TWQH4",
                                                     secretAccessKey: "FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE")
    static let second = ProxyConfiguration.Credential(accessKeyId: "ABCDEFGHIJKLMNOPQRST234567",
                                                      secretAccessKey: "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=")
    static let prefix = "example/uri/path/prefix"

    static func configuration(credentials: [ProxyConfiguration.Credential] = [first, second]) -> ProxyConfiguration {
        ProxyConfiguration(tls: .init(enabled: false), keyStores: [
            .init(uriPathPrefix: prefix, credentials: credentials, keys: [
                .init(id: "foo", usage: [.encrypt, .decrypt], status: .enabled),
                .init(id: "encrypt-only", usage: [.encrypt], status: .enabled),
                .init(id: "decrypt-only", usage: [.decrypt], status: .enabled),
                .init(id: "unusable", usage: [], status: .enabled),
                .init(id: "disabled", usage: [.encrypt, .decrypt], status: .disabled),
            ]),
            .init(uriPathPrefix: "", credentials: [first], keys: [.init(id: "root-key", usage: [.encrypt, .decrypt], status: .enabled)]),
        ])
    }

    let directory: TemporaryDirectory
    let data: ProxyDataDirectory
    let service: XksService
    var credentials = AWSCredentials(accessKeyId: first.accessKeyId, secretAccessKey: first.secretAccessKey)
    var host = "xks.example.com:8443"
    var region = "us-east-1"
    var now = Date()

    init(configuration: ProxyConfiguration = ServiceFixture.configuration()) throws {
        directory = try TemporaryDirectory(prefix: "xks-service")
        data = try ProxyDataDirectory(path: directory.url.appendingPathComponent("data").path)
        let backend = SoftwareBackend(store: try SoftwareKeyStore(path: data.keyDatabase.path))
        _ = try backend.prepare(keyIds: configuration.allKeyIds)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        service = XksService(configuration: configuration, backend: backend, logger: logger)
    }

    func path(_ operation: XKSOperation, key: String? = nil, prefix: String = ServiceFixture.prefix) -> String {
        XKSPath(prefix: prefix, operation: operation, keyId: key).rendered
    }

    /// Signs and sends `body` as KMS would (host;x-amz-date), at `signedAt` (default: now).
    func post(_ path: String, _ body: String, signedAt: Date? = nil, method: String = "POST") -> XksResponse {
        let data = Data(body.utf8)
        let signed = XKSRequestSigning.sign(path: path, host: host, body: data, credentials: credentials, region: region,
                                            date: signedAt ?? now)
        let headers = [("host", host), ("content-type", "application/json")] + signed
        return service.handle(method: method, path: path, query: "", headers: headers, body: data, now: now)
    }

    func post(_ path: String, _ json: JSONValue) -> XksResponse { post(path, json.serialized) }

    static func metadata(_ operation: String = "Encrypt") -> XKSRequestMetadata {
        XKSRequestMetadata(awsPrincipalArn: "arn:aws:iam::123456789012:user/Alice",
                           kmsKeyArn: "arn:aws:kms:us-east-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                           kmsOperation: operation, kmsRequestId: UUID().uuidString.lowercased(), kmsViaService: "ebs")
    }

    func encrypt(_ key: String, _ plaintext: Data, aad: Data? = nil, cdiv: Bool = false) -> XksResponse {
        post(path(.encrypt, key: key), XKSEncryptRequest(requestMetadata: Self.metadata(), plaintext: plaintext,
                                                         additionalAuthenticatedData: aad,
                                                         ciphertextDataIntegrityValueAlgorithm: cdiv ? "SHA_256" : nil).json)
    }

    func decrypt(_ key: String, _ sealed: XKSEncryptResponse, aad: Data? = nil) -> XksResponse {
        post(path(.decrypt, key: key), XKSDecryptRequest(requestMetadata: Self.metadata("Decrypt"), ciphertext: sealed.ciphertext,
                                                         ciphertextMetadata: sealed.ciphertextMetadata, additionalAuthenticatedData: aad,
                                                         initializationVector: sealed.initializationVector,
                                                         authenticationTag: sealed.authenticationTag).json)
    }

    func remove() { directory.remove() }
}

extension XksResponse {
    var json: JSONValue? { try? JSONValue.parse(body) }
    var errorName: String? {
        if case let .string(name)? = json?["errorName"] { return name }
        return nil
    }
    var encrypted: XKSEncryptResponse? { json.flatMap(XKSEncryptResponse.init(json:)) }
    var plaintext: Data? { json.flatMap(XKSDecryptResponse.init(json:))?.plaintext }
}
