import Foundation
import GRDB

/// The schema, as migrations from the first one on. Never edit a shipped migration; add one.
enum Schema {
    /// - Parameters:
    ///   - secrets: seals what earlier versions stored in clear (`sealed-secrets`).
    ///   - tally: counts what that migration sealed.
    static func migrator(secrets: SecretSealer, tally: SealingTally) -> DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;

                CREATE TABLE cluster (
                    id TEXT PRIMARY KEY NOT NULL, account TEXT NOT NULL, region TEXT NOT NULL,
                    hsm_count INTEGER NOT NULL, kmsuser_password TEXT NOT NULL, trust_anchor TEXT NOT NULL,
                    state TEXT NOT NULL, creation_date REAL NOT NULL);
                CREATE INDEX cluster_scope ON cluster(account, region);

                CREATE TABLE orphaned_material (
                    key_id TEXT PRIMARY KEY NOT NULL, cluster_id TEXT NOT NULL, key_arn TEXT NOT NULL,
                    store_id TEXT NOT NULL, deletion_date REAL NOT NULL);
                CREATE INDEX orphaned_by_cluster ON orphaned_material(cluster_id);

                CREATE TABLE xks_proxy (
                    uri_endpoint TEXT NOT NULL, uri_path TEXT NOT NULL, access_key_id TEXT NOT NULL,
                    secret TEXT NOT NULL, external_key_ids TEXT NOT NULL, vpc_service_name TEXT,
                    PRIMARY KEY (uri_endpoint, uri_path)) WITHOUT ROWID;

                CREATE TABLE store (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
                    account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL,
                    creation_date REAL NOT NULL,
                    cluster_id TEXT, trust_anchor TEXT, key_store_password TEXT,
                    xks_connectivity TEXT, xks_uri_endpoint TEXT, xks_uri_path TEXT,
                    xks_vpc_service_name TEXT, xks_vpc_service_owner TEXT, xks_access_key_id TEXT, xks_secret TEXT,
                    state TEXT NOT NULL, error_code TEXT, changed_at REAL NOT NULL, settles_at REAL, outcome TEXT,
                    fault TEXT);
                CREATE UNIQUE INDEX store_name ON store(account, region, name);
                CREATE INDEX store_scope ON store(account, region, seq);
                CREATE INDEX store_cluster ON store(cluster_id) WHERE cluster_id IS NOT NULL;

                CREATE TABLE kms_key (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
                    account TEXT NOT NULL, region TEXT NOT NULL, creation_date REAL NOT NULL,
                    description TEXT NOT NULL, key_usage TEXT NOT NULL, key_spec TEXT NOT NULL, origin TEXT NOT NULL,
                    store_id TEXT, state TEXT NOT NULL, deletion_date REAL, pending_window INTEGER,
                    xks_key_id TEXT, material BLOB,
                    last_used_operation TEXT, last_used_at REAL, last_used_request TEXT, last_used_event TEXT);
                CREATE INDEX key_scope ON kms_key(account, region, seq);
                CREATE INDEX key_store ON kms_key(store_id) WHERE store_id IS NOT NULL;
                CREATE INDEX key_deletion ON kms_key(deletion_date) WHERE deletion_date IS NOT NULL;
                CREATE UNIQUE INDEX key_xks ON kms_key(store_id, xks_key_id) WHERE xks_key_id IS NOT NULL;

                CREATE TABLE alias (
                    account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, key_id TEXT NOT NULL,
                    creation_date REAL NOT NULL, last_updated REAL NOT NULL,
                    PRIMARY KEY (account, region, name)) WITHOUT ROWID;
                CREATE INDEX alias_key ON alias(key_id);
                CREATE INDEX xks_proxy_vpc ON xks_proxy(vpc_service_name) WHERE vpc_service_name IS NOT NULL;
                """)
        }
        m.registerMigration("sealed-secrets") { db in
            tally.count += try sealSecretsStoredInClear(db, secrets)
            try db.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                           arguments: [SecretSealer.checkMetaKey, secrets.makeCheck()])
        }
        m.registerMigration("v2-grants-policies-tags") { db in
            try db.execute(sql: """
                ALTER TABLE kms_key ADD COLUMN policy TEXT;

