import CKSClient
import CKSDomain
import CKSWire
import Foundation
import GRDB
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A `cks serve` that must refuse to start: run to its end (killed after `timeout`, which counts as having started).
func refusedServe(_ dataDirectory: URL, _ arguments: [String] = [], environment: [String: String] = [:],
                  timeout: Duration = .seconds(15)) async throws -> (status: Int32, stderr: String) {
    let binary = try Locations.requireCksBinary()
    let result = try await ProcessRunner.run([binary.path] + ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDirectory.path] + arguments,
                                      environment: environment, timeout: timeout)
    return (result.status, result.stdout + result.stderr)
}

/// The simulated clock stored in a stopped core's database, and rows written as an out-of-range clock would.
enum StoredClock {
    static func set(offset: String, scale: String, in database: URL) throws {
        let queue = try DatabaseQueue(path: database.path)
        defer { try? queue.close() }
        try queue.write { db in
            try db.execute(sql: "UPDATE meta SET value = ? WHERE key = 'clock.offset'", arguments: [offset])
            try db.execute(sql: "UPDATE meta SET value = ? WHERE key = 'clock.timeScale'", arguments: [scale])
        }
    }

    static func setDeletionDate(_ seconds: Double, keyId: String, in database: URL) throws {
        let queue = try DatabaseQueue(path: database.path)
        defer { try? queue.close() }
        try queue.write { db in
            try db.execute(sql: "UPDATE kms_key SET deletion_date = ? WHERE id = ?", arguments: [seconds, keyId])
        }
    }
}

/// Dates AWS's clients can parse: up to 9999-12-31T23:59:59Z.
let latestParsableDate = 253_402_300_799.0

extension Reliability {
    /// Item 1: the simulated clock stays finite and within what AWS's clients parse, whatever the flags and calls.
    @Suite struct ClockBounds {
        /// Each refused `--time-scale` leaves the data directory as it was: the next normal start serves a clock
        /// near the wall clock.
        @Test func timeScalesOutsideTheBoundsAreRefused() async throws {
            let parent = try TemporaryDirectory(prefix: "cks-rel-scale")
            defer { parent.remove() }
            let data = parent.url.appendingPathComponent("data")
            let first = try await ServeProcess.start(dataDirectory: data)
            _ = try await first.client().createKey()
            await first.stop()
            for scale in ["1e300", "1e12", "86401", "inf", "nan", "0", "-1", "0.0001"] {
                let (status, output) = try await refusedServe(data, ["--time-scale", scale], timeout: .seconds(5))
                #expect(status == 64 || status == 1, "--time-scale \(scale) must be refused, exit \(status): \(output.suffix(300))")
                #expect(output.contains("--time-scale") && output.contains("86400"), "the refusal says the bounds: \(output.suffix(400))")
                // Restart after each case: the clock is still the wall clock's.
                let core = try await ServeProcess.start(dataDirectory: data)
                let now = try await core.client().simulatedNow()
                await core.stop()
                #expect(abs(now.timeIntervalSinceNow) < 3600, "after --time-scale \(scale) the clock reads \(now)")
            }
            // The fastest scale allowed runs, a simulated day per second, and a restart continues from where it was.
            let fast = try await ServeProcess.start(dataDirectory: data, extraArguments: ["--time-scale", "86400"])
            let before = try await fast.client().simulatedNow()
            try await Task.sleep(for: .seconds(1))
            let after = try await fast.client().simulatedNow()
            await fast.stop()
            #expect(after.timeIntervalSince(before) > 40_000, "86400x moved \(after.timeIntervalSince(before)) s in a second")
            let again = try await ServeProcess.start(dataDirectory: data)
            let resumed = try await again.client().simulatedNow()
            await again.stop()
            #expect(resumed >= after && resumed.timeIntervalSince1970 <= latestParsableDate)
            again.removeFiles()
            reportFigure("clock", "8 time scales outside 0.001–86400 refused at start, the clock unchanged after each; "
                + "86400x ran \(Int(after.timeIntervalSince(before))) simulated s in 1 s")
        }

