import Foundation

/// What to run and how long.
struct BenchConfig {
    var quick = false
    var secondsPerRun = 10.0
    var runs = 3
    var connections = [2, 16]
    var coreSizes = [1_000, 10_000]
    var scaleSizes = [1_000, 10_000, 100_000]
    var teardownKeys = 10_000
    var sections: Set<String> = ["ceiling", "core", "scale", "console", "teardown", "xks", "evidence", "contexts",
                                 "evidencepass"]
    var withMoto = true
    /// Write docs/bench/latest.{md,json}: after every section (marked partial), and in full at the end.
    var publish = false
    /// moto is measured only at sizes up to this (seeding moto costs ~20 ms of CPU per key: 10,000 keys take ~3 min
    /// on an idle 2-core machine, far longer on a busy one).
    var motoMaxKeys = Int.max
    /// Extra arguments for `cks serve` (an A/B comparison, e.g. `--durability full`).
    var coreArguments: [String] = []
    var root: URL
    var workDirectory: URL
    var cksExecutable: String
    var wrkExecutable: String
    var nginxExecutable: String
    /// `cks-bench-hello` (the framework row); nil when it could not be built.
    var helloExecutable: String?
    var command: String

    static let allSections = ["ceiling", "core", "scale", "console", "teardown", "xks", "evidence", "lookup", "recording",
                              "contexts", "evidencepass"]

    mutating func applyQuick() {
        quick = true
        secondsPerRun = 3
        coreSizes = [200, 1_000]
        scaleSizes = [1_000, 5_000, 20_000]
        teardownKeys = 2_000
    }
}

/// The benchmark: starts each server, seeds it, runs each workload `runs` times, and collects rows and figures.
final class Bench {
    let config: BenchConfig
    let wrk: Wrk
    var results: Results
    let dataDirectory: URL
    let logDirectory: URL
    /// Keys per Schedule+Cancel run (split between wrk's two threads); each run takes the next slice.
    let pairPool = 128

    init(config: BenchConfig, results: Results) throws {
        self.config = config
        self.results = results
        dataDirectory = config.workDirectory.appendingPathComponent("data")
        logDirectory = config.workDirectory.appendingPathComponent("logs")
        let wrkDirectory = config.workDirectory.appendingPathComponent("wrk")
        for d in [dataDirectory, logDirectory, wrkDirectory] {
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        }
        wrk = Wrk(executable: config.wrkExecutable, workDirectory: wrkDirectory)
    }

    // MARK: cells

    /// Runs one workload `runs` times and records the row.
    @discardableResult
    func cell(_ section: String, _ server: any MeasuredServer, serverName: String, workload: String, keys: Int?,
              connections c: Int, note: String? = nil, tls: Bool = false, load: (Int) throws -> WrkLoad,
              after: ((RunMeasure, Int) -> Void)? = nil) throws -> Row {
        var runs: [RunMeasure] = []
        for rep in 0..<config.runs {
            let measure = try measureOnce(server, serverName: serverName, workload: workload, keys: keys, connections: c,
                                          rep: rep, tls: tls, load: try load(rep))
            runs.append(measure)
            after?(measure, rep)
        }
        return addRow(section, serverName: serverName, workload: workload, keys: keys, connections: c, runs: runs, note: note)
    }

    /// An A/B pair of cells whose runs alternate (a, b, a, b…), so a change in the shared machine's load falls on
    /// both alike: the rows, and the ratio b/a of each pair of runs.
    func pairedCells(_ section: String, _ a: (server: any MeasuredServer, name: String), _ b: (server: any MeasuredServer, name: String),
                     workload: String, keys: Int?, connections c: Int,
                     load: (any MeasuredServer) throws -> WrkLoad) throws -> (a: Row, b: Row, ratios: [Double]) {
        var runsA: [RunMeasure] = [], runsB: [RunMeasure] = [], ratios: [Double] = []
        for rep in 0..<config.runs {
            let ma = try measureOnce(a.server, serverName: a.name, workload: workload, keys: keys, connections: c, rep: rep,
                                     tls: false, load: try load(a.server))
            let mb = try measureOnce(b.server, serverName: b.name, workload: workload, keys: keys, connections: c, rep: rep,
                                     tls: false, load: try load(b.server))
            runsA.append(ma)
            runsB.append(mb)
            if ma.wrk.requestsPerSecond > 0 { ratios.append(mb.wrk.requestsPerSecond / ma.wrk.requestsPerSecond) }
        }
        return (addRow(section, serverName: a.name, workload: workload, keys: keys, connections: c, runs: runsA, note: nil),
                addRow(section, serverName: b.name, workload: workload, keys: keys, connections: c, runs: runsB, note: nil),
                ratios)
    }

