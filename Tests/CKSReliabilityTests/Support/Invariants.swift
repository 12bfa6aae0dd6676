import CKSClient
import CKSDomain
import CKSWire
import Foundation
import GRDB

/// The rules that must hold at every moment, checked two ways: in the SQLite file (opened read-only, next to the
/// running core) and through the API, as a client sees them.
enum Invariants {
    /// `PRAGMA integrity_check` and `foreign_key_check`, then the rules over every row:
    /// no key of a store that no longer exists (a store deleted while it had keys), every PendingDeletion key with a
    /// deletion date and window, no deletion date on a key that is not pending deletion (half-applied cancel or
    /// schedule). Returns the violations, empty when all is well.
    static func checkDatabase(at url: URL) throws -> [String] {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        let queue = try DatabaseQueue(path: url.path, configuration: configuration)
        defer { try? queue.close() }
        return try queue.read { db -> [String] in
            var problems: [String] = []
            let integrity = try String.fetchAll(db, sql: "PRAGMA integrity_check")
            if integrity != ["ok"] { problems.append("integrity_check: \(integrity.prefix(5))") }
            let foreign = try Row.fetchAll(db, sql: "PRAGMA foreign_key_check")
            if !foreign.isEmpty { problems.append("foreign_key_check: \(foreign.prefix(5))") }
            let orphans = try String.fetchAll(db, sql: """
                SELECT k.id || ' of ' || k.store_id FROM kms_key k
                WHERE k.store_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM store s WHERE s.id = k.store_id) LIMIT 5
                """)
            if !orphans.isEmpty { problems.append("keys of a deleted store: \(orphans)") }
            let undated = try String.fetchAll(db, sql: """
                SELECT id FROM kms_key WHERE state = 'PendingDeletion' AND (deletion_date IS NULL OR pending_window IS NULL) LIMIT 5
                """)
            if !undated.isEmpty { problems.append("PendingDeletion keys without a deletion date: \(undated)") }
            let stray = try String.fetchAll(db, sql: """
                SELECT id || ' ' || state FROM kms_key WHERE state <> 'PendingDeletion' AND deletion_date IS NOT NULL LIMIT 5
                """)
            if !stray.isEmpty { problems.append("deletion date on keys not pending deletion: \(stray)") }
            return problems
        }
    }

    /// The rules as a client sees them, over every key ListKeys returns: each listed key can be described (no key
    /// both deleted and listed), each PendingDeletion key has a DeletionDate, each key's store exists (no store deleted
    /// while it had keys). Returns the violations and the described keys.
    static func checkAPI(_ client: KMSClient) async throws -> (problems: [String], keys: [KeyMetadata]) {
        var problems: [String] = []
        var listed: [String] = []
        for try await page in client.listKeysPages(limit: 1000) {
            listed += (page.keys ?? []).compactMap(\.keyId)
        }
        var stores = Set<String>()
        for try await page in client.describeCustomKeyStoresPages() {
            for store in page.customKeyStores ?? [] { if let id = store.customKeyStoreId { stores.insert(id) } }
        }
        let described = await client.describeKeys(keyIds: listed, concurrency: 8)
        var keys: [KeyMetadata] = []
        for item in described {
            switch item.result {
            case .success(let key):
                keys.append(key)
                if key.keyState == .pendingDeletion, key.deletionDate == nil {
                    problems.append("\(item.id) is PendingDeletion without a DeletionDate")
                }
                if key.keyState != .pendingDeletion, key.deletionDate != nil {
                    problems.append("\(item.id) has a DeletionDate but is \(key.keyState?.rawValue ?? "nil")")
                }
                if let store = key.customKeyStoreId, !stores.contains(store) {
                    problems.append("\(item.id) belongs to \(store), which no longer exists")
                }
            case .failure(let error):
                problems.append("\(item.id) is listed but DescribeKey says \(error)")
            }
        }
        return (problems, keys)
    }
}
