import ArgumentParser
import CKSDomain
import CKSPersistence
import CKSServer
import CKSWire
import Foundation

/// `cks-bench engine`: the engine alone, in this process, without HTTP. Seeds N keys straight into a fresh
/// database, then times engine calls (p50/p99 per call), a DescribeKey's parts, and the database's open and reads.
/// Prints figures; the whole-system benchmark is `cks-bench` without a subcommand.
struct EngineBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Time engine calls in process (no HTTP) at an estate of N keys.")

    @Option(help: "Keys seeded straight into the database.")
    var keys = 10_000

    @Option(help: "Commit durability of the engine: normal or full.")
    var durability = "full"

    func validate() throws {
        guard keys >= 1 else { throw ValidationError("--keys must be at least 1") }
        guard Durability(rawValue: durability.uppercased()) != nil else {
            throw ValidationError("--durability must be 'normal' or 'full', got '\(durability)'")
        }
    }

    func run() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cks-bench-engine-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("cks.sqlite")
        let scope = ResourceScope(account: "111122223333", region: "us-east-1")
        let caller = Caller(account: scope.account, region: scope.region, principalName: "bench")
        var ids: [String] = []
        do {
            let db = try KMSDatabase.open(at: url)
            let start = Date()
            try db.writeNow { w in
                for _ in 0..<keys {
                    let k = KMSKey(id: KeyIdentifiers.newKeyId(), scope: scope, creationDate: Date(), origin: .awsKMS,
                                   storedState: .enabled, material: Data(repeating: 1, count: 32))
                    try w.insert(k)
                    ids.append(k.id)
                }
            }
            print("seeded \(keys) keys in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
            try db.close()
        }
        let mode = Durability(rawValue: durability.uppercased()) ?? .full
        print("durability \(mode.rawValue)")
        let engine = try KMSEngine.open(databaseAt: url, options: EngineOptions(durability: mode))

        func time(_ label: String, _ count: Int, _ body: (Int) async throws -> Void) async throws {
            var samples: [Double] = []
            for i in 0..<count {
                let t = DispatchTime.now().uptimeNanoseconds
                try await body(i)
                samples.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6)
            }
            samples.sort()
            let p50 = samples[samples.count / 2], p99 = samples[min(samples.count - 1, samples.count * 99 / 100)]
            print("\(label): n=\(count) p50=\(String(format: "%.3f", p50)) ms p99=\(String(format: "%.3f", p99)) ms")
        }
        func perCall(_ label: String, _ reps: Int, since start: UInt64) {
            print("\(label): \(String(format: "%.2f", Double(DispatchTime.now().uptimeNanoseconds - start) / Double(reps) / 1000)) µs")
        }
        func body(_ json: String) -> Data { Data(json.utf8) }

        try await time("DescribeKey", 2000) { i in
            _ = try await engine.handle(target: "TrentService.DescribeKey", body: body("{\"KeyId\":\"\(ids[(i * 7919) % ids.count])\"}"), caller: caller)
        }
        var marker: String?
        try await time("ListKeys(100)", 300) { _ in
            let data = try await engine.handle(target: "TrentService.ListKeys",
                                               body: body(marker.map { "{\"Marker\":\"\($0)\"}" } ?? "{}"), caller: caller)
            marker = try WireCodec.decodeResponse(ListKeysResponse.self, from: data).nextMarker
        }
        try await time("CreateKey", 500) { _ in
            _ = try await engine.handle(target: "TrentService.CreateKey", body: body("{}"), caller: caller)
        }
        try await time("Schedule+Cancel", 300) { i in
            let id = ids[(i * 104_729) % ids.count]
            _ = try await engine.handle(target: "TrentService.ScheduleKeyDeletion", body: body("{\"KeyId\":\"\(id)\",\"PendingWindowInDays\":7}"), caller: caller)
            _ = try await engine.handle(target: "TrentService.CancelKeyDeletion", body: body("{\"KeyId\":\"\(id)\"}"), caller: caller)
        }
        // 16 tasks of DescribeKey at once.
        let keyIds = ids
        let start = Date()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in 0..<16 {
                group.addTask {
                    for i in 0..<500 {
                        _ = try await engine.handle(target: "TrentService.DescribeKey",
                                                    body: Data("{\"KeyId\":\"\(keyIds[(t * 500 + i) % keyIds.count])\"}".utf8), caller: caller)
                    }
                }
            }
            try await group.waitForAll()
        }
        print("DescribeKey c=16: \(String(format: "%.0f", 8000 / Date().timeIntervalSince(start))) req/s")

        // Where a DescribeKey's time goes.
        let request = body("{\"KeyId\":\"\(ids[0])\"}")
        let reps = 5000
        var t = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<reps { _ = try WireCodec.decodeRequest(DescribeKeyRequest.self, from: request) }
        perCall("decode DescribeKeyRequest", reps, since: t)
        let response = try WireCodec.decodeResponse(DescribeKeyResponse.self,
            from: try await engine.handle(target: "TrentService.DescribeKey", body: request, caller: caller))
        t = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<reps { _ = WireCodec.encodeResponse(response) }
        perCall("encode DescribeKeyResponse", reps, since: t)
        t = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<reps { _ = try await engine.handle(target: "TrentService.DescribeKey", body: request, caller: caller) }
        perCall("whole DescribeKey", reps, since: t)
        let listed = try await engine.handle(target: "TrentService.ListKeys", body: body("{\"Limit\":1000}"), caller: caller)
        let count = try WireCodec.decodeResponse(ListKeysResponse.self, from: listed).keys?.count ?? 0
        guard count == min(1000, keys + 500) else { throw ValidationError("ListKeys(1000) returned \(count) keys") }

        // The data directory admits one opener at a time: the engine's goes first.
        try engine.close()
        t = DispatchTime.now().uptimeNanoseconds
        let db = try KMSDatabase.open(at: url)
        let opened = Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6
        print("open (lock, key, migrations; quick_check \(db.checkedBeforeServing ? "included" : "in the background")) at \(keys) keys: \(opened) ms")
        t = DispatchTime.now().uptimeNanoseconds
        let integrity = await db.integrityChecked()
        print("quick_check at \(keys) keys: \(integrity), \(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6) ms after the open")
        let first = ids[0]
        t = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<reps { _ = try await db.read { r in try r.key(id: first, in: scope) } }
        perCall("read of one key (async API)", reps, since: t)
        t = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<reps { _ = try db.readNow { r in try r.key(id: first, in: scope) } }
        perCall("read of one key (on the calling thread)", reps, since: t)
        try db.close()
    }
}
