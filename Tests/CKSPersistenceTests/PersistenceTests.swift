@testable import CKSPersistence
import CKSDomain
import Foundation
import GRDB
import Testing

/// A fresh database in a temporary directory, removed by `cleanup()`.
struct TempDatabase {
    let directory: URL
    var url: URL { directory.appendingPathComponent("cks.sqlite") }

    init() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("cks-persist-\(UUID().uuidString)")
    }

    func open() throws -> KMSDatabase { try KMSDatabase.open(at: url) }
    func cleanup() { try? FileManager.default.removeItem(at: directory) }
}

let scope = ResourceScope(account: "111122223333", region: "us-east-1")
let other = ResourceScope(account: "444455556666", region: "us-east-1")
let t0 = Date(timeIntervalSince1970: 1_800_000_000.25)

func hsmStore(_ id: String = CustomKeyStoreIdentifiers.newId(), name: String, in s: ResourceScope = scope,
              cluster: String = "cluster-abcdefghijk") -> CustomKeyStore {
    CustomKeyStore(id: id, scope: s, name: name, type: .awsCloudHsm, creationDate: t0,
                   cloudHsm: CloudHsmSettings(clusterId: cluster, trustAnchorCertificate: "PEM", keyStorePassword: "secret123"),
                   connection: .connecting(at: t0, duration: 60, outcome: .invalidCredentials), connectionFault: .networkErrors)
}

func key(in s: ResourceScope = scope, store: String? = nil, state: KeyState = .enabled, deletion: Date? = nil) -> KMSKey {
    KMSKey(id: KeyIdentifiers.newKeyId(), scope: s, creationDate: t0, description: "d", origin: store == nil ? .awsKMS : .awsCloudHsm,
           customKeyStoreId: store, storedState: state, deletionDate: deletion, pendingWindowInDays: deletion == nil ? nil : 7,
           material: Data(repeating: 7, count: 32))
}

@Suite("CKSPersistence")
struct PersistenceTests {
    @Test("stores round-trip with every field, including the connection record and the fault")
    func storeRoundTrip() throws {
        let tmp = TempDatabase(); defer { tmp.cleanup() }
        let db = try tmp.open()
        let s = hsmStore(name: "one")
        var x = CustomKeyStore(id: CustomKeyStoreIdentifiers.newId(), scope: scope, name: "xks", type: .externalKeyStore, creationDate: t0,
                               xks: XksProxySettings(connectivity: .vpcEndpointService, uriEndpoint: "https://p.example", uriPath: "/kms/xks/v1",
                                                     vpcEndpointServiceName: "com.amazonaws.vpce.us-east-1.vpce-svc-0abc", vpcEndpointServiceOwner: "111122223333",
                                                     accessKeyId: "ABCDEFGHIJKLMNOPQRST", rawSecretAccessKey: String(repeating: "s", count: 43)),
                               connection: .new(at: t0))
        try db.writeNow { w in try w.insert(s); try w.insert(x) }
        #expect(try db.readNow { try $0.store(id: s.id, in: scope) } == s)
        #expect(try db.readNow { try $0.store(named: "xks", in: scope) } == x)
        #expect(try db.readNow { try $0.store(id: s.id, in: other) } == nil)
        x.name = "renamed"
        x.connection = .disconnecting(at: t0, duration: 30)
        try db.writeNow { try $0.update(x) }
        #expect(try db.readNow { try $0.store(id: x.id) } == x)
        #expect(try db.readNow { try $0.storeCount(in: scope) } == 2)
        #expect(try db.readNow { try $0.storeUsing(clusterId: "cluster-abcdefghijk", in: scope) } == s.id)
        #expect(try db.readNow { try $0.storeUsing(clusterId: "cluster-abcdefghijk", in: scope, excluding: s.id) } == nil)
        try db.writeNow { try $0.deleteStore(id: s.id) }
        #expect(try db.readNow { try $0.store(id: s.id) } == nil)
    }

