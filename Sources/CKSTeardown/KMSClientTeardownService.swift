import CKSClient
import CKSDomain
import CKSWire
import Foundation
import Synchronization

/// The teardown's calls over the project's `KMSClient`: exactly the calls AWS documents for a teardown
/// (DescribeCustomKeyStores, ListKeys + DescribeKey per key, ListAliases, GetKeyLastUsage, ScheduleKeyDeletion,
/// CancelKeyDeletion, EnableKey, Connect/Disconnect/DeleteCustomKeyStore), plus the core's admin API where it
/// exists (GetClock, AdvanceClock, DescribeCloudHsmClusters), which simply yields nothing against AWS.
public final class KMSClientTeardownService: TeardownService {
    public let client: KMSClient
    public let endpoint: String
    public let context: String?
    public var region: String? { client.region }
    /// Calls in flight for per-key work (DescribeKey, GetKeyLastUsage, bulk actions).
    public let concurrency: Int
    private let identity: Mutex<(account: String?, principal: String?)>
    /// Whether the endpoint has the core's clock (nil until asked).
    private let hasCoreClock = Mutex<Bool?>(nil)
    /// Whether the endpoint has the core's admin API for clusters (nil until asked; AWS does not).
    private let hasClusterAdmin = Mutex<Bool?>(nil)
    /// Whether the endpoint was asked who the caller is (once).
    private let askedIdentity = Mutex(false)
    /// Where LookupEvents goes: CloudTrail's endpoint when it is not the KMS endpoint (AWS); nil → the KMS endpoint
    /// (a cks core answers both).
    public let cloudTrailEndpoint: URL?
    /// LookupEvents per second: nil → CloudTrail's quota (2) unless the endpoint is a cks core (no quota).
    public let lookupRequestsPerSecond: Double?
    private let trail = Mutex<CloudTrailClient?>(nil)

    /// - Parameter endpointIdentity: how the journal names the endpoint, when its URL is not stable (an embedded
    ///   core listens on a new port each run, so it is named by its data directory instead).
    public init(client: KMSClient, account: String? = nil, principal: String? = nil, concurrency: Int = 8,
                endpointIdentity: String? = nil, context: String? = nil, cloudTrailEndpoint: URL? = nil,
                lookupRequestsPerSecond: Double? = nil) {
        self.cloudTrailEndpoint = cloudTrailEndpoint
        self.lookupRequestsPerSecond = lookupRequestsPerSecond
        self.client = client
        self.context = context
        self.endpoint = endpointIdentity ?? client.endpoint.absoluteString
        self.concurrency = concurrency
        identity = Mutex((account, principal ?? client.credentials.accessKeyId))
    }

    /// The account, and the principal by ARN (a cks core says it: CksAdmin.GetCallerIdentity); against an endpoint
    /// that cannot say, the principal given at init, else the access key id, and the account from a key's metadata.
    public func caller() async -> (account: String?, principal: String?) {
        let known = identity.withLock { $0 }
        if !askedIdentity.withLock({ $0 }) {
            askedIdentity.withLock { $0 = true }
            if let who = try? await client.callerIdentity() {
                identity.withLock { $0 = (who.account, who.arn) }
                return (who.account, who.arn)
            }
        }
        if known.account != nil { return known }
        // KMS has no "who am I": the account shows in any key's metadata.
        if let first = try? await client.listKeys(limit: 1).keys?.first?.keyId,
           let account = try? await client.describeKey(keyId: first).awsAccountId {
            identity.withLock { $0.account = account }
        }
        return identity.withLock { $0 }
    }

    /// Whether LookupEvents is paced at CloudTrail's quota (always, unless a rate was given or the endpoint is a cks core).
    var isPaced: Bool {
        if let rate = lookupRequestsPerSecond { return rate <= CloudTrailClient.defaultRequestsPerSecond }
        return !(hasCoreClock.withLock { $0 } == true && cloudTrailEndpoint == nil)
    }

    /// The CloudTrail client on this client's transport, made once.
    func cloudTrailClient() -> CloudTrailClient {
        trail.withLock { made in
            if let made { return made }
            let rate = lookupRequestsPerSecond ?? (isPaced ? CloudTrailClient.defaultRequestsPerSecond : 1_000_000)
            let c = client.cloudTrail(endpoint: cloudTrailEndpoint, requestsPerSecond: rate)
            made = c
            return c
        }
    }

    public func now() async -> Date {
        if hasCoreClock.withLock({ $0 }) != false {
            do {
                let now = try await client.simulatedNow()
                hasCoreClock.withLock { $0 = true }
                return now
            } catch {
                // Not a cks core (or no cks:GetClock permission): the local clock it is.
                if error.isServiceError { hasCoreClock.withLock { $0 = false } }
            }
        }
        return Date()
    }

