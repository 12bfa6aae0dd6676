import CKSClient
import CKSDomain
import CKSWire
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What the client was told about one key: its state after the last answered call, and what an unanswered call
/// (connection lost when the core died) would have made of it.
private enum KeyFate: Equatable, CustomStringConvertible {
    case enabled, disabled
    case pending(Date?)

    var description: String {
        switch self {
        case .enabled: "Enabled"
        case .disabled: "Disabled"
        case .pending(let date): "PendingDeletion(\(date.map { "\($0.timeIntervalSince1970)" } ?? "?"))"
        }
    }

    /// Whether an observed key is in this state (a known deletion date must be the one the 200 answer gave).
    func matches(_ key: KeyMetadata) -> Bool {
        switch self {
        case .enabled: return key.keyState == .enabled && key.enabled == true && key.deletionDate == nil
        case .disabled: return key.keyState == .disabled && key.enabled == false && key.deletionDate == nil
        case .pending(let date):
            guard key.keyState == .pendingDeletion, key.enabled == false, let actual = key.deletionDate else { return false }
            guard let date else { return true }
            return abs(actual.timeIntervalSince1970 - date.timeIntervalSince1970) < 0.002
        }
    }
}

/// What the crash run found, shared by its steps.
final class CrashLog: @unchecked Sendable {
    var kills = 0
    var problems: [String] = []
    var restartTimes: [Double] = []
}

/// A thread-safe "the core is down" flag the bulk calls read before each item.
private final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}

extension Reliability {
    /// `kill -9` at random moments of a bulk teardown of a store with thousands of keys; after every restart on the
    /// same data directory, every answered call is reflected, nothing half-applied shows, SQLite is intact and the
    /// rules hold.
    @Suite struct CrashSafety {
        /// kill -9, restart on the same data directory, then the SQLite-level checks.
        static func killAndRestart(_ core: ServeProcess, _ log: CrashLog) async throws {
            await core.kill()
            log.kills += 1
            let started = ContinuousClock.now
            try await core.restart()
            log.restartTimes.append((ContinuousClock.now - started) / .seconds(1))
            for problem in try Invariants.checkDatabase(at: core.databaseFile) {
                log.problems.append("after kill \(log.kills): \(problem)")
            }
        }

        static func storeIsGone(_ client: KMSClient, _ storeId: String) async -> Bool {
            do {
                _ = try await client.describeCustomKeyStores(customKeyStoreId: storeId)
                return false
            } catch {
                return error.code == .customKeyStoreNotFound
            }
        }

