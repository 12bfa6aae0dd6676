import CKSWire
import Foundation

/// The use record's cost and CloudTrail LookupEvents over a large record.
extension Bench {
    static let evidenceSection = "7 use record"

    func evidence() throws {
        try recordingCost()
        try lookupOverALargeRecord()
    }

    /// DescribeKey and Encrypt throughput with the record and without it (`--bench-without-use-record`): both cores
    /// run side by side and their runs alternate, so the machine's load falls on both alike; the cost is judged on
    /// the median of the per-pair ratios.
    func recordingCost() throws {
        let on = try CoreProcess(executable: config.cksExecutable, dataDirectory: try freshDirectory("evidence-on"),
                                 logDirectory: logDirectory, extraArguments: config.coreArguments)
        defer { on.stop() }
        let off = try CoreProcess(executable: config.cksExecutable, dataDirectory: try freshDirectory("evidence-off"),
                                  logDirectory: logDirectory, extraArguments: config.coreArguments + ["--bench-without-use-record"])
        defer { off.stop() }
        var samples: [ObjectIdentifier: [String]] = [:]
        for core in [on, off] {
            samples[ObjectIdentifier(core)] = Loads.sample(try Estate(server: core).createKeys(1_000, workers: 16), count: 1_000)
        }
        let workloads: [(String, (RequestFactory, [String]) -> WrkLoad)] = [
            ("DescribeKey", { factory, sample in Loads.describeKey(factory, sample: sample) }),
            ("Encrypt (16 bytes)", { factory, sample in Self.encrypt(factory, sample: sample) }),
        ]
        for c in config.connections {
            for (workload, load) in workloads {
                let pair = try pairedCells(Self.evidenceSection, (off, "cks core (record off, A/B)"), (on, "cks core (recording)"),
                                           workload: workload, keys: 1_000, connections: c) { server in
                    load(server.factory, samples[ObjectIdentifier(server)] ?? [])
                }
                let lost = pair.ratios.map { 100 * (1 - $0) }.sorted()
                guard !lost.isEmpty else { continue }
                figure(Self.evidenceSection, "\(workload.split(separator: " ").first ?? "") c=\(c): throughput lost to recording "
                       + "(1 − on/off, median of alternating pairs)", "%", [lost[lost.count / 2]],
                       note: "pairs: " + lost.map { String(format: "%.1f", $0) }.joined(separator: ", ")
                           + "; on \(Int(pair.b.requestsPerSecond.median)) req/s, off \(Int(pair.a.requestsPerSecond.median)) req/s")
            }
        }
    }

    /// LookupEvents latency over 1,000,000+ recorded events (workloads backfill 90 days of uses).
    func lookupOverALargeRecord() throws {
        let directory = try freshDirectory("evidence-lookup")
        let core = try startCore(directory)
        defer { core.stop() }
        let estate = Estate(server: core)
        let keys = config.quick ? 5 : 25
        var arns: [String] = []
        for _ in 0..<keys {
            let created = try estate.call("CreateKey")
            let metadata = created["KeyMetadata"] as? [String: Any] ?? [:]
            arns.append(metadata["Arn"] as? String ?? "")
            _ = try estate.call("CksAdmin.StartWorkload", ["KeyId": metadata["KeyId"] as? String ?? "", "Operation": "Decrypt",
                                                           "Principal": "arn:aws:iam::111122223333:role/app",
                                                           "EveryMinutes": 3])
        }
        let seedStart = Date()
        // A day at a time: each AdvanceClock settles that day's uses in its own transaction.
        for _ in 0..<89 { _ = try estate.call("CksAdmin.AdvanceClock", ["Seconds": 86_400]) }
        _ = try estate.call("CksAdmin.AdvanceClock", ["Seconds": 86_400 - 600])
        let events = keys * (90 * 86_400 - 600) / 180
        figure(Self.evidenceSection, "backfill \(Render.grouped(events)) workload events (90 days, \(keys) workloads)", "s",
               [Date().timeIntervalSince(seedStart)])
        let size = (try? FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("cks.sqlite").path)[.size]
            as? NSNumber)?.doubleValue ?? 0
        let wal = (try? FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("cks.sqlite-wal").path)[.size]
            as? NSNumber)?.doubleValue ?? 0
        figure(Self.evidenceSection, "database bytes per recorded event (file + WAL / events)", "B", [(size + wal) / Double(events)])
        let lookups: [(String, String)] = [
            ("LookupEvents, newest page (MaxResults 50)", "{\"MaxResults\":50}"),
            ("LookupEvents, ResourceName of one key", "{\"LookupAttributes\":[{\"AttributeKey\":\"ResourceName\",\"AttributeValue\":\(RequestFactory.json(arns[0]))}]}"),
            ("LookupEvents, EventName Decrypt", "{\"LookupAttributes\":[{\"AttributeKey\":\"EventName\",\"AttributeValue\":\"Decrypt\"}]}"),
        ]
        for (workload, body) in lookups {
            try cell(Self.evidenceSection, core, serverName: "cks core", workload: workload, keys: events, connections: 2) { _ in
                .rotate([core.factory.make(LookupEventsRequest.target, body, service: "cloudtrail")])
            }
        }
    }

    static func encrypt(_ f: RequestFactory, sample ids: [String]) -> WrkLoad {
        let date = Date()
        return .rotate(ids.map { f.make("TrentService.Encrypt", Loads.keyBody($0, extra: ",\"Plaintext\":\"AAAAAAAAAAAAAAAAAAAAAA==\""), date: date) })
    }
}
