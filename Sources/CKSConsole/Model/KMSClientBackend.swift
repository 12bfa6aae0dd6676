import CKSClient
import CKSDomain
import CKSWire
import Foundation
import Synchronization

/// A transport that reports every HTTP exchange (retries included) to the Activity log: operation, target,
/// status, latency and request id, under the user action that caused it (a task-local, so calls the client
/// makes from its own child tasks are grouped too).
public final class ObservingTransport: KMSTransport {
    let inner: any KMSTransport
    let recorder: CallRecorder

    public init(wrapping inner: any KMSTransport, recorder: CallRecorder) {
        self.inner = inner
        self.recorder = recorder
    }

    public func send(_ request: TransportRequest, timeout: TimeInterval) async throws -> TransportResponse {
        let target = request.header("X-Amz-Target") ?? "?"
        let operation = target.hasPrefix("TrentService.") ? String(target.dropFirst("TrentService.".count)) : target
        let subject = Self.subject(of: request.body)
        let start = Date()
        let clock = ContinuousClock()
        let t0 = clock.now
        do {
            let response = try await inner.send(request, timeout: timeout)
            let outcome: CallEvent.Outcome
            if (200..<300).contains(response.status) { outcome = .ok } else {
                let e = WireCodec.decodeErrorBody(status: response.status, errorTypeHeader: response.headers["x-amzn-errortype"], body: response.body)
                outcome = .failed(code: e.kmsError.code.rawValue, message: e.kmsError.message)
            }
            recorder.record(CallEvent(action: ActionTag.current, operation: operation, target: subject, start: start,
                                      latency: (clock.now - t0).seconds, outcome: outcome, requestId: response.headers["x-amzn-requestid"]))
            return response
        } catch {
            let (code, message, _) = BackendError.describe(error)
            recorder.record(CallEvent(action: ActionTag.current, operation: operation, target: subject, start: start,
                                      latency: (clock.now - t0).seconds, outcome: .failed(code: code, message: message), requestId: nil))
            throw error
        }
    }

    public func shutdown() { inner.shutdown() }

    /// The resource a request is about (KeyId, CustomKeyStoreId, ...), for the Activity pane.
    static func subject(of body: Data) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return "-" }
        for key in ["KeyId", "CustomKeyStoreId", "CustomKeyStoreName", "ClusterId", "AliasName"] {
            if let v = object[key] as? String { return v }
        }
        if let marker = object["Marker"] as? String { return "next page (\(marker.prefix(8)))" }
        return "*"
    }
}

extension KMSClientError: ConsoleDescribableError {
    public var consoleCode: String { typeName }
    public var consoleMessage: String { message }
    public var consoleRequestId: String? { requestId }
    /// The core is failing or gone: no HTTP answer, or a 5xx the client gave up retrying.
    public var consoleIsCoreFailure: Bool {
        switch kind {
        case .cannotReachEndpoint, .connectionLost, .timedOut, .invalidResponse: return true
        case .service(let code): return code.isRetryable && code != .throttling
        case .unknownService, .noCredentials, .cancelled: return false
        }
    }
}

/// The console's backend over the project's KMS client: the same calls, in the same way, as against AWS KMS
/// (DescribeCustomKeyStores, ListKeys + DescribeKey per key, ListAliases, GetKeyLastUsage ...), plus the core's
/// admin API where it exists (the clock, HSM counts), which simply yields nothing against AWS.
public final class KMSClientBackend: ConsoleBackend {
    let client: KMSClient
    let info: EndpointInfo
    /// DescribeKey calls in flight while listing keys.
    let concurrency: Int

    public init(client: KMSClient, info: EndpointInfo, concurrency: Int = 8) {
        self.client = client
        self.info = info
        self.concurrency = concurrency
    }

    func call<R: WireRequest>(_ request: R) async throws -> R.Response {
        let body = try WireCodec.encodeRequest(request)
        let (response, _) = try await client.sendRaw(target: R.target, body: body,
                                                     idempotent: KMSClient.idempotentTargets.contains(R.target))
        return try WireCodec.decodeResponse(R.Response.self, from: response.body)
    }

