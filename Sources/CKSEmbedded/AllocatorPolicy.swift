import CKSServer
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The console's allocator policy, over the core's (`MallocArenas`): the console runs the embedded core, so it needs
/// the core's arena cap and more.
public enum AllocatorPolicy {
    /// The core's cap, for the console: its HTTP client, the UI thread and the embedded core each allocate from
    /// their own threads, and the rows of a large store are built on one thread and kept on another.
    /// Also keeps big blocks (the arrays of a 100,000-key list, rebuilt as keys arrive) out of the heap:
    /// glibc raises its mmap threshold after each such array is freed, and then keeps them in the heap,
    /// where the small rows allocated between them keep the pages from ever being returned.
    public static func limitForConsole() {
        MallocArenas.limitForServer()
        #if canImport(Glibc)
        guard ProcessInfo.processInfo.environment["MALLOC_MMAP_THRESHOLD_"] == nil,
              let symbol = dlsym(nil, "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
        _ = mallopt(-3, 256 * 1024) // M_MMAP_THRESHOLD: fixed, which also stops the dynamic adjustment
        #endif
    }

    /// Gives free heap pages back to the system after a burst of short-lived allocations (see `MallocArenas`).
    public static func releaseFreeMemory() { MallocArenas.releaseFreeMemory() }
}
