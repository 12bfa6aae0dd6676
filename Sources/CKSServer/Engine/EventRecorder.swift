import CKSDomain
import CKSPersistence
import Foundation
import Synchronization

/// The use record's writer. A request appends its event to the event log (`EventLogFile`: one plain `write()`,
/// no transaction, no fsync) and is answered at once; a folder thread of its own inserts what was appended into
/// `key_event` in batches, off the request path, and empties the log once all of it is in the database.
///
/// An event is *acknowledged* when the request it records is answered, and it is in the log (handed to the
/// kernel) before that: kill -9 of the core loses no acknowledged event; the next start folds what the log holds
/// beyond the mark the last fold committed. With `--durability full` the log is also fsynced before the answer
/// (one fsync shared by the requests that appended meanwhile), so an acknowledged event survives a power loss too.
/// Readers of the record (LookupEvents) call `flush()` first: they see every event whose request was answered.
///
/// The folder is a thread, not a task: its transactions are synchronous, and `close()` (called from any thread,
/// the cooperative pool's included) waits for it without needing a free thread of that pool.
final class EventRecorder: Sendable {
    private struct State {
        var log: EventLogFile?
        /// Appended, not yet taken by the folder; `pendingEnd` is the log offset just after the last of them.
        var pending: [(event: KeyEvent, end: Int64)] = []
        var pendingEnd: Int64 = 0
        /// Events handed over / folded since start: `flush()` waits until `folded` reaches what was handed over.
        var appended = 0
        var folded = 0
        var waiters: [(target: Int, continuation: CheckedContinuation<Void, Never>)] = []
        /// When the oldest pending event was appended: a batch is folded `foldDelay` after it at the latest.
        var oldestPending: ContinuousClock.Instant?
        var sincePrune = 0
        /// Set by `close()`: nothing more is recorded, the folder folds what is left and stops.
        var closed = false
        var folderStopped = false
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
    /// Wakes the folder: signalled (holding it) after a change to `state` the folder waits for.
    private let wake = NSCondition()
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
        let recorder = EventRecorder(database: database, log: log, maxEvents: maxEvents, syncsLog: syncsLog)
        let folder = Thread { [weak recorder] in EventRecorder.runFolder { recorder } }
        folder.name = "cks use record"
        folder.start()
        return recorder
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
        let (signal, logged, target, end) = state.withLock { s -> (Bool, Bool, Int, Int64) in
            guard !s.closed, let log = s.log else { return (false, false, 0, 0) }
            var logged = true
            do { try log.append(record) } catch {
                logged = false
                lastFailure.withLock { $0 = "\(error)" }
            }
            s.pending.append((event, log.size))
            s.pendingEnd = log.size
            s.appended += 1
            let first = s.oldestPending == nil
            if first { s.oldestPending = .now }
            let backlog = s.appended - s.folded > Self.maxPending
            // The folder sleeps until the first event of a batch, then until the batch is full or due.
            return (first || s.pending.count == Self.foldBatch, logged && !backlog, s.appended, log.size)
        }
        if signal { wakeFolder() }
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
            if ready { continuation.resume() } else { wakeFolder() }
        }
    }

    private func wakeFolder() {
        wake.lock()
        wake.signal()
        wake.unlock()
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

    // MARK: The folder

    /// What the folder does next.
    private enum Step {
        /// Nothing pending: sleep until woken (or a while, to notice a recorder nobody holds any more).
        case idle
        /// A batch is pending but not due: sleep until `until` or until woken.
        case wait(until: ContinuousClock.Instant)
        case fold(batch: [KeyEvent], end: Int64, generation: UInt64, prune: Bool)
        /// Closed: fold everything left, then stop.
        case finish
    }

    /// The folder thread's body. It holds the recorder only while it works, so a recorder nobody closed is freed
    /// (and the thread ends).
    private static func runFolder(_ recorder: () -> EventRecorder?) {
        while let (step, wake) = recorder().map({ ($0.nextStep(), $0.wake) }) {
            switch step {
            case .idle, .wait:
                wake.lock()
                // Decided under the condition's lock: a wake signalled after this cannot be missed.
                if let deadline = recorder()?.sleepDeadline() { _ = wake.wait(until: deadline) }
                wake.unlock()
            case let .fold(batch, end, generation, prune):
                recorder()?.fold(batch, end: end, generation: generation, prune: prune)
            case .finish:
                recorder()?.finish()
                return
            }
        }
    }

    /// Until when the folder may sleep: nil when it has something to do at once (a batch full or due, a reader
    /// waiting, the recorder closed); else until the pending batch is due, or a second when nothing is pending.
    private func sleepDeadline() -> Date? {
        state.withLock { s -> Date? in
            if s.closed || !s.waiters.isEmpty || s.pending.count >= Self.foldBatch { return nil }
            guard let oldest = s.oldestPending else { return Date().addingTimeInterval(1) }
            let left = ContinuousClock.now.duration(to: oldest + Self.foldDelay)
            guard left > .zero else { return nil }
            return Date().addingTimeInterval(Double(left.components.attoseconds) / 1e18 + Double(left.components.seconds))
        }
    }

    private func nextStep() -> Step {
        state.withLock { s -> Step in
            if s.closed { return .finish }
            guard !s.pending.isEmpty, let log = s.log else { return .idle }
            let due = (s.oldestPending ?? .now) + Self.foldDelay
            if s.pending.count < Self.foldBatch, s.waiters.isEmpty, ContinuousClock.now < due { return .wait(until: due) }
            let count = min(s.pending.count, Self.batchLimit)
            let batch = s.pending.prefix(count)
            s.pending.removeFirst(count)
            s.oldestPending = s.pending.isEmpty ? nil : .now
            s.sincePrune += count
            let prune = s.sincePrune >= 2_000
            if prune { s.sincePrune = 0 }
            return .fold(batch: batch.map(\.event), end: batch.last!.end, generation: log.generation, prune: prune)
        }
    }

    private func fold(_ batch: [KeyEvent], end: Int64, generation: UInt64, prune: Bool) {
        // The batch's newest event is simulated now, near enough for the retention cutoff.
        let cutoff = (batch.map(\.time).max() ?? Date()).addingTimeInterval(-KeyEventRules.retention)
        var committed = false
        for attempt in 0..<3 where !committed {
            do {
                try database.writeNow { w in
                    try w.fold(loggedEvents: batch, generation: generation, through: end)
                    if prune { try w.pruneEvents(olderThan: cutoff, maxEvents: maxEvents) }
                }
                committed = true
            } catch {
                lastFailure.withLock { $0 = KMSDatabase.describeForLog(error) ?? "\(type(of: error))" }
                if attempt < 2 { usleep(100_000) }
            }
        }
        // A batch that could not be committed stays in the log (its mark was not moved past it), so the next
        // start folds it; it is counted as folded here so readers do not wait for it forever.
        let ready = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.folded += batch.count
            // Restarted only when everything appended is folded (and, with syncsLog, on disk with no fsync
            // running, so no fsync of the old generation can vouch for the new one).
            if committed, s.pending.isEmpty, let log = s.log, log.size == end,
               !syncsLog || (s.synced >= end && !s.syncing) {
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

    /// After `close()`: folds what is left and empties the log (what cannot be folded stays in the log for the
    /// next start), closes the log and lets `close()` return.
    private func finish() {
        let (batch, end, log) = state.withLock { s in
            let taken = (s.pending.map(\.event), s.pendingEnd, s.log)
            s.pending = []
            s.log = nil
            return taken
        }
        if let log {
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
        wake.lock()
        state.withLock { $0.folderStopped = true }
        wake.broadcast()
        wake.unlock()
    }

    /// At a clean stop, before the database closes: stops recording, lets the folder fold what is left, and
    /// returns once it has (or after a few seconds: what is not folded by then stays in the log for the next
    /// start). Waits on the folder thread only, never on the cooperative pool.
    func close() {
        let waiters = state.withLock { s in
            s.closed = true
            let waiting = s.waiters.map(\.continuation) + s.syncWaiters.map(\.continuation)
            s.waiters = []
            s.syncWaiters = []
            return waiting
        }
        for c in waiters { c.resume() }
        let deadline = Date().addingTimeInterval(10)
        wake.lock()
        wake.broadcast()
        while !state.withLock({ $0.folderStopped }), Date() < deadline { _ = wake.wait(until: deadline) }
        wake.unlock()
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
