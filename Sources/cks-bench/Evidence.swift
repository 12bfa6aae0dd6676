import CKSWire
import Foundation

/// The use record's cost and CloudTrail LookupEvents over a large record.
extension Bench {
    static let evidenceSection = "7 use record"

    func evidence() throws {
        try recordingCost()
        try lookupOverALargeRecord()
    }

    /// DescribeKey and Encrypt throughput with the record and without it (`--bench-without-use-record`).
    func recordingCost() throws {
        // A/B: DescribeKey and Encrypt with the record, and the same core without it.
        var throughput: [String: Double] = [:]
        for recording in [true, false] {
            let name = recording ? "cks core (recording)" : "cks core (record off, A/B)"
            let directory = try freshDirectory(recording ? "evidence-on" : "evidence-off")
            let core = try CoreProcess(executable: config.cksExecutable, dataDirectory: directory, logDirectory: logDirectory,
                                       extraArguments: config.coreArguments + (recording ? [] : ["--bench-without-use-record"]))
            defer { core.stop() }
            let ids = try Estate(server: core).createKeys(1_000, workers: 16)
            let sample = Loads.sample(ids, count: 1_000)
            for c in config.connections {
                let describe = try cell(Self.evidenceSection, core, serverName: name, workload: "DescribeKey", keys: 1_000,
                                        connections: c) { _ in Loads.describeKey(core.factory, sample: sample) }
                throughput["DescribeKey c\(c) \(recording)"] = describe.requestsPerSecond.median
                let encrypt = try cell(Self.evidenceSection, core, serverName: name, workload: "Encrypt (16 bytes)",
                                       keys: 1_000, connections: c) { _ in Self.encrypt(core.factory, sample: sample) }
                throughput["Encrypt c\(c) \(recording)"] = encrypt.requestsPerSecond.median
            }
        }
        for op in ["DescribeKey", "Encrypt"] {
            for c in config.connections {
                if let on = throughput["\(op) c\(c) true"], let off = throughput["\(op) c\(c) false"], off > 0 {
                    figure(Self.evidenceSection, "\(op) c=\(c): throughput lost to recording (1 − on/off)", "%",
                           [100 * (1 - on / off)], note: "on \(Int(on)) req/s, off \(Int(off)) req/s")
                }
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
