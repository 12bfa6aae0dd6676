import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// AsyncHTTPClient (SwiftNIO) with one connection pool per transport, so one pooled set of keep-alive connections
/// per endpoint. The same event-loop model as the core, and no libcurl. `cks-bench --only transport` compares it
/// with `URLSessionTransport`, which decides the default (docs/perf/decisions.md).
///
/// Error classification follows `URLSessionTransport`: "cannot reach" only when the request cannot have left
/// (the connect itself failed), anything after that is `connectionLost` or `timedOut`, so the client's retry
/// rules for non-idempotent calls keep holding. AsyncHTTPClient never resends a request on its own.
public final class NIOTransport: KMSTransport {
    private let client: HTTPClient
    /// Largest response body accepted; KMS answers are small (a ListKeys page of 1,000 keys is ~150 KiB).
    private let maxResponseBytes = 16 * 1024 * 1024

    /// `maxConnections` bounds the connections kept open to the endpoint (bulk calls use up to this many at once).
    public init(maxConnections: Int = 16) {
        var configuration = HTTPClient.Configuration()
        configuration.httpVersion = .http1Only
        configuration.proxy = nil                    // loopback cores must not go through an http_proxy
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(60))
        configuration.connectionPool = .init(idleTimeout: .seconds(30),
                                             concurrentHTTP1ConnectionsPerHostSoftLimit: max(1, maxConnections))
        // Fail a refused connect at once (the CLI says "Could not connect to the endpoint URL") instead of
        // retrying the connect with backoff until the call's deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func send(_ request: TransportRequest, timeout: TimeInterval) async throws -> TransportResponse {
        var outgoing = HTTPClientRequest(url: request.url.absoluteString)
        outgoing.method = HTTPMethod(rawValue: request.method)
        for (name, value) in request.headers { outgoing.headers.add(name: name, value: value) }
        outgoing.body = .bytes(ByteBuffer(bytes: request.body))
        let deadline = TimeAmount.nanoseconds(Int64(max(0.001, timeout) * 1_000_000_000))
        do {
            let response = try await client.execute(outgoing, timeout: deadline)
            let body = try await response.body.collect(upTo: maxResponseBytes)
            var headers: [String: String] = [:]
            for (name, value) in response.headers where headers[name.lowercased()] == nil {
                headers[name.lowercased()] = value
            }
            return TransportResponse(status: Int(response.status.code), headers: headers, body: Data(body.readableBytesView))
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as KMSClientError {
            throw error
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw Self.map(error, url: request.url)
        }
    }

    /// AsyncHTTPClient's request deadline covers the connection, the request and the whole response body.
    public var enforcesTimeout: Bool { true }

    public func shutdown() {
        // Not awaited: callers shut down from synchronous contexts (defer, quit paths). In-flight calls fail;
        // later sends fail as cancelled and unsent (below).
        client.shutdown { _ in }
    }

    // A transport dropped without `shutdown()` must not leak its pool (AsyncHTTPClient traps on that in debug
    // builds); the client stays alive until its shutdown completes. A second shutdown is a no-op error, ignored.
    deinit { client.shutdown { _ in } }

    /// Which failure means the request never left (safe to resend anything) and which means it may have arrived.
    static func map(_ error: any Error, url: URL) -> KMSClientError {
        let endpoint = url.absoluteString
        if let clientError = error as? HTTPClientError {
            switch clientError {
            case .alreadyShutdown:
                return KMSClientError(kind: .cancelled, message: "The client was shut down; the request to \"\(endpoint)\" was not sent",
                                      endpoint: url)
            case .connectTimeout:
                return KMSClientError(kind: .cannotReachEndpoint,
                                      message: "Connect timeout on endpoint URL: \"\(endpoint)\"", endpoint: url)
            case .deadlineExceeded, .readTimeout, .writeTimeout:
                return KMSClientError(kind: .timedOut, message: "Read timeout on endpoint URL: \"\(endpoint)\"",
                                      endpoint: url)
            case .cancelled:
                return KMSClientError(kind: .connectionLost, message: "Request to \"\(endpoint)\" was cancelled",
                                      endpoint: url)
            case .invalidURL, .emptyHost, .emptyScheme:
                return KMSClientError(kind: .cannotReachEndpoint, message: "Invalid endpoint URL: \"\(endpoint)\"",
                                      endpoint: url)
            default:
                break
            }
        }
        if error is NIOConnectionError || isConnectFailure(error) {
            return KMSClientError(kind: .cannotReachEndpoint,
                                  message: "Could not connect to the endpoint URL: \"\(endpoint)\"", endpoint: url)
        }
        return KMSClientError(kind: .connectionLost,
                              message: "Connection was closed before we received a valid response from endpoint URL: \"\(endpoint)\". (\(error))",
                              endpoint: url)
    }

    /// A connect that failed before any byte was written (refused, unreachable, no such host).
    private static func isConnectFailure(_ error: any Error) -> Bool {
        if let channelError = error as? ChannelError, case .connectTimeout = channelError { return true }
        if let ioError = error as? IOError {
            return [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EADDRNOTAVAIL].contains(ioError.errnoCode)
                && String(describing: ioError).contains("connect")
        }
        return false
    }
}