    public func describeStore(_ idOrName: String) async throws(TeardownCallError) -> TeardownObservation.Store? {
        do {
            let e = try await client.customKeyStore(idOrName: idOrName)
            guard let id = e.customKeyStoreId else { return nil }
            return TeardownObservation.Store(
                id: id, name: e.customKeyStoreName ?? id, type: e.customKeyStoreType ?? .awsCloudHsm,
                connectionState: e.connectionState ?? .disconnected, connectionErrorCode: e.connectionErrorCode,
                cloudHsmClusterId: e.cloudHsmClusterId, xksProxyUriEndpoint: e.xksProxyConfiguration?.uriEndpoint)
        } catch where error.code == .customKeyStoreNotFound {
            return nil
        } catch {
            throw Self.wrap(error)
        }
    }

    public func keys(inStore storeId: String, progress: @escaping @Sendable (Int) -> Void) async throws(TeardownCallError) -> [TeardownObservation.Key] {
        var metadata: [KeyMetadata] = []
        do {
            for try await key in client.keys(inStore: storeId, concurrency: concurrency) {
                metadata.append(key)
                progress(metadata.count)
            }
        } catch let error as KMSClientError {
            throw Self.wrap(error)
        } catch {
            throw TeardownCallError(typeName: "Error", message: "\(error)")
        }
        if let account = metadata.first?.awsAccountId { identity.withLock { $0.account = $0.account ?? account } }
        // Aliases are cosmetic here: a failure to list them must not stop a teardown.
        var aliases: [String: [String]] = [:]
        if !metadata.isEmpty, let all = try? await client.allAliases() {
            for alias in all { if let key = alias.targetKeyId, let name = alias.aliasName { aliases[key, default: []].append(name) } }
        }
        // Observation marks: only a Disabled key can be one the teardown observes.
        let marks = await observationMarks(metadata.filter { $0.keyState == .disabled }.map(\.keyId))
        return metadata.map { m in
            TeardownObservation.Key(id: m.keyId, state: m.keyState ?? .enabled, deletionDate: m.deletionDate,
                                    aliases: (aliases[m.keyId] ?? []).sorted(), xksKeyId: m.xksKeyConfiguration?.id,
                                    observation: marks[m.keyId])
        }
    }

    public func lastUse(of keyIds: [String], progress: @escaping @Sendable (Int) -> Void) async -> [String: KeyLastUse] {
        let counter = Counter()
        let results = await client.bulk(keyIds, concurrency: concurrency, onResult: { (_: BulkItemResult<KeyLastUse>) in
            progress(counter.increment())
        }) { [client] (id: String) throws(KMSClientError) -> KeyLastUse in
            do throws(KMSClientError) {
                let r = try await client.getKeyLastUsage(keyId: id)
                return KeyLastUse.from(lastUsed: r.keyLastUsage?.timestamp, operation: r.keyLastUsage?.operation,
                                       keyCreationDate: r.keyCreationDate, trackingStartDate: r.trackingStartDate)
            } catch {
                return .unknown(reason: "GetKeyLastUsage failed: \(error.typeName): \(error.message)")
            }
        }
        return Dictionary(results.compactMap { r in r.value.map { (r.id, $0) } }, uniquingKeysWith: { a, _ in a })
    }

    public func scheduleKeyDeletion(_ keyIds: [String], window: PendingWindow,
                                    progress: @escaping @Sendable (TeardownCallResult) -> Void) async -> [TeardownCallResult] {
        await perKey(keyIds, progress: progress) { [client] id throws(KMSClientError) in
            let (r, meta) = try await client.sendWithMetadata(ScheduleKeyDeletionRequest(keyId: id, pendingWindowInDays: window.days))
            return TeardownCallResult(target: id, requestId: meta.requestId, deletionDate: r.deletionDate)
        }
    }

    public func cancelKeyDeletion(_ keyIds: [String], progress: @escaping @Sendable (TeardownCallResult) -> Void) async -> [TeardownCallResult] {
        await perKey(keyIds, progress: progress) { [client] id throws(KMSClientError) in
            let (_, meta) = try await client.sendWithMetadata(CancelKeyDeletionRequest(keyId: id))
            return TeardownCallResult(target: id, requestId: meta.requestId)
        }
    }

    public func enableKey(_ keyIds: [String], progress: @escaping @Sendable (TeardownCallResult) -> Void) async -> [TeardownCallResult] {
        await perKey(keyIds, progress: progress) { [client] id throws(KMSClientError) in
            let (_, meta) = try await client.sendWithMetadata(EnableKeyRequest(keyId: id))
            return TeardownCallResult(target: id, requestId: meta.requestId)
        }
    }

    public func connect(storeId: String) async -> TeardownCallResult {
        await storeCall(storeId) { [client] () throws(KMSClientError) in
            try await client.sendWithMetadata(ConnectCustomKeyStoreRequest(customKeyStoreId: storeId)).1
        }
    }

    public func disconnect(storeId: String) async -> TeardownCallResult {
        await storeCall(storeId) { [client] () throws(KMSClientError) in
            try await client.sendWithMetadata(DisconnectCustomKeyStoreRequest(customKeyStoreId: storeId)).1
        }
    }

