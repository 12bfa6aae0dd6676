import CKSDomain
import CKSWire
import Foundation

/// The outcome of one item of a bulk call: partial failure is reported item by item.
public struct BulkItemResult<Value: Sendable>: Sendable {
    /// The key id (or other item identifier) as the caller gave it.
    public var id: String
    public var result: Result<Value, KMSClientError>

    public init(id: String, result: Result<Value, KMSClientError>) {
        self.id = id
        self.result = result
    }

    public var value: Value? { try? result.get() }
    public var error: KMSClientError? {
        if case .failure(let e) = result { return e }
        return nil
    }
}

extension KMSClient {
    /// The keys of one custom key store, the AWS way: ListKeys (all pages), then DescribeKey for each key, with
    /// at most `concurrency` DescribeKey calls in flight (plus the ListKeys of the next page). Each key of the store
    /// is yielded as soon as its DescribeKey answers, so the order is arrival order, not ListKeys order.
    /// Keys deleted between the two calls (`NotFoundException`) are skipped; any other error ends the stream with
    /// that error. Cancelling the consumer (or dropping the stream) cancels the outstanding calls.
    public func keys(inStore customKeyStoreId: String, concurrency: Int = 8, pageSize: Int = 1000)
        -> AsyncThrowingStream<KeyMetadata, any Error> {
        describedKeys(concurrency: concurrency, pageSize: pageSize) { $0.customKeyStoreId == customKeyStoreId }
    }

    /// Every key of the account described (ListKeys, then DescribeKey per key, as `keys(inStore:)`), yielding those
    /// `including` accepts. KMS has no per-store listing, so one pass over the account serves every store at once:
    /// the console counts keys and fills every store's list from a single pass.
    public func describedKeys(concurrency: Int = 8, pageSize: Int = 1000,
                              including: @escaping @Sendable (KeyMetadata) -> Bool = { _ in true })
        -> AsyncThrowingStream<KeyMetadata, any Error> {
        let (stream, continuation) = AsyncThrowingStream<KeyMetadata, any Error>.makeStream(bufferingPolicy: .unbounded)
        let width = max(1, concurrency)
        let producer = Task {
            do {
                try await withThrowingTaskGroup(of: KeyMetadata?.self) { group in
                    var inFlight = 0
                    for try await page in self.listKeysPages(limit: pageSize) {
                        for entry in page.keys ?? [] {
                            guard let keyId = entry.keyId else { continue }
                            if inFlight >= width, let done = try await group.next() {
                                inFlight -= 1
                                if let key = done, including(key) { continuation.yield(key) }
                            }
                            group.addTask { try await self.describeIfPresent(keyId) }
                            inFlight += 1
                        }
                    }
                    for try await done in group {
                        if let key = done, including(key) { continuation.yield(key) }
                    }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in producer.cancel() }
        return stream
    }

    /// DescribeKey, nil when the key no longer exists.
    public func describeIfPresent(_ keyId: String) async throws -> KeyMetadata? {
        do throws(KMSClientError) {
            return try await send(DescribeKeyRequest(keyId: keyId)).keyMetadata
        } catch where error.code == .notFound {
            return nil
        }
    }

    /// Runs `operation` for every id with at most `concurrency` in flight. Results come back in the order of
    /// `ids`; `onResult` (if given) sees each as it completes, for progress display.
    public func bulk<Value: Sendable>(_ ids: [String], concurrency: Int = 8,
                                      onResult: (@Sendable (BulkItemResult<Value>) -> Void)? = nil,
                                      _ operation: @escaping @Sendable (String) async throws(KMSClientError) -> Value) async
        -> [BulkItemResult<Value>] {
        await BoundedConcurrency.map(ids, width: concurrency, onResult: { onResult?($0) }, notRun: { id in
            BulkItemResult(id: id, result: .failure(KMSClientError(kind: .cancelled, message: "The bulk call ended before this item was tried.")))
        }) { id in await Self.bulkItem(id, operation) }
    }

    /// One item of a bulk call, its typed error captured as a result.
    private static func bulkItem<Value: Sendable>(
        _ id: String, _ operation: @Sendable (String) async throws(KMSClientError) -> Value) async -> BulkItemResult<Value> {
        do throws(KMSClientError) {
            return BulkItemResult(id: id, result: .success(try await operation(id)))
        } catch {
            return BulkItemResult(id: id, result: .failure(error))
        }
    }

    /// ScheduleKeyDeletion for many keys; one result per key, failures included (never one opaque error).
    /// Not retried after it may have reached the server (see `idempotentTargets`).
    public func scheduleKeyDeletion(keyIds: [String], pendingWindowInDays: Int? = nil, concurrency: Int = 8,
                                    onResult: (@Sendable (BulkItemResult<ScheduleKeyDeletionResponse>) -> Void)? = nil) async
        -> [BulkItemResult<ScheduleKeyDeletionResponse>] {
        await bulk(keyIds, concurrency: concurrency, onResult: onResult) { (id: String) throws(KMSClientError) in
            try await self.send(ScheduleKeyDeletionRequest(keyId: id, pendingWindowInDays: pendingWindowInDays))
        }
    }

    /// CancelKeyDeletion for many keys; one result per key.
    public func cancelKeyDeletion(keyIds: [String], concurrency: Int = 8,
                                  onResult: (@Sendable (BulkItemResult<CancelKeyDeletionResponse>) -> Void)? = nil) async
        -> [BulkItemResult<CancelKeyDeletionResponse>] {
        await bulk(keyIds, concurrency: concurrency, onResult: onResult) { (id: String) throws(KMSClientError) in
            try await self.send(CancelKeyDeletionRequest(keyId: id))
        }
    }

    /// DescribeKey for many keys; one result per key.
    public func describeKeys(keyIds: [String], concurrency: Int = 8,
                             onResult: (@Sendable (BulkItemResult<KeyMetadata>) -> Void)? = nil) async
        -> [BulkItemResult<KeyMetadata>] {
        await bulk(keyIds, concurrency: concurrency, onResult: onResult) { (id: String) throws(KMSClientError) in
            guard let metadata = try await self.send(DescribeKeyRequest(keyId: id)).keyMetadata else {
                throw KMSClientError(kind: .invalidResponse, message: "DescribeKey returned no KeyMetadata for \(id)",
                                     endpoint: self.endpoint)
            }
            return metadata
        }
    }
}
