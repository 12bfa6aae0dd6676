import Foundation

/// One character per value, its height the value's share of the largest: `▁▂▃▄▅▆▇█`, or ` .:-=+*#` under `--ascii`.
/// Zero is a blank (a day without calls reads as a gap), and any non-zero value shows at least the lowest mark.
enum Sparkline {
    static let blocks: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]
    static let asciiLevels: [Character] = [".", ":", "-", "=", "+", "*", "#", "#"]

    static func render(_ values: [Int], ascii: Bool) -> String {
        let top = values.max() ?? 0
        let levels = ascii ? asciiLevels : blocks
        return String(values.map { v -> Character in
            guard v > 0, top > 0 else { return " " }
            let index = min(levels.count - 1, (v * levels.count - 1) / top)
            return levels[max(0, index)]
        })
    }

    /// Squeezes `values` into at most `width` buckets (summing neighbours), so 90 days fit a narrow terminal.
    static func fit(_ values: [Int], width: Int) -> [Int] {
        guard width > 0, values.count > width else { return values }
        let per = (values.count + width - 1) / width
        return stride(from: 0, to: values.count, by: per).map { values[$0..<min(values.count, $0 + per)].reduce(0, +) }
    }

    /// Keys coming due per day from `now` until the last date: what the wait looks like at a glance.
    static func deletionTimeline(_ dates: [Date], now: Date) -> [Int] {
        guard let last = dates.max() else { return [] }
        let days = max(1, Int(ceil(last.timeIntervalSince(now) / 86_400)))
        var counts = Array(repeating: 0, count: days)
        for d in dates {
            let day = Int(max(0, d.timeIntervalSince(now)) / 86_400)
            counts[min(days - 1, day)] += 1
        }
        return counts
    }
}