        /// AdvanceClock: never past 9999-12-01 in total, no fractions dropped, nothing non-finite; restart after each.
        @Test func advanceClockStaysWithinWhatClientsParse() async throws {
            try await withServe { core in
                let builder = RawRequestBuilder(port: core.port, credentials: core.admin.credentials)
                func advance(_ seconds: String) async throws -> RawResponse {
                    try await onThread {
                        try exchange(port: builder.port, builder.request(target: "CksAdmin.AdvanceClock",
                                                                         body: Data(#"{"Seconds":\#(seconds)}"#.utf8)))
                    }
                }
                let key = try await core.client().createKey().keyMetadata?.keyId ?? ""
                let start = try await core.client().simulatedNow()
                for bad in ["1.5", "0.25", "1e300", "-1", "9.3e18"] {
                    let answer = try await advance(bad)
                    #expect(answer.status == 400 && answer.awsError?.type == "ValidationException",
                            "Seconds \(bad) must be refused, not truncated: \(answer)")
                    if bad == "1.5" { #expect(answer.awsError?.message.contains("whole") == true, "\(answer)") }
                }
                await core.stop()
                try await core.restart(samePort: true)
                #expect(try await core.client().simulatedNow().timeIntervalSince(start) < 60,
                        "refused advances moved nothing")

                // 100 years at a time until the end of the range: every answer parseable, then a clear refusal.
                var calls = 0, last = start
                while calls < 200 {
                    let answer = try await advance("3153600000")
                    guard answer.status == 200 else {
                        #expect(answer.awsError?.type == "ValidationException" && answer.awsError?.message.contains("9999") == true,
                                "the end of the range is refused clearly: \(answer)")
                        break
                    }
                    let now = (try JSONSerialization.jsonObject(with: answer.body) as? [String: Any])?["Now"] as? Double
                    #expect(now.map { $0.isFinite && $0 <= latestParsableDate } == true, "AdvanceClock answered \(answer)")
                    last = Date(timeIntervalSince1970: now ?? 0)
                    calls += 1
                }
                #expect(calls > 70 && calls < 80, "\(calls) advances of 100 years from \(start)")
                await core.stop()
                try await core.restart(samePort: true)
                let client = core.client()
                let resumed = try await client.simulatedNow()
                #expect(resumed >= last && resumed.timeIntervalSince1970 <= latestParsableDate, "after restart: \(resumed)")
                // A 30-day window from the last servable day still ends on a date clients parse.
                let metadata = try await client.describeKey(keyId: key)
                #expect(metadata.keyState == .enabled)
                _ = try await client.scheduleKeyDeletion(keyId: key, pendingWindowInDays: 30)
                let deletion = try await client.describeKey(keyId: key).deletionDate
                #expect(deletion.map { $0.timeIntervalSince1970 <= latestParsableDate } == true, "deletion date \(String(describing: deletion))")
                reportFigure("clock", "fractions, negatives and overflows refused; \(calls) AdvanceClock calls of 100 years "
                    + "reached \(SimulatedClock.describe(last.timeIntervalSince1970)) and the next was refused; every date after restart parseable")
            }
        }

        /// A clock stored outside the range (by an earlier version) is reported at start, never served, and
        /// `--reset-clock` brings it and the dates it left back.
        @Test func storedClockOutsideTheRangeIsRefusedUntilReset() async throws {
            let parent = try TemporaryDirectory(prefix: "cks-rel-reset")
            defer { parent.remove() }
            let data = parent.url.appendingPathComponent("data")
            let core = try await ServeProcess.start(dataDirectory: data)
            let key = try await core.client().createKey().keyMetadata?.keyId ?? ""
            _ = try await core.client().scheduleKeyDeletion(keyId: key, pendingWindowInDays: 7)
            await core.stop()
            for (offset, scale) in [("1e15", "1"), ("nan", "1"), ("-inf", "1"), ("0", "1e12")] {
                try StoredClock.set(offset: offset, scale: scale, in: core.databaseFile)
                try StoredClock.setDeletionDate(1e15 + 7 * 86400, keyId: key, in: core.databaseFile)
                let (status, output) = try await refusedServe(data, timeout: .seconds(10))
                #expect(status == 1, "a stored clock (offset \(offset), scale \(scale)) must not be served: exit \(status) \(output.suffix(300))")
                #expect(output.contains("--reset-clock") && output.contains("9999"), "the refusal says how to reset: \(output.suffix(500))")
            }
            let reset = try await ServeProcess.start(dataDirectory: data, extraArguments: ["--reset-clock"])
            let now = try await reset.client().simulatedNow()
            let metadata = try await reset.client().describeKey(keyId: key)
            await reset.stop()
            #expect(abs(now.timeIntervalSinceNow) < 3600, "reset to the wall clock: \(now)")
            #expect(metadata.keyState == .pendingDeletion)
            #expect(metadata.deletionDate.map { abs($0.timeIntervalSince(now) - 7 * 86400) < 3600 } == true,
                    "the waiting period restarts from the reset: \(String(describing: metadata.deletionDate))")
            let normal = try await ServeProcess.start(dataDirectory: data)
            #expect(abs(try await normal.client().simulatedNow().timeIntervalSinceNow) < 3600)
            await normal.stop()
            reportFigure("clock", "4 stored clocks outside the range (1e15 s, nan, -inf, scale 1e12) refused at start; "
                + "--reset-clock restarted a 7-day window from the wall clock")
        }
    }

