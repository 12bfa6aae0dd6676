import CKSDomain
import Foundation
import GRDB

/// Mutations, valid inside one write transaction (`KMSDatabase.write`). Reads see the transaction's own writes.
public final class DataWriter: DataReader {
    func run(_ sql: String, _ arguments: StatementArguments) throws {
        try db.cachedStatement(sql: sql).execute(arguments: arguments)
    }

    public func setMeta(_ key: String, _ value: String) throws {
        try run("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", [key, value])
    }

    /// After the clock was reset (`cks serve --reset-clock`): every date outside `range` (left by a clock that ran
    /// past what the core serves) is brought to `now`, except a pending deletion, which restarts its waiting period
    /// from `now`. Returns how many values changed.
    public func bringDates(into range: ClosedRange<Double>, now: Date) throws -> Int {
        let outside = "(%@ < \(range.lowerBound) OR %@ > \(range.upperBound))"
        func clause(_ column: String) -> String { outside.replacingOccurrences(of: "%@", with: column) }
        let at = now.timeIntervalSince1970
        var changed = 0
        try run("UPDATE kms_key SET deletion_date = ? + 86400 * COALESCE(pending_window, 30) WHERE \(clause("deletion_date"))", [at])
        changed += db.changesCount
        let columns = [("kms_key", ["creation_date", "last_used_at"]),
                       ("store", ["creation_date", "changed_at", "settles_at"]),
                       ("alias", ["creation_date", "last_updated"]),
                       ("cluster", ["creation_date"]),
                       ("grant_entry", ["creation_date"]),
                       ("key_event", ["event_time"]),
                       ("orphaned_material", ["deletion_date"])]
        for (table, names) in columns {
            for name in names {
                try run("UPDATE \(table) SET \(name) = ? WHERE \(clause(name))", [at])
                changed += db.changesCount
            }
        }
        return changed
    }

    // MARK: stores

    public func insert(_ store: CustomKeyStore) throws {
        try run("""
            INSERT INTO store (id, account, region, name, type, creation_date, cluster_id, trust_anchor, key_store_password,
              xks_connectivity, xks_uri_endpoint, xks_uri_path, xks_vpc_service_name, xks_vpc_service_owner,
              xks_access_key_id, xks_secret, state, error_code, changed_at, settles_at, outcome, fault)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, storeArguments(store))
    }

    /// Replaces every mutable column of the store with this id.
    public func update(_ store: CustomKeyStore) throws {
        var args = storeArguments(store)
        args += [store.id]
        try run("""
            UPDATE store SET id = ?, account = ?, region = ?, name = ?, type = ?, creation_date = ?, cluster_id = ?,
              trust_anchor = ?, key_store_password = ?, xks_connectivity = ?, xks_uri_endpoint = ?, xks_uri_path = ?,
              xks_vpc_service_name = ?, xks_vpc_service_owner = ?, xks_access_key_id = ?, xks_secret = ?, state = ?,
              error_code = ?, changed_at = ?, settles_at = ?, outcome = ?, fault = ?
            WHERE id = ?
            """, args)
    }

    public func deleteStore(id: String) throws {
        try run("DELETE FROM store WHERE id = ?", [id])
    }

    // MARK: keys

    public func insert(_ key: KMSKey) throws {
        try run("""
            INSERT INTO kms_key (id, account, region, creation_date, description, key_usage, key_spec, origin, store_id,
              state, deletion_date, pending_window, xks_key_id, material)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [key.id, key.scope.account, key.scope.region, key.creationDate.timeIntervalSince1970, key.description,
                  key.keyUsage, key.keySpec, key.origin.rawValue, key.customKeyStoreId, key.storedState.rawValue,
                  key.deletionDate?.timeIntervalSince1970, key.pendingWindowInDays, key.xksKeyId,
                  secrets.sealMaterial(key.material, keyId: key.id)])
    }

