import Foundation

/// When to poll next: every 5 s when idle, every 1 s while something is in motion, backing off
/// (2, 4, 8 ... 60 s) after failures. Pure, so the policy is tested without waiting.
public struct PollSchedule: Sendable, Hashable {
    public var idleInterval: TimeInterval
    public var motionInterval: TimeInterval
    public var maxBackoff: TimeInterval
    public private(set) var lastAttempt: Date?
    public private(set) var lastSuccess: Date?
    public private(set) var failures = 0

    public init(idle: TimeInterval = 5, motion: TimeInterval = 1, maxBackoff: TimeInterval = 60) {
        idleInterval = idle; motionInterval = motion; self.maxBackoff = maxBackoff
    }

    public func interval(inMotion: Bool) -> TimeInterval {
        if failures > 0 { return min(maxBackoff, pow(2, Double(min(failures, 10)))) }
        return inMotion ? motionInterval : idleInterval
    }

    public func isDue(at now: Date, inMotion: Bool) -> Bool {
        guard let last = lastAttempt else { return true }
        return now.timeIntervalSince(last) >= interval(inMotion: inMotion)
    }

    public mutating func started(at now: Date) { lastAttempt = now }
    public mutating func succeeded(at now: Date) { failures = 0; lastSuccess = now }
    public mutating func failed() { failures += 1 }
}

/// The core's clock as seen from here: sampled at each poll and extrapolated in between at the rate the
/// samples show, so countdowns tick smoothly under a demo's accelerated time.
public struct ClockEstimate: Sendable {
    private var last: (wall: Date, core: Date)?
    private var rate: Double = 1

    public init() {}

    public mutating func sample(wall: Date, core: Date) {
        if let last, wall.timeIntervalSince(last.wall) > 0.5 {
            let r = core.timeIntervalSince(last.core) / wall.timeIntervalSince(last.wall)
            if r.isFinite && r >= 0 && r < 1_000_000 { rate = r }
        }
        last = (wall, core)
    }

    public func coreNow(wall: Date) -> Date {
        guard let last else { return wall }
        return last.core.addingTimeInterval(wall.timeIntervalSince(last.wall) * rate)
    }
}