                CREATE TABLE grant_entry (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, key_id TEXT NOT NULL,
                    account TEXT NOT NULL, region TEXT NOT NULL, name TEXT, creation_date REAL NOT NULL,
                    grantee TEXT NOT NULL, retiring TEXT, issuing_account TEXT NOT NULL, operations TEXT NOT NULL,
                    context_subset TEXT, context_equals TEXT, token TEXT NOT NULL);
                CREATE INDEX grant_key ON grant_entry(key_id, seq);
                CREATE INDEX grant_grantee ON grant_entry(key_id, grantee);
                CREATE INDEX grant_retiring ON grant_entry(account, region, retiring, seq) WHERE retiring IS NOT NULL;

                CREATE TABLE key_tag (
                    key_id TEXT NOT NULL, tag_key TEXT NOT NULL, tag_value TEXT NOT NULL,
                    PRIMARY KEY (key_id, tag_key)) WITHOUT ROWID;
                """)
        }
        m.registerMigration("v3-key-events") { db in
            // The record of every call that touched a key (CloudTrail's LookupEvents), newest first per scope.
            try db.execute(sql: """
                CREATE TABLE key_event (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, event_time REAL NOT NULL,
                    account TEXT NOT NULL, region TEXT NOT NULL, key_id TEXT, key_param TEXT, operation TEXT NOT NULL,
                    principal_arn TEXT NOT NULL, username TEXT NOT NULL, access_key_id TEXT, source TEXT NOT NULL,
                    request_id TEXT NOT NULL, error_code TEXT, error_message TEXT, read_only INTEGER NOT NULL);
                CREATE INDEX event_scope_time ON key_event(account, region, event_time, seq);
                CREATE INDEX event_key_time ON key_event(key_id, event_time, seq) WHERE key_id IS NOT NULL;
                CREATE INDEX event_name_time ON key_event(account, region, operation, event_time, seq);
                CREATE INDEX event_user_time ON key_event(account, region, username, event_time, seq);
                CREATE INDEX event_time ON key_event(event_time);
                """)
        }
        m.registerMigration("v4-workloads") { db in
            try db.execute(sql: """
                CREATE TABLE workload (
                    id TEXT PRIMARY KEY NOT NULL, account TEXT NOT NULL, region TEXT NOT NULL, key_id TEXT NOT NULL,
                    operation TEXT NOT NULL, principal TEXT NOT NULL, every_seconds REAL NOT NULL, next_run REAL NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX workload_next ON workload(next_run);
                """)
        }
        return m
    }

    /// Seals every secret an earlier version wrote in clear: key material (32 raw bytes), store and cluster
    /// passwords and XKS secrets (TEXT). Returns how many values it sealed.
    static func sealSecretsStoredInClear(_ db: Database, _ secrets: SecretSealer) throws -> Int {
        var sealed = 0
        let materials = try Row.fetchAll(db, sql: "SELECT id, material FROM kms_key WHERE length(material) = ?",
                                         arguments: [SecretSealer.rawMaterialLength])
        for row in materials {
            let id: String = row["id"]
            try db.execute(sql: "UPDATE kms_key SET material = ? WHERE id = ?",
                           arguments: [secrets.sealMaterial(row["material"], keyId: id), id])
            sealed += 1
        }
        let textColumns: [(table: String, column: String, id: String, context: (Row) -> String)] = [
            ("store", "key_store_password", "id", { SecretSealer.storePasswordContext($0["id"]) }),
            ("store", "xks_secret", "id", { SecretSealer.storeXksSecretContext($0["id"]) }),
            ("cluster", "kmsuser_password", "id", { SecretSealer.clusterPasswordContext($0["id"]) }),
        ]
        for (table, column, id, context) in textColumns {
            let rows = try Row.fetchAll(db, sql: "SELECT \(id), \(column) FROM \(table) WHERE typeof(\(column)) = 'text'")
            for row in rows {
                try db.execute(sql: "UPDATE \(table) SET \(column) = ? WHERE \(id) = ?",
                               arguments: [secrets.sealText(row[column], context(row)), row[id] as String])
                sealed += 1
            }
        }
        let proxies = try Row.fetchAll(db, sql: "SELECT uri_endpoint, uri_path, secret FROM xks_proxy WHERE typeof(secret) = 'text'")
        for row in proxies {
            let endpoint: String = row["uri_endpoint"], path: String = row["uri_path"]
            try db.execute(sql: "UPDATE xks_proxy SET secret = ? WHERE uri_endpoint = ? AND uri_path = ?",
                           arguments: [secrets.sealText(row["secret"], SecretSealer.proxySecretContext(endpoint, path)),
                                       endpoint, path])
            sealed += 1
        }
        return sealed
    }
}
