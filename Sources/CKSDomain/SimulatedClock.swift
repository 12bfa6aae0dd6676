import Foundation

/// Simulated time: `now = wall × timeScale + offset`. The offset is persisted; `AdvanceClock` adds to it.
/// When a database is reopened with a different time scale the offset is rebased (`rebased(toScale:at:)`)
/// so simulated time continues where it was instead of jumping.
public struct SimulatedClock: Sendable {
    public var timeScale: Double
    public var offset: TimeInterval
    /// The wall clock; injectable so tests control time.
    public var wall: @Sendable () -> Date

    public init(timeScale: Double = 1, offset: TimeInterval = 0, wall: @escaping @Sendable () -> Date = { Date() }) {
        self.timeScale = timeScale
        self.offset = offset
        self.wall = wall
    }

    /// Simulated now for a given wall time.
    public func now(atWall w: Date) -> Date {
        Date(timeIntervalSince1970: w.timeIntervalSince1970 * timeScale + offset)
    }

    /// Simulated now.
    public func now() -> Date { now(atWall: wall()) }

    /// The offset that makes `now` equal `simulated` at wall time `w` under `scale`.
    public static func offset(for simulated: Date, atWall w: Date, scale: Double) -> TimeInterval {
        simulated.timeIntervalSince1970 - w.timeIntervalSince1970 * scale
    }

    /// The clock for a fresh database: simulated time starts at wall time whatever the scale.
    public static func fresh(timeScale: Double, wall: @escaping @Sendable () -> Date = { Date() }) -> SimulatedClock {
        let w = wall()
        return SimulatedClock(timeScale: timeScale, offset: offset(for: w, atWall: w, scale: timeScale), wall: wall)
    }

    /// This clock under another scale, continuing from the simulated time it shows at the current wall time.
    public func rebased(toScale newScale: Double) -> SimulatedClock {
        let w = wall()
        let current = now(atWall: w)
        return SimulatedClock(timeScale: newScale, offset: Self.offset(for: current, atWall: w, scale: newScale), wall: wall)
    }

    /// Validates an `AdvanceClock` amount: time only moves forward, by at most 100 years at once.
    public static func validateAdvance(_ seconds: Double) throws(KMSError) {
        guard seconds.isFinite, seconds >= 0 else {
            throw KMSError(.validation, "Seconds must be a non-negative number: simulated time only moves forward")
        }
        guard seconds <= 100 * 365 * 86_400 else {
            throw KMSError(.validation, "Seconds must be at most 3153600000 (100 years)")
        }
    }
}

extension Date {
    /// Epoch seconds rounded to milliseconds, as KMS prints dates (`1537582718.431`).
    public var kmsEpochSeconds: Double { (timeIntervalSince1970 * 1000).rounded() / 1000 }
}