        @Test func killNineDuringBulkTeardown() async throws {
            let keyCount = Scale.pick(ci: 2000, long: 5000)
            let waveKills = Scale.pick(ci: 16, long: 94)
            let fillKills = Scale.pick(ci: 2, long: 4)
            var random = SplitMix64(seed: Scale.seed)
            reportFigure("crash", "seed \(Scale.seed), \(keyCount) keys")

            let core = try await ServeProcess.start()
            defer { Task { [core] in await core.kill() } }
            let log = CrashLog()
            var client = core.client()
            let storeId = try await Fixtures.makeStore(client, name: "crash-store")
            try await Fixtures.connect(client, storeId)

            // Fill the store, killed a few times on the way: every CreateKey answered 200 must exist afterwards.
            var ledger: [String: KeyFate] = [:]
            var uncertain: [String: KeyFate] = [:]
            var filled = 0
            for round in 0...fillKills {
                let target = round == fillKills ? keyCount : keyCount * (round + 1) / (fillKills + 2)
                let down = Flag()
                let batch = Array(filled..<max(filled, target)).map(String.init)
                let fillClient = client
                let creating = Task {
                    await fillClient.bulk(batch, concurrency: 8) { (_: String) throws(KMSClientError) -> String in
                        if down.isSet { throw KMSClientError(kind: .cancelled, message: "skipped: the core is down") }
                        let created = try await fillClient.createKey(CreateKeyRequest(origin: .awsCloudHsm, customKeyStoreId: storeId))
                        return created.keyMetadata?.keyId ?? ""
                    }
                }
                if round < fillKills {
                    try await Task.sleep(for: .milliseconds(Int.random(in: 50...400, using: &random)))
                    down.set()
                    await core.kill()
                }
                for item in await creating.value {
                    if let id = item.value { ledger[id] = .enabled }
                }
                if round < fillKills {
                    try await Self.killAndRestart(core, log)
                    client = core.client()
                    // Every acknowledged key exists; unacknowledged ones may too: learn them from the store.
                    var present = Set<String>()
                    for try await key in client.keys(inStore: storeId) { present.insert(key.keyId) }
                    let lost = ledger.keys.filter { !present.contains($0) }
                    if !lost.isEmpty { log.problems.append("after kill \(log.kills): acknowledged CreateKey lost: \(lost.prefix(5))") }
                    for id in present where ledger[id] == nil { ledger[id] = .enabled }
                }
                filled = ledger.count
            }
            #expect(ledger.count >= keyCount)

            // The bulk teardown: waves of ScheduleKeyDeletion, then CancelKeyDeletion (to have keys to schedule again),
            // each interrupted by kill -9 at a random moment.
            var scheduling = true
            var waveKillsDone = 0
            var acknowledged = 0
            while waveKillsDone < waveKills {
                let eligible = ledger.filter { id, fate in
                    if case .pending = fate { return !scheduling } else { return scheduling }
                }.map(\.key).shuffled(using: &random)
                if eligible.isEmpty { scheduling.toggle(); continue }
                let down = Flag()
                let waveClient = client
                let isScheduling = scheduling
                let wave = Task { () -> [BulkItemResult<Date?>] in
                    await waveClient.bulk(eligible, concurrency: 8) { (id: String) throws(KMSClientError) -> Date? in
                        if down.isSet { throw KMSClientError(kind: .cancelled, message: "skipped: the core is down") }
                        if isScheduling {
                            return try await waveClient.scheduleKeyDeletion(keyId: id, pendingWindowInDays: 7).deletionDate
                        }
                        try await waveClient.cancelKeyDeletion(keyId: id)
                        return nil
                    }
                }
                try await Task.sleep(for: .milliseconds(Int.random(in: 10...300, using: &random)))
                down.set()
                await core.kill()
                var answeredNow: [String] = []
                for item in await wave.value {
                    switch item.result {
                    case .success(let date):
                        ledger[item.id] = isScheduling ? .pending(date) : .disabled
                        answeredNow.append(item.id)
                        acknowledged += 1
                    case .failure(let error):
                        if error.kind == .cancelled || error.kind == .cannotReachEndpoint { continue }
                        if error.isServiceError {
                            log.problems.append("wave answer for \(item.id) while believed \(ledger[item.id]!): \(error)")
                        } else {
                            uncertain[item.id] = isScheduling ? .pending(nil) : .disabled
                        }
                    }
                }
                if answeredNow.count == eligible.count { scheduling.toggle() }
                try await Self.killAndRestart(core, log)
                waveKillsDone += 1
                client = core.client()

                // Unanswered calls: applied or not, but nothing in between.
                let check = Array(uncertain.keys) + answeredNow + Array(ledger.keys.shuffled(using: &random).prefix(40))
                for item in await client.describeKeys(keyIds: check, concurrency: 8) {
                    guard let key = item.value else {
                        log.problems.append("after kill \(log.kills): DescribeKey \(item.id): \(item.error!)"); continue
                    }
                    let known = ledger[item.id]!
                    if let maybe = uncertain[item.id] {
                        if known.matches(key) { continue }
                        if maybe.matches(key) {
                            ledger[item.id] = key.keyState == .pendingDeletion ? .pending(key.deletionDate) : maybe
                            continue
                        }
                        log.problems.append("after kill \(log.kills): \(item.id) is \(key.keyState?.rawValue ?? "nil") "
                            + "(deletion \(String(describing: key.deletionDate))), neither \(known) nor \(maybe)")
                    } else if !known.matches(key) {
                        log.problems.append("after kill \(log.kills): answered \(known) but \(item.id) is "
                            + "\(key.keyState?.rawValue ?? "nil") (deletion \(String(describing: key.deletionDate)))")
                    }
                }
                uncertain.removeAll()
                if log.problems.count > 20 { break }
            }

            // Full check through the API once the waves are over.
            let (apiProblems, keys) = try await Invariants.checkAPI(client)
            log.problems += apiProblems
            let byId = Dictionary(keys.map { ($0.keyId, $0) }, uniquingKeysWith: { a, _ in a })
            for (id, fate) in ledger where byId[id].map({ !fate.matches($0) }) ?? true {
                log.problems.append("final: \(id) should be \(fate), is \(byId[id]?.keyState?.rawValue ?? "missing")")
                if log.problems.count > 40 { break }
            }

            // The end of the teardown, each step acknowledged and then the core killed: the step must have stuck.
            let rest = ledger.filter { if case .pending = $0.value { return false } else { return true } }.map(\.key)
            for item in await client.scheduleKeyDeletion(keyIds: rest, pendingWindowInDays: 7) where item.error != nil {
                log.problems.append("final schedule \(item.id): \(item.error!)")
            }
            try await client.advanceClock(seconds: 31 * 86400)
            try await Self.killAndRestart(core, log); client = core.client()
            #expect(try await client.allKeys().filter { ledger[$0.keyId ?? ""] != nil }.isEmpty,
                    "every key past its waiting period is gone from ListKeys")
            try await client.disconnectCustomKeyStore(id: storeId)
            try await Self.killAndRestart(core, log); client = core.client()
            let afterDisconnect = try await Fixtures.state(client, storeId)
            #expect(afterDisconnect == .disconnecting || afterDisconnect == .disconnected)
            try await client.advanceClock(seconds: 120)
            try await client.deleteCustomKeyStore(id: storeId)
            try await Self.killAndRestart(core, log); client = core.client()
            let gone = await Self.storeIsGone(client, storeId)
            if !gone { log.problems.append("the store deleted with a 200 answer is back after kill -9") }
            let (finalProblems, _) = try await Invariants.checkAPI(client)
            log.problems += finalProblems

            await core.stop()
            #expect(log.problems.isEmpty, "\(log.problems.prefix(40).joined(separator: "\n"))")
            if log.problems.isEmpty { core.removeFiles() } else { Issue.record("core files kept in \(core.dataDirectory.path)") }
            let meanRestart = log.restartTimes.reduce(0, +) / Double(max(1, log.restartTimes.count))
            reportFigure("crash", "kills survived \(log.kills) (\(acknowledged) acknowledged schedule/cancel calls checked), "
                + String(format: "mean restart %.2f s", meanRestart))
            #expect(log.kills >= Scale.pick(ci: 20, long: 100))
        }
    }
}
