import CKSDomain
import CKSWire
import Foundation

/// Metadata of a successful call.
public struct ResponseMetadata: Sendable, Hashable {
    /// `x-amzn-RequestId`, when the server sent one.
    public var requestId: String?
    public var httpStatus: Int
    /// How many times the request was sent (1 = no retry).
    public var attempts: Int
}

/// A SigV4 client for the AWS KMS JSON 1.1 API and the core's `CksAdmin` API. One instance per endpoint: it
/// owns one pooled set of keep-alive connections (its transport). Safe to share across tasks.
///
/// Every call is signed (service `kms`), sent with a per-call timeout, retried per `retryPolicy`, and fails with
/// `KMSClientError` typed by the server's `__type` or by the transport failure.
public final class KMSClient: Sendable {
    public let endpoint: URL
    public let region: String
    public let credentials: AWSCredentials
    public let retryPolicy: RetryPolicy
    /// The timeout of a call when none is given: the whole exchange, per attempt.
    public let defaultTimeout: TimeInterval
    /// The SigV4 signing name: `kms`, or `cloudtrail` for the client under `CloudTrailClient`.
    public let signingName: String
    let transport: any KMSTransport
    let now: @Sendable () -> Date
    let sleep: @Sendable (Duration) async throws -> Void
    let random: @Sendable () -> Double

    /// The AWS JSON 1.1 content type (the same value as `WireCodec.contentType`).
    public static let contentType = "application/x-amz-json-1.1"
    /// The User-Agent sent with every request.
    public static let userAgent = "cks-client/1.0"

    /// Operations that may be sent again after they may have reached the server: repeating them has the same
    /// effect and the same answer. Everything else (CreateKey, CreateCustomKeyStore, ScheduleKeyDeletion,
    /// CancelKeyDeletion, Connect/Disconnect/Update/DeleteCustomKeyStore, CreateAlias, DeleteAlias,
    /// CksAdmin.CreateCloudHsmCluster, CreateXksProxy, AdvanceClock, ...) is sent again only when the first attempt
    /// certainly did not arrive (connection refused) or was throttled.
    public static let idempotentTargets: Set<String> = [
        "TrentService.DescribeCustomKeyStores", "TrentService.DescribeKey", "TrentService.ListKeys",
        "TrentService.ListAliases", "TrentService.GetKeyLastUsage", "TrentService.EnableKey", "TrentService.DisableKey",
        "TrentService.Encrypt", "TrentService.Decrypt", "TrentService.GenerateDataKey", "TrentService.GenerateRandom",
        "CksAdmin.DescribeCloudHsmClusters", "CksAdmin.UpdateCloudHsmCluster", "CksAdmin.SetConnectionFault",
        "CksAdmin.GetClock", "CksAdmin.GetCallerIdentity",
        "TrentService.ListGrants", "TrentService.ListRetirableGrants", "TrentService.GetKeyPolicy",
        "TrentService.ListKeyPolicies", "TrentService.ListResourceTags", "TrentService.PutKeyPolicy",
        "TrentService.TagResource", "TrentService.UntagResource", "TrentService.UpdateAlias",
        "TrentService.UpdateKeyDescription", "TrentService.GenerateDataKeyWithoutPlaintext", "TrentService.ReEncrypt",
        LookupEventsRequest.target,
    ]

