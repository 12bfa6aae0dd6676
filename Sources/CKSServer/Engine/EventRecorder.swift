import CKSDomain
import CKSPersistence
import Foundation
import Synchronization

/// The use record's writer: group commit. Each request hands its event over and waits until the transaction
/// holding it has committed; one writer loop commits everything handed over while the previous transaction ran,
/// so concurrent requests share a transaction and the request path never opens one of its own.
///
/// An event is *acknowledged* when the request it records is answered: the answer is sent only after the event's
/// transaction committed (with the database's durability: `normal` survives kill -9 of the core, `full` also a
/// power loss). So kill -9 can lose only events of requests that were never answered.
final class EventRecorder: Sendable {
    private struct State {
        var pending: [KeyEvent] = []
        var waiters: [CheckedContinuation<Void, Never>] = []
        var flushing = false
        var sincePrune = 0
    }

    private let database: KMSDatabase
    private let state = Mutex(State())
    private let maxEvents: Int64
    /// Last failure to record, for the operator's log and tests (the request is still answered).
    let lastFailure = Mutex<String?>(nil)

    init(database: KMSDatabase, maxEvents: Int64) {
        self.database = database
        self.maxEvents = maxEvents
    }

    /// Records `event`; returns once it is committed.
    func record(_ event: KeyEvent) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let start = state.withLock { s -> Bool in
                s.pending.append(event)
                s.waiters.append(continuation)
                if s.flushing { return false }
                s.flushing = true
                return true
            }
            if start { Task.detached { await self.flushLoop() } }
        }
    }

    private func flushLoop() async {
        while true {
            let (batch, waiters, prune) = state.withLock { s -> ([KeyEvent], [CheckedContinuation<Void, Never>], Bool) in
                guard !s.pending.isEmpty else {
                    s.flushing = false
                    return ([], [], false)
                }
                let taken = (s.pending, s.waiters)
                s.pending = []
                s.waiters = []
                s.sincePrune += taken.0.count
                let prune = s.sincePrune >= 2_000
                if prune { s.sincePrune = 0 }
                return (taken.0, taken.1, prune)
            }
            if batch.isEmpty { return }
            // The batch's newest event is simulated now, near enough for the retention cutoff.
            let cutoff = (batch.map(\.time).max() ?? Date()).addingTimeInterval(-KeyEventRules.retention)
            let maxEvents = self.maxEvents
            do {
                try await database.write { w in
                    try w.insert(events: batch)
                    if prune { try w.pruneEvents(olderThan: cutoff, maxEvents: maxEvents) }
                }
            } catch {
                lastFailure.withLock { $0 = KMSDatabase.describeForLog(error) ?? "\(type(of: error))" }
            }
            for waiter in waiters { waiter.resume() }
        }
    }
}

/// What a handler learned about the key a recorded call touched, for its event.
final class EventTrail: Sendable, Hashable {
    struct Notes {
        var keyId: String?
        var source: String?
        /// The event was written in the handler's own transaction (a successful use of a key).
        var recordedInline = false
        var eventId: String?
    }

    let notes = Mutex(Notes())

    static func == (a: EventTrail, b: EventTrail) -> Bool { a === b }
    func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}
