import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Every reliability suite nests in this one so they run one after another: each starts real `cks serve`
/// processes and measures them, and two at once on a 2-core machine would only disturb each other.
@Suite(.serialized) struct Reliability {}

/// How big a run is: the CI size by default, the long run with `CKS_LONG=1`.
enum Scale {
    static let long = ProcessInfo.processInfo.environment["CKS_LONG"] == "1"
    static func pick<T>(ci: T, long: T) -> T { Self.long ? long : ci }
    /// A seed for the random choices (kill moments, fuzz cases), printed so a failure can be replayed
    /// with `CKS_SEED=<n>`.
    static let seed: UInt64 = {
        if let text = ProcessInfo.processInfo.environment["CKS_SEED"], let value = UInt64(text) { return value }
        return UInt64.random(in: 1...UInt64(UInt32.max))
    }()
    /// With `CKS_REQUIRE_EXTERNAL=1` a missing external tool (tmux) fails the test instead of skipping it.
    static let requireExternal = ProcessInfo.processInfo.environment["CKS_REQUIRE_EXTERNAL"] == "1"
}


/// Prints one figure of a run (`[reliability] crash: kills survived = 20`), the numbers the README quotes.
func reportFigure(_ suite: String, _ text: String) {
    let line = "[reliability] \(suite): \(text)\n"
    FileHandle.standardOutput.write(Data(line.utf8))
    if let path = ProcessInfo.processInfo.environment["CKS_FIGURES_FILE"],
       let handle = FileHandle(forWritingAtPath: path) ?? {
           FileManager.default.createFile(atPath: path, contents: nil)
           return FileHandle(forWritingAtPath: path)
       }() {
        handle.seekToEndOfFile()
        handle.write(Data(line.utf8))
        try? handle.close()
    }
}


/// `kill(2)` under a name no method shadows.
@discardableResult
func sendSignal(_ pid: Int32, _ signal: Int32) -> Int32 { kill(pid, signal) }

/// What `/proc/PID` says about a process: resident memory and open file descriptors.
enum ProcStats {
    /// VmRSS in KiB, nil when the process is gone.
    static func rssKiB(_ pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }

    /// CPU time used so far (user + system), in clock ticks; nil when the process is gone.
    static func cpuTicks(_ pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
        return user + system
    }

    /// Waits (up to `timeout`) until the process has used less than 5% of a core over a 500 ms window: it has
    /// worked through what it was given.
    static func waitUntilQuiet(_ pid: Int32, timeout: Duration = .seconds(30)) async -> Bool {
        await poll(timeout: timeout, every: .milliseconds(10)) {
            guard let before = cpuTicks(pid) else { return true }
            try? await Task.sleep(for: .milliseconds(500))
            guard let after = cpuTicks(pid) else { return true }
            return after - before <= 2  // 100 ticks a second: 2 ticks in 500 ms is 4%
        }
    }

    /// The number of open file descriptors, nil when the process is gone.
    static func openFiles(_ pid: Int32) -> Int? {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd"))?.count
    }
}

/// A series of samples of one process over time, judged "flat" by comparing the end with the plateau after warm-up.
struct ResourceSamples: Sendable {
    var rss: [Int] = []
    var files: [Int] = []

    mutating func sample(_ pid: Int32) {
        if let value = ProcStats.rssKiB(pid) { rss.append(value) }
        if let value = ProcStats.openFiles(pid) { files.append(value) }
    }

    /// The median of the samples in `range` (fractions of the series).
    static func median(_ values: [Int], from: Double, to: Double) -> Int {
        guard !values.isEmpty else { return 0 }
        let lower = min(values.count - 1, Int(Double(values.count) * from))
        let upper = max(lower + 1, min(values.count, Int(Double(values.count) * to)))
        let slice = values[lower..<upper].sorted()
        return slice[slice.count / 2]
    }

    /// RSS growth from the plateau (20-40% of the run) to the end (last 20%), in KiB.
    var rssGrowthKiB: Int { Self.median(rss, from: 0.8, to: 1.0) - Self.median(rss, from: 0.2, to: 0.4) }
    var summary: String {
        let mib = { (k: Int) in String(format: "%.1f MiB", Double(k) / 1024) }
        return "RSS start \(mib(rss.first ?? 0)), plateau \(mib(Self.median(rss, from: 0.2, to: 0.4))), "
            + "end \(mib(Self.median(rss, from: 0.8, to: 1.0))), max \(mib(rss.max() ?? 0)); "
            + "fds start \(files.first ?? 0), max \(files.max() ?? 0), end \(files.last ?? 0) (\(rss.count) samples)"
    }
}

/// The largest value seen, recorded from any thread.
final class PeakCounter: Sendable {
    private let peak = Mutex(0)
    func record(_ value: Int) { peak.withLock { $0 = max($0, value) } }
    var value: Int { peak.withLock { $0 } }
}
