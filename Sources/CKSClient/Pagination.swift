import CKSDomain
import CKSWire
import Foundation

/// A request that pages with `Marker`/`Limit` and answers `Truncated`/`NextMarker`.
public protocol PaginatedRequest: WireRequest {
    var marker: String? { get set }
    /// The marker for the next page, nil when `response` is the last page.
    static func nextMarker(of response: Response) -> String?
}

extension ListKeysRequest: PaginatedRequest {
    public static func nextMarker(of response: ListKeysResponse) -> String? {
        response.truncated == true ? response.nextMarker : nil
    }
}

extension ListAliasesRequest: PaginatedRequest {
    public static func nextMarker(of response: ListAliasesResponse) -> String? {
        response.truncated == true ? response.nextMarker : nil
    }
}

extension DescribeCustomKeyStoresRequest: PaginatedRequest {
    public static func nextMarker(of response: DescribeCustomKeyStoresResponse) -> String? {
        response.truncated == true ? response.nextMarker : nil
    }
}

/// The pages of a paginated operation, fetched lazily one at a time as the sequence is iterated: the first
/// request as given, then the same request with each `NextMarker`, until a page is not `Truncated`.
/// A server that repeats a marker (which would loop forever) ends the sequence with `.invalidResponse`.
public struct PageSequence<Request: PaginatedRequest>: AsyncSequence, Sendable {
    public typealias Element = Request.Response
    public typealias Failure = KMSClientError

    let client: KMSClient
    let first: Request
    let timeout: TimeInterval?

    public func makeAsyncIterator() -> Iterator { Iterator(client: client, next: first, timeout: timeout) }

    public struct Iterator: AsyncIteratorProtocol {
        let client: KMSClient
        var next: Request?
        let timeout: TimeInterval?
        var seenMarkers: Set<String> = []

        public mutating func next() async throws(KMSClientError) -> Request.Response? {
            guard let request = next else { return nil }
            let page = try await client.send(request, timeout: timeout)
            if let marker = Request.nextMarker(of: page) {
                guard seenMarkers.insert(marker).inserted else {
                    next = nil
                    throw KMSClientError(kind: .invalidResponse, message: "The server repeated the marker \(marker)",
                                         endpoint: client.endpoint)
                }
                var following = request
                following.marker = marker
                next = following
            } else {
                next = nil
            }
            return page
        }
    }
}

extension KMSClient {
    /// The pages of any paginated request.
    public func pages<R: PaginatedRequest>(_ request: R, timeout: TimeInterval? = nil) -> PageSequence<R> {
        PageSequence(client: self, first: request, timeout: timeout)
    }

    /// ListKeys, page by page (`limit` 1–1000 per page; the server's default is 100).
    public func listKeysPages(limit: Int? = nil) -> PageSequence<ListKeysRequest> {
        pages(ListKeysRequest(limit: limit))
    }

    /// ListAliases, page by page, optionally for one key.
    public func listAliasesPages(keyId: String? = nil, limit: Int? = nil) -> PageSequence<ListAliasesRequest> {
        pages(ListAliasesRequest(keyId: keyId, limit: limit))
    }

    /// DescribeCustomKeyStores, page by page (all stores, or the one with this id or name).
    public func describeCustomKeyStoresPages(customKeyStoreId: String? = nil, customKeyStoreName: String? = nil,
                                             limit: Int? = nil) -> PageSequence<DescribeCustomKeyStoresRequest> {
        pages(DescribeCustomKeyStoresRequest(customKeyStoreId: customKeyStoreId, customKeyStoreName: customKeyStoreName,
                                             limit: limit))
    }

    /// Every key (id and ARN), all pages collected.
    public func allKeys(pageSize: Int = 1000) async throws(KMSClientError) -> [KeyListEntry] {
        var all: [KeyListEntry] = []
        for try await page in listKeysPages(limit: pageSize) { all += page.keys ?? [] }
        return all
    }

    /// Every alias, all pages collected.
    public func allAliases(keyId: String? = nil, pageSize: Int = 100) async throws(KMSClientError) -> [AliasListEntry] {
        var all: [AliasListEntry] = []
        for try await page in listAliasesPages(keyId: keyId, limit: pageSize) { all += page.aliases ?? [] }
        return all
    }

    /// Every custom key store, all pages collected.
    public func allCustomKeyStores(pageSize: Int? = nil) async throws(KMSClientError) -> [CustomKeyStoresListEntry] {
        var all: [CustomKeyStoresListEntry] = []
        for try await page in describeCustomKeyStoresPages(limit: pageSize) { all += page.customKeyStores ?? [] }
        return all
    }
}
