import CKSDomain
import Foundation
import GRDB

/// How hard a commit waits for the disk. Both survive `kill -9` of the process (SQLite's WAL is written
/// before a commit returns); `full` also survives a power loss or OS crash at the price of an fsync per commit.
public enum Durability: String, Sendable {
    case full = "FULL"
    case normal = "NORMAL"
}

/// The core's SQLite database (GRDB `DatabasePool`, WAL): stores, keys, aliases, simulated clusters and
/// proxies, the clock. Reads run concurrently; each `write` is one serialized transaction, so racing
/// requests (delete a store vs create a key in it) see each other's effects and the rules hold.
public final class KMSDatabase: Sendable {
    let pool: DatabasePool

    /// Opens (creating and migrating as needed) the database at `url`.
    public static func open(at url: URL, durability: Durability = .full) throws -> KMSDatabase {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        var config = Configuration()
        config.label = "cks"
        let sync = durability.rawValue
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(sync)")
        }
        let pool = try DatabasePool(path: url.path, configuration: config)
        // GRDB sets synchronous=NORMAL on the writer when it enables WAL, after prepareDatabase: set it again
        // on the (single, long-lived) writer connection, the only one whose setting matters for commits.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = \(sync)") }
        try Schema.migrator.migrate(pool)
        return KMSDatabase(pool: pool)
    }

    init(pool: DatabasePool) { self.pool = pool }

    /// A read-only snapshot.
    ///
    /// Runs on the calling thread, on one of the pool's reader connections: GRDB's async read hops to the
    /// connection's dispatch queue and back, two thread switches that cost more than the indexed query itself
    /// (60-200 µs per request under load in the issue 6 profile). A read transaction is short and CPU-bound;
    /// it never waits for the writer (WAL), at most for a free reader connection held by another such read.
    public func read<T: Sendable>(_ body: @Sendable (DataReader) throws -> T) async throws -> T {
        try readNow(body)
    }

    /// One write transaction; an error thrown by `body` rolls it back.
    public func write<T: Sendable>(_ body: @Sendable (DataWriter) throws -> T) async throws -> T {
        try await pool.write { db in try body(DataWriter(db)) }
    }

    /// Synchronous variants, for start-up and tests.
    public func readNow<T>(_ body: (DataReader) throws -> T) throws -> T {
        try pool.read { db in try body(DataReader(db)) }
    }

    public func writeNow<T>(_ body: (DataWriter) throws -> T) throws -> T {
        try pool.write { db in try body(DataWriter(db)) }
    }

    /// Closes every connection (in-flight accesses finish first).
    public func close() throws { try pool.close() }
}
