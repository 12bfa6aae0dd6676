import CKSClient
import CKSDomain
import CKSTeardown
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
    public var enforcesTimeout: Bool { inner.enforcesTimeout }

    /// The resource a request is about (KeyId, CustomKeyStoreId, ...), for the Activity pane. Read straight from
    /// the compact JSON the client writes rather than parsed: it runs for every call (100,000 in a pass over a
    /// large estate). A body it cannot read shows as "-".
    static func subject(of body: Data) -> String {
        let bytes = [UInt8](body)
        guard bytes.first == UInt8(ascii: "{") else { return "-" }
        for key in ["KeyId", "CustomKeyStoreId", "CustomKeyStoreName", "ClusterId", "AliasName"] {
            if let v = stringValue(key, in: bytes) { return v }
        }
        if let marker = stringValue("Marker", in: bytes) { return "next page (\(marker.prefix(8)))" }
        return "*"
    }

    /// The string value of a top-level-looking `"name":"value"` pair (escapes decoded by JSONSerialization).
    static func stringValue(_ name: String, in bytes: [UInt8]) -> String? {
        let needle = Array("\"\(name)\":\"".utf8)
        guard bytes.count > needle.count else { return nil }
        var i = 0
        while i + needle.count <= bytes.count {
            if bytes[i] == needle[0] && Array(bytes[i..<(i + needle.count)]) == needle {
                var j = i + needle.count
                var escaped = false
                while j < bytes.count {
                    if bytes[j] == UInt8(ascii: "\\") { escaped = true; j += 2; continue }
                    if bytes[j] == UInt8(ascii: "\"") { break }
                    j += 1
                }
                guard j < bytes.count else { return nil }
                let raw = Array(bytes[(i + needle.count)..<j])
                if !escaped { return String(decoding: raw, as: UTF8.self) }
                let quoted = [UInt8(ascii: "\"")] + raw + [UInt8(ascii: "\"")]
                return (try? JSONSerialization.jsonObject(with: Data(quoted), options: .fragmentsAllowed)) as? String
            }
            i += 1
        }
        return nil
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
/// (DescribeCustomKeyStores, ListKeys + DescribeKey per key, ListAliases, GetKeyLastUsage, bulk key actions),
/// plus the core's admin API where it exists (the clock, HSM counts), which simply yields nothing against AWS.
public final class KMSClientBackend: ConsoleBackend {
    /// The client every call goes through (the teardown uses the same one).
    public let client: KMSClient
    /// DescribeKey (and bulk action) calls in flight at once.
    let concurrency: Int
    private let info: Mutex<EndpointInfo>
    public func teardownService(info: EndpointInfo, endpointIdentity: String?) async -> any TeardownService {
        KMSClientTeardownService(client: client, account: info.account, principal: info.principal,
                                 endpointIdentity: endpointIdentity, context: info.contextName)
    }

    /// Whether the endpoint has the core's admin API (CksAdmin.*: the clock, HSM counts): nil until asked, false
    /// against AWS (asked once, then never again).
    private let hasAdminAPI = Mutex<Bool?>(nil)
    /// Key ids of the last complete pass over the account (every key it described, in a custom key store or not).
    private let lastPassKeyIds = Mutex<Set<String>?>(nil)
    private let evidenceServiceCache = Mutex<KMSClientTeardownService?>(nil)
    /// Where the key index of this endpoint is kept (nil: none, every pass describes every key).
    let keyIndex: KeyIndexStore?
    /// Key ids the console shows now: described first when remembered keys are described again.
    private let preferred = Mutex<[String]>([])

    /// - Parameter info: endpoint, region, mode and principal for the header; an account of "?" is learnt from
    ///   the first key ARN the endpoint shows.
    ///   `keyIndex`: where to remember each key's store between runs (nil for an endpoint whose keys do not outlive
    ///   the run, like the demo's).
    public init(client: KMSClient, info: EndpointInfo, concurrency: Int = 8, keyIndex: KeyIndexStore? = nil) {
        self.client = client
        self.info = Mutex(info)
        self.concurrency = concurrency
        self.keyIndex = keyIndex
    }

    public func configuredEndpointInfo() -> EndpointInfo? { info.withLock { $0 } }

    public func endpointInfo() async -> EndpointInfo {
        let current = info.withLock { $0 }
        guard current.account == "?" else { return current }
        // A cks core says who the credentials belong to (CksAdmin.GetCallerIdentity, allowed to every principal).
        if let identity = try? await adminCall({ () throws(KMSClientError) in try await client.callerIdentity() }) {
            info.withLock { if $0.account == "?" { $0.account = identity.account }; $0.principal = identity.arn }
            return info.withLock { $0 }
        }
        // KMS itself has no "who am I"; a key's ARN names the account (one ListKeys call, when there is a key).
        if let arn = try? await client.listKeys(limit: 1).keys?.first?.keyArn { learnAccount(fromArn: arn) }
        return info.withLock { $0 }
    }

    func learnAccount(fromArn arn: String) {
        if let account = Self.account(ofArn: arn) { learnAccount(account) }
    }

    func learnAccount(_ account: String) {
        guard !account.isEmpty else { return }
        info.withLock { if $0.account == "?" { $0.account = account } }
    }

    public func listStores() async throws -> [StoreRecord] {
        let entries = try await client.allCustomKeyStores()
        var hsmCounts: [String: Int] = [:]
        if entries.contains(where: { $0.cloudHsmClusterId != nil }),
           let clusters = try? await adminCall({ () throws(KMSClientError) in try await client.describeCloudHsmClusters() }) {
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
        for a in try await client.allAliases() {
            if let k = a.targetKeyId, let n = a.aliasName { out[k, default: []].append(n) }
        }
        return out.mapValues { $0.sorted() }
    }

    /// The aliases, then the client's `keys(inStore:)`: ListKeys, DescribeKey per key with bounded concurrency,
    /// each key of the store yielded as soon as it is described.
    public func keys(inStore storeId: String) -> AsyncThrowingStream<KeyRecord, any Error> {
        let (stream, continuation) = AsyncThrowingStream<KeyRecord, any Error>.makeStream()
        let task = Task {
            do {
                let aliases = try await self.aliasesByKey()
                for try await meta in self.client.keys(inStore: storeId, concurrency: self.concurrency) {
                    continuation.yield(self.record(meta, aliases: aliases[meta.keyId] ?? []))
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// The aliases, then the client's `describedKeys`: one pass over the account, keys outside custom key stores
    /// left out.
    public func storeKeys() -> AsyncThrowingStream<[KeyRecord], any Error> {
        let (stream, continuation) = AsyncThrowingStream<[KeyRecord], any Error>.makeStream()
        let task = Task {
            do {
                let aliases = try await self.aliasesByKey()
                var batch: [KeyRecord] = []
                let clock = ContinuousClock()
                var last = clock.now
                let seen = SeenKeyIds()
                let stream = self.client.describedKeys(concurrency: self.concurrency, including: { meta in
                    seen.insert(meta.keyId)
                    return meta.customKeyStoreId != nil
                })
                for try await meta in stream {
                    batch.append(self.record(meta, aliases: aliases[meta.keyId] ?? []))
                    // A few hundred keys, or what came in the last 100 ms: the list still fills as keys arrive.
                    if batch.count >= 256 || clock.now - last > .milliseconds(100) {
                        continuation.yield(batch)
                        batch.removeAll(keepingCapacity: true)
                        last = clock.now
                    }
                }
                if !batch.isEmpty { continuation.yield(batch) }
                self.lastPassKeyIds.withLock { $0 = seen.ids }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    public func preferDescribing(_ keyIds: [String]) { preferred.withLock { $0 = keyIds } }

    /// With a key index: ListKeys (every page); keys the index places in a store are listed at once as remembered,
    /// keys it places outside every store are left alone (a key never changes store), and only keys it has never
    /// seen are described while the pages arrive. Then the remembered keys are described again, the ones the console
    /// shows first, and the index is written for the next run. Without an index, `storeKeys()`.
    public func keyPass() -> AsyncThrowingStream<KeyPassUpdate, any Error> {
        let (stream, continuation) = AsyncThrowingStream<KeyPassUpdate, any Error>.makeStream()
        let task = Task {
            do {
                if let keyIndex = self.keyIndex {
                    try await self.indexedPass(keyIndex, continuation)
                } else {
                    for try await batch in self.storeKeys() { continuation.yield(.described(batch)) }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private func indexedPass(_ keyIndex: KeyIndexStore,
                             _ output: AsyncThrowingStream<KeyPassUpdate, any Error>.Continuation) async throws {
        let aliases = try await aliasesByKey()
        let client = self.client
        let width = max(1, concurrency)
        let started = Date()
        var identity: KeyIndex.Identity?
        var known: KeyIndex?
        // What the next run's index holds: every listed key, with its description when it is in a store.
        var next: [String: KeyRecord?] = [:]
        var rememberedIds: [String] = []
        var described = DescribedBatches(output)

        func take(_ id: String, _ meta: KeyMetadata?) {
            guard let meta else {
                next[id] = nil
                if known?.keys[id] != nil { described.gone(id) }
                return
            }
            guard meta.customKeyStoreId != nil else { next[id] = .some(nil); return }
            let r = record(meta, aliases: aliases[meta.keyId] ?? [])
            next[id] = r
            described.add(r)
        }

        /// Listed keys the index knows are handed over as remembered (or left alone, outside every store); the
        /// others are returned, to describe.
        func sortListed(_ ids: [String]) -> [String] {
            var remembered: [KeyRecord] = []
            var unknown: [String] = []
            for id in ids {
                switch known?.keys[id] {
                case .some(.none):
                    next[id] = .some(nil)
                case .some(.some(var r)):
                    r.aliases = aliases[id] ?? []
                    remembered.append(r)
                    rememberedIds.append(id)
                    next[id] = r
                case .none:
                    unknown.append(id)
                }
            }
            if let known, !remembered.isEmpty { output.yield(.remembered(remembered, asOf: known.savedAt)) }
            return unknown
        }

        try await withThrowingTaskGroup(of: (String, KeyMetadata?).self) { group in
            var inFlight = 0
            // The index is read while the next pages are listed; keys listed meanwhile wait for it.
            var reading: Task<KeyIndex?, Never>?
            let read = Done()
            var indexKnown = false
            var waiting: [String] = []
            var pages = client.listKeysPages(limit: 1000).makeAsyncIterator()
            var listed = false
            while !listed {
                if let page = try await pages.next() {
                    for entry in page.keys ?? [] {
                        guard let id = entry.keyId else { continue }
                        if identity == nil, let account = Self.account(ofArn: entry.keyArn ?? "") {
                            learnAccount(account)
                            let wanted = keyIndex.identity(account: account, region: client.region)
                            identity = wanted
                            reading = Task {
                                let index = keyIndex.load(wanted)
                                read.mark()
                                return index
                            }
                        }
                        waiting.append(id)
                    }
                } else {
                    listed = true
                }
                if !indexKnown, listed || reading == nil || read.isMarked {
                    known = await reading?.value
                    indexKnown = true
                    next.reserveCapacity((known?.keys.count ?? 0) + waiting.count)
                }
                guard indexKnown else { continue }
                // (No nested function may capture the group: see BoundedConcurrency.map.)
                for id in sortListed(waiting) {
                    if inFlight >= width, let (doneId, meta) = try await group.next() {
                        inFlight -= 1
                        take(doneId, meta)
                    }
                    group.addTask { (id, try await client.describeIfPresent(id)) }
                    inFlight += 1
                }
                waiting.removeAll(keepingCapacity: true)
                described.flushIfDue()
            }
            for try await (id, meta) in group { take(id, meta) }
        }
        described.flush()
        if known != nil { output.yield(.listed) }

        // The remembered keys, described again: those on screen first.
        let queue = DescribeQueue(rememberedIds)
        try await withThrowingTaskGroup(of: (String, KeyMetadata?).self) { group in
            for _ in 0..<width {
                guard let id = queue.next(preferring: preferred.withLock { $0 }) else { break }
                group.addTask { (id, try await client.describeIfPresent(id)) }
            }
            while let (id, meta) = try await group.next() {
                take(id, meta)
                described.flushIfDue()
                if let id = queue.next(preferring: preferred.withLock { $0 }) {
                    group.addTask { (id, try await client.describeIfPresent(id)) }
                }
            }
        }
        described.flush()
        lastPassKeyIds.withLock { $0 = Set(next.keys) }
        if let identity { keyIndex.save(KeyIndex(identity: identity, savedAt: started, keys: next)) }
    }

    /// The account named in a key ARN (`arn:aws:kms:REGION:ACCOUNT:key/ID`).
    static func account(ofArn arn: String) -> String? {
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count > 5, parts[4].count == 12, parts[4].allSatisfy(\.isNumber) else { return nil }
        return String(parts[4])
    }

    /// Every key described (ListKeys, then DescribeKey per key): counts per store. Streamed, so counting 100,000
    /// keys never holds their descriptions.
    public func keyCensus() async throws -> [String: KeyCensus] {
        var counts: [String: KeyCensus] = [:]
        for try await meta in client.describedKeys(concurrency: concurrency, including: { $0.customKeyStoreId != nil }) {
            if let account = meta.awsAccountId { learnAccount(account) }
            guard let store = meta.customKeyStoreId else { continue }
            counts[store, default: KeyCensus(total: 0, pendingDeletion: 0)].total += 1
            if meta.keyState == .pendingDeletion { counts[store]?.pendingDeletion += 1 }
        }
        return counts
    }

    public func listKeyIds() async throws -> Set<String> {
        Set(try await client.allKeys().compactMap(\.keyId))
    }

    public func keyIdsSeenByLastPass() -> Set<String>? { lastPassKeyIds.withLock { $0 } }

    public func describeKey(_ keyId: String) async throws -> KeyRecord {
        let meta = try await client.describeKey(keyId: keyId)
        let aliases = try await client.allAliases(keyId: meta.keyId).compactMap(\.aliasName)
        return record(meta, aliases: aliases.sorted())
    }

    /// The evidence calls go through the teardown's service (the same calls, the same pacing of LookupEvents).
    private var evidenceService: KMSClientTeardownService {
        evidenceServiceCache.withLock { made in
            if let made { return made }
            let s = KMSClientTeardownService(client: client)
            made = s
            return s
        }
    }

    public func keyEvidence(_ keyId: String, arn: String, lookbackDays: Int) async -> KeyEvidence? {
        let service = evidenceService
        return await service.keyEvidence(keyId: keyId, keyArn: arn, lookbackDays: lookbackDays, now: await service.now())
    }

    public func storeEvidence(_ keyIds: [String], lookbackDays: Int) async -> [String: KeyEvidence] {
        let service = evidenceService
        let keys = keyIds.map { TeardownObservation.Key(id: $0, state: .enabled) }
        return await service.evidence(of: keys, lookbackDays: lookbackDays, now: await service.now()) { _ in }.evidence
    }

    public func lastUsage(_ keyId: String) async throws -> KeyLastUsage {
        let r = try await client.getKeyLastUsage(keyId: keyId)
        return KeyLastUsage(lastUsed: r.keyLastUsage?.timestamp, operation: r.keyLastUsage?.operation, trackingStartDate: r.trackingStartDate)
    }

    /// CksAdmin.GetClock. AWS has no such call: after the first refusal the console counts down on the wall clock
    /// without asking again.
    public func coreTime() async throws -> Date? {
        try await adminCall { () throws(KMSClientError) in try await client.simulatedNow() }
    }

    /// An admin call: nil (and no more admin calls) once the endpoint has refused one, as AWS does.
    func adminCall<T: Sendable>(_ body: () async throws(KMSClientError) -> T) async throws(KMSClientError) -> T? {
        guard hasAdminAPI.withLock({ $0 }) != false else { return nil }
        do {
            let value = try await body()
            hasAdminAPI.withLock { $0 = true }
            return value
        } catch where error.isServiceError && error.code != .throttling {
            hasAdminAPI.withLock { $0 = false }
            return nil
        }
    }

    public func connectStore(_ storeId: String) async throws { try await client.connectCustomKeyStore(id: storeId) }
    public func disconnectStore(_ storeId: String) async throws { try await client.disconnectCustomKeyStore(id: storeId) }

    public func scheduleKeyDeletion(_ keyId: String, pendingWindowInDays: Int) async throws -> Date {
        let r = try await client.scheduleKeyDeletion(keyId: keyId, pendingWindowInDays: pendingWindowInDays)
        return r.deletionDate ?? Date().addingTimeInterval(Double(pendingWindowInDays) * 86_400)
    }

    public func cancelKeyDeletion(_ keyId: String) async throws { try await client.cancelKeyDeletion(keyId: keyId) }
    public func enableKey(_ keyId: String) async throws { try await client.enableKey(keyId: keyId) }
    public func disableKey(_ keyId: String) async throws { try await client.disableKey(keyId: keyId) }

    /// The client's bulk calls: bounded concurrency, one result per key.
    public func perform(_ action: KeyAction, on keyIds: [String], pendingWindowInDays: Int,
                        progress: @escaping @Sendable (KeyActionResult) -> Void) async -> [KeyActionResult] {
        let client = self.client
        switch action {
        case .scheduleDeletion:
            return await client.scheduleKeyDeletion(keyIds: keyIds, pendingWindowInDays: pendingWindowInDays, concurrency: concurrency,
                                                    onResult: { progress(Self.result($0) { $0.deletionDate }) })
                .map { Self.result($0) { $0.deletionDate } }
        case .cancelDeletion:
            return await client.cancelKeyDeletion(keyIds: keyIds, concurrency: concurrency, onResult: { progress(Self.result($0)) })
                .map { Self.result($0) }
        case .enable, .disable:
            let enable = action == .enable
            return await client.bulk(keyIds, concurrency: concurrency, onResult: { progress(Self.result($0)) }) {
                (id: String) throws(KMSClientError) in
                if enable { try await client.enableKey(keyId: id) } else { try await client.disableKey(keyId: id) }
            }.map { Self.result($0) }
        }
    }

    static func result<V: Sendable>(_ item: BulkItemResult<V>, date: (V) -> Date? = { _ in nil }) -> KeyActionResult {
        switch item.result {
        case .success(let value): return KeyActionResult(keyId: item.id, deletionDate: date(value))
        case .failure(let error): return KeyActionResult(keyId: item.id, failure: .init(code: error.consoleCode, message: error.message))
        }
    }

    func record(_ m: KeyMetadata, aliases: [String]) -> KeyRecord {
        if let account = m.awsAccountId { learnAccount(account) }
        return Self.record(m, aliases: aliases)
    }

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

/// Described keys handed to the console in batches: a few hundred, or what came in the last 100 ms.
private struct DescribedBatches {
    let output: AsyncThrowingStream<KeyPassUpdate, any Error>.Continuation
    var records: [KeyRecord] = []
    var gone: [String] = []
    var last = ContinuousClock.now

    init(_ output: AsyncThrowingStream<KeyPassUpdate, any Error>.Continuation) { self.output = output }

    mutating func add(_ record: KeyRecord) {
        records.append(record)
        if records.count >= 256 { flush() }
    }

    mutating func gone(_ id: String) { gone.append(id) }

    mutating func flushIfDue() {
        if ContinuousClock.now - last > .milliseconds(100) { flush() }
    }

    mutating func flush() {
        if !records.isEmpty { output.yield(.described(records)); records.removeAll(keepingCapacity: true) }
        if !gone.isEmpty { output.yield(.gone(gone)); gone.removeAll() }
        last = .now
    }
}

/// Keys to describe again, in list order, except that keys the console shows now go first.
final class DescribeQueue: Sendable {
    private let state: Mutex<(order: [String], cursor: Int, pending: Set<String>)>

    init(_ ids: [String]) { state = Mutex((ids, 0, Set(ids))) }

    func next(preferring preferred: [String]) -> String? {
        state.withLock { s in
            for id in preferred where s.pending.contains(id) {
                s.pending.remove(id)
                return id
            }
            while s.cursor < s.order.count {
                let id = s.order[s.cursor]
                s.cursor += 1
                if s.pending.remove(id) != nil { return id }
            }
            return nil
        }
    }
}

/// Set once by one task, read by another: whether something has happened.
final class Done: Sendable {
    private let flag = Atomic<Bool>(false)
    func mark() { flag.store(true, ordering: .releasing) }
    var isMarked: Bool { flag.load(ordering: .acquiring) }
}

/// Key ids collected from the concurrent DescribeKey calls of a pass.
final class SeenKeyIds: Sendable {
    private let storage = Mutex<Set<String>>([])
    func insert(_ id: String) { storage.withLock { _ = $0.insert(id) } }
    var ids: Set<String> { storage.withLock { $0 } }
}
