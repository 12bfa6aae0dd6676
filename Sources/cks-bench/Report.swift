import Foundation
import CKSDomain

/// Median, minimum and maximum of a few runs.
struct Spread: Codable, Sendable {
    var median: Double
    var min: Double
    var max: Double

    init(_ values: [Double]) {
        let sorted = values.sorted()
        min = sorted.first ?? 0
        max = sorted.last ?? 0
        if sorted.isEmpty {
            median = 0
        } else if sorted.count % 2 == 1 {
            median = sorted[sorted.count / 2]
        } else {
            median = (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        }
    }
}

/// One line of the throughput table: one server, workload, estate size and connection count, over its runs.
struct Row: Codable, Sendable {
    var section: String
    var server: String
    var workload: String
    /// Keys in the estate when the runs started.
    var keys: Int?
    /// Keys afterwards, where the workload adds keys (CreateKey).
    var keysAfter: Int?
    var connections: Int
    var runs: [RunMeasure]
    var note: String?

    var requestsPerSecond: Spread
    var p50ms: Double
    var p99ms: Double
    var non2xx: Int
    var socketErrors: Int
    var responseBytes: Double
    var newConnectionsPerRequest: Double
    var serverCores: Double?
    /// The machine's 1-minute load average when the cell's runs ended (the machine is shared).
    var loadAverage: Double?

    /// Server CPU per request (µs), from its cores in use and its throughput.
    var cpuMicrosecondsPerRequest: Double? {
        guard let cores = serverCores, requestsPerSecond.median > 0 else { return nil }
        return cores / requestsPerSecond.median * 1e6
    }

    init(section: String, server: String, workload: String, keys: Int?, keysAfter: Int? = nil, connections: Int,
         runs: [RunMeasure], note: String? = nil) {
        self.section = section
        self.server = server
        self.workload = workload
        self.keys = keys
        self.keysAfter = keysAfter
        self.connections = connections
        self.runs = runs
        self.note = note
        requestsPerSecond = Spread(runs.map(\.wrk.requestsPerSecond))
        p50ms = Spread(runs.map { Double($0.wrk.p50_us) / 1000 }).median
        p99ms = Spread(runs.map { Double($0.wrk.p99_us) / 1000 }).median
        non2xx = runs.reduce(0) { $0 + $1.wrk.non2xx }
        socketErrors = runs.reduce(0) { $0 + $1.wrk.socketErrors }
        let requests = runs.reduce(0) { $0 + $1.wrk.requests }
        responseBytes = Double(runs.reduce(0) { $0 + $1.wrk.bytes }) / Double(max(1, requests))
        newConnectionsPerRequest = Spread(runs.map(\.newConnectionsPerRequest)).median
        let cores = runs.compactMap(\.serverCores)
        serverCores = cores.isEmpty ? nil : Spread(cores).median
    }
}

/// A measurement that is not a wrk run: start time, RSS, console frames, the bulk teardown.
struct Figure: Codable, Sendable {
    var section: String
    var name: String
    var unit: String
    var values: [Double]
    var note: String?
    var spread: Spread

    init(section: String, name: String, unit: String, values: [Double], note: String? = nil) {
        self.section = section
        self.name = name
        self.unit = unit
        self.values = values
        self.note = note
        spread = Spread(values)
    }
}

/// One performance target, checked against this run.
struct TargetCheck: Codable, Sendable {
    var target: String
    var measured: String
    /// nil when the run did not measure it.
    var met: Bool?
}

struct MachineInfo: Codable, Sendable {
    var cpus: Int
    var cpuModel: String
    var memoryGiB: Double
    var kernel: String
    var loadAverageAtStart: String
    var wrk: String
}

/// Everything one benchmark run produced; written as JSON.
struct Results: Codable, Sendable {
    var generatedAt: String
    var command: String
    var quick: Bool
    var secondsPerRun: Double
    var runsPerCell: Int
    var machine: MachineInfo
    var versions: [String: String]
    var rows: [Row] = []
    var figures: [Figure] = []
    var targets: [TargetCheck] = []
    var notes: [String] = []
    var wallSeconds: Double = 0
}

/// Text rendering of the results (Markdown tables, as pasted into the README).
enum Render {
    static func number(_ v: Double) -> String {
        if v >= 100 { return grouped(Int(v.rounded())) }
        if v >= 10 { return String(format: "%.1f", v) }
        return String(format: "%.2f", v)
    }

    static func grouped(_ n: Int) -> String { TeardownText.grouped(n) }

    static func ms(_ v: Double) -> String {
        v >= 100 ? String(format: "%.0f", v) : v >= 10 ? String(format: "%.1f", v) : String(format: "%.2f", v)
    }

    static func bytes(_ v: Double) -> String {
        if v >= 1_048_576 { return String(format: "%.1f MB", v / 1_048_576) }
        if v >= 10_240 { return String(format: "%.0f KB", v / 1024) }
        return "\(Int(v.rounded())) B"
    }

    static func keys(_ row: Row) -> String {
        guard let k = row.keys else { return "–" }
        if let after = row.keysAfter, after != k { return "\(grouped(k))→\(grouped(after))" }
        return grouped(k)
    }

