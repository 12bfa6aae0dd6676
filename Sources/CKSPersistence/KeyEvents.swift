import CKSDomain
import Foundation
import GRDB

/// What LookupEvents filters on (one attribute, as CloudTrail allows).
public enum KeyEventFilter: Sendable, Hashable {
    case none
    case keyId(String)
    case operation(String)
    case username(String)
    case eventId(String)
    case accessKeyId(String)
    case readOnly(Bool)
}

/// A position in the newest-first order of events: the time and sequence of the last event returned.
public struct KeyEventPosition: Sendable, Hashable {
    public var time: Double
    public var seq: Int64
    public init(time: Double, seq: Int64) {
        self.time = time
        self.seq = seq
    }
}

extension DataReader {
    static let eventColumns = """
        seq, event_id, event_time, account, region, key_id, key_param, operation, principal_arn, username,
        access_key_id, source, request_id, error_code, error_message, read_only
        """

    /// A row selected with `eventColumns`, read by position (by name, each lookup lowercases the name).
    func decodeEvent(_ row: Row) -> KeyEvent {
        KeyEvent(eventId: row[1], time: Date(timeIntervalSince1970: row[2]),
                 scope: ResourceScope(account: row[3], region: row[4]), keyId: row[5],
                 keyParameter: row[6], operation: row[7], principalArn: row[8],
                 username: row[9], accessKeyId: row[10], source: row[11],
                 requestId: row[12], errorCode: row[13], errorMessage: row[14],
                 readOnly: (row[15] as Int64) != 0)
    }

    /// Events of `scope` in [start, end], newest first, after `after`, at most `limit`; the position of the last
    /// one when more follow. Every filter but event id, access key and read-only walks an index in order.
    public func events(in scope: ResourceScope, filter: KeyEventFilter, start: Date, end: Date,
                       after: KeyEventPosition?, limit: Int) throws -> (events: [KeyEvent], next: KeyEventPosition?) {
        var sql = "SELECT \(Self.eventColumns) FROM key_event WHERE "
        var args: StatementArguments = []
        switch filter {
        case .keyId(let id):
            sql += "key_id = ? AND account = ? AND region = ?"
            args += [id, scope.account, scope.region]
        case .operation(let name):
            sql += "account = ? AND region = ? AND operation = ?"
            args += [scope.account, scope.region, name]
        case .username(let name):
            sql += "account = ? AND region = ? AND username = ?"
            args += [scope.account, scope.region, name]
        case .eventId(let id):
            sql += "account = ? AND region = ? AND event_id = ?"
            args += [scope.account, scope.region, id]
        case .accessKeyId(let id):
            sql += "account = ? AND region = ? AND access_key_id = ?"
            args += [scope.account, scope.region, id]
        case .readOnly(let flag):
            sql += "account = ? AND region = ? AND read_only = ?"
            args += [scope.account, scope.region, flag ? 1 : 0]
        case .none:
            sql += "account = ? AND region = ?"
            args += [scope.account, scope.region]
        }
        // After a position, its time is the scan's upper bound: an index range rather than a filter, so a page
        // deep in a large record costs what the first one does (the OR below only settles ties at that instant).
        sql += " AND event_time >= ? AND event_time <= ?"
        args += [start.timeIntervalSince1970, min(end.timeIntervalSince1970, after?.time ?? .infinity)]
        if let after {
            sql += " AND (event_time < ? OR (event_time = ? AND seq < ?))"
            args += [after.time, after.time, after.seq]
        }
        sql += " ORDER BY event_time DESC, seq DESC LIMIT ?"
        args += [limit + 1]
        let rows = try all(sql, args)
        let kept = rows.prefix(limit)
        let next = rows.count > limit ? kept.last.map { KeyEventPosition(time: $0[2], seq: $0[0]) } : nil
        return (kept.map(decodeEvent), next)
    }

    /// How many events are kept (an upper bound from the sequence range: deletions are from the old end).
    public func eventSpan() throws -> Int64 {
        guard let row = try one("SELECT MIN(seq) AS lo, MAX(seq) AS hi FROM key_event", []),
              let lo: Int64 = row["lo"], let hi: Int64 = row["hi"] else { return 0 }
        return hi - lo + 1
    }

    /// The key an alias of `scope` points at now, for events that named a key by alias.
    func aliasTarget(_ reference: String, in scope: ResourceScope) throws -> String? {
        guard case .alias(let name)? = KeyReference.parse(reference, in: scope) else { return nil }
        return try String.fetchOne(db.cachedStatement(sql: "SELECT key_id FROM alias WHERE account = ? AND region = ? AND name = ?"),
                                   arguments: [scope.account, scope.region, name])
    }
}