    public func delete(storeId: String) async -> TeardownCallResult {
        await storeCall(storeId) { [client] () throws(KMSClientError) in
            try await client.sendWithMetadata(DeleteCustomKeyStoreRequest(customKeyStoreId: storeId)).1
        }
    }

    public func orphanedKeyMaterial(clusterId: String) async -> [TeardownObservation.OrphanedKeyMaterial]? {
        guard hasClusterAdmin.withLock({ $0 }) != false else { return nil }
        let clusters: [CloudHsmCluster]
        do {
            clusters = try await client.describeCloudHsmClusters(clusterId: clusterId)
            hasClusterAdmin.withLock { $0 = true }
        } catch {
            // An endpoint that is not a cks core answers with an error: do not ask it again.
            if error.isServiceError { hasClusterAdmin.withLock { $0 = false } }
            return nil
        }
        return clusters.filter { $0.clusterId == clusterId }.flatMap { cluster in
            (cluster.orphanedKeyMaterial ?? []).map { TeardownObservation.OrphanedKeyMaterial(clusterId: cluster.clusterId, keyId: $0.keyId) }
        }
    }

    public func advanceClock(seconds: Int) async throws(TeardownCallError) -> Date {
        do { return try await client.advanceClock(seconds: seconds) } catch { throw Self.wrap(error) }
    }

    public func pendingDeletions() async throws(TeardownCallError) -> (stores: [TeardownObservation.Store], keys: [FastForwardPreview.PendingKey]) {
        do {
            let stores = try await client.allCustomKeyStores().compactMap { e -> TeardownObservation.Store? in
                guard let id = e.customKeyStoreId else { return nil }
                return TeardownObservation.Store(
                    id: id, name: e.customKeyStoreName ?? id, type: e.customKeyStoreType ?? .awsCloudHsm,
                    connectionState: e.connectionState ?? .disconnected, connectionErrorCode: e.connectionErrorCode,
                    cloudHsmClusterId: e.cloudHsmClusterId, xksProxyUriEndpoint: e.xksProxyConfiguration?.uriEndpoint)
            }
            var aliases: [String: [String]] = [:]
            for alias in (try? await client.allAliases()) ?? [] {
                if let key = alias.targetKeyId, let name = alias.aliasName { aliases[key, default: []].append(name) }
            }
            var keys: [FastForwardPreview.PendingKey] = []
            for try await m in client.describedKeys(concurrency: concurrency, including: { $0.keyState == .pendingDeletion }) {
                guard let date = m.deletionDate else { continue }
                keys.append(FastForwardPreview.PendingKey(id: m.keyId, storeId: m.customKeyStoreId, deletionDate: date,
                                                          aliases: aliases[m.keyId] ?? []))
            }
            return (stores, keys)
        } catch let error as KMSClientError {
            throw Self.wrap(error)
        } catch {
            throw TeardownCallError(typeName: "Error", message: EndpointProblem.oneLine("\(error)"))
        }
    }

    // MARK: -

    /// The client's error as the teardown reports it: one line, classified the way every verb classifies it (an
    /// endpoint without custom key stores is a configuration problem, not an unreachable endpoint).
    static func wrap(_ error: KMSClientError) -> TeardownCallError {
        let problem = EndpointProblem.classify(error)
        let message: String
        if case .notImplemented = problem.kind { message = problem.summary } else { message = EndpointProblem.oneLine(error.message) }
        var isTransport = false
        if case .unreachable = problem.kind { isTransport = true }
        var wrapped = TeardownCallError(typeName: error.typeName, message: message, code: error.code, requestId: error.requestId,
                                        isTransport: isTransport, exit: problem.exit)
        wrapped.line = problem.line
        return wrapped
    }

    func perKeyCall(_ ids: [String], progress: @escaping @Sendable (TeardownCallResult) -> Void,
                    _ call: @escaping @Sendable (String) async throws(KMSClientError) -> TeardownCallResult) async -> [TeardownCallResult] {
        await perKey(ids, progress: progress, call)
    }

    private func perKey(_ ids: [String], progress: @escaping @Sendable (TeardownCallResult) -> Void,
                        _ call: @escaping @Sendable (String) async throws(KMSClientError) -> TeardownCallResult) async -> [TeardownCallResult] {
        let results = await client.bulk(ids, concurrency: concurrency, onResult: { (item: BulkItemResult<TeardownCallResult>) in
            progress(Self.result(item))
        }, call)
        return results.map(Self.result)
    }

    private static func result(_ item: BulkItemResult<TeardownCallResult>) -> TeardownCallResult {
        switch item.result {
        case .success(let r): return r
        case .failure(let e): return TeardownCallResult(target: item.id, requestId: e.requestId, error: wrap(e))
        }
    }

    private func storeCall(_ storeId: String, _ call: () async throws(KMSClientError) -> ResponseMetadata) async -> TeardownCallResult {
        do {
            let meta = try await call()
            return TeardownCallResult(target: storeId, requestId: meta.requestId)
        } catch {
            return TeardownCallResult(target: storeId, requestId: error.requestId, error: Self.wrap(error))
        }
    }
}