    public func endpointInfo() async -> EndpointInfo { info }

    public func listStores() async throws -> [StoreRecord] {
        var entries: [CustomKeyStoresListEntry] = []
        var marker: String?
        repeat {
            let page = try await call(DescribeCustomKeyStoresRequest(marker: marker))
            entries += page.customKeyStores ?? []
            marker = page.truncated == true ? page.nextMarker : nil
        } while marker != nil
        var hsmCounts: [String: Int] = [:]
        if entries.contains(where: { $0.cloudHsmClusterId != nil }),
           let clusters = try? await call(DescribeCloudHsmClustersRequest()).clusters {
            for c in clusters { if let n = c.hsmCount { hsmCounts[c.clusterId] = n } }
        }
        return entries.compactMap { e in
            guard let id = e.customKeyStoreId else { return nil }
            let proxy = e.xksProxyConfiguration.map {
                XksProxyInfo(connectivity: $0.connectivity ?? .publicEndpoint, uriEndpoint: $0.uriEndpoint ?? "",
                             uriPath: $0.uriPath ?? "", accessKeyId: $0.accessKeyId ?? "", vpcEndpointServiceName: $0.vpcEndpointServiceName)
            }
            return StoreRecord(id: id, name: e.customKeyStoreName ?? id, type: e.customKeyStoreType ?? .awsCloudHsm,
                               connectionState: e.connectionState ?? .disconnected, connectionErrorCode: e.connectionErrorCode,
                               creationDate: e.creationDate ?? Date(timeIntervalSince1970: 0), cloudHsmClusterId: e.cloudHsmClusterId,
                               hsmCount: e.cloudHsmClusterId.flatMap { hsmCounts[$0] }, xksProxy: proxy)
        }
    }

    /// Every alias, by target key id (ListAliases, all pages).
    func aliasesByKey() async throws -> [String: [String]] {
        var out: [String: [String]] = [:]
        var marker: String?
        repeat {
            let page = try await call(ListAliasesRequest(marker: marker))
            for a in page.aliases ?? [] { if let k = a.targetKeyId, let n = a.aliasName { out[k, default: []].append(n) } }
            marker = page.truncated == true ? page.nextMarker : nil
        } while marker != nil
        return out.mapValues { $0.sorted() }
    }

    /// ListKeys (all pages), then DescribeKey per key with bounded concurrency, yielding each key as it is described.
    func describeAll(_ body: @escaping @Sendable (KeyMetadata) -> Void) async throws {
        var ids: [String] = []
        var marker: String?
        repeat {
            let page = try await call(ListKeysRequest(limit: 1000, marker: marker))
            ids += (page.keys ?? []).compactMap(\.keyId)
            marker = page.truncated == true ? page.nextMarker : nil
        } while marker != nil
        try await withThrowingTaskGroup(of: KeyMetadata?.self) { group in
            var next = 0
            func add() {
                guard next < ids.count else { return }
                let id = ids[next]
                next += 1
                group.addTask {
                    do { return try await self.call(DescribeKeyRequest(keyId: id)).keyMetadata } catch let e as KMSClientError where e.code == .notFound {
                        return nil // deleted between ListKeys and DescribeKey
                    }
                }
            }
            for _ in 0..<concurrency { add() }
            while let result = try await group.next() {
                if let key = result { body(key) }
                add()
            }
        }
    }