    /// - Parameters:
    ///   - transport: nil → a `NIOTransport` (AsyncHTTPClient) of its own for this endpoint (the faster transport,
    ///     docs/perf/decisions.md).
    ///   - now, sleep, random: injectable for tests (signing time, backoff waits, jitter).
    public init(endpoint: URL, region: String, credentials: AWSCredentials, transport: (any KMSTransport)? = nil,
                retryPolicy: RetryPolicy = RetryPolicy(), defaultTimeout: TimeInterval = 30,
                now: @escaping @Sendable () -> Date = { Date() },
                sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
                random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }, signingName: String = "kms") {
        self.signingName = signingName
        self.endpoint = endpoint
        self.region = region
        self.credentials = credentials
        self.transport = transport ?? NIOTransport()
        self.retryPolicy = retryPolicy
        self.defaultTimeout = defaultTimeout
        self.now = now
        self.sleep = sleep
        self.random = random
    }

    deinit { transport.shutdown() }

    /// Closes the pooled connections; calls made afterwards fail.
    public func shutdown() { transport.shutdown() }

    /// Sends a body to a target as is (signed, retried, errors decoded). For operations without a typed shape.
    public func sendRaw(target: String, body: Data, idempotent: Bool, timeout: TimeInterval? = nil)
        async throws(KMSClientError) -> (TransportResponse, ResponseMetadata) {
        var attempt = 0
        while true {
            attempt += 1
            do throws(KMSClientError) {
                let response = try await attemptOnce(target: target, body: body, timeout: timeout ?? defaultTimeout)
                let requestId = response.headers["x-amzn-requestid"]
                if (200..<300).contains(response.status) {
                    return (response, ResponseMetadata(requestId: requestId, httpStatus: response.status, attempts: attempt))
                }
                throw KMSClientError.decode(status: response.status, headers: response.headers, body: response.body,
                                            endpoint: endpoint)
            } catch {
                guard retryPolicy.shouldRetry(error, idempotent: idempotent, attempt: attempt) else {
                    var failed = error
                    failed.target = failed.target ?? target
                    throw failed
                }
                do { try await sleep(retryPolicy.delay(retry: attempt, unit: random())) } catch {
                    throw KMSClientError(kind: .cancelled, message: "Cancelled while waiting to retry \(target)", endpoint: endpoint)
                }
            }
        }
    }

    /// One signed exchange, bounded by `timeout` whatever the transport does.
    private func attemptOnce(target: String, body: Data, timeout: TimeInterval) async throws(KMSClientError) -> TransportResponse {
        if Task.isCancelled { throw KMSClientError(kind: .cancelled, message: "Cancelled before sending \(target)", endpoint: endpoint) }
        let request = signedRequest(target: target, body: body)
        let transport = self.transport
        let endpoint = self.endpoint
        do {
            // A transport that keeps the deadline itself needs no timer here: each timer is a task and a dispatch
            // timer source that, once cancelled, stays allocated until its deadline would have passed, which adds up
            // over a pass of many calls (docs/perf/decisions.md).
            if transport.enforcesTimeout { return try await transport.send(request, timeout: timeout) }
            // A race rather than a task group: a group would wait for a transport that ignores cancellation.
            return try await Deadline.race(seconds: timeout, operation: { try await transport.send(request, timeout: timeout) },
                                           onTimeout: {
                KMSClientError(kind: .timedOut,
                               message: "Read timeout on endpoint URL: \"\(endpoint.absoluteString)\" after \(timeout)s",
                               endpoint: endpoint)
            })
        } catch let error as KMSClientError {
            throw error
        } catch is CancellationError {
            throw KMSClientError(kind: .cancelled, message: "Cancelled while sending \(target)", endpoint: endpoint)
        } catch {
            throw KMSClientError(kind: .connectionLost, message: "\(error)", endpoint: endpoint)
        }
    }

    /// The request exactly as botocore would send it: POST to the endpoint's path, the three protocol headers,
    /// then the SigV4 headers computed at this moment (so a retry is re-signed with a fresh date).
    func signedRequest(target: String, body: Data) -> TransportRequest {
        let path = endpoint.path.isEmpty ? "/" : endpoint.path
        var headers: [(String, String)] = [("Host", Self.hostHeader(for: endpoint)),
                                           ("Content-Type", Self.contentType), ("X-Amz-Target", target)]
        headers += SigV4.sign(method: "POST", path: path, query: "", headers: headers, body: body,
                              credentials: credentials, region: region, service: signingName, date: now())
        headers.append(("User-Agent", Self.userAgent))
        return TransportRequest(url: endpoint, method: "POST", headers: headers, body: body)
    }

    /// botocore's `_host_from_url`: lower-case host, port only when not the scheme's default, IPv6 in brackets.
    static func hostHeader(for url: URL) -> String {
        var host = (url.host ?? "").lowercased()
        if host.contains(":"), !host.hasPrefix("[") { host = "[\(host)]" }
        let defaultPort = url.scheme?.lowercased() == "https" ? 443 : 80
        if let port = url.port, port != defaultPort { host += ":\(port)" }
        return host
    }
}
