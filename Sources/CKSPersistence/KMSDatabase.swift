import CKSDomain
import Dispatch
import Foundation
import GRDB
import Synchronization

/// How hard a commit waits for the disk. Both survive `kill -9` of the process (SQLite's WAL is written
/// before a commit returns); `full` also survives a power loss or OS crash at the price of an fsync per commit.
public enum Durability: String, Sendable {
    case full = "FULL"
    case normal = "NORMAL"
}

/// How to open a data directory's database, and what the operator allowed when something is wrong with it.
public struct DatabaseOpenOptions: Sendable {
    public var durability: Durability
    /// Create a new, empty database where one was expected: an empty `cks.sqlite`, or a missing one beside the
    /// `cks.key` of an earlier one (`cks serve --init`).
    public var initialize: Bool
    /// Open read-only without the integrity check, to read out what a damaged database still holds
    /// (`cks serve --skip-integrity-check`).
    public var readOnlyRecovery: Bool
    /// Go on from what the database file holds when the write-ahead log of a core that did not stop cleanly is
    /// missing (`cks serve --accept-lost-wal`).
    public var acceptLostWriteAheadLog: Bool

    public init(durability: Durability = .full, initialize: Bool = false, readOnlyRecovery: Bool = false,
                acceptLostWriteAheadLog: Bool = false) {
        self.durability = durability
        self.initialize = initialize
        self.readOnlyRecovery = readOnlyRecovery
        self.acceptLostWriteAheadLog = acceptLostWriteAheadLog
    }
}

/// The core's SQLite database (GRDB `DatabasePool`, WAL): stores, keys, aliases, simulated clusters and
/// proxies, the clock. Reads run concurrently; each `write` is one serialized transaction, so racing
/// requests (delete a store vs create a key in it) see each other's effects and the rules hold.
///
/// Opening it applies the data directory's rules (`DataDirectory`): a private directory, one process at a time
/// (the lock is held until `close()`), private files, secrets sealed under `cks.key`, and a damaged, emptied or
/// truncated database refused with what to do.
public final class KMSDatabase: Sendable {
    let pool: DatabasePool
    let secrets: SecretSealer
    private let url: URL
    private let lock: DataDirectoryLock
    /// Opened with `readOnlyRecovery`: every write fails with SQLite's read-only error.
    public let isReadOnly: Bool
    /// What opening changed or found, for the operator (a file tightened to 0600, a migration, files moved aside).
    public let notices: [String]
    /// What is known of the file's integrity; `.damaged` refuses every change.
    private let integrityState: Mutex<Integrity>
    /// Left while the integrity check runs in the background.
    private let backgroundCheck = DispatchGroup()
    private let checkWhileServing: Bool

    /// What `PRAGMA quick_check` said of the database file.
    public enum Integrity: Sendable, Equatable {
        /// Not (or not yet fully) checked: read-only recovery, or a check stopped by `close()`.
        case unchecked
        /// The file is the one a core that had found it intact closed cleanly: it is checked while served.
        case checking
        case intact
        case damaged(findings: [String])
    }

    private init(pool: DatabasePool, secrets: SecretSealer, url: URL, lock: DataDirectoryLock, isReadOnly: Bool,
                 integrity: Integrity, checkWhileServing: Bool, notices: [String]) {
        self.pool = pool
        self.secrets = secrets
        self.url = url
        self.lock = lock
        self.isReadOnly = isReadOnly
        self.integrityState = Mutex(integrity)
        self.checkWhileServing = checkWhileServing
        self.notices = notices
    }

    public var integrity: Integrity { integrityState.withLock { $0 } }

    /// Whether opening ran the integrity check before returning (else it runs in the background, or not at all
    /// for read-only recovery).
    public var checkedBeforeServing: Bool { !isReadOnly && !checkWhileServing }

