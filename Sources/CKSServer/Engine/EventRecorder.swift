import CKSDomain
import CKSPersistence
import Foundation
import Synchronization

/// The use record's writer. A request appends its event to the event log (`EventLogFile`: one plain `write()`,
/// no transaction, no fsync) and is answered at once; a fold loop inserts what was appended into `key_event` in
/// batches, off the request path, and empties the log once all of it is in the database.
///
/// An event is *acknowledged* when the request it records is answered, and it is in the log (handed to the
/// kernel) before that: kill -9 of the core loses no acknowledged event; the next start folds what the log holds
/// beyond the mark the last fold committed. With `--durability full` the log is also fsynced before the answer
/// (one fsync shared by the requests that appended meanwhile), so an acknowledged event survives a power loss too.
/// Readers of the record (LookupEvents) call `flush()` first: they see every event whose request was answered.
final class EventRecorder: Sendable {
    private struct State {
        var log: EventLogFile?
        /// Appended, not yet taken by the fold loop; `pendingEnd` is the log offset just after the last of them.
        var pending: [(event: KeyEvent, end: Int64)] = []
        var pendingEnd: Int64 = 0
        /// Events handed over / folded since start: `flush()` waits until `folded` reaches what was handed over.
        var appended = 0
        var folded = 0
        var waiters: [(target: Int, continuation: CheckedContinuation<Void, Never>)] = []
        var folding = false
        var inFlight = false
        var sincePrune = 0
        var closed = false
        /// The log offset known to be on disk (`durability full`), and whether an fsync is running.
        var synced: Int64 = 0
        var syncing = false
        var syncWaiters: [(target: Int64, continuation: CheckedContinuation<Void, Never>)] = []
    }

    /// Beyond this many events not yet folded, requests wait for the fold (memory stays bounded).
    static let maxPending = 50_000
    static let batchLimit = 5_000
    static let foldBatch = 5_000
    static let foldDelay = Duration.milliseconds(200)

    private let database: KMSDatabase
    private let state: Mutex<State>
    private let maxEvents: Int64
    private let syncsLog: Bool
    /// Last failure to record, for the operator's log and tests (the request is still answered).
    let lastFailure = Mutex<String?>(nil)

    /// Opens the log of `database` (at `logURL`), first folding what an earlier run left unfolded in it.
    static func open(database: KMSDatabase, logURL: URL, maxEvents: Int64, syncsLog: Bool) throws -> EventRecorder {
        let (log, generation, events) = try EventLogFile.open(logURL)
        if let generation, !events.isEmpty {
            let folded = try database.readNow { try $0.foldedEventLog() }
            let skip = folded?.generation == generation ? folded!.end : 0
            let unfolded = events.filter { $0.end > skip }
            for start in stride(from: 0, to: unfolded.count, by: batchLimit) {
                let batch = unfolded[start..<min(start + batchLimit, unfolded.count)]
                try database.writeNow { w in
                    try w.fold(loggedEvents: batch.map(\.event), generation: generation, through: batch.last!.end)
                }
            }
        }
        try log.restart()
        return EventRecorder(database: database, log: log, maxEvents: maxEvents, syncsLog: syncsLog)
    }

    private init(database: KMSDatabase, log: EventLogFile, maxEvents: Int64, syncsLog: Bool) {
        self.database = database
        self.state = Mutex(State(log: log, pendingEnd: log.size, synced: log.size))
        self.maxEvents = maxEvents
        self.syncsLog = syncsLog
    }

    /// Records `event`: in the log when this returns (on disk too with `syncsLog`), in the database soon after.
    func record(_ event: KeyEvent) async {
        let record = EventLogCodec.record(event)
        let (start, logged, target, end) = state.withLock { s -> (Bool, Bool, Int, Int64) in
            guard !s.closed, let log = s.log else { return (false, false, 0, 0) }
            var logged = true
            do { try log.append(record) } catch {
                logged = false
                lastFailure.withLock { $0 = "\(error)" }
            }
            s.pending.append((event, log.size))
            s.pendingEnd = log.size
            s.appended += 1
            let start = !s.folding
            s.folding = true
            let backlog = s.appended - s.folded > Self.maxPending
            return (start, logged && !backlog, s.appended, log.size)
        }
        if start { Task.detached { await self.foldLoop() } }
        if target == 0 { return }
        if !logged {
            // Not in the log (disk full...) or too much waiting to be folded: wait until it is in the database.
            await flush(through: target)
        } else if syncsLog {
            await sync(through: end)
        }
    }

    /// Returns once every event handed over before the call is in the database.
    func flush() async {
        let target = state.withLock { $0.appended }
        await flush(through: target)
    }

