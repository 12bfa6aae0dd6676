import Foundation

/// What moving a core's simulated clock forward does (`cks --demo`'s fast-forward): the clock is the whole core's, so
/// every key in every store whose waiting period ends by then is deleted, and a CloudHSM store that is not connected
/// when that happens leaves its keys' material orphaned in its cluster. Pure: built from what was observed.
public struct FastForwardPreview: Sendable, Hashable {
    /// A key pending deletion, wherever it is.
    public struct PendingKey: Sendable, Hashable {
        public var id: String
        /// nil for a key outside custom key stores.
        public var storeId: String?
        public var deletionDate: Date
        public var aliases: [String]

        public init(id: String, storeId: String?, deletionDate: Date, aliases: [String] = []) {
            self.id = id
            self.storeId = storeId
            self.deletionDate = deletionDate
            self.aliases = aliases
        }
    }

    /// The keys one store loses.
    public struct StoreEffect: Sendable, Hashable {
        public var store: TeardownObservation.Store
        /// Sorted by id.
        public var keyIds: [String]
        /// The keys as people know them: the first alias, else the id; in natural order.
        public var names: [String]
        /// A CloudHSM store that is not CONNECTED: KMS deletes the keys but not their material in the cluster.
        public var orphansKeyMaterial: Bool
    }

    /// The core's clock now, and after.
    public var now: Date
    public var target: Date
    /// Stores that lose keys: the one being torn down first, then by name.
    public var stores: [StoreEffect]
    /// Keys outside custom key stores that are deleted too.
    public var keysOutsideStores: [String]

    /// Whole seconds to advance the clock by (at least 1).
    public var seconds: Int { max(1, Int(target.timeIntervalSince(now).rounded(.up))) }

    public var totalKeys: Int { stores.reduce(keysOutsideStores.count) { $0 + $1.keyIds.count } }

    /// - Parameters:
    ///   - focus: the store whose teardown asks (listed first).
    ///   - stores: every custom key store of the account, as observed.
    ///   - pending: every key pending deletion in the account, as observed.
    public init(now: Date, target: Date, focus: String?, stores: [TeardownObservation.Store], pending: [PendingKey]) {
        self.now = now
        self.target = target
        let due = pending.filter { $0.deletionDate <= target }
        let byStore = Dictionary(grouping: due.filter { $0.storeId != nil }, by: { $0.storeId! })
        var effects: [StoreEffect] = []
        for store in stores {
            guard let keys = byStore[store.id], !keys.isEmpty else { continue }
            effects.append(StoreEffect(store: store, keyIds: keys.map(\.id).sorted(), names: Self.names(keys),
                                       orphansKeyMaterial: store.isCloudHsm && store.connectionState != .connected))
        }
        // Keys of a store the listing did not show (created meanwhile) still go: name them by store id.
        let known = Set(stores.map(\.id))
        for (id, keys) in byStore where !known.contains(id) {
            let unknown = TeardownObservation.Store(id: id, name: id, type: .awsCloudHsm, connectionState: .disconnected)
            effects.append(StoreEffect(store: unknown, keyIds: keys.map(\.id).sorted(), names: Self.names(keys),
                                       orphansKeyMaterial: false))
        }
        self.stores = effects.sorted { a, b in
            if (a.store.id == focus) != (b.store.id == focus) { return a.store.id == focus }
            return (a.store.name, a.store.id) < (b.store.name, b.store.id)
        }
        keysOutsideStores = due.filter { $0.storeId == nil }.map(\.id).sorted()
    }

    /// Aliases first (by name), then ids.
    static func names(_ keys: [PendingKey]) -> [String] {
        let aliased = keys.compactMap { $0.aliases.sorted().first }.sorted()
        return aliased + keys.filter { $0.aliases.isEmpty }.map(\.id).sorted()
    }

    /// What one store loses: `ledger-hsm (CloudHSM, DISCONNECTED): 9 keys (alias/ledger/0006, … and 6 more); …their key
    /// material is orphaned in cluster-…`.
    public static func describe(_ effect: StoreEffect) -> String {
        let s = effect.store
        var line = "\(s.name) (\(s.isCloudHsm ? "CloudHSM" : "external"), \(s.connectionState.rawValue)): "
            + TeardownText.count(effect.keyIds.count, "key") + " (\(TeardownText.list(effect.names, limit: 3)))"
        if effect.orphansKeyMaterial {
            line += "; the store is not connected, so their key material is orphaned in "
                + (s.cloudHsmClusterId.map { "cluster \($0)" } ?? "its cluster") + " and must be deleted by hand"
        }
        return line
    }

    /// One line per store, then the keys outside custom key stores.
    public var lines: [String] {
        stores.map(Self.describe)
            + (keysOutsideStores.isEmpty ? [] : ["keys outside custom key stores: \(TeardownText.count(keysOutsideStores.count, "key"))"])
    }
}