    /// Item 2: one process per data directory, whatever starts second: `cks serve` or the embedded core.
    @Suite struct OneProcessPerDataDirectory {
        @Test func aSecondCoreIsRefusedNamingTheFirst() async throws {
            let parent = try TemporaryDirectory(prefix: "cks-rel-lock")
            defer { parent.remove() }
            // The embedded core's default data directory: $XDG_DATA_HOME/cks.
            let data = parent.url.appendingPathComponent("cks")
            let first = try await ServeProcess.start(dataDirectory: data)
            let key = try await first.client().createKey().keyMetadata?.keyId ?? ""

            let (status, output) = try await refusedServe(data, timeout: .seconds(10))
            #expect(status == 1, "a second cks serve must refuse: exit \(status) \(output.suffix(300))")
            #expect(output.contains("in use") && output.contains("\(first.pid)") && output.contains("cks serve"),
                    "the refusal names the first core: \(output.suffix(500))")

            // The console's embedded core on the same (default) directory: a clear message, not a second clock.
            let binary = try Locations.requireCksBinary()
            let home = parent.url.appendingPathComponent("home")
            try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
            var environment = ["XDG_DATA_HOME": parent.url.path, "HOME": home.path, "AWS_ENDPOINT_URL": "",
                               "AWS_ENDPOINT_URL_KMS": "", "AWS_PROFILE": "", "AWS_CONFIG_FILE": home.appendingPathComponent("none").path,
                               "AWS_SHARED_CREDENTIALS_FILE": home.appendingPathComponent("none").path]
            environment["AWS_ACCESS_KEY_ID"] = ""
            let embedded = try await ProcessRunner.run([binary.path] + ["stores", "--output", "json"], environment: environment, timeout: .seconds(20))
            #expect(embedded.status != 0, "cks stores over the same default directory must refuse: \(embedded.stdout.prefix(300))")
            #expect(embedded.stderr.contains("\(first.pid)") && embedded.stderr.contains(first.endpoint.absoluteString),
                    "the message names the core and where to reach it: \(embedded.stderr.suffix(500))")

