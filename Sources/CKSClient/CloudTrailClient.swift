import CKSDomain
import CKSWire
import Foundation
import Synchronization

/// Spaces calls evenly: at most `rate` per second, shared by every client with the same key (access key id and
/// region, standing for CloudTrail's "per account and region" quota).
public final class RequestPacer: Sendable {
    private let interval: Duration
    private let next = Mutex<ContinuousClock.Instant?>(nil)

    public init(requestsPerSecond rate: Double) {
        interval = .nanoseconds(Int64(1_000_000_000 / max(rate, 0.001)))
    }

    /// Waits for this call's slot.
    public func acquire() async throws {
        let clock = ContinuousClock()
        let slot = next.withLock { next -> ContinuousClock.Instant in
            let now = clock.now
            let slot = max(now, next ?? now)
            next = slot.advanced(by: interval)
            return slot
        }
        if slot > clock.now { try await clock.sleep(until: slot) }
    }

    private static let shared = Mutex<[String: RequestPacer]>([:])

    /// The pacer shared by every client of `key` at `rate`.
    public static func shared(key: String, requestsPerSecond rate: Double) -> RequestPacer {
        shared.withLock { table in
            let name = "\(key)@\(rate)"
            if let found = table[name] { return found }
            let made = RequestPacer(requestsPerSecond: rate)
            table[name] = made
            return made
        }
    }
}

/// A CloudTrail client for `LookupEvents`, on the same transport and SigV4 signer as `KMSClient` (signing name
/// `cloudtrail`). Real CloudTrail allows 2 LookupEvents per second per account and region: calls are paced to
/// `requestsPerSecond` (default 2), shared by every client with the same access key and region. Gather evidence in
/// one pass over the window and filter locally, never one query per key.
public final class CloudTrailClient: Sendable {
    /// The underlying signed JSON 1.1 client (endpoint, region, credentials, retries, transport).
    public let client: KMSClient
    public let pacer: RequestPacer
    /// CloudTrail's LookupEvents quota per account and region.
    public static let defaultRequestsPerSecond = 2.0

    public init(endpoint: URL, region: String, credentials: AWSCredentials, transport: (any KMSTransport)? = nil,
                retryPolicy: RetryPolicy = RetryPolicy(), defaultTimeout: TimeInterval = 30,
                requestsPerSecond: Double = CloudTrailClient.defaultRequestsPerSecond) {
        client = KMSClient(endpoint: endpoint, region: region, credentials: credentials, transport: transport,
                           retryPolicy: retryPolicy, defaultTimeout: defaultTimeout,
                           signingName: CloudTrailService.signingName)
        pacer = RequestPacer.shared(key: "\(credentials.accessKeyId)/\(region)", requestsPerSecond: requestsPerSecond)
    }

    /// A client for a resolved configuration (`ClientConfigurationResolver.resolve(_:service: "cloudtrail")`:
    /// `AWS_ENDPOINT_URL_CLOUDTRAIL`, then `AWS_ENDPOINT_URL`, then the profile). nil for an embedded endpoint or
    /// missing credentials.
    public convenience init?(configuration: ClientConfiguration, transport: (any KMSTransport)? = nil,
                             requestsPerSecond: Double = CloudTrailClient.defaultRequestsPerSecond) {
        guard case .remote(let url) = configuration.endpoint, let credentials = configuration.credentials else { return nil }
        self.init(endpoint: url, region: configuration.region, credentials: credentials, transport: transport,
                  requestsPerSecond: requestsPerSecond)
    }

    public var endpoint: URL { client.endpoint }

    public func shutdown() { client.shutdown() }

    /// One page of LookupEvents (paced).
    public func lookupEvents(_ request: LookupEventsRequest, timeout: TimeInterval? = nil)
        async throws(KMSClientError) -> LookupEventsResponse {
        do { try await pacer.acquire() } catch {
            throw KMSClientError(kind: .cancelled, message: "Cancelled while waiting to send LookupEvents", endpoint: endpoint)
        }
        return try await client.send(request, timeout: timeout)
    }

    /// Every event matching one lookup attribute in [start, end], newest first, fetched page by page (at most
    /// `pageSize` ≤ 50 per request) as the sequence is iterated.
    public func events(attributeKey: String? = nil, attributeValue: String? = nil, startTime: Date? = nil,
                       endTime: Date? = nil, pageSize: Int = 50) -> LookupEventsSequence {
        let attributes = attributeKey.map { [LookupAttribute(attributeKey: $0, attributeValue: attributeValue ?? "")] }
        return LookupEventsSequence(client: self, first: LookupEventsRequest(
            lookupAttributes: attributes, startTime: startTime, endTime: endTime, maxResults: min(max(pageSize, 1), 50)))
    }
}

/// LookupEvents as an AsyncSequence of events, one paced request per page.
public struct LookupEventsSequence: AsyncSequence, Sendable {
    public typealias Element = TrailEvent
    public typealias Failure = KMSClientError

    let client: CloudTrailClient
    let first: LookupEventsRequest

    public func makeAsyncIterator() -> Iterator { Iterator(client: client, request: first) }

    public struct Iterator: AsyncIteratorProtocol {
        let client: CloudTrailClient
        var request: LookupEventsRequest?
        var buffered: [TrailEvent] = []
        var seenTokens: Set<String> = []

        public mutating func next() async throws(KMSClientError) -> TrailEvent? {
            while buffered.isEmpty {
                guard let current = request else { return nil }
                let page = try await client.lookupEvents(current)
                buffered = (page.events ?? []).reversed()
                if let token = page.nextToken, !token.isEmpty {
                    guard seenTokens.insert(token).inserted else {
                        request = nil
                        throw KMSClientError(kind: .invalidResponse, message: "The server repeated the NextToken \(token)",
                                             endpoint: client.endpoint)
                    }
                    var following = current
                    following.nextToken = token
                    request = following
                } else {
                    request = nil
                }
            }
            return buffered.popLast()
        }
    }
}

/// Another client's transport, used without owning it: shutting this one down leaves the owner's connections open.
struct BorrowedTransport: KMSTransport {
    let owner: any KMSTransport
    func send(_ request: TransportRequest, timeout: TimeInterval) async throws -> TransportResponse {
        try await owner.send(request, timeout: timeout)
    }
    func shutdown() {}
    var enforcesTimeout: Bool { owner.enforcesTimeout }
}

extension KMSClient {
    /// A CloudTrail client on this client's transport and credentials. `endpoint` defaults to this client's endpoint
    /// (a cks core answers both services); against AWS pass CloudTrail's own (`ClientConfigurationResolver.resolve(_:
    /// service: "cloudtrail")`). The transport stays this client's: shutting the CloudTrail client down closes nothing.
    public func cloudTrail(endpoint: URL? = nil,
                           requestsPerSecond: Double = CloudTrailClient.defaultRequestsPerSecond) -> CloudTrailClient {
        CloudTrailClient(endpoint: endpoint ?? self.endpoint, region: region, credentials: credentials,
                         transport: BorrowedTransport(owner: transport), retryPolicy: retryPolicy,
                         defaultTimeout: defaultTimeout, requestsPerSecond: requestsPerSecond)
    }
}
