import CKSDomain
@testable import CKSTeardown
import Foundation
import Synchronization
@testable import CKSConsole

/// An in-memory KMS with the rules a teardown meets (semantics §1.2, §2.4): states, deletion at the end of
/// the window (orphaning CloudHSM material when not connected), DISCONNECTING that settles after a while,
/// FAILED that only leaves through Disconnect, and injectable failures. Time only moves when told to.
final class FakeTeardownService: TeardownService, Sendable {
    struct World {
        var store: TeardownObservation.Store?
        var keys: [String: TeardownObservation.Key] = [:]
        var uses: [String: KeyLastUse] = [:]
        var now = Date(timeIntervalSince1970: 1_800_000_000)
        var orphaned: [TeardownObservation.OrphanedKeyMaterial] = []
        /// DISCONNECTING / CONNECTING settle this many describes later.
        var settleAfterDescribes = 1
        var pendingSettle: (ConnectionState, Int)?
        /// Keys whose next ScheduleKeyDeletion fails with this error (once).
        var failSchedule: [String: TeardownCallError] = [:]
        var calls: [String] = []
        var requestCounter = 0
    }

    let world: Mutex<World>
    let endpoint = "http://127.0.0.1:7911"

    init(store: TeardownObservation.Store?, keys: [TeardownObservation.Key] = [], uses: [String: KeyLastUse] = [:]) {
        var w = World(store: store)
        for key in keys { w.keys[key.id] = key }
        w.uses = uses
        world = Mutex(w)
    }

    func mutate<T>(_ body: (inout World) -> T) -> T { world.withLock { body(&$0) } }
    var calls: [String] { world.withLock { $0.calls } }

    private func record(_ call: String, _ w: inout World) -> String {
        w.calls.append(call)
        w.requestCounter += 1
        return "req-\(w.requestCounter)"
    }

    /// Deletes keys whose window has ended, as KMS does "after" the deletion date.
    private static func expire(_ w: inout World) {
        for (id, key) in w.keys where key.isPendingDeletion && (key.deletionDate ?? .distantFuture) <= w.now {
            if let store = w.store, store.isCloudHsm, store.connectionState != .connected {
                w.orphaned.append(.init(clusterId: store.cloudHsmClusterId ?? "?", keyId: id))
            }
            w.keys[id] = nil
        }
    }

    func caller() async -> (account: String?, principal: String?) { ("111122223333", "admin") }
    func now() async -> Date { world.withLock { $0.now } }

    func describeStore(_ idOrName: String) async throws(TeardownCallError) -> TeardownObservation.Store? {
        world.withLock { w in
            _ = record("DescribeCustomKeyStores", &w)
            Self.expire(&w)
            if let (state, left) = w.pendingSettle {
                if left <= 1 { w.store?.connectionState = state; w.pendingSettle = nil } else { w.pendingSettle = (state, left - 1) }
            }
            guard let store = w.store, store.id == idOrName || store.name == idOrName else { return nil }
            return store
        }
    }

    func keys(inStore storeId: String, progress: @escaping @Sendable (Int) -> Void) async throws(TeardownCallError) -> [TeardownObservation.Key] {
        let keys = world.withLock { w -> [TeardownObservation.Key] in
            _ = record("ListKeys", &w)
            Self.expire(&w)
            let connected = w.store?.connectionState == .connected
            return w.keys.values.sorted { $0.id < $1.id }.map { key in
                var key = key
                // Effective state: Unavailable while not connected, PendingDeletion wins (semantics §6.4).
                if !connected && !key.isPendingDeletion { key.state = .unavailable }
                return key
            }
        }
        for i in keys.indices { progress(i + 1) }
        return keys
    }

    func lastUse(of keyIds: [String], progress: @escaping @Sendable (Int) -> Void) async -> [String: KeyLastUse] {
        let uses = world.withLock { w in
            keyIds.map { id -> (String, KeyLastUse) in
                _ = record("GetKeyLastUsage", &w)
                return (id, w.uses[id] ?? .neverUsed)
            }
        }
        for i in uses.indices { progress(i + 1) }
        return Dictionary(uniqueKeysWithValues: uses)
    }

    private func perKey(_ ids: [String], progress: @escaping @Sendable (TeardownCallResult) -> Void,
                        _ body: (String, inout World) -> TeardownCallResult) -> [TeardownCallResult] {
        let results = world.withLock { w in ids.map { body($0, &w) } }
        results.forEach(progress)
        return results
    }

