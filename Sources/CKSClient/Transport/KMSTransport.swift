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
    /// Whether `send` itself fails with `timedOut` once `timeout` has passed, whatever the server does, and
    /// ends promptly when its task is cancelled. The client then adds no timer of its own; otherwise it races
    /// each call against one.
    var enforcesTimeout: Bool { get }
}

extension KMSTransport {
    public func shutdown() {}
    public var enforcesTimeout: Bool { false }
}

/// URLSession (FoundationNetworking's libcurl backend) with one session, so one pooled set of keep-alive
/// connections, per endpoint. Create one per client; share the client.
public final class URLSessionTransport: KMSTransport {
    private let session: URLSession
    /// Set once an answer came back, so a keep-alive connection may sit in the pool. libcurl resends a request
    /// whose reused connection died before any answer on a fresh connection; if that connect is refused (the core
    /// was killed while holding the request), the error reads "cannot connect" although the request arrived.
    private let mayHavePooledConnection = Mutex(false)
    /// Set by `shutdown()`. Foundation stops the process ("Session invalidated") if a task is created on an
    /// invalidated session, which a console poll racing its own quit can do:
    /// task creation and invalidation are ordered under this lock, and a send after shutdown fails as cancelled.
    private let invalidated = Mutex(false)

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
        let (data, response) = try await exchange(urlRequest, url: request.url)
        mayHavePooledConnection.withLock { $0 = true }
        guard let http = response as? HTTPURLResponse else {
            throw KMSClientError(kind: .invalidResponse, message: "Not an HTTP response", endpoint: request.url)
        }
        var headers: [String: String] = [:]
        for (key, value) in http.allHeaderFields {
            if let key = key as? String, let value = value as? String { headers[key.lowercased()] = value }
        }
        return TransportResponse(status: http.statusCode, headers: headers, body: data)
    }

    /// A data task behind a continuation. Not `URLSession.data(for:)`: on Linux its cancellation handler cancels
    /// the task with a synchronous hop onto the session's queue while the Swift task's status lock is held, and
    /// deadlocks when the answer is being delivered on that queue at the same moment (seen here under load).
    /// Cancelling from another queue, after the handler returns, keeps both sides lock-free; and a cancelled
    /// exchange returns at once, without waiting for the session's callback, which a cancel racing the answer can
    /// hold back until the request's timeout.
    private func exchange(_ urlRequest: URLRequest, url: URL) async throws -> (Data, URLResponse) {
        let pending = PendingTask()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<(Data, URLResponse), any Error>) in
                let completion: @Sendable (Data?, URLResponse?, (any Error)?) -> Void = { data, response, error in
                    let result: Result<(Data, URLResponse), any Error>
                    if let error {
                        if let urlError = error as? URLError {
                            result = .failure(urlError.code == .cancelled ? CancellationError()
                                              : Self.map(urlError, url: url, afterPooledConnection: self.mayHavePooledConnection.withLock { $0 }))
                        } else {
                            result = .failure(KMSClientError(kind: .connectionLost, message: "\(error)", endpoint: url))
                        }
                    } else if let response {
                        result = .success((data ?? Data(), response))
                    } else {
                        result = .failure(KMSClientError(kind: .invalidResponse, message: "No response", endpoint: url))
                    }
                    pending.finish(result)
                }
                let created: URLSessionDataTask? = invalidated.withLock { invalidated in
                    invalidated ? nil : session.dataTask(with: urlRequest, completionHandler: completion)
                }
                guard let task = created else {
                    continuation.resume(throwing: KMSClientError(kind: .cancelled,
                        message: "The client was shut down; the request to \"\(url.absoluteString)\" was not sent", endpoint: url))
                    return
                }
                let cancelledAlready = pending.start(task, continuation)
                task.resume()
                if cancelledAlready { DispatchQueue.global().async { task.cancel() } }
            }
        } onCancel: {
            if let task = pending.cancel() { DispatchQueue.global().async { task.cancel() } }
        }
    }

    public func shutdown() {
        let first = invalidated.withLock { invalidated in
            defer { invalidated = true }
            return !invalidated
        }
        if first { session.invalidateAndCancel() }
    }

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

/// One exchange's data task and continuation: whichever comes first, the session's answer or the cancellation,
/// resumes the continuation; the other finds it gone.
private final class PendingTask: @unchecked Sendable {
    typealias Answer = (Data, URLResponse)
    // @unchecked: every field is only touched under `lock`.
    private let lock = NSLock()
    private var task: URLSessionDataTask?
    private var continuation: CheckedContinuation<Answer, any Error>?
    private var cancelled = false
    /// An answer that came before `start` recorded the continuation.
    private var early: Result<Answer, any Error>?

    /// Records the task and the continuation; true if the exchange was cancelled before it started (the
    /// continuation is then resumed with `CancellationError`).
    func start(_ task: URLSessionDataTask, _ continuation: CheckedContinuation<Answer, any Error>) -> Bool {
        lock.lock()
        self.task = task
        let cancelled = self.cancelled, early = self.early
        if !cancelled, early == nil { self.continuation = continuation }
        lock.unlock()
        if cancelled { continuation.resume(throwing: CancellationError()) } else if let early { continuation.resume(with: early) }
        return cancelled
    }

    /// The session's answer: resumes the exchange unless the cancellation already did.
    func finish(_ result: Result<Answer, any Error>) {
        lock.lock()
        let waiting = continuation
        continuation = nil
        if waiting == nil, !cancelled, early == nil { early = result }
        lock.unlock()
        waiting?.resume(with: result)
    }

    /// Marks the exchange cancelled and resumes it with `CancellationError`; the task to cancel, if it has started.
    func cancel() -> URLSessionDataTask? {
        lock.lock()
        cancelled = true
        let waiting = continuation
        continuation = nil
        let task = self.task
        lock.unlock()
        waiting?.resume(throwing: CancellationError())
        return task
    }
}
