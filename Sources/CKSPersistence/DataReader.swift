import CKSDomain
import Foundation
import GRDB

/// One page of a keyset-paginated list: the items, and the position after the last one when more follow.
public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    /// Present when more items follow: the position to resume after (encode it as the next marker).
    public var nextPosition: String?

    public init(items: [Item], nextPosition: String?) {
        self.items = items
        self.nextPosition = nextPosition
    }
}

/// Queries, valid inside one read (or write) transaction. Every query is indexed; none scans a whole table.
public class DataReader {
    let db: Database
    let secrets: SecretSealer

    init(_ db: Database, _ secrets: SecretSealer) {
        self.db = db
        self.secrets = secrets
    }

    func one(_ sql: String, _ arguments: StatementArguments) throws -> Row? {
        try Row.fetchOne(db.cachedStatement(sql: sql), arguments: arguments)
    }

    func all(_ sql: String, _ arguments: StatementArguments) throws -> [Row] {
        try Row.fetchAll(db.cachedStatement(sql: sql), arguments: arguments)
    }

    /// Keys selected with `Columns.key`, decoded without copying each row first.
    func oneKey(_ sql: String, _ arguments: StatementArguments) throws -> KMSKey? {
        try DecodedKey.fetchOne(db.cachedStatement(sql: sql), arguments: arguments).map { try unsealed($0.key) }
    }

    func allKeys(_ sql: String, _ arguments: StatementArguments) throws -> [KMSKey] {
        try DecodedKey.fetchAll(db.cachedStatement(sql: sql), arguments: arguments).map { try unsealed($0.key) }
    }

    // MARK: meta

