import CKSDomain
import Foundation

/// Dates, countdowns and durations in the console's words. Pure, so renderers stay testable.
public struct Formatting: Sendable {
    public var timeZone: TimeZone

    public init(timeZone: TimeZone = .current) { self.timeZone = timeZone }

    private func components(_ date: Date) -> DateComponents {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = timeZone
        return cal.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
    }

    /// `2026-11-29 14:02`.
    public func dateTime(_ date: Date) -> String {
        let c = components(date)
        return String(format: "%04d-%02d-%02d %02d:%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0, c.hour ?? 0, c.minute ?? 0)
    }

    /// `2026-11-29`.
    public func date(_ date: Date) -> String {
        let c = components(date)
        return String(format: "%04d-%02d-%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0)
    }

    /// `14:02:07`.
    public func clock(_ date: Date) -> String {
        let c = components(date)
        return String(format: "%02d:%02d:%02d", c.hour ?? 0, c.minute ?? 0, c.second ?? 0)
    }

    /// The zone's short name for column headings (`UTC`, `CET`).
    public var zoneName: String { timeZone.abbreviation() ?? timeZone.identifier }

    /// Countdown to a deletion date: `in 6d 23h` (`TeardownText.duration`, the one duration format), or `due` once
    /// it has passed.
    public static func countdown(to date: Date, now: Date) -> String {
        let left = date.timeIntervalSince(now)
        return left <= 0 ? "due" : "in " + TeardownText.duration(left)
    }

    /// `3d 4h ago`, `just now`.
    public static func ago(_ date: Date, now: Date) -> String {
        let passed = now.timeIntervalSince(date)
        if passed < 1 { return "just now" }
        return TeardownText.duration(passed.rounded(.down)) + " ago"
    }

    /// Latency: `12 ms`, `1.4 s`.
    public static func latency(_ seconds: TimeInterval) -> String {
        seconds < 1 ? "\(Int((seconds * 1000).rounded())) ms" : String(format: "%.1f s", seconds)
    }
}
