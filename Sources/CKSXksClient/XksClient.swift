import AsyncHTTPClient
import CKSDomain
import CKSWire
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// Where and as whom a store calls its proxy: `XksProxyUriEndpoint` + `XksProxyUriPath`, the store's SigV4
/// credential and the KMS region (the signature's region).
public struct XksProxyEndpoint: Sendable, Hashable {
    public var uriEndpoint: String
    public var uriPath: String
    public var credentials: AWSCredentials
    public var region: String

    public init(uriEndpoint: String, uriPath: String, credentials: AWSCredentials, region: String) {
        self.uriEndpoint = uriEndpoint
        self.uriPath = uriPath
        self.credentials = credentials
        self.region = region
    }

    /// The host of `https://HOST`, lower-cased.
    public var host: String {
        var text = Substring(uriEndpoint)
        if let scheme = text.range(of: "://") { text = text[scheme.upperBound...] }
        return text.split(separator: "/", maxSplits: 1).first.map { $0.lowercased() } ?? ""
    }
}

/// The core's client of XKS proxies, as KMS calls them: POST with a JSON body, SigV4 (`kms-xks-proxy`, signed
/// headers `host;x-amz-date`), TLS 1.2 or later, one budget per call (250 ms) covering connect, TLS, request and
/// answer. Connections are pooled per proxy. Every answer is checked against the spec before it is used; any
/// failure is an `XksCallFailure`, which `XksFailureMapping` turns into what KMS reports.
public final class XksClient: Sendable {
    public let options: XksClientOptions
    private let http: HTTPClient
    /// Largest answer read: the biggest legal one (a 64 KiB ciphertext in Base64 plus members) is far below.
    private let maxAnswerBytes = 512 * 1024

