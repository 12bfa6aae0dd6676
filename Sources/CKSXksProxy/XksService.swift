import CKSDomain
import CKSWire
import Crypto
import Foundation
import Logging
import Synchronization

/// What the proxy answers: status, extra headers, body (JSON, or empty for 405).
public struct XksResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: Data

    public init(status: Int, headers: [(String, String)] = [], body: Data) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func error(_ error: XKSError) -> XksResponse {
        XksResponse(status: error.name.httpStatus, body: error.encodedBody)
    }

    static func ok(_ json: JSONValue) -> XksResponse { XksResponse(status: 200, body: Data(json.serialized.utf8)) }
}

/// The XKS Proxy API, independent of the HTTP library: path, method, SigV4, requestMetadata, then the key
/// manager. Order of checks: the URI (404 InvalidUriPathException for anything but the four API URIs of a
/// configured prefix), the method (405 for anything but POST on those), the body size (501), SigV4 against the key
/// store's credentials (401), the store's request quota (429 ThrottlingException), the JSON and requestMetadata
/// (400 ValidationException), the key (404 KeyNotFoundException, 400 InvalidStateException /
/// InvalidKeyUsageException), then the cryptography.
public final class XksService: Sendable {
    /// A key store as served: credentials by access key id, keys by id.
    struct ServedStore: Sendable {
        var prefix: String
        var secrets: [String: String]
        var keys: [String: ProxyConfiguration.Key]
    }

    private let stores: Mutex<[String: ServedStore]>
    /// Request quotas by path prefix, for the stores that have one.
    private let quotas: Mutex<[String: RequestQuota]>
    public let backend: any KeyBackend
    public let maxBodyBytes: Int
    /// Allowed clock skew of SigV4 signatures (the spec's 5 minutes).
    public let maxSkew: TimeInterval
    let logger: Logger
    /// `xksProxyModel` in health answers.
    public static let model = "cks xks-proxy 1.0 (XKS Proxy API v1.0.3)"

    public init(configuration: ProxyConfiguration, backend: any KeyBackend, maxBodyBytes: Int = 256 * 1024,
                maxSkew: TimeInterval = 300, logger: Logger = Logger(label: "cks.xks-proxy")) {
        self.stores = Mutex(Self.served(configuration))
        self.quotas = Mutex(Self.quotas(configuration, keeping: [:]))
        self.backend = backend
        self.maxBodyBytes = maxBodyBytes
        self.maxSkew = maxSkew
        self.logger = logger
    }