    @Test("store names are unique per account and region")
    func uniqueNames() throws {
        let tmp = TempDatabase(); defer { tmp.cleanup() }
        let db = try tmp.open()
        try db.writeNow { try $0.insert(hsmStore(name: "n")) }
        #expect(throws: DatabaseError.self) { try db.writeNow { try $0.insert(hsmStore(name: "n")) } }
        try db.writeNow { try $0.insert(hsmStore(name: "n", in: other)) }
    }

    @Test("keys round-trip; usage, state and deletion are stored; deleting a key deletes its aliases")
    func keys() throws {
        let tmp = TempDatabase(); defer { tmp.cleanup() }
        let db = try tmp.open()
        var k = key()
        try db.writeNow { w in
            try w.insert(k)
            try w.insert(KMSAlias(name: "alias/a", scope: scope, targetKeyId: k.id, creationDate: t0, lastUpdatedDate: t0))
        }
        #expect(try db.readNow { try $0.key(id: k.id, in: scope) } == k)
        #expect(try db.readNow { try $0.key(id: k.id, in: other) } == nil)
        k.storedState = .pendingDeletion
        k.deletionDate = t0.addingTimeInterval(7 * 86_400)
        k.pendingWindowInDays = 7
        let usage = KeyLastUsage(operation: "Encrypt", timestamp: t0, requestId: "r", cloudTrailEventId: "e")
        try db.writeNow { w in try w.updateState(of: k); try w.recordUsage(keyId: k.id, usage) }
        k.lastUsage = usage
        #expect(try db.readNow { try $0.key(id: k.id, in: scope) } == k)
        #expect(try db.readNow { try $0.expiredKeys(at: t0.addingTimeInterval(7 * 86_400 - 1)) }.isEmpty)
        #expect(try db.readNow { try $0.expiredKeys(at: t0.addingTimeInterval(7 * 86_400)) }.map(\.id) == [k.id])
        try db.writeNow { try $0.deleteKey(id: k.id) }
        #expect(try db.readNow { try $0.alias(named: "alias/a", in: scope) } == nil)
    }

    @Test("ListKeys pages by keyset: inserts and deletions between pages neither repeat nor skip keys that stay")
    func keyPagination() throws {
        let tmp = TempDatabase(); defer { tmp.cleanup() }
        let db = try tmp.open()
        let keys = (0..<25).map { _ in key() }
        try db.writeNow { w in for k in keys { try w.insert(k) }; try w.insert(key(in: other)) }
        var seen: [String] = []
        var after: Int64?
        var pages = 0
        repeat {
            let page = try db.readNow { try $0.keyIds(in: scope, existingAt: t0, after: after, limit: 10) }
            seen += page.items
            pages += 1
            if pages == 1 {
                // Between pages: delete a key already returned, add one at the end.
                try db.writeNow { w in try w.deleteKey(id: keys[0].id); try w.insert(key()) }
            }
            after = page.nextPosition.flatMap(Int64.init)
        } while after != nil
        #expect(pages == 3)
        #expect(seen.count == 26)
        #expect(Set(seen).isSuperset(of: keys.map(\.id)))
        #expect(Set(seen).count == seen.count)
    }

    @Test("ListKeys hides keys whose waiting period has ended")
    func hidesExpired() throws {
        let tmp = TempDatabase(); defer { tmp.cleanup() }
        let db = try tmp.open()
        let gone = key(state: .pendingDeletion, deletion: t0)
        let pending = key(state: .pendingDeletion, deletion: t0.addingTimeInterval(10))
        try db.writeNow { w in try w.insert(gone); try w.insert(pending) }
        let ids = try db.readNow { try $0.keyIds(in: scope, existingAt: t0, after: nil, limit: 100) }.items
        #expect(ids == [pending.id])
    }