    private func flush(through target: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s -> Bool in
                if s.folded >= target || s.closed { return true }
                s.waiters.append((target, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Group fsync of the log (`durability full`): returns once the log is on disk through `end`.
    private func sync(through end: Int64) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let run = state.withLock { s -> Bool? in
                if s.synced >= end || s.closed { return nil }
                s.syncWaiters.append((end, continuation))
                if s.syncing { return false }
                s.syncing = true
                return true
            }
            guard let run else { return continuation.resume() }
            if run { Task.detached { self.syncLoop() } }
        }
    }

    private func syncLoop() {
        while true {
            let target = state.withLock { s -> Int64? in
                guard s.syncWaiters.contains(where: { $0.target > s.synced }), let log = s.log else {
                    s.syncing = false
                    return nil
                }
                return log.size
            }
            guard let target else { return }
            // Outside the lock: requests keep appending while the disk syncs.
            if let log = state.withLock({ $0.log }), let failed = log.sync() { lastFailure.withLock { $0 = failed } }
            let ready = state.withLock { s -> [CheckedContinuation<Void, Never>] in
                s.synced = max(s.synced, target)
                let ready = s.syncWaiters.filter { $0.target <= s.synced }.map(\.continuation)
                s.syncWaiters.removeAll { $0.target <= s.synced }
                return ready
            }
            for c in ready { c.resume() }
        }
    }

    /// Waits until a batch is worth a transaction: `foldBatch` events, a reader waiting (`flush`), or
    /// `foldDelay` passed. Folding each event at once would add a commit per call to the writer that Encrypt's
    /// own transactions queue on.
    private func gather() async {
        let deadline = ContinuousClock.now + Self.foldDelay
        while ContinuousClock.now < deadline {
            let ready = state.withLock { s in s.pending.count >= Self.foldBatch || !s.waiters.isEmpty || s.closed }
            if ready { return }
            try? await Task.sleep(for: .milliseconds(2))
        }
    }

    private func foldLoop() async {
        while true {
            await gather()
            let taken = state.withLock { s -> (batch: [KeyEvent], end: Int64, generation: UInt64, prune: Bool)? in
                guard !s.pending.isEmpty, !s.closed, let log = s.log else {
                    s.folding = false
                    return nil
                }
                let count = min(s.pending.count, Self.batchLimit)
                let batch = s.pending.prefix(count)
                s.pending.removeFirst(count)
                s.inFlight = true
                s.sincePrune += count
                let prune = s.sincePrune >= 2_000
                if prune { s.sincePrune = 0 }
                return (batch.map(\.event), batch.last!.end, log.generation, prune)
            }
            guard let taken else { return }
            // The batch's newest event is simulated now, near enough for the retention cutoff.
            let cutoff = (taken.batch.map(\.time).max() ?? Date()).addingTimeInterval(-KeyEventRules.retention)
            let maxEvents = self.maxEvents
            var committed = false
            for attempt in 0..<3 where !committed {
                do {
                    try await database.write { w in
                        try w.fold(loggedEvents: taken.batch, generation: taken.generation, through: taken.end)
                        if taken.prune { try w.pruneEvents(olderThan: cutoff, maxEvents: maxEvents) }
                    }
                    committed = true
                } catch {
                    lastFailure.withLock { $0 = KMSDatabase.describeForLog(error) ?? "\(type(of: error))" }
                    if attempt < 2 { try? await Task.sleep(for: .milliseconds(100)) }
                }
            }
            // A batch that could not be committed stays in the log (its mark was not moved past it), so the next
            // start folds it; it is counted as folded here so readers do not wait for it forever.
            let ready = state.withLock { s -> [CheckedContinuation<Void, Never>] in
                s.inFlight = false
                s.folded += taken.batch.count
                // Restarted only when everything appended is folded (and, with syncsLog, on disk with no fsync
                // running, so no fsync of the old generation can vouch for the new one).
                if committed, s.pending.isEmpty, let log = s.log, log.size == taken.end,
                   !syncsLog || (s.synced >= taken.end && !s.syncing) {
                    do {
                        try log.restart()
                        s.pendingEnd = log.size
                        s.synced = log.size
                    } catch {
                        lastFailure.withLock { $0 = "\(error)" }
                    }
                }
                let ready = s.waiters.filter { $0.target <= s.folded }.map(\.continuation)
                s.waiters.removeAll { $0.target <= s.folded }
                return ready
            }
            for c in ready { c.resume() }
        }
    }

    /// At a clean stop, before the database closes: folds what is left and empties the log (what cannot be
    /// folded within a few seconds stays in the log for the next start). Later events are not recorded.
    func close() {
        let deadline = Date().addingTimeInterval(5)
        while state.withLock({ $0.inFlight }), Date() < deadline { usleep(1_000) }
        let (batch, end, log, waiters) = state.withLock { s in
            s.closed = true
            let taken = (s.inFlight ? [] : s.pending.map(\.event), s.pendingEnd, s.inFlight ? nil : s.log,
                         s.waiters.map(\.continuation) + s.syncWaiters.map(\.continuation))
            s.pending = []
            s.waiters = []
            s.syncWaiters = []
            return taken
        }
        for c in waiters { c.resume() }
        guard let log else { return }
        do {
            if !batch.isEmpty {
                let generation = log.generation
                try database.writeNow { w in try w.fold(loggedEvents: batch, generation: generation, through: end) }
            }
            if log.size == end { try log.restart() }
        } catch {
            lastFailure.withLock { $0 = KMSDatabase.describeForLog(error) ?? "\(error)" }
        }
        log.close()
    }
}

/// What a handler learned about the key a recorded call touched, for its event.
final class EventTrail: Sendable, Hashable {
    struct Notes {
        var keyId: String?
        var source: String?
        /// The events of successful uses of keys (one per key: ReEncrypt uses two), written by the handler with
        /// the event id its last usage names; recorded instead of the call's generic event.
        var uses: [KeyEvent] = []
    }

    let notes = Mutex(Notes())

    static func == (a: EventTrail, b: EventTrail) -> Bool { a === b }
    func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}
