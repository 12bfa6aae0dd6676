import CKSDomain
@testable import CKSPersistence
import GRDB
import CKSServer
import CKSWire
import Foundation
import Testing

/// Opt-in measurements (`CKS_ENGINE_BENCH=100000 swift test --filter EngineBenchmark`): seeds N keys straight into
/// the database, then times engine calls. Prints figures; asserts only correctness, never speed.
@Suite("Engine benchmark (opt-in)")
struct EngineBenchmarkTests {
    static let n = Int(ProcessInfo.processInfo.environment["CKS_ENGINE_BENCH"] ?? "") ?? 0

    @Test("DescribeKey, ListKeys, CreateKey, Schedule/Cancel at N keys", .enabled(if: n > 0))
    func measure() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cks-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("cks.sqlite")
        let scope = ResourceScope(account: "111122223333", region: "us-east-1")
        let caller = Caller(account: scope.account, region: scope.region, principalName: "bench")
        var ids: [String] = []
        do {
            let db = try KMSDatabase.open(at: url)
            let start = Date()
            try db.writeNow { w in
                for _ in 0..<Self.n {
                    let k = KMSKey(id: KeyIdentifiers.newKeyId(), scope: scope, creationDate: Date(), origin: .awsKMS,
                                   storedState: .enabled, material: Data(repeating: 1, count: 32))
                    try w.insert(k)
                    ids.append(k.id)
                }
            }
            print("seeded \(Self.n) keys in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
            try db.close()
        }
        let durability = Durability(rawValue: ProcessInfo.processInfo.environment["CKS_ENGINE_BENCH_DURABILITY"] ?? "FULL") ?? .full
        print("durability \(durability.rawValue)")
        let engine = try KMSEngine.open(databaseAt: url, options: EngineOptions(durability: durability))
        defer { try? engine.close() }

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
        // Concurrency: 16 tasks of DescribeKey.
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
        let reqBody = body("{\"KeyId\":\"\(ids[0])\"}")
        let reps = 5000
        var t = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<reps { _ = try WireCodec.decodeRequest(DescribeKeyRequest.self, from: reqBody) }
        print("decode DescribeKeyRequest: \(Double(DispatchTime.now().uptimeNanoseconds - t) / Double(reps) / 1000) µs")
        let response = try WireCodec.decodeResponse(DescribeKeyResponse.self,
            from: try await engine.handle(target: "TrentService.DescribeKey", body: reqBody, caller: caller))
        t = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<reps { _ = WireCodec.encodeResponse(response) }
        print("encode DescribeKeyResponse: \(Double(DispatchTime.now().uptimeNanoseconds - t) / Double(reps) / 1000) µs")
        t = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<reps { _ = try await engine.handle(target: "TrentService.DescribeKey", body: reqBody, caller: caller) }
        print("whole DescribeKey: \(Double(DispatchTime.now().uptimeNanoseconds - t) / Double(reps) / 1000) µs")
        let total = try await engine.handle(target: "TrentService.ListKeys", body: body("{\"Limit\":1000}"), caller: caller)
        #expect(try WireCodec.decodeResponse(ListKeysResponse.self, from: total).keys?.count == 1000)
        // The data directory admits one opener at a time: the engine's goes first.
        try engine.close()
        t = DispatchTime.now().uptimeNanoseconds
        let db = try KMSDatabase.open(at: url)
        print("open (lock, key, quick_check, migrations) at \(Self.n) keys: \(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6) ms")
        t = DispatchTime.now().uptimeNanoseconds
        _ = try await db.pool.read { try String.fetchAll($0, sql: "PRAGMA quick_check") }
        print("PRAGMA quick_check at \(Self.n) keys: \(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6) ms")
        let first = ids[0]
        t = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<reps { _ = try await db.read { r in try r.key(id: first, in: scope) } }
        print("async pool read of one key: \(Double(DispatchTime.now().uptimeNanoseconds - t) / Double(reps) / 1000) µs")
        t = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<reps { _ = try db.readNow { r in try r.key(id: first, in: scope) } }
        print("sync pool read of one key: \(Double(DispatchTime.now().uptimeNanoseconds - t) / Double(reps) / 1000) µs")
        t = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<reps { _ = try await db.pool.read { try Int.fetchOne($0, sql: "SELECT 1") } }
        print("pool.read SELECT 1: \(Double(DispatchTime.now().uptimeNanoseconds - t) / Double(reps) / 1000) µs")
        t = DispatchTime.now().uptimeNanoseconds
        try await db.pool.read { d in
            for _ in 0..<reps { _ = try DataReader(d, db.secrets).key(id: first, in: scope) }
        }
        print("key lookup inside one read transaction: \(Double(DispatchTime.now().uptimeNanoseconds - t) / Double(reps) / 1000) µs")
        let material = Data(repeating: 1, count: 32)
        let sealed = db.secrets.sealMaterial(material, keyId: first)
        t = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<reps { _ = try db.secrets.openMaterial(sealed, keyId: first) }
        print("unseal one key's material: \(Double(DispatchTime.now().uptimeNanoseconds - t) / Double(reps) / 1000) µs")
        t = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<reps { _ = db.secrets.sealMaterial(material, keyId: first) }
        print("seal one key's material: \(Double(DispatchTime.now().uptimeNanoseconds - t) / Double(reps) / 1000) µs")
        try db.close()
    }
}