    @Test("aliases page by name and follow the key filter")
    func aliases() throws {
        let tmp = TempDatabase(); defer { tmp.cleanup() }
        let db = try tmp.open()
        let a = key(), b = key()
        try db.writeNow { w in
            try w.insert(a); try w.insert(b)
            for n in ["alias/c", "alias/a", "alias/b"] {
                try w.insert(KMSAlias(name: n, scope: scope, targetKeyId: a.id, creationDate: t0, lastUpdatedDate: t0))
            }
            try w.insert(KMSAlias(name: "alias/z", scope: scope, targetKeyId: b.id, creationDate: t0, lastUpdatedDate: t0))
        }
        let first = try db.readNow { try $0.aliases(in: scope, keyId: nil, existingAt: t0, after: nil, limit: 2) }
        #expect(first.items.map(\.name) == ["alias/a", "alias/b"])
        #expect(first.nextPosition == "alias/b")
        let second = try db.readNow { try $0.aliases(in: scope, keyId: nil, existingAt: t0, after: first.nextPosition, limit: 2) }
        #expect(second.items.map(\.name) == ["alias/c", "alias/z"])
        #expect(second.nextPosition == nil)
        #expect(try db.readNow { try $0.aliases(in: scope, keyId: b.id, existingAt: t0, after: nil, limit: 50) }.items.map(\.name) == ["alias/z"])
        try db.writeNow { try $0.deleteAlias(named: "alias/z", in: scope) }
        #expect(try db.readNow { try $0.aliases(in: scope, keyId: b.id, existingAt: t0, after: nil, limit: 50) }.items.isEmpty)
    }

    @Test("clusters keep HSM count, password, trust anchor and orphaned key material; proxies keep their keys")
    func backends() throws {
        let tmp = TempDatabase(); defer { tmp.cleanup() }
        let db = try tmp.open()
        var c = HsmCluster(id: "cluster-abcdefghijk", scope: scope, hsmCount: 2, kmsUserPassword: "pw12345",
                                trustAnchorCertificate: "PEM", creationDate: t0)
        let orphan = OrphanedKeyMaterialRecord(keyId: "k1", keyArn: scope.keyARN("k1"), customKeyStoreId: "cks-1", deletionDate: t0)
        let proxy = XksProxy(uriEndpoint: "https://p", uriPath: "/kms/xks/v1", accessKeyId: "A", rawSecretAccessKey: "S", externalKeyIds: ["x1", "x2"])
        try db.writeNow { w in
            try w.insert(c)
            c.hsmCount = 1
            try w.update(c)
            try w.addOrphan(orphan, clusterId: c.id)
            try w.upsert(proxy)
        }
        c.orphanedKeyMaterial = [orphan]
        #expect(try db.readNow { try $0.cluster(id: c.id, in: scope) } == c)
        #expect(try db.readNow { try $0.cluster(id: c.id, in: other) } == nil)
        #expect(try db.readNow { try $0.clusters(in: scope) } == [c])
        #expect(try db.readNow { try $0.proxy(uriEndpoint: "https://p", uriPath: "/kms/xks/v1") } == proxy)
        var replaced = proxy
        replaced.externalKeyIds = ["x3"]
        try db.writeNow { try $0.upsert(replaced) }
        #expect(try db.readNow { try $0.proxies() } == [replaced])
    }

    @Test("everything survives closing and reopening the database")
    func reopen() throws {
        let tmp = TempDatabase(); defer { tmp.cleanup() }
        let s = hsmStore(name: "keep")
        let k = key(store: s.id)
        do {
            let db = try tmp.open()
            try db.writeNow { w in try w.insert(s); try w.insert(k); try w.setMeta("clock.offset", "12.5") }
            try db.close()
        }
        let db = try tmp.open()
        #expect(try db.readNow { try $0.store(id: s.id) } == s)
        #expect(try db.readNow { try $0.key(id: k.id, in: scope) } == k)
        #expect(try db.readNow { try $0.meta("clock.offset") } == "12.5")
        #expect(try db.readNow { try $0.keyCount(storeId: s.id) } == 1)
    }

    @Test("connections use WAL and synchronous=FULL")
    func durability() throws {
        let tmp = TempDatabase(); defer { tmp.cleanup() }
        let db = try tmp.open()
        #expect(try db.pool.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") } == "wal")
        #expect(try db.pool.read { try Int.fetchOne($0, sql: "PRAGMA synchronous") } == 2)
        #expect(try db.pool.write { try Int.fetchOne($0, sql: "PRAGMA synchronous") } == 2)
    }