    func scheduleKeyDeletion(_ keyIds: [String], window: PendingWindow,
                             progress: @escaping @Sendable (TeardownCallResult) -> Void) async -> [TeardownCallResult] {
        perKey(keyIds, progress: progress) { id, w in
            let req = record("ScheduleKeyDeletion", &w)
            if let error = w.failSchedule.removeValue(forKey: id) { return .init(target: id, requestId: req, error: error) }
            guard w.keys[id] != nil else {
                return .init(target: id, requestId: req, error: .init(typeName: "NotFoundException", message: "Key '\(id)' does not exist", code: .notFound))
            }
            guard w.keys[id]?.isPendingDeletion == false else {
                return .init(target: id, requestId: req, error: .init(typeName: "KMSInvalidStateException", message: "\(id) is pending deletion.", code: .kmsInvalidState))
            }
            let date = window.deletionDate(from: w.now)
            w.keys[id]?.state = .pendingDeletion
            w.keys[id]?.deletionDate = date
            return .init(target: id, requestId: req, deletionDate: date)
        }
    }

    func cancelKeyDeletion(_ keyIds: [String], progress: @escaping @Sendable (TeardownCallResult) -> Void) async -> [TeardownCallResult] {
        perKey(keyIds, progress: progress) { id, w in
            let req = record("CancelKeyDeletion", &w)
            guard w.keys[id]?.isPendingDeletion == true else {
                return .init(target: id, requestId: req, error: .init(typeName: "KMSInvalidStateException", message: "\(id) is not pending deletion.", code: .kmsInvalidState))
            }
            w.keys[id]?.state = .disabled
            w.keys[id]?.deletionDate = nil
            return .init(target: id, requestId: req)
        }
    }

    func enableKey(_ keyIds: [String], progress: @escaping @Sendable (TeardownCallResult) -> Void) async -> [TeardownCallResult] {
        perKey(keyIds, progress: progress) { id, w in
            let req = record("EnableKey", &w)
            guard w.keys[id] != nil, w.keys[id]?.isPendingDeletion == false else {
                return .init(target: id, requestId: req, error: .init(typeName: "KMSInvalidStateException", message: "\(id) is pending deletion.", code: .kmsInvalidState))
            }
            w.keys[id]?.state = .enabled
            return .init(target: id, requestId: req)
        }
    }

    private func invalidState(_ op: String, _ w: World) -> TeardownCallError {
        .init(typeName: "CustomKeyStoreInvalidStateException",
              message: "\(op) is not valid while the store is \(w.store?.connectionState.rawValue ?? "?")", code: .customKeyStoreInvalidState)
    }

    func connect(storeId: String) async -> TeardownCallResult {
        world.withLock { w in
            let req = record("ConnectCustomKeyStore", &w)
            guard let state = w.store?.connectionState, ![.failed, .disconnecting].contains(state) else {
                return .init(target: storeId, requestId: req, error: invalidState("ConnectCustomKeyStore", w))
            }
            if state == .disconnected {
                w.store?.connectionState = .connecting
                w.pendingSettle = (.connected, w.settleAfterDescribes)
            }
            return .init(target: storeId, requestId: req)
        }
    }

    func disconnect(storeId: String) async -> TeardownCallResult {
        world.withLock { w in
            let req = record("DisconnectCustomKeyStore", &w)
            guard let state = w.store?.connectionState, ![.disconnected, .disconnecting].contains(state) else {
                return .init(target: storeId, requestId: req, error: invalidState("DisconnectCustomKeyStore", w))
            }
            w.store?.connectionState = .disconnecting
            w.store?.connectionErrorCode = nil
            w.pendingSettle = (.disconnected, w.settleAfterDescribes)
            return .init(target: storeId, requestId: req)
        }
    }

    func delete(storeId: String) async -> TeardownCallResult {
        world.withLock { w in
            let req = record("DeleteCustomKeyStore", &w)
            guard w.keys.isEmpty else {
                return .init(target: storeId, requestId: req, error: .init(typeName: "CustomKeyStoreHasCMKsException", message: "has keys", code: .customKeyStoreHasCMKs))
            }
            guard w.store?.connectionState == .disconnected else {
                return .init(target: storeId, requestId: req, error: invalidState("DeleteCustomKeyStore", w))
            }
            w.store = nil
            return .init(target: storeId, requestId: req)
        }
    }

    func orphanedKeyMaterial(clusterId: String) async -> [TeardownObservation.OrphanedKeyMaterial]? {
        world.withLock { w in w.orphaned.filter { $0.clusterId == clusterId } }
    }

    func pendingDeletions() async throws(TeardownCallError) -> (stores: [TeardownObservation.Store], keys: [FastForwardPreview.PendingKey]) {
        world.withLock { w in
            let storeId = w.store?.id
            let keys = w.keys.values.compactMap { k in
                k.deletionDate.map { FastForwardPreview.PendingKey(id: k.id, storeId: storeId, deletionDate: $0) }
            }
            return (w.store.map { [$0] } ?? [], keys)
        }
    }

    func advanceClock(seconds: Int) async throws(TeardownCallError) -> Date {
        world.withLock { w in
            _ = record("AdvanceClock", &w)
            w.now += TimeInterval(seconds)
            Self.expire(&w)
            return w.now
        }
    }
}
