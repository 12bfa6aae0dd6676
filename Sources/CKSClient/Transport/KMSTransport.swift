import Foundation
import Synchronization
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP exchange, as the client sees it.
public struct TransportRequest: Sendable {
    public var url: URL
    public var method: String
    public var headers: [(String, String)]
    public var body: Data

    public init(url: URL, method: String = "POST", headers: [(String, String)], body: Data) {
        self.url = url
        self.method = method
        self.headers = headers
        self.body = body
    }

    /// The first value of a header, by case-insensitive name.
    public func header(_ name: String) -> String? {
        headers.first { $0.0.caseInsensitiveCompare(name) == .orderedSame }?.1
    }
}

public struct TransportResponse: Sendable {
    public var status: Int
    /// Header names lower-cased.
    public var headers: [String: String]
    public var body: Data

    public init(status: Int, headers: [String: String] = [:], body: Data) {
        self.status = status
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
        self.body = body
    }
}

/// Moves bytes. Throws `KMSClientError` with a transport kind (`.cannotReachEndpoint`, `.connectionLost`,
/// `.timedOut`) when there is no HTTP answer. A protocol so tests can inject failures and so another HTTP stack
/// could be used later.
public protocol KMSTransport: Sendable {
    func send(_ request: TransportRequest, timeout: TimeInterval) async throws -> TransportResponse
    /// Releases pooled connections; later sends fail.
    func shutdown()
}

extension KMSTransport {
    public func shutdown() {}
}

/// URLSession (FoundationNetworking's libcurl backend) with one session, so one pooled set of keep-alive
/// connections, per endpoint. Create one per client; share the client.
public final class URLSessionTransport: KMSTransport {
    private let session: URLSession
    /// Set once an answer came back, so a keep-alive connection may sit in the pool. libcurl resends a request
    /// whose reused connection died before any answer on a fresh connection; if that connect is refused (the core
    /// was killed while holding the request), the error reads "cannot connect" although the request arrived.
    private let mayHavePooledConnection = Mutex(false)

    /// `maxConnections` bounds the connections kept open to the endpoint (bulk calls use up to this many at once).
    public init(maxConnections: Int = 16) {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = maxConnections
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        configuration.httpCookieStorage = nil
        configuration.connectionProxyDictionary = [:]   // loopback cores must not go through an http_proxy
        configuration.timeoutIntervalForRequest = 60
        configuration.timeoutIntervalForResource = 600
        session = URLSession(configuration: configuration)
    }

    public func send(_ request: TransportRequest, timeout: TimeInterval) async throws -> TransportResponse {
        var urlRequest = URLRequest(url: request.url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: timeout)
        urlRequest.httpMethod = request.method
        for (name, value) in request.headers { urlRequest.addValue(value, forHTTPHeaderField: name) }
        urlRequest.httpBody = request.body
        do {
            let (data, response) = try await session.data(for: urlRequest)
            mayHavePooledConnection.withLock { $0 = true }
            guard let http = response as? HTTPURLResponse else {
                throw KMSClientError(kind: .invalidResponse, message: "Not an HTTP response", endpoint: request.url)
            }
            var headers: [String: String] = [:]
            for (key, value) in http.allHeaderFields {
                if let key = key as? String, let value = value as? String { headers[key.lowercased()] = value }
            }
            return TransportResponse(status: http.statusCode, headers: headers, body: data)
        } catch let error as KMSClientError {
            throw error
        } catch let error as URLError {
            throw Self.map(error, url: request.url, afterPooledConnection: mayHavePooledConnection.withLock { $0 })
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw KMSClientError(kind: .connectionLost, message: "\(error)", endpoint: request.url)
        }
    }

    public func shutdown() { session.invalidateAndCancel() }

    /// Which URLError means the request never left (safe to resend anything) and which means it may have arrived.
    /// `afterPooledConnection`: a connection to the endpoint may have been reused for this request, so a refused
    /// connect may be libcurl's silent resend after the request reached a server that then died.
    static func map(_ error: URLError, url: URL, afterPooledConnection: Bool = false) -> KMSClientError {
        let endpoint = url.absoluteString
        if afterPooledConnection, error.code == .cannotConnectToHost {
            return KMSClientError(kind: .connectionLost,
                                  message: "Could not connect to the endpoint URL: \"\(endpoint)\" after the connection to it was lost; "
                                      + "the request may have reached it", endpoint: url)
        }
        switch error.code {
        case .cannotConnectToHost, .cannotFindHost, .dnsLookupFailed, .notConnectedToInternet,
             .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate,
             .serverCertificateNotYetValid, .serverCertificateHasUnknownRoot, .unsupportedURL, .badURL:
            return KMSClientError(kind: .cannotReachEndpoint,
                                  message: "Could not connect to the endpoint URL: \"\(endpoint)\"", endpoint: url)
        case .timedOut:
            return KMSClientError(kind: .timedOut, message: "Read timeout on endpoint URL: \"\(endpoint)\"", endpoint: url)
        case .cancelled:
            return KMSClientError(kind: .connectionLost, message: "Request to \"\(endpoint)\" was cancelled", endpoint: url)
        default:
            return KMSClientError(kind: .connectionLost,
                                  message: "Connection was closed before we received a valid response from endpoint URL: \"\(endpoint)\". (\(error.code.rawValue))",
                                  endpoint: url)
        }
    }
}
