@testable import CKSPersistence
import CKSDomain
import Foundation
import GRDB
import Testing

@Suite("Data directory")
struct DataDirectoryTests {
    func mode(_ url: URL) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions]) as? Int) ?? -1
    }

    @Test("a new data directory is 0700, its files 0600")
    func privateModes() throws {
        let tmp = TempDatabase(); defer { tmp.cleanup() }
        let db = try tmp.open()
        try db.writeNow { try $0.insert(key()) }
        #expect(mode(tmp.directory) == 0o700)
        for name in ["cks.sqlite", "cks.sqlite-wal", "cks.sqlite-shm", "cks.key", "cks.lock"] {
            #expect(mode(tmp.directory.appendingPathComponent(name)) == 0o600, "\(name)")
        }
        try db.close()
    }

    @Test("a data directory group or others can reach is refused, not changed")
    func looseDirectory() throws {
        let tmp = TempDatabase(); defer { tmp.cleanup() }
        try FileManager.default.createDirectory(at: tmp.directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o750])
        #expect(throws: DataDirectoryError.self) { try tmp.open() }
        #expect(mode(tmp.directory) == 0o750)
    }

    @Test("one process (and one opener) at a time; the lock goes with close")
    func lock() throws {
        let tmp = TempDatabase(); defer { tmp.cleanup() }
        let db = try tmp.open()
        do {
            _ = try tmp.open()
            Issue.record("a second open of an open data directory succeeded")
        } catch let error as DataDirectoryError {
            #expect(error.message.contains("in use by process \(getpid())"), "\(error.message)")
        }
        try db.close()
        try tmp.open().close()
    }

    @Test("secrets and key material are sealed on disk and read back")
    func sealed() throws {
        let tmp = TempDatabase(); defer { tmp.cleanup() }
        let db = try tmp.open()
        var k = key()
        k.material = Data(repeating: 0x42, count: 32)
        let store = hsmStore(name: "sealed")
        let cluster = HsmCluster(id: "cluster-sealed12345", scope: scope, hsmCount: 2, kmsUserPassword: "clusterPassw0rd!",
                                 trustAnchorCertificate: "PEM", creationDate: t0)
        let proxy = XksProxy(uriEndpoint: "https://x.example", uriPath: "/kms/xks/v1", accessKeyId: "ABCDEFGHIJKLMNOPQRST",
                             rawSecretAccessKey: "proxySecretValue0123456789abcdefghijklmnop", externalKeyIds: ["e"])
        try db.writeNow { w in try w.insert(k); try w.insert(store); try w.insert(cluster); try w.upsert(proxy) }
        #expect(try db.readNow { try $0.key(id: k.id, in: scope) }?.material == k.material)
        #expect(try db.readNow { try $0.store(id: store.id) } == store)
        #expect(try db.readNow { try $0.cluster(id: cluster.id, in: scope) }?.kmsUserPassword == "clusterPassw0rd!")
        #expect(try db.readNow { try $0.proxy(uriEndpoint: proxy.uriEndpoint, uriPath: proxy.uriPath) }?.rawSecretAccessKey
                == proxy.rawSecretAccessKey)
        try db.close()
        let raw = FileManager.default.contents(atPath: tmp.url.path) ?? Data()
        for secret in [Data(repeating: 0x42, count: 32), Data("secret123".utf8), Data("clusterPassw0rd!".utf8),
                       Data(proxy.rawSecretAccessKey.utf8)] {
            #expect(raw.range(of: secret) == nil, "\(secret) in clear")
        }
    }

    @Test("without its cks.key, or with another, the database is refused")
    func keyFile() throws {
        let tmp = TempDatabase(); defer { tmp.cleanup() }
        try tmp.open().close()
        let keyFile = tmp.directory.appendingPathComponent("cks.key")
        let original = try Data(contentsOf: keyFile)
        try FileManager.default.removeItem(at: keyFile)
        #expect { try tmp.open() } throws: { ($0 as? DataDirectoryError)?.message.contains("missing") == true }
        FileManager.default.createFile(atPath: keyFile.path, contents: Data((Data(count: 32).base64EncodedString() + "\n").utf8),
                                       attributes: [.posixPermissions: 0o600])
        #expect { try tmp.open() } throws: { ($0 as? DataDirectoryError)?.message.contains("not the key") == true }
        try original.write(to: keyFile)
        try tmp.open().close()
    }

    @Test("an empty database file is refused unless initialize; a lost WAL after a crash unless accepted")
    func lostDatabase() throws {
        let tmp = TempDatabase(); defer { tmp.cleanup() }
        try tmp.open().close()
        try Data().write(to: tmp.url)
        #expect { try tmp.open() } throws: { ($0 as? DataDirectoryError)?.message.contains("--init") == true }
        try KMSDatabase.open(at: tmp.url, options: DatabaseOpenOptions(initialize: true)).close()

        // A holder that did not close the database, and no WAL beside it.
        let crashed = try tmp.open()
        try crashed.writeNow { try $0.insert(key()) }
        try FileManager.default.copyItem(atPath: tmp.url.path, toPath: tmp.url.path + ".copy")
        try FileManager.default.copyItem(atPath: tmp.directory.appendingPathComponent("cks.lock").path,
                                         toPath: tmp.directory.appendingPathComponent("cks.lock").path + ".copy")
        try crashed.close()
        for name in ["cks.sqlite", "cks.lock"] {
            let path = tmp.directory.appendingPathComponent(name).path
            try FileManager.default.removeItem(atPath: path)
            try FileManager.default.moveItem(atPath: path + ".copy", toPath: path)
        }
        #expect { try tmp.open() } throws: { ($0 as? DataDirectoryError)?.message.contains("--accept-lost-wal") == true }
        try KMSDatabase.open(at: tmp.url, options: DatabaseOpenOptions(acceptLostWriteAheadLog: true)).close()
    }

    @Test("a file closed intact and unchanged since is checked while served; any other is checked first; damage found while serving refuses every change")
    func integrityCheckWhileServing() async throws {
        let tmp = TempDatabase(); defer { tmp.cleanup() }
        let fresh = try tmp.open()
        #expect(fresh.checkedBeforeServing && fresh.integrity == .intact)
        try fresh.writeNow { w in for _ in 0..<600 { try w.insert(key()) } }
        try fresh.close()
        let lockFile = tmp.directory.appendingPathComponent("cks.lock")
        #expect(try String(contentsOf: lockFile, encoding: .utf8).contains("checked: "), "a clean stop of an intact file records it")

        // Unchanged since: served at once, checked in the background.
        let unchanged = try tmp.open()
        #expect(!unchanged.checkedBeforeServing)
        #expect(await unchanged.integrityChecked() == .intact)
        try unchanged.close()

        // Anything that touched the file since (here only its mode, which changes its status-change time): checked first.
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: tmp.url.path)
        let touched = try tmp.open()
        #expect(touched.checkedBeforeServing)
        try touched.close()

        // Damage written under a core that serves the file: its check finds it, every change is refused, and the
        // clean stop does not vouch for the file: the next start checks first and refuses it.
        let serving = try tmp.open()
        #expect(!serving.checkedBeforeServing)
        #expect(await serving.integrityChecked() == .intact)
        let size = try #require(DataDirectory.fileSize(tmp.url))
        let handle = try FileHandle(forWritingTo: tmp.url)
        var generator = SystemRandomNumberGenerator()
        try handle.seek(toOffset: UInt64((size / 2 / 4096) * 4096))
        try handle.write(contentsOf: Data((0..<8192).map { _ in UInt8.random(in: 0...255, using: &generator) }))
        try handle.close()
        serving.pool.releaseMemory()
        guard case .damaged(let findings) = serving.checkIntegrity() else {
            Issue.record("the check did not find 8 KiB of random bytes in the middle of the file"); return
        }
        #expect(!findings.isEmpty)
        #expect(throws: KMSDatabase.DamagedDatabase.self) { try serving.writeNow { try $0.insert(key()) } }
        try serving.close()
        #expect(try !String(contentsOf: lockFile, encoding: .utf8).contains("checked: "))
        #expect { try tmp.open() } throws: { ($0 as? DataDirectoryError)?.message.contains("damaged") == true }
    }

    @Test("a database from before sealing is migrated: secrets sealed, still readable, nothing left in clear")
    func legacy() throws {
        let tmp = TempDatabase(); defer { tmp.cleanup() }
        try FileManager.default.createDirectory(at: tmp.directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let throwaway = SecretSealer(key: .init(size: .bits256))
        let queue = try DatabaseQueue(path: tmp.url.path)
        try Schema.migrator(secrets: throwaway, tally: SealingTally()).migrate(queue, upTo: "v1")
        var k = key()
        k.material = Data(repeating: 0x37, count: 32)
        let store = hsmStore(name: "legacy")
        try queue.write { db in
            try db.execute(sql: """
                INSERT INTO kms_key (id, account, region, creation_date, description, key_usage, key_spec, origin, state, material)
                VALUES (?, ?, ?, ?, 'd', 'ENCRYPT_DECRYPT', 'SYMMETRIC_DEFAULT', 'AWS_KMS', 'Enabled', ?)
                """, arguments: [k.id, scope.account, scope.region, t0.timeIntervalSince1970, k.material])
            try db.execute(sql: """
                INSERT INTO store (id, account, region, name, type, creation_date, cluster_id, trust_anchor, key_store_password,
                  state, changed_at) VALUES (?, ?, ?, 'legacy', 'AWS_CLOUDHSM', ?, 'cluster-abcdefghijk', 'PEM', 'secret123',
                  'DISCONNECTED', ?)
                """, arguments: [store.id, scope.account, scope.region, t0.timeIntervalSince1970, t0.timeIntervalSince1970])
        }
        try queue.close()
        let db = try tmp.open()
        #expect(db.notices.contains { $0.contains("sealed 2 secrets") }, "\(db.notices)")
        #expect(try db.readNow { try $0.key(id: k.id, in: scope) }?.material == k.material)
        #expect(try db.readNow { try $0.store(id: store.id) }?.cloudHsm?.keyStorePassword == "secret123")
        try db.close()
        let raw = FileManager.default.contents(atPath: tmp.url.path) ?? Data()
        #expect(raw.range(of: Data(repeating: 0x37, count: 32)) == nil)
        #expect(raw.range(of: Data("secret123".utf8)) == nil)
    }
}