    /// A value of the key/value table (clock offset, time scale, tracking start...).
    public func meta(_ key: String) throws -> String? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT value FROM meta WHERE key = ?"), arguments: [key])
    }

    // MARK: custom key stores

    /// The store with this id in `scope`, or nil (another scope's store does not exist).
    public func store(id: String, in scope: ResourceScope) throws -> CustomKeyStore? {
        try one("SELECT \(Columns.store) FROM store WHERE id = ? AND account = ? AND region = ?",
                [id, scope.account, scope.region]).map(decodeStore)
    }

    /// The store with this id, whatever its scope (for internal bookkeeping such as key deletion).
    public func store(id: String) throws -> CustomKeyStore? {
        try one("SELECT \(Columns.store) FROM store WHERE id = ?", [id]).map(decodeStore)
    }

    public func store(named name: String, in scope: ResourceScope) throws -> CustomKeyStore? {
        try one("SELECT \(Columns.store) FROM store WHERE account = ? AND region = ? AND name = ?",
                [scope.account, scope.region, name]).map(decodeStore)
    }

    /// Stores of `scope` in creation order, after the position `after` (a row sequence).
    public func stores(in scope: ResourceScope, after: Int64?, limit: Int) throws -> Page<CustomKeyStore> {
        let rows = try all("SELECT \(Columns.store) FROM store WHERE account = ? AND region = ? AND seq > ? ORDER BY seq LIMIT ?",
                           [scope.account, scope.region, after ?? 0, limit + 1])
        return try page(rows, limit: limit, decode: decodeStore)
    }

    /// All stores of `scope` (bounded by the store quota).
    public func allStores(in scope: ResourceScope) throws -> [CustomKeyStore] {
        try all("SELECT \(Columns.store) FROM store WHERE account = ? AND region = ? ORDER BY seq",
                [scope.account, scope.region]).map(decodeStore)
    }

    /// Every store of every scope whose proxy is reached over a public endpoint (the periodic proxy health check).
    public func publicEndpointStores() throws -> [CustomKeyStore] {
        try all("SELECT \(Columns.store) FROM store WHERE xks_connectivity = ? ORDER BY seq",
                [XksProxyConnectivity.publicEndpoint.rawValue]).map(decodeStore)
    }

    public func storeCount(in scope: ResourceScope) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM store WHERE account = ? AND region = ?"),
                         arguments: [scope.account, scope.region]) ?? 0
    }

    /// The id of a store of `scope` that uses this cluster, other than `excluding`.
    public func storeUsing(clusterId: String, in scope: ResourceScope, excluding: String? = nil) throws -> String? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT id FROM store WHERE cluster_id = ? AND account = ? AND region = ? AND id <> ? LIMIT 1"),
                            arguments: [clusterId, scope.account, scope.region, excluding ?? ""])
    }

    // MARK: keys

    /// The key with this id in `scope`, deleted or not (callers check `isDeleted(at:)`).
    public func key(id: String, in scope: ResourceScope) throws -> KMSKey? {
        try oneKey("SELECT \(Columns.key) FROM kms_key WHERE id = ? AND account = ? AND region = ?",
                   [id, scope.account, scope.region])
    }

    /// Keys of `scope` that exist at `now`, in creation order after `after`: (id) only, for ListKeys.
    public func keyIds(in scope: ResourceScope, existingAt now: Date, after: Int64?, limit: Int) throws -> Page<String> {
        let rows = try all("""
            SELECT seq, id FROM kms_key WHERE account = ? AND region = ? AND seq > ?
              AND (deletion_date IS NULL OR deletion_date > ?) ORDER BY seq LIMIT ?
            """, [scope.account, scope.region, after ?? 0, now.timeIntervalSince1970, limit + 1])
        return try page(rows, limit: limit) { $0["id"] as String }
    }

    /// How many keys a store holds (all rows; expired keys are swept before this is asked in a write).
    public func keyCount(storeId: String) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM kms_key WHERE store_id = ?"), arguments: [storeId]) ?? 0
    }

    /// Keys of a store (for tests and the admin view).
    public func keys(storeId: String) throws -> [KMSKey] {
        try allKeys("SELECT \(Columns.key) FROM kms_key WHERE store_id = ? ORDER BY seq", [storeId])
    }

    /// The key of a store that uses this external key, if any.
    public func keyUsing(xksKeyId: String, storeId: String) throws -> String? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT id FROM kms_key WHERE store_id = ? AND xks_key_id = ?"),
                            arguments: [storeId, xksKeyId])
    }

    /// Keys whose waiting period has ended at `now`, in every scope, oldest deletion first.
    public func expiredKeys(at now: Date) throws -> [KMSKey] {
        // Every write asks this first and the answer is nearly always "none": one indexed MIN is far cheaper than
        // a row cursor over the key columns (docs/perf/decisions.md).
        guard let earliest = try Double.fetchOne(
            db.cachedStatement(sql: "SELECT MIN(deletion_date) FROM kms_key WHERE deletion_date IS NOT NULL")),
            earliest <= now.timeIntervalSince1970 else { return [] }
        return try allKeys("SELECT \(Columns.key) FROM kms_key WHERE deletion_date IS NOT NULL AND deletion_date <= ? ORDER BY deletion_date",
                           [now.timeIntervalSince1970])
    }

    // MARK: aliases

    public func alias(named name: String, in scope: ResourceScope) throws -> KMSAlias? {
        try one("SELECT * FROM alias WHERE account = ? AND region = ? AND name = ?", [scope.account, scope.region, name]).map(decodeAlias)
    }

    /// Aliases of `scope` (optionally of one key) whose key exists at `now`, by name after `after`.
    public func aliases(in scope: ResourceScope, keyId: String?, existingAt now: Date, after: String?, limit: Int) throws -> Page<KMSAlias> {
        let rows: [Row]
        let base = """
            SELECT a.* FROM alias a JOIN kms_key k ON k.id = a.key_id
            WHERE a.account = ? AND a.region = ? AND a.name > ? AND (k.deletion_date IS NULL OR k.deletion_date > ?)
            """
        if let keyId {
            rows = try all(base + " AND a.key_id = ? ORDER BY a.name LIMIT ?",
                           [scope.account, scope.region, after ?? "", now.timeIntervalSince1970, keyId, limit + 1])
        } else {
            rows = try all(base + " ORDER BY a.name LIMIT ?",
                           [scope.account, scope.region, after ?? "", now.timeIntervalSince1970, limit + 1])
        }
        let more = rows.count > limit
        let items = rows.prefix(limit).map(decodeAlias)
        return Page(items: items, nextPosition: more ? items.last?.name : nil)
    }

    // MARK: simulated backends

    public func cluster(id: String, in scope: ResourceScope) throws -> HsmCluster? {
        guard let row = try one("SELECT \(Columns.cluster) FROM cluster WHERE id = ? AND account = ? AND region = ?",
                                [id, scope.account, scope.region]) else { return nil }
        return try decodeCluster(row, orphans: try orphans(clusterId: id))
    }

    public func clusters(in scope: ResourceScope) throws -> [HsmCluster] {
        try all("SELECT \(Columns.cluster) FROM cluster WHERE account = ? AND region = ? ORDER BY creation_date, id",
                [scope.account, scope.region]).map { row in try decodeCluster(row, orphans: try orphans(clusterId: row["id"])) }
    }

    func orphans(clusterId: String) throws -> [OrphanedKeyMaterialRecord] {
        try all("SELECT * FROM orphaned_material WHERE cluster_id = ? ORDER BY deletion_date, key_id", [clusterId]).map { row in
            OrphanedKeyMaterialRecord(keyId: row["key_id"], keyArn: row["key_arn"], customKeyStoreId: row["store_id"],
                                deletionDate: date(row, "deletion_date") ?? Date(timeIntervalSince1970: 0))
        }
    }

    /// The proxy registered at this endpoint and path.
    public func proxy(uriEndpoint: String, uriPath: String) throws -> XksProxy? {
        guard let row = try one("SELECT * FROM xks_proxy WHERE uri_endpoint = ? AND uri_path = ?", [uriEndpoint, uriPath]) else { return nil }
        let ids = (try? JSONDecoder().decode([String].self, from: Data((row["external_key_ids"] as String).utf8))) ?? []
        let secret = try secrets.openText(row["secret"], SecretSealer.proxySecretContext(uriEndpoint, uriPath))
        return XksProxy(uriEndpoint: row["uri_endpoint"], uriPath: row["uri_path"], accessKeyId: row["access_key_id"],
                        rawSecretAccessKey: secret ?? "", externalKeyIds: ids, vpcEndpointServiceName: row["vpc_service_name"])
    }

    /// The proxy reachable through this VPC endpoint service, if any.
    public func proxy(vpcEndpointServiceName name: String) throws -> XksProxy? {
        guard let row = try one("SELECT uri_endpoint, uri_path FROM xks_proxy WHERE vpc_service_name = ? LIMIT 1", [name]) else { return nil }
        return try proxy(uriEndpoint: row["uri_endpoint"], uriPath: row["uri_path"])
    }

    public func proxies() throws -> [XksProxy] {
        try all("SELECT uri_endpoint, uri_path FROM xks_proxy ORDER BY uri_endpoint, uri_path", []).compactMap { row in
            try proxy(uriEndpoint: row["uri_endpoint"], uriPath: row["uri_path"])
        }
    }

    func page<T>(_ rows: [Row], limit: Int, decode: (Row) throws -> T) throws -> Page<T> {
        let more = rows.count > limit
        let kept = rows.prefix(limit)
        let next: String? = more ? kept.last.map { String($0["seq"] as Int64) } : nil
        return Page(items: try kept.map(decode), nextPosition: next)
    }
}
