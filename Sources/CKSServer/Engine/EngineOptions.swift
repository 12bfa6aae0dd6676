import CKSPersistence
import CKSXksClient
import Foundation

/// How the engine behaves: quotas, simulated time, durability.
public struct EngineOptions: Sendable {
    /// Custom key stores per account and region (AWS default 10, adjustable).
    public var storeQuota: Int = 10
    /// Simulated now = wall × timeScale + persisted offset.
    public var timeScale: Double = 1
    /// Simulated seconds CONNECTING lasts (AWS: up to 20 min for CloudHSM, ~5 min for XKS).
    public var connectDuration: TimeInterval = 20 * 60
    /// Simulated seconds DISCONNECTING lasts (undocumented by AWS; at most 1 min).
    public var disconnectDuration: TimeInterval = 30
    /// SQLite commit durability. `.normal` (the default) hands every commit to the OS before the answer, so it
    /// survives `kill -9` of the core; `.full` also survives a power loss or kernel crash, at the price of an fsync
    /// per commit, which serializes every write behind the disk and caps writes per second whatever the CPU
    /// (docs/perf/decisions.md).
    public var durability: Durability = .normal
    /// The wall clock; injectable so tests control time.
    public var wallClock: @Sendable () -> Date = { Date() }
    /// What the operator allowed at start for a data directory that needs it.
    public var recovery = RecoveryChoices()
    /// How to reach real XKS proxies; nil: no client, so every external key store is served by the simulated
    /// proxies of the admin API (an unregistered endpoint is unreachable).
    public var xks: XksClientOptions?
    /// The most events the use record keeps (the oldest go first); with the 90-day retention this bounds the
    /// database. About 400 bytes per event with its indexes: 5,000,000 events ≈ 2 GB.
    public var maxRecordedEvents: Int64 = 5_000_000
    /// Whether calls are recorded at all: false only to measure the record's cost (`cks-bench`, A/B).
    public var recordsUse = true

    public init(storeQuota: Int = 10, timeScale: Double = 1, connectDuration: TimeInterval = 20 * 60,
                disconnectDuration: TimeInterval = 30, durability: Durability = .normal,
                wallClock: @escaping @Sendable () -> Date = { Date() }) {
        self.storeQuota = storeQuota
        self.timeScale = timeScale
        self.connectDuration = connectDuration
        self.disconnectDuration = disconnectDuration
        self.durability = durability
        self.wallClock = wallClock
    }
}

/// What the operator allowed at start for a data directory that needs it; each is a flag of `cks serve`.
public struct RecoveryChoices: Sendable, Hashable {
    /// `--init`: create a new, empty database where one was expected (an empty `cks.sqlite`, or a missing one
    /// beside the `cks.key` of an earlier one).
    public var initialize = false
    /// `--skip-integrity-check`: serve the database read-only, without the check, to read out what a damaged one
    /// still holds. Every change is refused.
    public var readOnly = false
    /// `--accept-lost-wal`: go on from what the database file holds when the write-ahead log of a core that did not
    /// stop cleanly is missing.
    public var acceptLostWriteAheadLog = false
    /// `--reset-clock`: set a stored simulated clock that reads outside what the core serves back to the wall
    /// clock (dates it left beyond 9999-12-01 are brought back to the reset time).
    public var resetClock = false

    public init(initialize: Bool = false, readOnly: Bool = false, acceptLostWriteAheadLog: Bool = false,
                resetClock: Bool = false) {
        self.initialize = initialize
        self.readOnly = readOnly
        self.acceptLostWriteAheadLog = acceptLostWriteAheadLog
        self.resetClock = resetClock
    }
}