    /// Stores a key's state, deletion date and window.
    public func updateState(of key: KMSKey) throws {
        try run("UPDATE kms_key SET state = ?, deletion_date = ?, pending_window = ? WHERE id = ?",
                [key.storedState.rawValue, key.deletionDate?.timeIntervalSince1970, key.pendingWindowInDays, key.id])
    }

    public func recordUsage(keyId: String, _ usage: KeyLastUsage) throws {
        try run("UPDATE kms_key SET last_used_operation = ?, last_used_at = ?, last_used_request = ?, last_used_event = ? WHERE id = ?",
                [usage.operation, usage.timestamp.timeIntervalSince1970, usage.requestId, usage.cloudTrailEventId, keyId])
    }

    /// Deletes a key, its aliases, grants and tags.
    public func deleteKey(id: String) throws {
        try run("DELETE FROM alias WHERE key_id = ?", [id])
        try run("DELETE FROM grant_entry WHERE key_id = ?", [id])
        try run("DELETE FROM key_tag WHERE key_id = ?", [id])
        try run("DELETE FROM kms_key WHERE id = ?", [id])
    }

    // MARK: aliases

    public func insert(_ alias: KMSAlias) throws {
        try run("INSERT INTO alias (account, region, name, key_id, creation_date, last_updated) VALUES (?, ?, ?, ?, ?, ?)",
                [alias.scope.account, alias.scope.region, alias.name, alias.targetKeyId,
                 alias.creationDate.timeIntervalSince1970, alias.lastUpdatedDate.timeIntervalSince1970])
    }

    public func deleteAlias(named name: String, in scope: ResourceScope) throws {
        try run("DELETE FROM alias WHERE account = ? AND region = ? AND name = ?", [scope.account, scope.region, name])
    }

    // MARK: simulated backends

    public func insert(_ cluster: HsmCluster) throws {
        try run("""
            INSERT INTO cluster (id, account, region, hsm_count, kmsuser_password, trust_anchor, state, creation_date)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, [cluster.id, cluster.scope.account, cluster.scope.region, cluster.hsmCount,
                  secrets.sealText(cluster.kmsUserPassword, SecretSealer.clusterPasswordContext(cluster.id)),
                  cluster.trustAnchorCertificate, cluster.state, cluster.creationDate.timeIntervalSince1970])
    }

    /// Stores a cluster's HSM count, password and activity (its orphans are added separately).
    public func update(_ cluster: HsmCluster) throws {
        try run("UPDATE cluster SET hsm_count = ?, kmsuser_password = ?, state = ? WHERE id = ?",
                [cluster.hsmCount, secrets.sealText(cluster.kmsUserPassword, SecretSealer.clusterPasswordContext(cluster.id)),
                 cluster.state, cluster.id])
    }

    public func addOrphan(_ orphan: OrphanedKeyMaterialRecord, clusterId: String) throws {
        try run("INSERT OR REPLACE INTO orphaned_material (key_id, cluster_id, key_arn, store_id, deletion_date) VALUES (?, ?, ?, ?, ?)",
                [orphan.keyId, clusterId, orphan.keyArn, orphan.customKeyStoreId, orphan.deletionDate.timeIntervalSince1970])
    }

    /// Registers (or replaces) the proxy at the proxy's endpoint and path.
    public func upsert(_ proxy: XksProxy) throws {
        let ids = String(decoding: try JSONEncoder().encode(proxy.externalKeyIds), as: UTF8.self)
        try run("""
            INSERT INTO xks_proxy (uri_endpoint, uri_path, access_key_id, secret, external_key_ids, vpc_service_name)
            VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT(uri_endpoint, uri_path) DO UPDATE SET access_key_id = excluded.access_key_id,
              secret = excluded.secret, external_key_ids = excluded.external_key_ids, vpc_service_name = excluded.vpc_service_name
            """, [proxy.uriEndpoint, proxy.uriPath, proxy.accessKeyId,
                  secrets.sealText(proxy.rawSecretAccessKey, SecretSealer.proxySecretContext(proxy.uriEndpoint, proxy.uriPath)),
                  ids, proxy.vpcEndpointServiceName])
    }
}