    /// One wrk run against `server`, logged.
    func measureOnce(_ server: any MeasuredServer, serverName: String, workload: String, keys: Int?, connections c: Int,
                     rep: Int, tls: Bool, load: WrkLoad) throws -> RunMeasure {
        let measure = try wrk.run(port: server.port, connections: c, seconds: config.secondsPerRun, load: load,
                                  name: "\(serverName)-\(workload)-\(keys ?? 0)-c\(c)-\(rep)".filter { $0.isLetter || $0.isNumber || $0 == "-" },
                                  serverPid: server.pid, tls: tls)
        let w = measure.wrk
        var line = String(format: "  %@ %@ N=%@ c=%d run %d: %.0f req/s p50 %.2f ms p99 %.2f ms non2xx %d",
                          serverName, workload, keys.map(String.init) ?? "-", c, rep + 1, w.requestsPerSecond,
                          Double(w.p50_us) / 1000, Double(w.p99_us) / 1000, w.non2xx)
        if w.socketErrors > 0 { line += " socket errors \(w.socketErrors)" }
        if w.starved > 0 { line += " starved \(w.starved)" }
        if let sample = measure.errorSample { line += " first error: \(sample.prefix(160))" }
        Host.log(line)
        return measure
    }

    func addRow(_ section: String, serverName: String, workload: String, keys: Int?, connections c: Int, runs: [RunMeasure],
                note: String?) -> Row {
        var row = Row(section: section, server: serverName, workload: workload, keys: keys, connections: c, runs: runs,
                      note: note)
        row.loadAverage = Host.loadAverage()
        results.rows.append(row)
        return row
    }

    func figure(_ section: String, _ name: String, _ unit: String, _ values: [Double], note: String? = nil) {
        results.figures.append(Figure(section: section, name: name, unit: unit, values: values, note: note))
        Host.log("  \(name): \(values.map { Render.number($0) }.joined(separator: ", ")) \(unit)")
    }

    // MARK: servers

    func freshDirectory(_ name: String) throws -> URL {
        let url = dataDirectory.appendingPathComponent(name)
        try? FileManager.default.removeItem(at: url)
        return url
    }

    func startCore(_ directory: URL) throws -> CoreProcess {
        try CoreProcess(executable: config.cksExecutable, dataDirectory: directory, logDirectory: logDirectory,
                        extraArguments: config.coreArguments)
    }

    // MARK: 2. the ceiling

    func ceiling() throws {
        Host.log("2. ceiling: nginx, 1 worker, keep-alive, fixed JSON body")
        let nginx = try NginxProcess(executable: config.nginxExecutable,
                                     directory: config.workDirectory.appendingPathComponent("nginx"))
        defer { nginx.stop() }
        for c in config.connections {
            try cell("2 ceiling", nginx, serverName: "nginx (1 worker)", workload: Self.ceilingWorkload,
                     keys: nil, connections: c) { _ in Loads.ceiling(nginx.factory) }
        }
        nginx.stop()
        guard let executable = config.helloExecutable else {
            Host.log("  no cks-bench-hello: the framework row is left out")
            return
        }
        Host.log("2. ceiling: the framework alone (Hummingbird hello world, release)")
        let hello = try HelloProcess(executable: executable, logDirectory: logDirectory)
        defer { hello.stop() }
        for c in config.connections {
            try cell("2 ceiling", hello, serverName: hello.label, workload: Self.ceilingWorkload,
                     keys: nil, connections: c) { _ in Loads.ceiling(hello.factory) }
        }
    }

    static let ceilingWorkload = "DescribeKey-shaped POST, fixed `{}` answer"

    // MARK: 1. core vs moto

