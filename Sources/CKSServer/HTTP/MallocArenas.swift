import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Bounds glibc's malloc arenas for a long-running core (`cks serve`; the console's policy builds on it).
///
/// Each thread that serves a large request (bodies up to 1 MiB, their parsed JSON and answers) grows its own arena,
/// glibc keeps each arena's high-water mark, and it allows 8 arenas per core: without a cap, RSS creeps up in steps
/// although the live heap stays small (docs/perf/decisions.md).
public enum MallocArenas {
    /// Caps the arenas at `max(2, cores)` unless `MALLOC_ARENA_MAX` says otherwise. Call early, before the
    /// server's threads allocate. A no-op outside glibc.
    public static func limitForServer() {
        #if canImport(Glibc)
        guard ProcessInfo.processInfo.environment["MALLOC_ARENA_MAX"] == nil,
              let symbol = dlsym(nil, "mallopt") else { return }
        // Swift's Glibc module does not import <malloc.h>: mallopt and M_ARENA_MAX (-8) by hand.
        let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
        _ = mallopt(-8, Int32(max(2, ProcessInfo.processInfo.activeProcessorCount)))
        #endif
    }

    /// Gives free heap pages back to the system (`malloc_trim(0)`), after a burst of short-lived allocations
    /// (a pass over 100,000 keys decodes and drops as many descriptions) that glibc would otherwise keep.
    /// A no-op outside glibc.
    public static func releaseFreeMemory() {
        #if canImport(Glibc)
        guard let symbol = dlsym(nil, "malloc_trim") else { return }
        let trim = unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
        _ = trim(0)
        #endif
    }
}