            // kill -9: the kernel releases the lock; the next core starts at once and has the data.
            await first.kill()
            let second = try await ServeProcess.start(dataDirectory: data)
            #expect(try await second.client().describeKey(keyId: key).keyId == key)
            await second.stop()
            reportFigure("lock", "a second cks serve and an embedded core on a data directory in use refused, naming pid "
                + "and endpoint; after kill -9 the next core started")
        }
    }

    /// Item 3: a damaged, emptied or incomplete database is refused at start with what to do, never served.
    @Suite struct DamagedDatabase {
        /// Random bytes over two pages in the middle of the file: refused; `--skip-integrity-check` serves it
        /// read-only, and every 5xx it answers leaves a log line with its cause (and no secret).
        @Test func randomBytesInThePagesAreRefused() async throws {
            let core = try await ServeProcess.start()
            let client = core.client()
            let storeId = try await Fixtures.makeStore(client, name: "damaged")
            try await Fixtures.connect(client, storeId)
            let keys = try await Fixtures.makeKeys(client, storeId: storeId, count: Scale.pick(ci: 1500, long: 5000))
            await core.stop()

            var generator = SplitMix64(seed: Scale.seed)
            let size = DataFile.size(core.databaseFile)
            let offset = (size / 2 / 4096) * 4096
            try DataFile.overwrite(core.databaseFile, at: offset, with: (0..<8192).map { _ in UInt8.random(in: 0...255, using: &generator) })

            let (status, output) = try await refusedServe(core.dataDirectory, timeout: .seconds(10))
            #expect(status == 1, "a damaged database must be refused: exit \(status) \(output.suffix(300))")
            #expect(output.contains("damaged") && output.contains("--skip-integrity-check") && output.contains("backup"),
                    "the refusal says what to do: \(output.suffix(600))")

            let recovery = try await ServeProcess.start(dataDirectory: core.dataDirectory, extraArguments: ["--skip-integrity-check"])
            let builder = RawRequestBuilder(port: recovery.port, credentials: recovery.admin.credentials)
            var served = 0, faults: [String] = []
            for id in keys.prefix(400) {
                let answer = try await onThread {
                    try exchange(port: builder.port, builder.request(target: "TrentService.DescribeKey",
                                                                     body: Data(#"{"KeyId":"\#(id)"}"#.utf8)))
                }
                if answer.status == 200 { served += 1 }
                if answer.status >= 500, let id = answer.header("x-amzn-RequestId") { faults.append(id) }
            }
            let write = try await onThread {
                try exchange(port: builder.port, builder.request(target: "TrentService.CreateKey", body: Data("{}".utf8)))
            }
            #expect(write.status == 500 && write.awsError?.message.contains("read-only") == true, "changes are refused: \(write)")
            if let id = write.header("x-amzn-RequestId") { faults.append(id) }
            await recovery.stop()
            let log = recovery.log
            let unlogged = faults.filter { !log.contains($0) }
            #expect(unlogged.isEmpty, "\(unlogged.count) of \(faults.count) 5xx answers left no log line")
            #expect(log.contains("cause"), "5xx lines carry a cause")
            #expect(!log.contains(recovery.admin.secretAccessKey) && !log.contains(Fixtures.kmsUserPassword), "no secret in the log")
            #expect(served > 0, "the recovery mode still reads what is intact")
            recovery.removeFiles()
            core.removeFiles()
            reportFigure("damage", "8 KiB of random bytes at offset \(offset) of \(size): refused at start; read-only recovery "
                + "answered \(served) of 400 DescribeKey, \(faults.count) 5xx each logged with its cause")
        }

        /// A 0-byte `cks.sqlite`: refused unless `--init`.
        @Test func anEmptiedDatabaseIsRefusedUnlessInit() async throws {
            let core = try await ServeProcess.start()
            _ = try await core.client().createKey()
            await core.stop()
            try Data().write(to: core.databaseFile)
            let (status, output) = try await refusedServe(core.dataDirectory, timeout: .seconds(10))
            #expect(status == 1, "an empty database file must be refused: exit \(status) \(output.suffix(300))")
            #expect(output.contains("empty") && output.contains("--init"), "the refusal says what to do: \(output.suffix(500))")
            let fresh = try await ServeProcess.start(dataDirectory: core.dataDirectory, extraArguments: ["--init"])
            #expect(try await fresh.client().listKeys().keys?.isEmpty == true)
            await fresh.stop()
            // Deleted outright, beside the key of the lost one: the same.
            try FileManager.default.removeItem(at: core.databaseFile)
            let (missingStatus, missing) = try await refusedServe(core.dataDirectory, timeout: .seconds(10))
            #expect(missingStatus == 1 && missing.contains("missing") && missing.contains("--init"), "\(missing.suffix(400))")
            fresh.removeFiles()
            core.removeFiles()
        }

        /// The WAL of a core killed with -9, deleted: refused, naming the file; read-only recovery and an explicit
        /// `--accept-lost-wal` are the ways on.
        @Test func aDeletedWriteAheadLogIsRefused() async throws {
            // 20 keys checkpointed into the database file by a clean stop, 20 more only in the WAL of a killed core.
            let core = try await ServeProcess.start()
            for _ in 0..<20 { _ = try await core.client().createKey() }
            await core.stop()
            try await core.restart()
            for _ in 0..<20 { _ = try await core.client().createKey() }
            await core.kill()
            let wal = URL(fileURLWithPath: core.databaseFile.path + "-wal")
            #expect(FileManager.default.fileExists(atPath: wal.path), "a killed core leaves its WAL")
            try FileManager.default.removeItem(at: wal)
            let (status, output) = try await refusedServe(core.dataDirectory, timeout: .seconds(10))
            #expect(status == 1, "a database whose WAL was deleted must be refused: exit \(status) \(output.suffix(300))")
            #expect(output.contains("cks.sqlite-wal") && output.contains("--accept-lost-wal") && output.contains("--skip-integrity-check"),
                    "the refusal names the file and the ways on: \(output.suffix(600))")
            let readOnly = try await ServeProcess.start(dataDirectory: core.dataDirectory, extraArguments: ["--skip-integrity-check"])
            let remaining = try await readOnly.client().listKeys().keys?.count ?? -1
            await readOnly.stop()
            #expect(remaining == 20, "what the database file holds without its WAL: \(remaining) keys")
            let accepted = try await ServeProcess.start(dataDirectory: core.dataDirectory, extraArguments: ["--accept-lost-wal"])
            _ = try await accepted.client().createKey()
            #expect(try await accepted.client().listKeys().keys?.count == 21)
            await accepted.stop()
            let normal = try await ServeProcess.start(dataDirectory: core.dataDirectory)
            await normal.stop()
            for process in [readOnly, accepted, normal, core] { process.removeFiles() }
            reportFigure("damage", "a deleted WAL after kill -9 refused; read-only recovery served the \(remaining) keys "
                + "checkpointed before it, --accept-lost-wal went on from them")
        }
    }

    /// Item 4: the data directory and its files are private, and the database alone reveals no secret.
    @Suite struct PrivateFiles {
        @Test func looseDirectoryIsRefusedAndFilesArePrivate() async throws {
            let parent = try TemporaryDirectory(prefix: "cks-rel-modes")
            defer { parent.remove() }
            let data = parent.url.appendingPathComponent("data")
            try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            let (status, output) = try await refusedServe(data, timeout: .seconds(10))
            #expect(status == 1, "a 0755 data directory must be refused: exit \(status) \(output.suffix(300))")
            #expect(output.contains("chmod 700"), "the refusal says how to fix it: \(output.suffix(400))")
            try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: data.path)

            let core = try await ServeProcess.start(dataDirectory: data)
            let client = core.client()
            let xksSecret = "xksSealedSecret0123456789abcdefghijklmnopqr"
            _ = try await client.createXksProxy(CreateXksProxyRequest(
                uriEndpoint: "https://xks.example.com", uriPath: "/kms/xks/v1", accessKeyId: "ABCDEFGHIJKLMNOPQRST",
                rawSecretAccessKey: xksSecret, externalKeyIds: ["ext-1"]))
            _ = try await client.createCustomKeyStore(CreateCustomKeyStoreRequest(
                customKeyStoreName: "sealed-xks", customKeyStoreType: .externalKeyStore,
                xksProxyUriEndpoint: "https://xks.example.com", xksProxyUriPath: "/kms/xks/v1",
                xksProxyAuthenticationCredential: XksProxyAuthenticationCredentialType(accessKeyId: "ABCDEFGHIJKLMNOPQRST",
                                                                                      rawSecretAccessKey: xksSecret),
                xksProxyConnectivity: .publicEndpoint))
            let storeId = try await Fixtures.makeStore(client, name: "sealed-hsm")
            for _ in 0..<20 { _ = try await client.createKey() }
            var modes: [String: Int] = [:]
            for name in ["", "cks.sqlite", "cks.sqlite-wal", "cks.sqlite-shm", "cks.key", "cks.lock", "principals.json"] {
                let path = name.isEmpty ? data.path : data.appendingPathComponent(name).path
                modes[name.isEmpty ? "data" : name] = (try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
            }
            let open = modes.filter { $0.value < 0 || $0.value & 0o077 != 0 }
            #expect(open.isEmpty, "modes after start: \(modes.mapValues { String($0, radix: 8) })")

            // The database files alone (a copy, a backup, a stray WAL) reveal none of the secrets.
            let raw = DataFile.bytes(core.databaseFile) + DataFile.bytes(URL(fileURLWithPath: core.databaseFile.path + "-wal"))
            for secret in [xksSecret, Fixtures.kmsUserPassword] {
                #expect(raw.range(of: Data(secret.utf8)) == nil, "\(secret) is in the database files in clear")
            }
            await core.stop()
            let materials = try DataFile.materialLengths(core.databaseFile)
            #expect(!materials.isEmpty && materials.allSatisfy { $0 != 32 }, "key material stored sealed: lengths \(Set(materials))")
            let copy = parent.url.appendingPathComponent("copy")
            try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try FileManager.default.copyItem(at: core.databaseFile, to: copy.appendingPathComponent("cks.sqlite"))
            let (copyStatus, copyOutput) = try await refusedServe(copy, timeout: .seconds(10))
            #expect(copyStatus == 1 && copyOutput.contains("cks.key"), "a copied database without its key is refused: \(copyOutput.suffix(400))")
            _ = storeId
            reportFigure("modes", "0755 data directory refused; after start \(modes.count) paths private; no secret in "
                + "\(raw.count) bytes of database files; a copy without cks.key refused")
        }

        /// A database written before secrets were sealed (kept in clear, 0644 files, no key) keeps working: its
        /// secrets are sealed at the first start, passwords still match, key material still decrypts.
        @Test func anEarlierUnsealedDatabaseMigrates() async throws {
            let parent = try TemporaryDirectory(prefix: "cks-rel-legacy")
            defer { parent.remove() }
            let data = parent.url.appendingPathComponent("data")
            try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let legacy = try LegacyDatabase.write(to: data.appendingPathComponent("cks.sqlite"))
            let core = try await ServeProcess.start(dataDirectory: data)
            let client = core.client()
            #expect(try await client.describeKey(keyId: legacy.keyId).keyState == .enabled)
            let sealed = try await client.encrypt(EncryptRequest(keyId: legacy.keyId, plaintext: Data("legacy".utf8)))
            let opened = try await client.decrypt(DecryptRequest(ciphertextBlob: sealed.ciphertextBlob ?? Data()))
            #expect(opened.plaintext == Data("legacy".utf8))
            // The store's password and the cluster's still match once sealed: the store connects.
            try await Fixtures.connect(client, legacy.storeId)
            await core.stop()
            let raw = DataFile.bytes(core.databaseFile)
            #expect(raw.range(of: Data(legacy.password.utf8)) == nil, "the legacy password is still in clear")
            #expect(raw.range(of: legacy.material) == nil, "the legacy key material is still in clear")
            let mode = (try FileManager.default.attributesOfItem(atPath: core.databaseFile.path)[.posixPermissions] as? Int) ?? -1
            #expect(mode & 0o077 == 0, "tightened from 0644: \(String(mode, radix: 8))")
            #expect(core.log.contains("sealed"), "the migration is reported")
        }
    }
}