    func coreVsMoto() throws {
        var moto: MotoProcess?
        var motoIds: [String] = []
        var motoKeys = 0
        if config.withMoto {
            guard let executable = MotoProcess.executable() else {
                throw BenchError("moto_server not found (pip install 'moto[server]'), or pass --no-moto")
            }
            moto = try MotoProcess(executable: executable, logDirectory: logDirectory)
            Host.log("moto_server on port \(moto!.port) (pid \(moto!.pid))")
        }
        defer { moto?.stop() }
        let motoName = "moto \(results.versions["moto"] ?? "")".trimmingCharacters(in: .whitespaces)

        for n in config.coreSizes {
            Host.log("1. core vs moto at \(n) keys: the core")
            let core = try startCore(try freshDirectory("core-\(n)"))
            defer { core.stop() }
            let estate = Estate(server: core)
            let seedStart = Date()
            let ids = try estate.createKeys(n, workers: 16)
            figure("1 core vs moto", "core: seed \(Render.grouped(n)) keys (CreateKey, 16 connections)", "s",
                   [Date().timeIntervalSince(seedStart)])
            for i in 0..<4 { _ = try estate.connectedCloudHsmStore(name: "bench-store-\(i)") }
            let markers = Loads.spread(try estate.listKeyMarkers().markers, count: 200)
            let sample = Loads.sample(ids, count: 1_000)
            try runKMSCells(server: core, name: "cks core", ids: ids, sample: sample, markers: markers, keys: n,
                            describeStores: true)
            var keys = n
            for c in config.connections {
                // Labelled with the estate the CreateKey runs started from (moto's row starts from the same size).
                try cell("1 core vs moto", core, serverName: "cks core", workload: "CreateKey", keys: n, connections: c,
                         load: { _ in Loads.createKey(core.factory) },
                         after: { m, _ in keys += m.wrk.requests - m.wrk.non2xx })
                results.rows[results.rows.count - 1].keysAfter = keys
            }
            if let memory = Host.memory(pid: core.pid) {
                figure("1 core vs moto", "core RSS after the workloads at \(Render.grouped(n))→\(Render.grouped(keys)) keys",
                       "MiB", [memory.rss], note: String(format: "high-water %.0f MiB", memory.hwm))
            }

            guard let moto else { continue }
            guard n <= config.motoMaxKeys else {
                results.notes.append("moto was not measured at \(Render.grouped(n)) keys (--moto-max-keys \(config.motoMaxKeys)); "
                    + "its DescribeKey and Schedule+Cancel do not depend on the estate size (perf-baseline §2.4).")
                continue
            }
            Host.log("1. core vs moto at \(n) keys: moto (seeding \(max(0, n - motoKeys)) keys, ~55 CreateKey/s)")
            let motoEstate = Estate(server: moto)
            let motoSeed = Date()
            if motoKeys < n {
                let created = try motoEstate.createKeys(n - motoKeys, workers: 4, progressEvery: 1_000)
                motoIds += created
                motoKeys += created.count
                figure("1 core vs moto", "moto: seed \(Render.grouped(created.count)) keys (CreateKey, 4 connections)", "s",
                       [Date().timeIntervalSince(motoSeed)])
            }
            let motoSample = Loads.sample(motoIds, count: 1_000)
            try runKMSCells(server: moto, name: motoName, ids: motoIds, sample: motoSample, markers: [nil], keys: motoKeys,
                            describeStores: false, listNote: "moto ignores Limit: returns every key")
            var after = motoKeys
            for c in config.connections {
                try cell("1 core vs moto", moto, serverName: motoName, workload: "CreateKey", keys: motoKeys, connections: c,
                         load: { _ in Loads.createKey(moto.factory) },
                         after: { m, _ in after += m.wrk.requests - m.wrk.non2xx })
                results.rows[results.rows.count - 1].keysAfter = after
            }
            motoKeys = after
            if let memory = Host.memory(pid: moto.pid) {
                figure("1 core vs moto", "moto RSS at \(Render.grouped(motoKeys)) keys", "MiB", [memory.rss])
            }
        }
    }

