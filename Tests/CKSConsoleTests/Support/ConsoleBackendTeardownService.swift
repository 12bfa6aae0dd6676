import CKSClient
@testable import CKSConsole
import CKSDomain
@testable import CKSTeardown
import Foundation
import Synchronization

/// What a console backend offers beyond `ConsoleBackend` for the last steps of a teardown and the demo.
protocol TeardownCapableBackend: ConsoleBackend {
    /// DeleteCustomKeyStore.
    func deleteStore(_ storeId: String) async throws
    /// Moves the core's clock forward (demo fast-forward); returns the new now.
    func advanceClock(seconds: Int) async throws -> Date
    /// Orphaned key material on a cluster, when the backend can tell.
    func orphanedKeyMaterial(clusterId: String) async -> [TeardownObservation.OrphanedKeyMaterial]?
}

/// The teardown's calls over any console backend, so the console's teardown goes through the same backend
/// (and the same Activity pane) as every other screen. For `KMSClientBackend` the console prefers
/// `KMSClientTeardownService` over the same client (it also gets request ids); this one serves test doubles.
final class ConsoleBackendTeardownService: TeardownService {
    let backend: any ConsoleBackend
    public let endpoint: String
    let identity: (account: String?, principal: String?)
    let concurrency: Int
    /// Creation dates seen by the inventory: GetKeyLastUsage's "never used" needs them.
    private let created = Mutex<[String: Date]>([:])

    public init(backend: any ConsoleBackend, info: EndpointInfo, concurrency: Int = 8) {
        self.backend = backend
        self.endpoint = info.endpoint
        self.identity = (info.account, info.principal)
        self.concurrency = concurrency
    }

    static func callError(_ error: any Error) -> TeardownCallError {
        let (code, message, requestId) = BackendError.describe(error)
        return TeardownCallError(typeName: code, message: message, code: KMSErrorCode(rawValue: code), requestId: requestId,
                                 isTransport: BackendError.isCoreFailure(error) && KMSErrorCode(rawValue: code) == nil)
    }

    public func pendingDeletions() async throws(TeardownCallError) -> (stores: [TeardownObservation.Store], keys: [FastForwardPreview.PendingKey]) {
        do {
            let stores = try await backend.listStores().map { s in
                TeardownObservation.Store(id: s.id, name: s.name, type: s.type, connectionState: s.connectionState,
                                          connectionErrorCode: s.connectionErrorCode, cloudHsmClusterId: s.cloudHsmClusterId,
                                          xksProxyUriEndpoint: s.xksProxy?.uriEndpoint)
            }
            var keys: [FastForwardPreview.PendingKey] = []
            for try await batch in backend.storeKeys() {
                for k in batch where k.state == .pendingDeletion {
                    if let date = k.deletionDate {
                        keys.append(.init(id: k.id, storeId: k.customKeyStoreId, deletionDate: date, aliases: k.aliases))
                    }
                }
            }
            return (stores, keys)
        } catch {
            throw Self.callError(error)
        }
    }

    public func caller() async -> (account: String?, principal: String?) { identity }

    public func now() async -> Date { ((try? await backend.coreTime()) ?? nil) ?? Date() }

    public func describeStore(_ idOrName: String) async throws(TeardownCallError) -> TeardownObservation.Store? {
        let stores: [StoreRecord]
        do { stores = try await backend.listStores() } catch { throw Self.callError(error) }
        guard let s = stores.first(where: { $0.id == idOrName }) ?? stores.first(where: { $0.name == idOrName }) else { return nil }
        return TeardownObservation.Store(id: s.id, name: s.name, type: s.type, connectionState: s.connectionState,
                                         connectionErrorCode: s.connectionErrorCode, cloudHsmClusterId: s.cloudHsmClusterId,
                                         xksProxyUriEndpoint: s.xksProxy?.uriEndpoint)
    }

    public func keys(inStore storeId: String, progress: @escaping @Sendable (Int) -> Void) async throws(TeardownCallError) -> [TeardownObservation.Key] {
        var keys: [TeardownObservation.Key] = []
        var dates: [String: Date] = [:]
        do {
            for try await k in backend.keys(inStore: storeId) {
                keys.append(TeardownObservation.Key(id: k.id, state: k.state, deletionDate: k.deletionDate,
                                                    aliases: k.aliases, xksKeyId: k.xksKeyId))
                dates[k.id] = k.creationDate
                progress(keys.count)
            }
        } catch {
            throw Self.callError(error)
        }
        created.withLock { $0.merge(dates) { _, new in new } }
        return keys
    }

