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

    /// Simulated now for a given wall time, held within `servableRange` (time stops at its end).
    public func now(atWall w: Date) -> Date {
        let seconds = w.timeIntervalSince1970 * timeScale + offset
        return Date(timeIntervalSince1970: min(max(seconds, Self.servableRange.lowerBound), Self.servableRange.upperBound))
    }

    /// Simulated now.
    public func now() -> Date { now(atWall: wall()) }

    /// Simulated now at the current wall time without the bounds: what a stored clock really reads.
    public func unboundedNow() -> Double { wall().timeIntervalSince1970 * timeScale + offset }

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

    // MARK: bounds

    /// The simulated times the core serves, in epoch seconds: 1970-01-01 to 9999-12-01. AWS's clients parse dates
    /// up to 9999-12-31; the month left over holds every date the core derives from now (a deletion date at most
    /// 30 days on, the end of a connect or disconnect).
    public static let servableRange: ClosedRange<Double> = 0...253_399_622_400
    /// Simulated seconds per wall-clock second, from a thousandth to a simulated day per second: at the fastest a
    /// 30-day waiting period takes 30 s. Longer jumps are `AdvanceClock`'s, one deliberate call at a time.
    public static let timeScaleRange: ClosedRange<Double> = 0.001...86_400
    /// At most this many seconds per `AdvanceClock` call (100 years).
    public static let maximumAdvance: Double = 100 * 365 * 86_400

    /// Why `scale` cannot be the time scale, or nil when it can.
    public static func problem(withTimeScale scale: Double) -> String? {
        guard scale.isFinite, timeScaleRange.contains(scale) else {
            return "the time scale must be a number from 0.001 to 86400 simulated seconds per wall-clock second "
                + "(86400, a simulated day per second, lets a 30-day waiting period pass in 30 s; AdvanceClock jumps "
                + "further, one deliberate call at a time); got \(scale)"
        }
        return nil
    }

    /// Whether a stored clock (offset and scale as read back) reads a servable time at the current wall time.
    public var isServable: Bool {
        guard offset.isFinite, timeScale.isFinite, timeScale > 0 else { return false }
        return Self.servableRange.contains(unboundedNow())
    }

    /// What a clock reading (epoch seconds) is, in words: a date, or the year when beyond what dates can show.
    public static func describe(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "\(seconds)" }
        if servableRange.contains(seconds) {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime]
            return formatter.string(from: Date(timeIntervalSince1970: seconds))
        }
        let year = 1970 + seconds / 31_556_952
        guard abs(year) < 1e15 else { return "\(seconds) seconds after 1970" }
        return "the year \(Int(year.rounded(.down)))"
    }

    /// Validates an `AdvanceClock` amount from simulated time `now`: time only moves forward, by at most 100
    /// years at once, and never past the end of `servableRange`.
    public static func validateAdvance(_ seconds: Double, from now: Date) throws(KMSError) {
        guard seconds.isFinite, seconds >= 0 else {
            throw KMSError(.validation, "Seconds must be a non-negative number: simulated time only moves forward")
        }
        guard seconds <= maximumAdvance else {
            throw KMSError(.validation, "Seconds must be at most 3153600000 (100 years)")
        }
        let remaining = (servableRange.upperBound - now.timeIntervalSince1970).rounded(.down)
        guard seconds <= remaining else {
            throw KMSError(.validation, "Seconds would move the simulated clock past 9999-12-01T00:00:00Z, the latest "
                + "time the core serves (AWS's clients cannot read dates after 9999-12-31); at most "
                + "\(Int(max(0, remaining))) seconds remain")
        }
    }
}

extension Date {
    /// Epoch seconds rounded to milliseconds, as KMS prints dates (`1537582718.431`).
    public var kmsEpochSeconds: Double { (timeIntervalSince1970 * 1000).rounded() / 1000 }
}