    /// The throughput table; `ratioTo` gives, for a core row, the moto row it is compared with.
    static func table(_ rows: [Row]) -> String {
        var out = "| server | workload | keys | c | req/s median [min..max] | p50 ms | p99 ms | non2xx | sock err | resp B/req | new conn/req | server cores | server CPU µs/req | load 1m | core ÷ moto |\n"
        out += "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        for row in rows {
            let rps = row.requestsPerSecond
            var ratio = ""
            if row.server.hasPrefix("cks"), let moto = rows.first(where: {
                $0.server.hasPrefix("moto") && $0.workload == row.workload && $0.keys == row.keys
                    && $0.connections == row.connections && $0.section == row.section
            }), moto.requestsPerSecond.median > 0 {
                ratio = String(format: "%.0f×", rps.median / moto.requestsPerSecond.median)
            }
            out += "| \(row.server) | \(row.workload)\(row.note.map { " (\($0))" } ?? "") | \(keys(row)) | \(row.connections) "
            out += "| **\(number(rps.median))** [\(number(rps.min))..\(number(rps.max))] "
            out += "| \(ms(row.p50ms)) | \(ms(row.p99ms)) | \(row.non2xx) | \(row.socketErrors) | \(bytes(row.responseBytes)) "
            out += "| \(String(format: "%.2f", row.newConnectionsPerRequest)) "
            out += "| \(row.serverCores.map { String(format: "%.2f", $0) } ?? "–") "
            out += "| \(row.cpuMicrosecondsPerRequest.map { String(format: "%.0f", $0) } ?? "–") "
            out += "| \(row.loadAverage.map { String(format: "%.1f", $0) } ?? "–") | \(ratio) |\n"
        }
        return out
    }

    static func figures(_ figures: [Figure]) -> String {
        var out = "| measurement | median [min..max] | runs | note |\n|---|---|---|---|\n"
        for f in figures {
            let s = f.spread
            out += "| \(f.name) | **\(number(s.median)) \(f.unit)** [\(number(s.min))..\(number(s.max))] | \(f.values.count) | \(f.note ?? "") |\n"
        }
        return out
    }

    static func targets(_ targets: [TargetCheck]) -> String {
        var out = "| target | measured | met |\n|---|---|---|\n"
        for t in targets {
            out += "| \(t.target) | \(t.measured) | \(t.met.map { $0 ? "yes" : "**no**" } ?? "not measured") |\n"
        }
        return out
    }

    /// Where the core's CPU goes: per workload of the smallest estate, its server CPU per request and what is left
    /// after the framework's own (the Hummingbird hello world at the same connections).
    static func budget(_ r: Results) -> String {
        let hello = r.rows.filter { $0.section == "2 ceiling" && $0.server.hasPrefix("Hummingbird") }
        let smallest = r.rows.filter { $0.section == "1 core vs moto" && $0.server.hasPrefix("cks") }.compactMap(\.keys).min()
        let core = r.rows.filter { $0.section == "1 core vs moto" && $0.server.hasPrefix("cks") && $0.keys == smallest }
        guard !hello.isEmpty, !core.isEmpty else { return "" }
        var out = "### The core's CPU per request beyond the framework\n\n"
        out += "| workload | c | core CPU µs/req | framework CPU µs/req | core's own µs/req |\n|---|---|---|---|---|\n"
        for row in core {
            guard let mine = row.cpuMicrosecondsPerRequest,
                  let theirs = hello.first(where: { $0.connections == row.connections })?.cpuMicrosecondsPerRequest else { continue }
            out += String(format: "| %@ | %d | %.0f | %.0f | %.0f |\n", row.workload, row.connections, mine, theirs, mine - theirs)
        }
        return out + "\n"
    }

    static func document(_ r: Results) -> String {
        var out = "## cks benchmark (\(r.generatedAt))\n\n"
        out += "Machine: \(r.machine.cpus) vCPU \(r.machine.cpuModel), \(r.machine.memoryGiB) GiB, Linux \(r.machine.kernel); "
        out += "load average at start \(r.machine.loadAverageAtStart). \(r.machine.wrk). "
        out += r.versions.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ".\n"
        out += "wrk -t2, closed loop, \(Int(r.secondsPerRun)) s per run, \(r.runsPerCell) runs per cell, --timeout 30s. "
        out += "Command: `\(r.command)`\(r.quick ? " (QUICK smoke run: small sizes, short runs)" : "").\n\n"
        for section in ["1 core vs moto", "2 ceiling", "3 scale", "6 xks proxy"] {
            let rows = r.rows.filter { $0.section == section }
            guard !rows.isEmpty else { continue }
            out += "### \(section)\n\n" + table(rows) + "\n"
        }
        out += budget(r)
        if !r.figures.isEmpty { out += "### Other measurements\n\n" + figures(r.figures) + "\n" }
        if !r.targets.isEmpty { out += "### Targets\n\n" + targets(r.targets) + "\n" }
        if !r.notes.isEmpty { out += r.notes.map { "- \($0)" }.joined(separator: "\n") + "\n" }
        return out
    }
}
