import CKSDomain
import Synchronization

/// A read-through cache of key rows (with their store's row) for DescribeKey, the hottest read.
///
/// A read otherwise opens a SQLite read transaction on a pool connection, which costs more than everything else
/// DescribeKey does (docs/perf/decisions.md). The engine is the only writer, so the cache can be exact:
/// - every write (and clock advance) empties it when it begins, and bumps a generation when it begins and ends;
/// - while a write is in flight the cache is neither read nor filled;
/// - a reader fills it only with rows read from a snapshot taken after the generation it noted, and only if the
///   generation has not moved since, so no row from before a commit can be stored after it.
/// Hence a hit is the committed state at that instant, as a fresh snapshot would read it. Time-derived state
/// (a waiting period that ended, a store's connection settling) is computed from the cached rows at `now`,
/// exactly as from database rows. Nothing is persisted: after a crash or restart the cache starts empty.
final class KeyRowCache: Sendable {
    struct Entry: Sendable {
        var key: KMSKey
        /// The row of the key's store (not resolved at any time), nil for a key outside a custom key store.
        var store: CustomKeyStore?
    }

    private struct State {
        var generation: UInt64 = 0
        var writesInFlight = 0
        var entries: [String: Entry] = [:]
    }

    private let state = Mutex(State())
    /// Beyond this many keys the cache is emptied and refills with what is asked (~1-2 KB per entry).
    let capacity: Int

    init(capacity: Int = 10_000) { self.capacity = capacity }

    /// Runs `body` (a write transaction) with the cache invalidated around it.
    func aroundWrite<T>(_ body: () async throws -> T) async rethrows -> T {
        state.withLock { s in
            s.writesInFlight += 1
            s.generation &+= 1
            s.entries.removeAll(keepingCapacity: true)
        }
        defer {
            state.withLock { s in
                s.writesInFlight -= 1
                s.generation &+= 1
            }
        }
        return try await body()
    }

    /// The cached rows of key `id` in `scope`; nil on a miss or while a write is in flight.
    func entry(keyId id: String, in scope: ResourceScope) -> Entry? {
        state.withLock { s in
            guard s.writesInFlight == 0, let entry = s.entries[id], entry.key.scope == scope else { return nil }
            return entry
        }
    }

    /// The generation to hand to `fill` after reading, or nil while a write is in flight (then nothing is cached).
    func generationForFill() -> UInt64? {
        state.withLock { s in s.writesInFlight == 0 ? s.generation : nil }
    }

    /// Stores rows read from a snapshot begun after `generation` was noted, unless a write began since.
    func fill(_ entry: Entry, generation: UInt64) {
        state.withLock { s in
            guard s.writesInFlight == 0, s.generation == generation else { return }
            if s.entries.count >= capacity { s.entries.removeAll(keepingCapacity: true) }
            s.entries[entry.key.id] = entry
        }
    }

    var count: Int { state.withLock { $0.entries.count } }
}