extension DataWriter {
    /// Appends events; one naming its key only by an alias gets the key the alias points at now.
    public func insert(events: [KeyEvent]) throws {
        let statement = try db.cachedStatement(sql: """
            INSERT INTO key_event (event_id, event_time, account, region, key_id, key_param, operation, principal_arn,
              username, access_key_id, source, request_id, error_code, error_message, read_only)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for e in events {
            var keyId = e.keyId
            if keyId == nil, let reference = e.keyParameter { keyId = try aliasTarget(reference, in: e.scope) }
            try statement.execute(arguments: [
                e.eventId, e.time.timeIntervalSince1970, e.scope.account, e.scope.region, keyId, e.keyParameter,
                e.operation, e.principalArn, e.username, e.accessKeyId, e.source, e.requestId, e.errorCode,
                e.errorMessage, e.readOnly ? 1 : 0,
            ])
        }
    }

    /// Drops events older than `cutoff` and the oldest beyond `maxEvents`, at most `batch` rows per call (the
    /// rest on later calls), so one call stays short. Returns how many rows it deleted.
    @discardableResult
    public func pruneEvents(olderThan cutoff: Date, maxEvents: Int64, batch: Int = 5_000) throws -> Int {
        try run("DELETE FROM key_event WHERE seq IN (SELECT seq FROM key_event WHERE event_time < ? ORDER BY event_time LIMIT ?)",
                [cutoff.timeIntervalSince1970, batch])
        var deleted = db.changesCount
        if let hi = try Int64.fetchOne(db.cachedStatement(sql: "SELECT MAX(seq) FROM key_event")),
           let lo = try Int64.fetchOne(db.cachedStatement(sql: "SELECT MIN(seq) FROM key_event")), hi - lo + 1 > maxEvents {
            try run("DELETE FROM key_event WHERE seq IN (SELECT seq FROM key_event WHERE seq <= ? ORDER BY seq LIMIT ?)",
                    [hi - maxEvents, batch])
            deleted += db.changesCount
        }
        return deleted
    }
}

/// A simulated application using a key on the simulated clock (CksAdmin.StartWorkload).
public struct Workload: Sendable, Hashable {
    public var id: String
    public var scope: ResourceScope
    public var keyId: String
    public var operation: String
    public var principalArn: String
    public var everySeconds: Double
    /// Simulated time of its next use.
    public var nextRun: Date

    public init(id: String, scope: ResourceScope, keyId: String, operation: String, principalArn: String,
                everySeconds: Double, nextRun: Date) {
        self.id = id
        self.scope = scope
        self.keyId = keyId
        self.operation = operation
        self.principalArn = principalArn
        self.everySeconds = everySeconds
        self.nextRun = nextRun
    }
}

extension DataReader {
    /// Workloads with a use due at or before `now`.
    public func dueWorkloads(at now: Date) throws -> [Workload] {
        guard let earliest = try Double.fetchOne(db.cachedStatement(sql: "SELECT MIN(next_run) FROM workload")),
              earliest <= now.timeIntervalSince1970 else { return [] }
        return try all("SELECT * FROM workload WHERE next_run <= ? ORDER BY next_run", [now.timeIntervalSince1970]).map {
            Workload(id: $0["id"], scope: ResourceScope(account: $0["account"], region: $0["region"]), keyId: $0["key_id"],
                     operation: $0["operation"], principalArn: $0["principal"], everySeconds: $0["every_seconds"],
                     nextRun: Date(timeIntervalSince1970: $0["next_run"]))
        }
    }

    public func workloadExists(id: String, in scope: ResourceScope) throws -> Bool {
        try one("SELECT id FROM workload WHERE id = ? AND account = ? AND region = ?", [id, scope.account, scope.region]) != nil
    }
}

extension DataWriter {
    public func insert(_ w: Workload) throws {
        try run("""
            INSERT INTO workload (id, account, region, key_id, operation, principal, every_seconds, next_run)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, [w.id, w.scope.account, w.scope.region, w.keyId, w.operation, w.principalArn, w.everySeconds,
                  w.nextRun.timeIntervalSince1970])
    }

    public func setNextRun(workloadId: String, _ date: Date) throws {
        try run("UPDATE workload SET next_run = ? WHERE id = ?", [date.timeIntervalSince1970, workloadId])
    }

    public func deleteWorkload(id: String) throws {
        try run("DELETE FROM workload WHERE id = ?", [id])
    }
}