    public init(options: XksClientOptions) throws(XksClientSetupError) {
        self.options = options
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.applicationProtocols = ["http/1.1"]
        do {
            if let caFile = options.caFile {
                let roots = try NIOSSLCertificate.fromPEMFile(caFile)
                guard !roots.isEmpty else { throw XksClientSetupError("--xks-ca-file \(caFile) holds no PEM certificate") }
                tls.additionalTrustRoots = [.certificates(roots)]
            }
        } catch let error as XksClientSetupError {
            throw error
        } catch {
            throw XksClientSetupError("--xks-ca-file \(options.caFile ?? ""): cannot read PEM certificates (\(error))")
        }
        switch (options.clientCertificateFile, options.clientKeyFile) {
        case (nil, nil): break
        case let (certificate?, key?):
            do {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
            } catch {
                throw XksClientSetupError("--xks-client-cert \(certificate): cannot read a PEM certificate chain (\(error))")
            }
            do {
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            } catch {
                throw XksClientSetupError("--xks-client-key \(key): cannot read a PEM private key (\(error))")
            }
        default:
            throw XksClientSetupError("--xks-client-cert and --xks-client-key go together: give both for mTLS, or neither")
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.httpVersion = .http1Only
        configuration.proxy = nil
        configuration.redirectConfiguration = .disallow
        let budget = TimeAmount.nanoseconds(Int64(options.timeout.components.seconds) * 1_000_000_000
            + options.timeout.components.attoseconds / 1_000_000_000)
        configuration.timeout = .init(connect: budget, read: budget)
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 32)
        // A refused connect fails at once instead of being retried with backoff until the deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.dnsOverride = options.resolve.mapValues(\.address)
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Closes the pooled connections (not awaited: the engine closes from synchronous code).
    public func shutdown() { http.shutdown { _ in } }

    deinit { http.shutdown { _ in } }

    // MARK: - The four calls

    /// GetHealthStatus. An answer whose every EKM is UNAVAILABLE is `allKeyManagersUnavailable`.
    public func health(_ endpoint: XksProxyEndpoint, kmsOperation: String, requestId: String,
                       principalArn: String?) async throws(XksCallFailure) -> XKSHealthStatus {
        let metadata = XKSRequestMetadata(awsPrincipalArn: principalArn, kmsOperation: kmsOperation, kmsRequestId: requestId)
        let answer = try await call(endpoint, suffix: "/health", body: .object([("requestMetadata", metadata.json)]))
        guard let status = XKSHealthStatus(json: answer) else {
            throw .malformed("GetHealthStatus answer without a valid xksProxyFleetSize, vendor, model or 1-10 ekmFleetDetails")
        }
        if status.ekmFleetDetails.allSatisfy({ $0.healthStatus == .unavailable }) { throw .allKeyManagersUnavailable }
        return status
    }

    /// GetKeyMetadata (CreateKey sends no kmsKeyArn, spec v1.0.3).
    public func keyMetadata(_ endpoint: XksProxyEndpoint, externalKeyId: String, metadata: XKSRequestMetadata)
        async throws(XksCallFailure) -> XKSKeyMetadata {
        let answer = try await call(endpoint, suffix: try Self.keySuffix(externalKeyId, "metadata"),
                                    body: .object([("requestMetadata", metadata.json)]))
        guard let parsed = XKSKeyMetadata(json: answer) else {
            throw .malformed("GetKeyMetadata answer without keySpec, keyUsage (at most 10) or keyStatus")
        }
        return parsed
    }

    /// Encrypt, asking for the ciphertext data integrity value and checking it, the IV and the tag.
    public func encrypt(_ endpoint: XksProxyEndpoint, externalKeyId: String, request: XKSEncryptRequest)
        async throws(XksCallFailure) -> XKSEncryptResponse {
        var request = request
        request.ciphertextDataIntegrityValueAlgorithm = "SHA_256"
        let answer = try await call(endpoint, suffix: try Self.keySuffix(externalKeyId, "encrypt"), body: request.json)
        guard let parsed = XKSEncryptResponse(json: answer) else {
            throw .malformed("Encrypt answer without Base64 ciphertext, initializationVector and authenticationTag")
        }
        guard parsed.initializationVector.count == 12 || parsed.initializationVector.count == 16,
              parsed.authenticationTag.count == 16, (parsed.ciphertextMetadata?.count ?? 0) <= XKSLimits.maxCiphertextMetadataBytes,
              !parsed.ciphertext.isEmpty else {
            throw .malformed("Encrypt answer with an IV other than 12 or 16 bytes, a tag other than 16 bytes, "
                + "ciphertextMetadata over 20 bytes or an empty ciphertext")
        }
        let expected = XKSIntegrity.ciphertextDataIntegrityValue(
            additionalAuthenticatedData: request.additionalAuthenticatedData, ciphertextMetadata: parsed.ciphertextMetadata,
            initializationVector: parsed.initializationVector, ciphertext: parsed.ciphertext, authenticationTag: parsed.authenticationTag)
        guard parsed.ciphertextDataIntegrityValue == expected else {
            throw .malformed("Encrypt answer whose ciphertextDataIntegrityValue is missing or does not match")
        }
        return parsed
    }

    /// Decrypt; returns the plaintext.
    public func decrypt(_ endpoint: XksProxyEndpoint, externalKeyId: String, request: XKSDecryptRequest)
        async throws(XksCallFailure) -> Data {
        let answer = try await call(endpoint, suffix: try Self.keySuffix(externalKeyId, "decrypt"), body: request.json)
        guard let parsed = XKSDecryptResponse(json: answer) else { throw .malformed("Decrypt answer without a Base64 plaintext") }
        return parsed.plaintext
    }

    static func keySuffix(_ externalKeyId: String, _ operation: String) throws(XksCallFailure) -> String {
        // CreateKey checks XksKeyId against the same rule; a stored id that breaks it cannot be put in a URI.
        guard XKSPath.isValidKeyId(externalKeyId) else { throw .proxy(.keyNotFound, message: "not a valid external key id") }
        return "/keys/\(externalKeyId)/\(operation)"
    }

    // MARK: - Transport

    /// Where a host is reached: its `--xks-resolve` entry, else port 443 by the system's resolver. Nil for a
    /// reserved name without an entry.
    func target(for host: String) -> (url: String, secure: Bool)? {
        if let target = options.resolve[host] {
            return ("\(target.secure ? "https" : "http")://\(host):\(target.port)", target.secure)
        }
        if XksClientOptions.isReservedName(host) { return nil }
        return ("https://\(host)", true)
    }

    /// One signed POST within the budget; the answer's JSON on 200, the mapped failure otherwise.
    func call(_ endpoint: XksProxyEndpoint, suffix: String, body: JSONValue) async throws(XksCallFailure) -> JSONValue {
        let host = endpoint.host
        guard !host.isEmpty, let (base, _) = target(for: host) else {
            throw .unreachable("\(endpoint.uriEndpoint) is a name reserved for examples and tests, never looked up; "
                + "map it to where the proxy listens with `cks serve --xks-resolve \(host)=ADDR:PORT`")
        }
        let path = endpoint.uriPath + suffix
        let data = Data(body.serialized.utf8)
        var request = HTTPClientRequest(url: base + path)
        request.method = .POST
        // KMS names the proxy by its endpoint's host, without the port it may really listen on.
        request.headers.add(name: "Host", value: host)
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in XKSRequestSigning.sign(path: path, host: host, body: data, credentials: endpoint.credentials,
                                                    region: endpoint.region) {
            request.headers.add(name: name, value: value)
        }
        request.body = .bytes(ByteBuffer(bytes: data))
        let budget = TimeAmount.nanoseconds(Int64(options.timeout.components.seconds) * 1_000_000_000
            + options.timeout.components.attoseconds / 1_000_000_000)
        let status: Int
        let answer: Data
        do {
            let response = try await http.execute(request, deadline: .now() + budget)
            status = Int(response.status.code)
            answer = Data(try await response.body.collect(upTo: maxAnswerBytes).readableBytesView)
        } catch {
            throw Self.classify(error)
        }
        if status == 200 {
            guard let parsed = try? JSONValue.parse(answer), case .object = parsed else {
                throw .malformed("HTTP 200 with a body that is not a JSON object")
            }
            return parsed
        }
        guard let error = XKSError.decode(body: answer) else {
            throw .malformed("HTTP \(status) without an XKS error body")
        }
        throw .proxy(error.name, message: error.message)
    }

    /// Which transport failure it was: TLS, a connection that could not be made or was lost, or the budget.
    static func classify(_ error: any Error) -> XksCallFailure {
        if let clientError = error as? HTTPClientError {
            switch clientError {
            case .deadlineExceeded, .readTimeout, .writeTimeout, .tlsHandshakeTimeout, .connectTimeout:
                return .timedOut
            case .remoteConnectionClosed:
                return .unreachable("the proxy closed the connection before answering")
            case .bodyLengthMismatch:
                return .malformed("\(clientError)")
            default:
                break
            }
        }
        if error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError {
            return .tls("\(error)")
        }
        if error is HTTPParserError { return .malformed("not an HTTP/1.1 answer (\(error))") }
        if error is NIOTooManyBytesError { return .malformed("an answer larger than any the spec allows") }
        if let channelError = error as? ChannelError, case .connectTimeout = channelError { return .timedOut }
        return .unreachable("\(error)")
    }
}