    public func keys(inStore storeId: String) -> AsyncThrowingStream<KeyRecord, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let aliases = try await self.aliasesByKey()
                    try await self.describeAll { meta in
                        if meta.customKeyStoreId == storeId { continuation.yield(Self.record(meta, aliases: aliases[meta.keyId] ?? [])) }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    public func keyCensus() async throws -> [String: KeyCensus] {
        let counts = CensusBox()
        try await describeAll { meta in
            guard let store = meta.customKeyStoreId else { return }
            counts.add(store, pending: meta.keyState == .pendingDeletion)
        }
        return counts.value
    }

    public func describeKey(_ keyId: String) async throws -> KeyRecord {
        guard let meta = try await call(DescribeKeyRequest(keyId: keyId)).keyMetadata else {
            throw KMSError(.notFound, "Key '\(keyId)' does not exist")
        }
        let aliases = try await call(ListAliasesRequest(keyId: meta.keyId)).aliases?.compactMap(\.aliasName) ?? []
        return Self.record(meta, aliases: aliases.sorted())
    }

    public func lastUsage(_ keyId: String) async throws -> KeyLastUsage {
        let r = try await call(GetKeyLastUsageRequest(keyId: keyId))
        return KeyLastUsage(lastUsed: r.keyLastUsage?.timestamp, operation: r.keyLastUsage?.operation, trackingStartDate: r.trackingStartDate)
    }

    public func coreTime() async throws -> Date? {
        // AWS has no such call: the console then counts down on the wall clock.
        do { return try await call(GetClockRequest()).now } catch let e as KMSClientError where e.isServiceError {
            return nil
        }
    }

    public func connectStore(_ storeId: String) async throws { _ = try await call(ConnectCustomKeyStoreRequest(customKeyStoreId: storeId)) }
    public func disconnectStore(_ storeId: String) async throws { _ = try await call(DisconnectCustomKeyStoreRequest(customKeyStoreId: storeId)) }

    public func scheduleKeyDeletion(_ keyId: String, pendingWindowInDays: Int) async throws -> Date {
        let r = try await call(ScheduleKeyDeletionRequest(keyId: keyId, pendingWindowInDays: pendingWindowInDays))
        return r.deletionDate ?? Date().addingTimeInterval(Double(pendingWindowInDays) * 86_400)
    }

    public func cancelKeyDeletion(_ keyId: String) async throws { _ = try await call(CancelKeyDeletionRequest(keyId: keyId)) }
    public func enableKey(_ keyId: String) async throws { _ = try await call(EnableKeyRequest(keyId: keyId)) }
    public func disableKey(_ keyId: String) async throws { _ = try await call(DisableKeyRequest(keyId: keyId)) }

    static func record(_ m: KeyMetadata, aliases: [String]) -> KeyRecord {
        KeyRecord(id: m.keyId, arn: m.arn ?? m.keyId, accountId: m.awsAccountId ?? "", aliases: aliases,
                  state: m.keyState ?? .enabled, enabled: m.enabled ?? false, description: m.description ?? "",
                  creationDate: m.creationDate ?? Date(timeIntervalSince1970: 0), deletionDate: m.deletionDate,
                  pendingDeletionWindowInDays: m.pendingDeletionWindowInDays, keyUsage: m.keyUsage ?? "ENCRYPT_DECRYPT",
                  keySpec: m.keySpec ?? m.customerMasterKeySpec ?? "SYMMETRIC_DEFAULT", origin: m.origin ?? .awsKMS,
                  keyManager: m.keyManager ?? "CUSTOMER", customKeyStoreId: m.customKeyStoreId,
                  cloudHsmClusterId: m.cloudHsmClusterId, xksKeyId: m.xksKeyConfiguration?.id,
                  encryptionAlgorithms: m.encryptionAlgorithms ?? [], multiRegion: m.multiRegion ?? false)
    }
}

/// Counts gathered from concurrent callbacks.
final class CensusBox: Sendable {
    private let counts = Mutex<[String: KeyCensus]>([:])
    func add(_ store: String, pending: Bool) {
        counts.withLock { counts in
            var c = counts[store] ?? KeyCensus(total: 0, pendingDeletion: 0)
            c.total += 1
            if pending { c.pendingDeletion += 1 }
            counts[store] = c
        }
    }
    var value: [String: KeyCensus] { counts.withLock { $0 } }
}