    @Test("a failed transaction leaves nothing behind")
    func rollback() throws {
        let tmp = TempDatabase(); defer { tmp.cleanup() }
        let db = try tmp.open()
        struct Boom: Error {}
        #expect(throws: Boom.self) { try db.writeNow { w in try w.insert(key()); throw Boom() } }
        #expect(try db.readNow { try $0.keyIds(in: scope, existingAt: t0, after: nil, limit: 10) }.items.isEmpty)
    }

    /// The hot queries must use an index: a full scan at 100,000 keys would break the latency targets.
    @Test("hot queries use indexes, never a table scan")
    func queryPlans() throws {
        let tmp = TempDatabase(); defer { tmp.cleanup() }
        let db = try tmp.open()
        let queries: [String] = [
            "SELECT \(Columns.key) FROM kms_key WHERE id = 'x' AND account = 'a' AND region = 'r'",
            "SELECT seq, id FROM kms_key WHERE account = 'a' AND region = 'r' AND seq > 0 AND (deletion_date IS NULL OR deletion_date > 1) ORDER BY seq LIMIT 101",
            "SELECT COUNT(*) FROM kms_key WHERE store_id = 's'",
            "SELECT id FROM kms_key WHERE store_id = 's' AND xks_key_id = 'x'",
            "SELECT \(Columns.key) FROM kms_key WHERE deletion_date IS NOT NULL AND deletion_date <= 5 ORDER BY deletion_date",
            "SELECT \(Columns.store) FROM store WHERE id = 'x' AND account = 'a' AND region = 'r'",
            "SELECT a.* FROM alias a JOIN kms_key k ON k.id = a.key_id WHERE a.account = 'a' AND a.region = 'r' AND a.name > '' AND (k.deletion_date IS NULL OR k.deletion_date > 1) ORDER BY a.name LIMIT 51",
            "DELETE FROM alias WHERE key_id = 'x'",
        ]
        for sql in queries {
            let plan = try db.pool.read { db in try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql).map { $0["detail"] as String } }
            let scans = plan.filter { $0.hasPrefix("SCAN") && !$0.contains("USING") }
            #expect(scans.isEmpty, "\(sql): \(plan)")
        }
    }

    /// Racing requests are serialized: "create a key if the store exists" against "delete the store if it
    /// has no keys" never ends with a key in a deleted store.
    @Test("racing writes are serialized so the rules hold")
    func racing() async throws {
        let tmp = TempDatabase(); defer { tmp.cleanup() }
        let db = try tmp.open()
        for round in 0..<20 {
            let s = hsmStore(name: "race-\(round)")
            try db.writeNow { try $0.insert(s) }
            async let created: Bool = db.write { w in
                guard try w.store(id: s.id) != nil else { return false }
                try w.insert(key(store: s.id))
                return true
            }
            async let deleted: Bool = db.write { w in
                guard try w.keyCount(storeId: s.id) == 0 else { return false }
                try w.deleteStore(id: s.id)
                return true
            }
            let (c, d) = try await (created, deleted)
            #expect(c != d, "exactly one of the two wins")
            let orphanKeys = try await db.read { r in try r.store(id: s.id) == nil ? r.keyCount(storeId: s.id) : 0 }
            #expect(orphanKeys == 0)
        }
    }
}

@Suite("Event log")
struct EventLogTests {
    static func event(_ n: Int, message: String? = nil) -> KeyEvent {
        KeyEvent(eventId: "id-\(n)", time: Date(timeIntervalSince1970: 1_900_000_000.25 + Double(n)),
                 scope: ResourceScope(account: "111122223333", region: "eu-west-1"), keyId: n % 2 == 0 ? "k-\(n)" : nil,
                 keyParameter: "alias/é-\(n)", operation: "Encrypt", principalArn: "arn:aws:iam::111122223333:user/a",
                 username: "a", accessKeyId: n % 3 == 0 ? nil : "AKIA\(n)", source: "grant:g", requestId: "r-\(n)",
                 errorCode: message == nil ? nil : "NotFoundException", errorMessage: message, readOnly: n % 2 == 0)
    }

