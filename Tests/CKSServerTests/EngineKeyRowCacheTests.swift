@testable import CKSServer
import CKSDomain
import CKSWire
import Foundation
import Synchronization
import Testing

/// DescribeKey answers from cached rows; every write must make the next DescribeKey see it, whatever the readers do.
@Suite("Engine: DescribeKey's row cache never serves a row older than a completed write")
struct EngineKeyRowCacheTests {
    @Test("cached answers follow every kind of change: state, deletion, store connection, clock")
    func followsChanges() async throws {
        try await withEngine { h in
            let plain = try await h.createKey(description: "plain")
            #expect(try await h.keyState(plain.keyId) == .enabled)
            #expect(h.engine.keyRows.count == 1)   // filled by the first DescribeKey
            #expect(try await h.keyState(plain.keyId) == .enabled)   // served from it

            try await h.call(DisableKeyRequest(keyId: plain.keyId))
            #expect(try await h.keyState(plain.keyId) == .disabled)
            _ = try await h.schedule(plain.keyId, days: 7)
            #expect(try await h.keyState(plain.keyId) == .pendingDeletion)
            #expect(try await h.keyState(plain.keyId) == .pendingDeletion)
            // The waiting period ends by the wall clock alone (no write): the cached row must not answer.
            h.wall.advance(by: 7 * 86_400 + 1)
            await h.expect(.notFound, DescribeKeyRequest(keyId: plain.keyId))

            // A key in a store: its state follows the store's connection, settled at each DescribeKey's now.
            let (storeId, _) = try await h.hsmStore()
            try await h.connect(storeId)
            let inStore = try await h.createKey(in: storeId)
            #expect(try await h.keyState(inStore.keyId) == .enabled)
            #expect(try await h.keyState(inStore.keyId) == .enabled)
            try await h.disconnect(storeId, wait: false)
            #expect(try await h.keyState(inStore.keyId) == .unavailable)
            h.wall.advance(by: 60)
            #expect(try await h.keyState(inStore.keyId) == .unavailable)
            try await h.connect(storeId, wait: false)
            #expect(try await h.keyState(inStore.keyId) == .unavailable)   // CONNECTING
            try await h.advance(Int(h.options.connectDuration))
            #expect(try await h.keyState(inStore.keyId) == .enabled)

            // Another account never sees the cached row.
            await h.expect(.notFound, DescribeKeyRequest(keyId: inStore.keyId), as: EngineHarness.bob)
            await h.expect(.notFound, DescribeKeyRequest(keyId: inStore.keyId), as: EngineHarness.aliceWest)
        }
    }

    @Test("with readers refilling the cache all along, each DescribeKey after a write sees that write")
    func readersRacingWrites() async throws {
        try await withEngine { h in
            let key = try await h.createKey()
            let stop = StopFlag()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        while !stop.isSet {
                            _ = try await h.keyState(key.keyId)
                            // A cached DescribeKey never suspends: let the writer (and other tests) run.
                            await Task.yield()
                        }
                    }
                }
                defer { stop.set() }
                for round in 0..<60 {
                    let disable = round % 2 == 0
                    if disable {
                        try await h.call(DisableKeyRequest(keyId: key.keyId))
                    } else {
                        try await h.call(EnableKeyRequest(keyId: key.keyId))
                    }
                    for _ in 0..<3 {
                        let seen = try await h.keyState(key.keyId)
                        #expect(seen == (disable ? .disabled : .enabled), "round \(round)")
                    }
                }
                stop.set()
                try await group.waitForAll()
            }
        }
    }

    @Test("the cache is bounded and a write empties it")
    func bounded() async {
        let cache = KeyRowCache(capacity: 3)
        let scope = ResourceScope(account: "111122223333", region: "us-east-1")
        func key(_ n: Int) -> KMSKey {
            KMSKey(id: "k\(n)", scope: scope, creationDate: Date(timeIntervalSince1970: 0), description: "", keyUsage: "ENCRYPT_DECRYPT",
                   keySpec: "SYMMETRIC_DEFAULT", origin: .awsKMS, storedState: .enabled, material: nil)
        }
        for n in 0..<10 {
            let generation = cache.generationForFill()!
            cache.fill(.init(key: key(n), store: nil), generation: generation)
            #expect(cache.count <= 3)
        }
        #expect(cache.entry(keyId: "k9", in: scope) != nil)
        #expect(cache.entry(keyId: "k9", in: ResourceScope(account: "444455556666", region: "us-east-1")) == nil)
        // A fill noted before a write is refused after it.
        let stale = cache.generationForFill()!
        await cache.aroundWrite {}
        cache.fill(.init(key: key(42), store: nil), generation: stale)
        #expect(cache.entry(keyId: "k42", in: scope) == nil)
        #expect(cache.count == 0)
    }
}

private final class StopFlag: Sendable {
    private let flag = Mutex(false)
    var isSet: Bool { flag.withLock { $0 } }
    func set() { flag.withLock { $0 = true } }
}
