@testable import CKSServer
import CKSDomain
import CKSPersistence
import CKSWire
import Foundation
import Testing

/// The use record's event log: requests append to it and are answered; LookupEvents sees every answered call;
/// what a core left unfolded is folded at the next start, once.
@Suite("Engine: the use record's event log")
struct EngineUseRecordTests {
    static func lookup(_ h: EngineHarness, _ key: String? = nil, eventId: String? = nil) async throws -> [TrailEvent] {
        var attributes: [LookupAttribute] = []
        if let key { attributes.append(LookupAttribute(attributeKey: "ResourceName", attributeValue: key)) }
        if let eventId { attributes.append(LookupAttribute(attributeKey: "EventId", attributeValue: eventId)) }
        var events: [TrailEvent] = []
        var token: String?
        repeat {
            let page = try await h.call(LookupEventsRequest(lookupAttributes: attributes, maxResults: 50, nextToken: token))
            events += page.events ?? []
            token = page.nextToken
        } while token != nil
        return events
    }

    static func event(_ n: Int, key: String) -> KeyEvent {
        KeyEvent(eventId: "00000000-0000-4000-8000-\(String(format: "%012d", n))", time: Date(timeIntervalSince1970: 1_899_999_000 + Double(n)),
                 scope: ResourceScope(account: "111122223333", region: "us-east-1"), keyId: key, keyParameter: key,
                 operation: "DescribeKey", principalArn: "arn:aws:iam::111122223333:user/alice", username: "alice",
                 accessKeyId: nil, source: "principals-file", requestId: "req-\(n)", errorCode: nil,
                 errorMessage: nil, readOnly: true)
    }

    @Test("LookupEvents sees every answered call at once, one event per key a call used; GetKeyLastUsage names it")
    func readYourWrites() async throws {
        try await withEngine { h in
            let a = try await h.createKey(), b = try await h.createKey()
            for round in 1...40 {
                try await h.call(DescribeKeyRequest(keyId: a.keyId))
                let sealed = try await h.call(EncryptRequest(keyId: a.keyId, plaintext: Data("x".utf8)))
                _ = try await h.call(ReEncryptRequest(ciphertextBlob: sealed.ciphertextBlob, destinationKeyId: b.keyId))
                _ = await h.failure(DescribeKeyRequest(keyId: "alias/none-\(round)"))
                // Asked right after the answers: every one of them is there.
                #expect(try await Self.lookup(h, a.keyId).count == 3 * round)
                #expect(try await Self.lookup(h, b.keyId).count == round)
            }
            let usage = try await h.call(GetKeyLastUsageRequest(keyId: b.keyId)).keyLastUsage
            let named = try await Self.lookup(h, eventId: usage?.cloudTrailEventId)
            #expect(named.count == 1)
            #expect(named.first?.eventName == "ReEncrypt")
            // Per round: DescribeKey, Encrypt and ReEncrypt's source use on a, its destination use on b, the refusal
            // (a key that does not exist); then GetKeyLastUsage.
            #expect(try await Self.lookup(h).count == 40 * 5 + 1)
        }
    }

    @Test("with durability full, concurrent calls share the log's fsync and every answered one is recorded")
    func durabilityFull() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cks-engine-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        var options = EngineOptions()
        options.durability = .full
        let engine = try KMSEngine.open(databaseAt: directory.appendingPathComponent("cks.sqlite"), options: options)
        defer { try? engine.close() }
        func call<R: WireRequest>(_ request: R) async throws -> R.Response {
            let data = try await engine.handle(target: R.target, body: try WireCodec.encodeRequest(request),
                                               caller: EngineHarness.alice)
            return try WireCodec.decodeResponse(R.Response.self, from: data)
        }
        let key = try await call(CreateKeyRequest()).keyMetadata!.keyId
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<16 {
                group.addTask { for _ in 0..<25 { _ = try await call(DescribeKeyRequest(keyId: key)) } }
            }
            try await group.waitForAll()
        }
        var count = 0
        var token: String?
        repeat {
            let page = try await call(LookupEventsRequest(
                lookupAttributes: [LookupAttribute(attributeKey: "ResourceName", attributeValue: key)], nextToken: token))
            count += page.events?.count ?? 0
            token = page.nextToken
        } while token != nil
        #expect(count == 16 * 25)
        #expect(engine.recorder?.lastFailure.withLock { $0 } == nil)
    }

    @Test("events a core left in the log are folded at the next start, exactly once; the log is 0600")
    func replayOnce() async throws {
        try await withEngine { h in
            let key = try await h.createKey()
            let database = h.directory.appendingPathComponent("cks.sqlite")
            let logURL = EventLogFile.url(forDatabase: database)
            try h.engine.close()
            // What kill -9 leaves: events appended, the first two folded (mark moved), the log not yet restarted.
            let (log, _, leftover) = try EventLogFile.open(logURL)
            #expect(leftover.isEmpty)
            let events = (1...5).map { Self.event($0, key: key.keyId) }
            var ends: [Int64] = []
            for e in events {
                try log.append(EventLogCodec.record(e))
                ends.append(log.size)
            }
            let generation = log.generation
            log.close()
            let db = try KMSDatabase.open(at: database, options: DatabaseOpenOptions(durability: .normal))
            try db.writeNow { w in try w.fold(loggedEvents: Array(events.prefix(2)), generation: generation, through: ends[1]) }
            try db.close()
            let attributes = try FileManager.default.attributesOfItem(atPath: logURL.path)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)

            let reopened = try KMSEngine.open(databaseAt: database, options: h.options)
            h.engineBox.withLock { $0 = reopened }
            let ids = try await Self.lookup(h, key.keyId).compactMap(\.eventId)
            for e in events { #expect(ids.filter { $0 == e.eventId }.count == 1, "event \(e.requestId)") }
            try h.restart()
            let again = try await Self.lookup(h, key.keyId).compactMap(\.eventId)
            #expect(ids.count == events.count)
            #expect(again.count == events.count)
        }
    }
}