    static func served(_ configuration: ProxyConfiguration) -> [String: ServedStore] {
        var out: [String: ServedStore] = [:]
        for store in configuration.keyStores {
            out[store.uriPathPrefix] = ServedStore(
                prefix: store.uriPathPrefix,
                secrets: Dictionary(store.credentials.map { ($0.accessKeyId, $0.secretAccessKey) }, uniquingKeysWith: { a, _ in a }),
                keys: Dictionary(store.keys.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a }))
        }
        return out
    }

    /// A quota per store that has one; a store whose rate did not change keeps its bucket.
    static func quotas(_ configuration: ProxyConfiguration, keeping current: [String: RequestQuota]) -> [String: RequestQuota] {
        var out: [String: RequestQuota] = [:]
        for store in configuration.keyStores {
            guard let rate = store.requestsPerSecond else { continue }
            if let kept = current[store.uriPathPrefix], kept.requestsPerSecond == rate {
                out[store.uriPathPrefix] = kept
            } else {
                out[store.uriPathPrefix] = RequestQuota(requestsPerSecond: rate)
            }
        }
        return out
    }

    /// Serves `configuration` from now on (credential rotation, keys added or disabled, quotas) without a restart.
    /// The backend must have been prepared for its keys first.
    public func apply(_ configuration: ProxyConfiguration) {
        let served = Self.served(configuration)
        stores.withLock { $0 = served }
        quotas.withLock { $0 = Self.quotas(configuration, keeping: $0) }
    }

    /// Takes a token from the store's quota; ThrottlingException when it is spent.
    func admit(_ prefix: String, at now: Date) throws(XKSError) {
        let refused: Int? = quotas.withLock { quotas in
            guard var quota = quotas[prefix] else { return nil }
            defer { quotas[prefix] = quota }
            return quota.admit(at: now) ? nil : quota.requestsPerSecond
        }
        if let refused {
            throw XKSError(.throttling, "The request rate exceeds this key store's quota of \(refused) requests per second.")
        }
    }

    // MARK: - Head checks

    /// The checks that need only the request line and headers; nil = read the body and call `handle`.
    public func checkHead(method: String, path: String, contentLength: Int?) -> XksResponse? {
        guard let target = XKSPath.parse(path) else {
            return .error(XKSError(.invalidUriPath, "\(path.prefix(300)) is not an XKS API URI."))
        }
        guard stores.withLock({ $0[target.prefix] != nil }) else {
            return .error(XKSError(.invalidUriPath, "No key store is configured at this URI path."))
        }
        guard method == "POST" else {
            return XksResponse(status: 405, headers: [("Allow", "POST")], body: Data())
        }
        if let contentLength, contentLength > maxBodyBytes { return tooLarge() }
        return nil
    }

    public func tooLarge() -> XksResponse {
        .error(XKSError(.unsupportedOperation, "The request body is larger than \(maxBodyBytes) bytes."))
    }

    // MARK: - Requests

    /// Handles one request. `headers` must include `host` (SigV4 signs it).
    public func handle(method: String, path: String, query: String, headers: [(String, String)], body: Data,
                       now: Date = Date()) -> XksResponse {
        let started = ContinuousClock.now
        if let early = checkHead(method: method, path: path, contentLength: body.count) { return early }
        let target = XKSPath.parse(path)!
        var metadata: XKSRequestMetadata?
        let response: XksResponse
        do {
            guard let store = stores.withLock({ $0[target.prefix] }) else { throw XKSError(.invalidUriPath) }
            try authenticate(store: store, method: method, path: path, query: query, headers: headers, body: body, now: now)
            try admit(store.prefix, at: now)
            let parsed: JSONValue
            do { parsed = try JSONValue.parse(body) } catch {
                throw XKSError(.validation, "The request body is not valid JSON (\(error.description)).")
            }
            metadata = try XKSRequestMetadata.parse(body: parsed, for: target.operation)
            response = try perform(target, parsed: parsed, store: store)
        } catch {
            response = .error(error as? XKSError ?? XKSError(.internalFailure))
        }
        log(target, metadata: metadata, response: response, elapsed: ContinuousClock.now - started)
        return response
    }

    func authenticate(store: ServedStore, method: String, path: String, query: String, headers: [(String, String)],
                      body: Data, now: Date) throws(XKSError) {
        do {
            let authorization = try SigV4Authorization.parse(headers.first {
                SigV4.equalsIgnoringASCIICase($0.0, lowercased: "authorization")
            }?.1)
            guard let secret = store.secrets[authorization.accessKeyId] else {
                throw XKSError(.authenticationFailed, "The access key id is not one of this key store's credentials.")
            }
            try SigV4Verifier.verify(authorization, method: method, path: path, query: query, headers: headers, body: body,
                                     secretAccessKey: secret, expectedService: XKSRequestSigning.service, now: now,
                                     maxSkew: maxSkew, policy: .hostAndDate)
        } catch let error as XKSError {
            throw error
        } catch let error as KMSError {
            throw XKSError(.authenticationFailed, error.message)
        } catch {
            throw XKSError(.authenticationFailed, "The request signature could not be verified.")
        }
    }

    func perform(_ target: XKSPath, parsed: JSONValue, store: ServedStore) throws(XKSError) -> XksResponse {
        switch target.operation {
        case .getHealthStatus:
            return .ok(healthStatus().json)
        case .getKeyMetadata:
            let (key, permits) = try lookUp(target.keyId!, in: store)
            let usage = ProxyConfiguration.KeyUsage.allCases.filter { key.usage.contains($0) && permits.contains($0) }
            return .ok(XKSKeyMetadata(keyUsage: usage.map(\.rawValue), keyStatus: key.status.rawValue).json)
        case .encrypt:
            let request = try XKSEncryptRequest(parsing: parsed)
            let keyId = try usableKey(target.keyId!, in: store, for: .encrypt)
            return .ok(try encrypt(request, keyId: keyId).json)
        case .decrypt:
            let request = try XKSDecryptRequest(parsing: parsed)
            let keyId = try usableKey(target.keyId!, in: store, for: .decrypt)
            let aad = XKSCipherConstruction.keyManagerAAD(additionalAuthenticatedData: request.additionalAuthenticatedData,
                                                          ciphertextMetadata: request.ciphertextMetadata)
            do {
                let plaintext = try backend.open(keyId: keyId, iv: request.initializationVector, aad: aad,
                                                 ciphertext: request.ciphertext, tag: request.authenticationTag)
                return .ok(XKSDecryptResponse(plaintext: plaintext).json)
            } catch {
                throw Self.translate(error, keyId: keyId)
            }
        }
    }

    /// Encrypts, computes the CDIV over what will be returned, and (when a CDIV was asked for) decrypts the
    /// result once before answering, as the spec's appendix C recommends; a failed check is retried once.
    func encrypt(_ request: XKSEncryptRequest, keyId: String) throws(XKSError) -> XKSEncryptResponse {
        let metadata = XKSCipherConstruction.ciphertextMetadata
        let aad = XKSCipherConstruction.keyManagerAAD(additionalAuthenticatedData: request.additionalAuthenticatedData,
                                                      ciphertextMetadata: metadata)
        for _ in 0..<2 {
            var iv = Data(count: 12)
            var rng = SystemRandomNumberGenerator()
            for i in 0..<12 { iv[i] = UInt8.random(in: 0...255, using: &rng) }
            let sealed: (ciphertext: Data, tag: Data)
            do { sealed = try backend.seal(keyId: keyId, iv: iv, aad: aad, plaintext: request.plaintext) } catch {
                throw Self.translate(error, keyId: keyId)
            }
            var response = XKSEncryptResponse(ciphertext: sealed.ciphertext, ciphertextMetadata: metadata,
                                              initializationVector: iv, authenticationTag: sealed.tag)
            guard request.ciphertextDataIntegrityValueAlgorithm != nil else { return response }
            response.ciphertextDataIntegrityValue = XKSIntegrity.ciphertextDataIntegrityValue(
                additionalAuthenticatedData: request.additionalAuthenticatedData, ciphertextMetadata: metadata,
                initializationVector: iv, ciphertext: sealed.ciphertext, authenticationTag: sealed.tag)
            let check = try? backend.open(keyId: keyId, iv: iv, aad: aad, ciphertext: sealed.ciphertext, tag: sealed.tag)
            if check == request.plaintext { return response }
            logger.error("encrypt self-check failed; retrying", metadata: ["key": "\(keyId)"])
        }
        throw XKSError(.internalFailure, "The ciphertext could not be verified after encryption.")
    }

    /// The configured key and what the key manager permits, or KeyNotFoundException.
    func lookUp(_ keyId: String, in store: ServedStore) throws(XKSError) -> (ProxyConfiguration.Key, Set<ProxyConfiguration.KeyUsage>) {
        guard XKSPath.isValidKeyId(keyId) else {
            throw XKSError(.validation, "The external key id must be 1-128 characters of A-Z, a-z, 0-9, '.', '-' and '_'.")
        }
        guard let key = store.keys[keyId] else { throw XKSError(.keyNotFound, "No external key \(keyId) in this key store.") }
        do {
            return (key, try backend.describe(keyId: keyId).permits)
        } catch .unusableKey {
            return (key, [])
        } catch {
            throw Self.translate(error, keyId: keyId)
        }
    }

    /// The key, if it is enabled and allows `usage`.
    func usableKey(_ keyId: String, in store: ServedStore, for usage: ProxyConfiguration.KeyUsage) throws(XKSError) -> String {
        let (key, permits) = try lookUp(keyId, in: store)
        guard key.status == .enabled else { throw XKSError(.invalidState, "The external key \(keyId) is disabled.") }
        guard key.usage.contains(usage), permits.contains(usage) else {
            throw XKSError(.invalidKeyUsage, "The external key \(keyId) does not allow \(usage == .encrypt ? "encryption" : "decryption").")
        }
        return keyId
    }

    static func translate(_ failure: KeyBackendFailure, keyId: String) -> XKSError {
        switch failure {
        case .keyNotFound: XKSError(.keyNotFound, "No external key \(keyId) in the key manager.")
        case .unusableKey(let why): XKSError(.invalidKeyUsage, why)
        case .tagMismatch: XKSError(.invalidCiphertext,
                                    "The ciphertext, initialization vector, additional authenticated data, ciphertext metadata or authentication tag is corrupted or does not match.")
        case .unavailable: XKSError(.internalFailure, "The external key manager failed or cannot be reached.")
        }
    }

    public func healthStatus() -> XKSHealthStatus {
        XKSHealthStatus(xksProxyFleetSize: 1, xksProxyVendor: "cks", xksProxyModel: Self.model,
                        ekmVendor: backend.vendor, ekmFleetDetails: backend.health())
    }

    /// One line per request, with the request metadata KMS sends for correlation (never plaintext or keys).
    func log(_ target: XKSPath, metadata: XKSRequestMetadata?, response: XksResponse, elapsed: Duration) {
        guard logger.logLevel <= .info else { return }
        var fields: Logger.Metadata = [
            "operation": "\(target.operation.apiName)",
            "status": "\(response.status)",
            "ms": "\(String(format: "%.2f", Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000))",
        ]
        if !target.prefix.isEmpty { fields["prefix"] = "\(target.prefix)" }
        if let keyId = target.keyId { fields["key"] = "\(keyId.prefix(128))" }
        if response.status != 200, let error = XKSError.decode(body: response.body) { fields["error"] = "\(error.name.rawValue)" }
        if let metadata {
            fields["kmsRequestId"] = "\(metadata.kmsRequestId.prefix(128))"
            fields["kmsOperation"] = "\(metadata.kmsOperation.prefix(64))"
            if let principal = metadata.awsPrincipalArn { fields["principal"] = "\(principal.prefix(256))" }
            if let keyArn = metadata.kmsKeyArn { fields["kmsKeyArn"] = "\(keyArn.prefix(256))" }
        }
        logger.info("xks request", metadata: fields)
    }
}