    @Test("records read back as written; a torn last record is cut off and appends follow the last whole one")
    func roundTripAndTornTail() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cks-log-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("cks.sqlite-events")
        let events = (1...20).map { Self.event($0, message: $0 % 4 == 0 ? "Key 'x' does not exist" : nil) }
        let (log, fresh, none) = try EventLogFile.open(url)
        #expect(fresh == nil && none.isEmpty)
        for e in events { try log.append(EventLogCodec.record(e)) }
        let generation = log.generation, size = log.size
        log.close()
        let mode = (try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o600)

        // Half a record more, as a crash in the middle of a write would leave.
        let torn = EventLogCodec.record(Self.event(99))
        let handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(torn.prefix(torn.count / 2)))
        try handle.close()

        let (again, readGeneration, read) = try EventLogFile.open(url)
        #expect(readGeneration == generation)
        #expect(read.map(\.event) == events)
        #expect(read.last?.end == size)
        #expect(again.size == size)
        try again.append(EventLogCodec.record(Self.event(21)))
        again.close()
        let (_, _, after) = try EventLogFile.open(url)
        #expect(after.map(\.event) == events + [Self.event(21)])
    }

    @Test("a restarted log is empty with a new generation; a file that is not a log reads as empty")
    func restart() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cks-log-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("cks.sqlite-events")
        let (log, _, _) = try EventLogFile.open(url)
        try log.append(EventLogCodec.record(Self.event(1)))
        let first = log.generation
        try log.restart()
        #expect(log.generation != first)
        log.close()
        let (_, generation, events) = try EventLogFile.open(url)
        #expect(generation != nil && events.isEmpty)
        try Data("not a log at all".utf8).write(to: url)
        let (_, none, nothing) = try EventLogFile.open(url)
        #expect(none == nil && nothing.isEmpty)
    }
}

@Suite("Use record: reading events")
struct KeyEventReadTests {
    static func event(_ n: Int, at time: Date, key: String) -> KeyEvent {
        KeyEvent(eventId: "00000000-0000-4000-8000-\(String(format: "%012d", n))", time: time, scope: scope, keyId: key,
                 keyParameter: key, operation: "Decrypt", principalArn: "arn:aws:iam::111122223333:role/app",
                 username: "app", accessKeyId: nil, source: "principals-file", requestId: "req-\(n)", errorCode: nil,
                 errorMessage: nil, readOnly: true)
    }

    /// Paging newest first by position: events sharing one instant across page boundaries, a window that ends
    /// between events, and other scopes' events: each event of the window exactly once, in order.
    @Test("pages by position return every event of the window once, ties at one instant included")
    func pagesCoverTheWindowOnce() throws {
        let temp = TempDatabase()
        defer { temp.cleanup() }
        let db = try temp.open()
        defer { try? db.close() }
        var events: [KeyEvent] = []
        for n in 0..<60 { events.append(Self.event(n, at: t0.addingTimeInterval(Double(n)), key: "k1")) }
        for n in 60..<180 { events.append(Self.event(n, at: t0.addingTimeInterval(100), key: "k2")) }   // 120 at one instant
        for n in 180..<240 { events.append(Self.event(n, at: t0.addingTimeInterval(Double(n)), key: "k1")) }
        var foreign = Self.event(999, at: t0.addingTimeInterval(100), key: "k9")
        foreign.scope = other
        events.append(foreign)
        try db.writeNow { w in try w.insert(events: events) }

        let start = t0.addingTimeInterval(10), end = t0.addingTimeInterval(200.5)
        var seen: [String] = []
        var times: [Date] = []
        var after: KeyEventPosition?
        var pages = 0
        repeat {
            let page = try db.readNow { r in try r.events(in: scope, filter: .none, start: start, end: end, after: after, limit: 50) }
            seen += page.events.map(\.eventId)
            times += page.events.map(\.time)
            after = page.next
            pages += 1
        } while after != nil && pages < 100
        let expected = events.filter { $0.scope == scope && $0.time >= start && $0.time <= end }
        #expect(seen.count == expected.count, "\(seen.count) read, \(expected.count) in the window")
        #expect(Set(seen) == Set(expected.map(\.eventId)))
        #expect(Set(seen).count == seen.count, "no event twice")
        #expect(zip(times, times.dropFirst()).allSatisfy { $0 >= $1 }, "newest first")
        #expect(pages == (expected.count + 49) / 50)
    }
}
