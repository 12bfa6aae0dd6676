import Crypto
import Foundation
import GRDB

/// Software keys: AES-256 material in the proxy's own SQLite file (`keys.sqlite`, mode 0600, rollback journal
/// with synchronous=FULL so a key is on disk before anyone is told it exists). Rows are only ever added.
public final class SoftwareKeyStore: Sendable {
    private let queue: DatabaseQueue
    public let path: String

    public init(path: String) throws(XksProxyError) {
        self.path = path
        if !FileManager.default.fileExists(atPath: path) {
            // Created empty with 0600 first: SQLite then keeps that mode, and its journal follows it.
            try ProxyDataDirectory.writePrivateFile(path, Data())
        }
        try ProxyDataDirectory.checkPrivateFile(path, what: "key database")
        do {
            var config = Configuration()
            config.prepareDatabase { db in
                try db.execute(sql: "PRAGMA journal_mode = DELETE")
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
            config.busyMode = .timeout(5)
            let queue = try DatabaseQueue(path: path, configuration: config)
            try queue.write { db in
                try db.execute(sql: """
                    CREATE TABLE IF NOT EXISTS software_key (
                        id TEXT PRIMARY KEY NOT NULL,
                        material BLOB NOT NULL CHECK (length(material) = 32),
                        created_at TEXT NOT NULL
                    )
                    """)
            }
            self.queue = queue
        } catch {
            throw XksProxyError("cannot open the key database \(path): \(error)")
        }
    }

    /// All keys by id.
    public func loadAll() throws(XksProxyError) -> [String: SymmetricKey] {
        do {
            return try queue.read { db in
                var keys: [String: SymmetricKey] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT id, material FROM software_key") {
                    let id: String = row["id"]
                    let material: Data = row["material"]
                    keys[id] = SymmetricKey(data: material)
                }
                return keys
            }
        } catch {
            throw XksProxyError("cannot read the key database \(path): \(error)")
        }
    }

    /// Ids and creation times, for `keys list`.
    public func list() throws(XksProxyError) -> [(id: String, createdAt: String)] {
        do {
            return try queue.read { db in
                try Row.fetchAll(db, sql: "SELECT id, created_at FROM software_key ORDER BY id").map { row -> (id: String, createdAt: String) in
                    (row["id"], row["created_at"])
                }
            }
        } catch {
            throw XksProxyError("cannot read the key database \(path): \(error)")
        }
    }

    /// Generates fresh AES-256 material for each id not yet present, in one durable transaction; returns the
    /// ids created. An id already present keeps its material.
    @discardableResult
    public func createMissing(_ ids: [String], now: Date = Date()) throws(XksProxyError) -> [String] {
        do {
            return try queue.write { db in
                var created: [String] = []
                let stamp = ISO8601DateFormatter().string(from: now)
                for id in ids {
                    let exists = try Bool.fetchOne(db, sql: "SELECT 1 FROM software_key WHERE id = ?", arguments: [id]) ?? false
                    if exists { continue }
                    let material = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
                    try db.execute(sql: "INSERT INTO software_key (id, material, created_at) VALUES (?, ?, ?)",
                                   arguments: [id, material, stamp])
                    created.append(id)
                }
                return created
            }
        } catch {
            throw XksProxyError("cannot write the key database \(path): \(error)")
        }
    }

    /// Whether the database answers a read (the software backend's health).
    public func isReadable() -> Bool {
        (try? queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM software_key") }) != nil
    }
}
