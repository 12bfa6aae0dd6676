import CKSClient
import CKSDomain
import CKSTeardown
import Foundation

/// The teardown's evidence pass at scale: every key's grants, policy and tags, and one CloudTrail pass over the
/// account's KMS events in the look-back window, filtered locally.
extension Bench {
    static let evidencePassSection = "8 evidence pass"

    func evidencePass() async throws {
        let keys = config.quick ? 1_000 : 10_000
        let workloads = config.quick ? 10 : 100
        let everyMinutes = 13   // 100 workloads × 90 days / 13 minutes ≈ 1,000,000 events
        Host.log("8. evidence pass: \(Render.grouped(keys)) keys, \(workloads) workloads over 90 days")
        let core = try startCore(try freshDirectory("evidence-pass"))
        defer { core.stop() }
        let estate = Estate(server: core)
        let ids = try estate.createKeys(keys, workers: 16)
        for i in 0..<workloads {
            _ = try estate.call("CksAdmin.StartWorkload", ["KeyId": ids[i * (keys / workloads)], "Operation": "Decrypt",
                                                           "Principal": "arn:aws:iam::111122223333:role/app-\(i)",
                                                           "EveryMinutes": everyMinutes])
        }
        let seedStart = Date()
        for _ in 0..<90 { _ = try estate.call("CksAdmin.AdvanceClock", ["Seconds": 86_400]) }
        let events = workloads * (90 * 1_440 / everyMinutes)
        figure(Self.evidencePassSection, "backfill ≈\(Render.grouped(events)) workload events (90 days)", "s",
               [Date().timeIntervalSince(seedStart)])

        let client = client(for: core)
        defer { client.shutdown() }
        var seconds: [Double] = []
        var last = EvidencePass()
        for _ in 0..<max(1, min(config.runs, 3)) {
            // The core has no LookupEvents quota: unpaced (against AWS the client keeps to 2 requests/s).
            let service = KMSClientTeardownService(client: client, lookupRequestsPerSecond: 1_000_000)
            let now = await service.now()
            let t0 = Date()
            last = await service.evidence(of: ids.map { TeardownObservation.Key(id: $0, state: .enabled) }, lookbackDays: 90,
                                          now: now) { _ in }
            seconds.append(Date().timeIntervalSince(t0))
        }
        let withUse = last.evidence.values.filter { $0.summary?.uses ?? 0 > 0 }.count
        figure(Self.evidencePassSection, "evidence pass: \(Render.grouped(keys)) keys, \(Render.grouped(last.eventsRead)) events in the window",
               "s", seconds,
               note: "\(Render.grouped(last.lookupRequests)) LookupEvents requests (events/50 = \(Render.grouped(last.eventsRead / 50)), "
                   + "not per key); \(Render.grouped(3 * keys)) ListGrants+GetKeyPolicy+ListResourceTags; \(withUse) keys with use")
        figure(Self.evidencePassSection, "evidence pass: LookupEvents requests", "requests", [Double(last.lookupRequests)],
               note: "\(Render.grouped(last.eventsRead)) events read; at CloudTrail's 2 requests/s this pass takes "
                   + "\(Int(Double(last.lookupRequests) / 2)) s against AWS")
    }
}
