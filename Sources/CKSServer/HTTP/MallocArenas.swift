import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Bounds glibc's malloc arenas for a long-running core.
///
/// Measured (issue 7): over 30,000 fuzzed requests the live heap (`malloc_stats`, in use) stayed at 4-7 MB while RSS
/// crept from 62 to 82 MiB in steps. Not a leak: each thread that serves a large request (bodies up to 1 MiB, their
/// parsed JSON and answers) grows its own arena, glibc keeps each arena's high-water mark, and it allows 8 arenas
/// per core. With the arenas capped (same seed, 12,000 requests) RSS ended where it plateaued (61.8 → 61.7 MiB)
/// instead of creeping (63.6 → 67.3 MiB).
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

    /// The same cap for the console: its HTTP client, the UI thread and the embedded core each allocate from
    /// their own threads, and the rows of a large store are built on one thread and kept on another.
    /// Also keeps big blocks (the arrays of a 100,000-key list, rebuilt as keys arrive) out of the heap:
    /// glibc raises its mmap threshold after each such array is freed, and then keeps them in the heap,
    /// where the small rows allocated between them keep the pages from ever being returned.
    public static func limitForConsole() {
        limitForServer()
        #if canImport(Glibc)
        guard ProcessInfo.processInfo.environment["MALLOC_MMAP_THRESHOLD_"] == nil,
              let symbol = dlsym(nil, "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
        _ = mallopt(-3, 256 * 1024) // M_MMAP_THRESHOLD: fixed, which also stops the dynamic adjustment
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