    /// DescribeKey, ListKeys, Schedule+Cancel (and DescribeCustomKeyStores) at each connection count.
    func runKMSCells(server: any MeasuredServer, name: String, ids: [String], sample: [String], markers: [String?],
                     keys n: Int, describeStores: Bool, listNote: String? = nil) throws {
        let section = "1 core vs moto"
        for c in config.connections {
            try cell(section, server, serverName: name, workload: "DescribeKey", keys: n, connections: c) { _ in
                Loads.describeKey(server.factory, sample: sample)
            }
        }
        for c in config.connections {
            try cell(section, server, serverName: name, workload: "ListKeys (Limit 100)", keys: n, connections: c,
                     note: listNote) { _ in Loads.listKeys(server.factory, markers: markers) }
        }
        var slice = 0
        let estate = Estate(server: server)
        for c in config.connections {
            try cell(section, server, serverName: name, workload: "Schedule+Cancel", keys: n, connections: c,
                     note: "req/s; pairs/s = ½", load: { _ in
                let pool = (0..<pairPool).map { ids[(slice * pairPool + $0) % ids.count] }
                return Loads.scheduleCancel(server.factory, keys: pool)
            }, after: { _, _ in
                let pool = (0..<self.pairPool).map { ids[(slice * self.pairPool + $0) % ids.count] }
                estate.cancelDeletions(pool)
                slice += 1
            })
        }
        if describeStores {
            for c in config.connections {
                try cell(section, server, serverName: name, workload: "DescribeCustomKeyStores", keys: n, connections: c,
                         note: "4 stores") { _ in Loads.describeCustomKeyStores(server.factory) }
            }
        }
    }

    // MARK: 3. scale

    /// Grows one estate (keys in a connected CloudHSM key store) through the sizes and measures page and key latency;
    /// then RSS at the largest size and start times. Returns the data directory of the largest estate and its store.
    func scale() throws -> (directory: URL, storeId: String, keys: Int) {
        let directory = try freshDirectory("scale")
        let core = try startCore(directory)
        var running: CoreProcess? = core
        defer { running?.stop() }
        let estate = Estate(server: core)
        let storeId = try estate.connectedCloudHsmStore(name: "scale-store")
        let body = "{\"CustomKeyStoreId\":\(RequestFactory.json(storeId)),\"Origin\":\"AWS_CLOUDHSM\"}"
        var ids: [String] = []
        for n in config.scaleSizes {
            Host.log("3. scale: growing the store to \(n) keys")
            let seedStart = Date()
            let added = n - ids.count
            ids += try estate.createKeys(added, workers: 16, body: body)
            figure("3 scale", "core: add \(Render.grouped(added)) keys to a store (CreateKey, 16 connections)", "keys/s",
                   [Double(added) / Date().timeIntervalSince(seedStart)])
            let markers = Loads.spread(try estate.listKeyMarkers().markers, count: 200)
            let sample = Loads.sample(ids, count: 1_000, seed: UInt64(n))
            try cell("3 scale", core, serverName: "cks core", workload: "DescribeKey", keys: n, connections: 2,
                     note: "keys in a CloudHSM store") { _ in Loads.describeKey(core.factory, sample: sample) }
            try cell("3 scale", core, serverName: "cks core", workload: "ListKeys (Limit 100)", keys: n, connections: 2,
                     note: "pages all over the estate") { _ in Loads.listKeys(core.factory, markers: markers) }
        }
        let largest = ids.count
        if let memory = Host.memory(pid: core.pid) {
            figure("3 scale", "core RSS with \(Render.grouped(largest)) keys (after the scale runs)", "MiB", [memory.rss],
                   note: String(format: "high-water %.0f MiB", memory.hwm))
        }
        core.stop()
        running = nil

        var starts: [Double] = []
        var idleRSS: [Double] = []
        for _ in 0..<config.runs {
            let again = try startCore(directory)
            starts.append(again.startSeconds * 1000)
            let estate = Estate(server: again)
            _ = try estate.call("DescribeKey", ["KeyId": ids[ids.count / 2]])
            if let memory = Host.memory(pid: again.pid) { idleRSS.append(memory.rss) }
            again.stop()
        }
        figure("3 scale", "core start → first answered request, \(Render.grouped(largest)) keys", "ms", starts,
               note: "spawn of `cks serve` to the first 2xx signed ListKeys, polled every 1 ms")
        figure("3 scale", "core RSS just after start with \(Render.grouped(largest)) keys", "MiB", idleRSS)
        var emptyStarts: [Double] = []
        for i in 0..<config.runs {
            let again = try startCore(try freshDirectory("empty-\(i)"))
            emptyStarts.append(again.startSeconds * 1000)
            again.stop()
        }
        figure("3 scale", "core start → first answered request, new data directory", "ms", emptyStarts,
               note: "includes creating the SQLite database")
        return (directory, storeId, largest)
    }
}