    /// Waits for the integrity check running in the background, if any, and says what it found.
    public func integrityChecked() async -> Integrity {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            backgroundCheck.notify(queue: .global()) { done.resume() }
        }
        return integrity
    }

    /// Runs `PRAGMA quick_check` now. Damage found refuses every change from then on (`DamagedDatabase`);
    /// reads go on, as with `--skip-integrity-check`.
    @discardableResult
    public func checkIntegrity() -> Integrity {
        let found: Integrity
        do {
            let findings = try Self.quickCheck(pool)
            found = findings == ["ok"] ? .intact : .damaged(findings: findings)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_INTERRUPT {
            found = .unchecked
        } catch {
            found = .damaged(findings: [Self.describe(error)])
        }
        return integrityState.withLock { state in
            if case .damaged = state { return state }
            state = found
            return found
        }
    }

    /// SQLite's check of the whole file: `["ok"]`, or up to five findings.
    private static func quickCheck(_ pool: DatabasePool) throws -> [String] {
        try pool.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check(5)") }
    }

    private func checkInBackground() {
        backgroundCheck.enter()
        DispatchQueue.global(qos: .utility).async { [self] in
            checkIntegrity()
            backgroundCheck.leave()
        }
    }

    /// A change refused because the integrity check found the file damaged after the core started serving it.
    public struct DamagedDatabase: Error, CustomStringConvertible {
        public let findings: [String]
        public var description: String { "the integrity check found the database damaged: \(findings.prefix(3).joined(separator: "; "))" }
    }

    private func refuseChangesIfDamaged() throws {
        if case .damaged(let findings) = integrity { throw DamagedDatabase(findings: findings) }
    }

    /// Opens (creating and migrating as needed) the database at `url`; its folder is the data directory.
    public static func open(at url: URL, durability: Durability = .full) throws -> KMSDatabase {
        try open(at: url, options: DatabaseOpenOptions(durability: durability))
    }

    public static func open(at url: URL, options: DatabaseOpenOptions) throws -> KMSDatabase {
        let directory = url.deletingLastPathComponent()
        try DataDirectory.preparePrivate(directory)
        let lock = try DataDirectoryLock.acquire(in: directory)
        do {
            let database = try open(url, in: directory, options: options, lock: lock)
            if !options.readOnlyRecovery { lock.recordDatabaseOpen() }
            return database
        } catch {
            lock.release()
            throw error
        }
    }

    private static func open(_ url: URL, in directory: URL, options: DatabaseOpenOptions,
                             lock: DataDirectoryLock) throws -> KMSDatabase {
        var notices: [String] = []
        let name = url.lastPathComponent
        let wal = URL(fileURLWithPath: url.path + "-wal"), shm = URL(fileURLWithPath: url.path + "-shm")
        let events = EventLogFile.url(forDatabase: url)
        let keyFile = directory.appendingPathComponent(DataDirectory.keyName)
        let size = DataDirectory.fileSize(url)
        let keyExists = DataDirectory.fileSize(keyFile) != nil
        let serve = "cks serve --data-dir \(directory.path)"

        // An empty file, or no file beside the key of an earlier one: the database was lost, not never made.
        var fresh = size == nil || size == 0
        if size == 0 || (size == nil && keyExists) {
            let what = size == 0 ? "\(name) is empty (0 bytes)" : "\(name) is missing, but \(DataDirectory.keyName) shows this data directory held one"
            guard options.initialize else {
                throw DataDirectoryError("\(what) in \(directory.path): the database was lost (truncated, deleted "
                    + "or replaced). The core will not start over as an empty account unasked. Restore \(name) from a "
                    + "backup, or start with `\(serve) --init` to create a new, empty database (every key, store "
                    + "and alias it held is gone).")
            }
            if size == 0 { try FileManager.default.removeItem(at: url) }
            notices.append("created a new, empty database (--init)")
            fresh = true
        }
        if fresh {
            // A log or index left by a lost database must not be applied to the new one: SQLite would replay it
            // (and the core its event log).
            for stray in [wal, shm, events] where DataDirectory.fileSize(stray) != nil {
                let aside = URL(fileURLWithPath: stray.path + ".orphaned-\(Int(Date().timeIntervalSince1970))")
                try FileManager.default.moveItem(at: stray, to: aside)
                notices.append("moved \(stray.lastPathComponent), left by a lost database, aside to \(aside.lastPathComponent)")
            }
        }

        // SQLite's WAL holds every transaction committed since the last checkpoint; a clean close checkpoints and
        // removes it (then its index, -shm), a crash leaves both. Without it those transactions are gone and the
        // database file may hold a half-copied checkpoint (sqlite.org/howtocorrupt.html, "Deleting a hot journal").
        var crashed: (pid: Int32?, command: String?)?
        if case .unclean(let pid, let command) = lock.previousStop { crashed = (pid, command) }
        if !fresh, crashed != nil || DataDirectory.fileSize(shm) != nil, DataDirectory.fileSize(wal) == nil,
           !options.acceptLostWriteAheadLog, !options.readOnlyRecovery {
            let why: String
            if let crashed {
                let who = crashed.pid.map { "process \($0)" + (crashed.command.map { " (\($0))" } ?? "") } ?? "the core that last used it"
                why = "\(who) did not stop cleanly"
            } else {
                why = "its index \(name)-shm is still there"
            }
            throw DataDirectoryError("the write-ahead log \(name)-wal in \(directory.path) is missing, and \(why): "
                + "the changes committed since the last checkpoint were in that file, and the database may be damaged "
                + "without it. Put the file back if you still have it. Otherwise restore the data directory from a "
                + "backup; or read what remains with `\(serve) --skip-integrity-check` (read-only); or continue from "
                + "what remains with `\(serve) --accept-lost-wal`.")
        }

        // Unchanged since a core that had found it intact closed it cleanly (nothing has written it since: no
        // log, the same identity): served at once and checked in the background. Anything else is checked first.
        let checkWhileServing = !fresh && !options.readOnlyRecovery && lock.previousStop == .clean
            && lock.checkedDatabase != nil && lock.checkedDatabase == DataDirectory.contentIdentity(url)
            && (DataDirectory.fileSize(wal) ?? 0) == 0
        if fresh {
            _ = try DataDirectory.makePrivateFile(url, create: true)
        }
        for file in [url, wal, shm, events] {
            if let notice = try DataDirectory.tighten(file) { notices.append(notice) }
        }

        var config = Configuration()
        config.label = "cks"
        config.readonly = options.readOnlyRecovery
        let sync = options.durability.rawValue
        if !options.readOnlyRecovery {
            config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = \(sync)") }
        }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: url.path, configuration: config)
        } catch {
            throw damaged(url, serve: serve, findings: [describe(error)], readOnly: options.readOnlyRecovery)
        }
        do {
            if !options.readOnlyRecovery {
                // GRDB sets synchronous=NORMAL on the writer when it enables WAL, after prepareDatabase: set it
                // again on the (single, long-lived) writer connection, the only one whose setting matters.
                try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = \(sync)") }
                if !checkWhileServing {
                    let findings = try quickCheck(pool)
                    guard findings == ["ok"] else { throw damaged(url, serve: serve, findings: findings, readOnly: false) }
                }
            }
            let readCheck = {
                try pool.read { db -> String? in
                    guard try db.tableExists("meta") else { return nil }
                    return try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?",
                                               arguments: [SecretSealer.checkMetaKey])
                }
            }
            if options.readOnlyRecovery, !((try? pool.read { try $0.tableExists("meta") }) ?? false) {
                throw DataDirectoryError("\(url.path) holds no data to read: nothing was ever checkpointed into it from "
                    + "its write-ahead log. Put \(name)-wal back if you have it, or restore the data directory from a backup.")
            }
            // Recovery reads what it can: an unreadable check is no reason to read nothing.
            let check = options.readOnlyRecovery ? ((try? readCheck()) ?? nil) : try readCheck()
            let secrets = try sealer(keyFile, check: check, readOnly: options.readOnlyRecovery, serve: serve)
            if !options.readOnlyRecovery {
                let tally = SealingTally()
                try Schema.migrator(secrets: secrets, tally: tally).migrate(pool)
                if tally.count > 0 {
                    // Rewrite the file so no unsealed secret survives in a freed page, then empty the WAL.
                    try pool.vacuum()
                    _ = try pool.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
                    notices.append("sealed \(tally.count) secrets written by an earlier version with \(DataDirectory.keyName)")
                }
                for file in [wal, shm] {
                    if let notice = try DataDirectory.tighten(file) { notices.append(notice) }
                }
            }
            let integrity: Integrity = options.readOnlyRecovery ? .unchecked : checkWhileServing ? .checking : .intact
            let database = KMSDatabase(pool: pool, secrets: secrets, url: url, lock: lock, isReadOnly: options.readOnlyRecovery,
                                       integrity: integrity, checkWhileServing: checkWhileServing, notices: notices)
            if checkWhileServing { database.checkInBackground() }
            return database
        } catch let error as DataDirectoryError {
            try? pool.close()
            throw error
        } catch {
            try? pool.close()
            throw damaged(url, serve: serve, findings: [describe(error)], readOnly: options.readOnlyRecovery)
        }
    }

    /// The sealer under `cks.key`: created with a new database (or an earlier version's, whose secrets are then
    /// sealed), refused when missing or not the key the database was sealed with.
    private static func sealer(_ keyFile: URL, check: String?, readOnly: Bool, serve: String) throws -> SecretSealer {
        if let secrets = try SealingKeyFile.load(keyFile, create: false) {
            if let check, !secrets.verifies(check) {
                throw DataDirectoryError("\(keyFile.path) is not the key this database's secrets were sealed with: "
                    + "restore the cks.key that was backed up with this cks.sqlite")
            }
            return secrets
        }
        if check != nil {
            throw DataDirectoryError("\(keyFile.path) is missing: the database's secrets (key material, passwords) are "
                + "sealed with it and cannot be read without it. Restore it from the backup taken with the database.")
        }
        if readOnly {
            // An earlier version's database read as it is: nothing will be sealed, no key file is written.
            return SecretSealer(key: .init(size: .bits256))
        }
        guard let created = try SealingKeyFile.load(keyFile, create: true) else {
            throw DataDirectoryError("cannot create \(keyFile.path)")
        }
        return created
    }

    private static func damaged(_ url: URL, serve: String, findings: [String], readOnly: Bool) -> DataDirectoryError {
        let shown = findings.prefix(3).joined(separator: "; ")
        if readOnly {
            return DataDirectoryError("cannot open \(url.path) even read-only: \(shown). Restore it from a backup.")
        }
        return DataDirectoryError("the database \(url.path) is damaged (\(shown)). The core will not serve it: every "
            + "write could spread the damage. Restore the data directory from a backup (cks.sqlite with its cks.key), "
            + "or start with `\(serve) --skip-integrity-check` to serve it read-only and read out what is left.")
    }

    /// A database error in words that carry no row data: SQLite's code and message.
    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            return "SQLite error \(error.resultCode.rawValue): \(error.message ?? "\(error.resultCode)")"
        }
        return "\(error)"
    }

    /// A read-only snapshot.
    ///
    /// Runs on the calling thread, on one of the pool's reader connections: GRDB's async read hops to the
    /// connection's dispatch queue and back, two thread switches that cost more than the indexed query itself
    /// (docs/perf/decisions.md). A read transaction is short and CPU-bound;
    /// it never waits for the writer (WAL), at most for a free reader connection held by another such read.
    public func read<T: Sendable>(_ body: @Sendable (DataReader) throws -> T) async throws -> T {
        try readNow(body)
    }

    /// One write transaction; an error thrown by `body` rolls it back. On a database opened for read-only
    /// recovery, `body` runs in a read transaction, where every write fails with SQLite's read-only error.
    public func write<T: Sendable>(_ body: @Sendable (DataWriter) throws -> T) async throws -> T {
        if isReadOnly { return try writeNow(body) }
        try refuseChangesIfDamaged()
        return try await pool.write { db in try body(DataWriter(db, self.secrets)) }
    }

    /// Synchronous variants, for start-up and tests.
    public func readNow<T>(_ body: (DataReader) throws -> T) throws -> T {
        try pool.read { db in try body(DataReader(db, secrets)) }
    }

    public func writeNow<T>(_ body: (DataWriter) throws -> T) throws -> T {
        if isReadOnly { return try pool.read { db in try body(DataWriter(db, secrets)) } }
        try refuseChangesIfDamaged()
        return try pool.write { db in try body(DataWriter(db, secrets)) }
    }

    /// Closes every connection (in-flight accesses finish first), which checkpoints and removes the WAL, then
    /// releases the data directory's lock, recording the clean stop and, when the file was found intact, its
    /// identity (the next start then checks it while serving). A check still running is given a few seconds
    /// to finish (one stopped leaves nothing recorded, and the next start checks before serving).
    public func close() throws {
        if backgroundCheck.wait(timeout: .now() + 5) == .timedOut {
            pool.interrupt()
            backgroundCheck.wait()
        }
        do {
            // Readers first, so the writer is the last connection: SQLite then checkpoints the WAL into the
            // database file and removes it (a read-only connection closing last cannot).
            pool.releaseMemory()
            try pool.close()
        } catch {
            lock.release()
            throw error
        }
        if isReadOnly {
            lock.release()
        } else {
            lock.releaseAfterCleanStop(checked: integrity == .intact ? DataDirectory.contentIdentity(url) : nil)
        }
    }

    /// Records in the lock file where the core listens, for the message a second process gets.
    public func recordEndpoint(_ endpoint: String) {
        if !isReadOnly { lock.recordEndpoint(endpoint) }
    }

    /// Whether `error` is SQLite refusing a write on a database opened for read-only recovery.
    public static func isReadOnlyRefusal(_ error: any Error) -> Bool {
        (error as? DatabaseError)?.resultCode == .SQLITE_READONLY
    }

    /// An error in words for the operator's log: SQLite's code and message, or the persistence layer's own
    /// description; nothing that could carry a request's data or a secret.
    public static func describeForLog(_ error: any Error) -> String? {
        switch error {
        case is DatabaseError: return describe(error)
        case let error as CorruptRow: return error.description
        case let error as SecretSealer.Unreadable: return error.description
        case let error as DamagedDatabase: return error.description
        default: return nil
        }
    }
}

/// Counts the secrets the sealing migration sealed (it runs inside GRDB's migrator).
final class SealingTally: @unchecked Sendable {
    var count = 0
}