/// Raw access to a stopped core's files.
enum DataFile {
    static func size(_ url: URL) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: url.path)[.size]) as? Int) ?? 0
    }

    static func bytes(_ url: URL) -> Data { FileManager.default.contents(atPath: url.path) ?? Data() }

    static func overwrite(_ url: URL, at offset: Int, with bytes: [UInt8]) throws {
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: Data(bytes))
        try handle.synchronize()
    }

    /// The stored length of every key's material.
    static func materialLengths(_ url: URL) throws -> [Int] {
        var configuration = Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(path: url.path, configuration: configuration)
        defer { try? queue.close() }
        return try queue.read { db in try Int.fetchAll(db, sql: "SELECT length(material) FROM kms_key WHERE material IS NOT NULL") }
    }
}

/// A data directory as the first version of the core left it: the first migration's schema, every secret in clear,
/// the database 0644, no `cks.key` and no lock file.
enum LegacyDatabase {
    struct Contents {
        var keyId: String
        var storeId: String
        var password: String
        var material: Data
    }

    static func write(to url: URL) throws -> Contents {
        let contents = Contents(keyId: "1234abcd-12ab-34cd-56ef-1234567890ab", storeId: "cks-1234567890abcdef0",
                                password: "legacyKmsUserPassword1", material: Data(repeating: 0x5A, count: 32))
        let queue = try DatabaseQueue(path: url.path)
        try queue.write { db in
            try db.execute(sql: firstSchema)
            try db.execute(sql: "CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
            try db.execute(sql: "INSERT INTO grdb_migrations VALUES ('v1')")
            let now = Date().timeIntervalSince1970
            try db.execute(sql: "INSERT INTO meta VALUES ('clock.offset', '0'), ('clock.timeScale', '1'), ('tracking.start', ?)",
                           arguments: [String(now)])
            try db.execute(sql: """
                INSERT INTO cluster (id, account, region, hsm_count, kmsuser_password, trust_anchor, state, creation_date)
                VALUES ('cluster-legacy12345', '111122223333', 'us-east-1', 2, ?, 'PEM', 'ACTIVE', ?)
                """, arguments: [contents.password, now])
            try db.execute(sql: """
                INSERT INTO store (id, account, region, name, type, creation_date, cluster_id, trust_anchor,
                  key_store_password, state, changed_at)
                VALUES (?, '111122223333', 'us-east-1', 'legacy', 'AWS_CLOUDHSM', ?, 'cluster-legacy12345', 'PEM', ?,
                  'DISCONNECTED', ?)
                """, arguments: [contents.storeId, now, contents.password, now])
            try db.execute(sql: """
                INSERT INTO kms_key (id, account, region, creation_date, description, key_usage, key_spec, origin, state, material)
                VALUES (?, '111122223333', 'us-east-1', ?, 'legacy key', 'ENCRYPT_DECRYPT', 'SYMMETRIC_DEFAULT', 'AWS_KMS',
                  'Enabled', ?)
                """, arguments: [contents.keyId, now, contents.material])
        }
        try queue.close()
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: url.path + suffix) {
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: url.path + suffix)
        }
        return contents
    }

    /// The first migration's schema, as shipped (a migration is never edited).
    static let firstSchema = """
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
        """
}