    public func lastUse(of keyIds: [String], progress: @escaping @Sendable (Int) -> Void) async -> [String: KeyLastUse] {
        let backend = self.backend
        let dates = created.withLock { $0 }
        let counter = Counter()
        let pairs = await BoundedConcurrency.map(keyIds, width: concurrency) { id -> (String, KeyLastUse) in
            defer { progress(counter.increment()) }
            do {
                let u = try await backend.lastUsage(id)
                return (id, KeyLastUse.from(lastUsed: u.lastUsed, operation: u.operation,
                                            keyCreationDate: dates[id] ?? u.trackingStartDate, trackingStartDate: u.trackingStartDate))
            } catch {
                let e = Self.callError(error)
                return (id, .unknown(reason: "GetKeyLastUsage failed: \(e.description)"))
            }
        }
        return Dictionary(pairs, uniquingKeysWith: { a, _ in a })
    }

    public func scheduleKeyDeletion(_ keyIds: [String], window: PendingWindow,
                                    progress: @escaping @Sendable (TeardownCallResult) -> Void) async -> [TeardownCallResult] {
        let backend = self.backend
        return await perKey(keyIds, progress: progress) { id in
            let date = try await backend.scheduleKeyDeletion(id, pendingWindowInDays: window.days)
            return TeardownCallResult(target: id, deletionDate: date)
        }
    }

    public func cancelKeyDeletion(_ keyIds: [String], progress: @escaping @Sendable (TeardownCallResult) -> Void) async -> [TeardownCallResult] {
        let backend = self.backend
        return await perKey(keyIds, progress: progress) { id in
            try await backend.cancelKeyDeletion(id)
            return TeardownCallResult(target: id)
        }
    }

    public func enableKey(_ keyIds: [String], progress: @escaping @Sendable (TeardownCallResult) -> Void) async -> [TeardownCallResult] {
        let backend = self.backend
        return await perKey(keyIds, progress: progress) { id in
            try await backend.enableKey(id)
            return TeardownCallResult(target: id)
        }
    }

    public func connect(storeId: String) async -> TeardownCallResult {
        await storeCall(storeId) { try await self.backend.connectStore(storeId) }
    }

    public func disconnect(storeId: String) async -> TeardownCallResult {
        await storeCall(storeId) { try await self.backend.disconnectStore(storeId) }
    }

    public func delete(storeId: String) async -> TeardownCallResult {
        guard let capable = backend as? any TeardownCapableBackend else {
            return TeardownCallResult(target: storeId, error: TeardownCallError(
                typeName: "UnsupportedOperationException", message: "this backend cannot delete custom key stores"))
        }
        return await storeCall(storeId) { try await capable.deleteStore(storeId) }
    }

    public func orphanedKeyMaterial(clusterId: String) async -> [TeardownObservation.OrphanedKeyMaterial]? {
        await (backend as? any TeardownCapableBackend)?.orphanedKeyMaterial(clusterId: clusterId)
    }

    public func advanceClock(seconds: Int) async throws(TeardownCallError) -> Date {
        guard let capable = backend as? any TeardownCapableBackend else {
            throw TeardownCallError(typeName: "UnsupportedOperationException", message: "this endpoint has no clock to advance")
        }
        do { return try await capable.advanceClock(seconds: seconds) } catch { throw Self.callError(error) }
    }

    // MARK: -

    private func storeCall(_ storeId: String, _ body: () async throws -> Void) async -> TeardownCallResult {
        do {
            try await body()
            return TeardownCallResult(target: storeId)
        } catch {
            let e = Self.callError(error)
            return TeardownCallResult(target: storeId, requestId: e.requestId, error: e)
        }
    }

    private func perKey(_ ids: [String], progress: @escaping @Sendable (TeardownCallResult) -> Void,
                        _ body: @escaping @Sendable (String) async throws -> TeardownCallResult) async -> [TeardownCallResult] {
        let results = await BoundedConcurrency.map(ids, width: concurrency) { id -> TeardownCallResult in
            let result: TeardownCallResult
            do { result = try await body(id) } catch {
                let e = Self.callError(error)
                result = TeardownCallResult(target: id, requestId: e.requestId, error: e)
            }
            progress(result)
            return result
        }
        return results
    }

}
