import Foundation

/// The performance targets, each a ratio or a median from this run.
enum Targets {
    static func check(_ r: Results) -> [TargetCheck] {
        var checks: [TargetCheck] = []
        func row(_ server: String, _ workload: String, keys: Int?, c: Int, section: String = "1 core vs moto") -> Row? {
            r.rows.first { $0.section == section && $0.server.hasPrefix(server) && $0.workload == workload && $0.keys == keys
                && $0.connections == c }
        }
        let sizes = Array(Set(r.rows.filter { $0.section == "1 core vs moto" && $0.server.hasPrefix("cks") }.compactMap(\.keys)))
            .sorted()

        // Core ≥ 20× moto at 16 connections.
        for workload in ["DescribeKey", "CreateKey", "Schedule+Cancel"] {
            var parts: [String] = []
            var met: Bool?
            for n in sizes {
                guard let core = row("cks", workload, keys: n, c: 16) else { continue }
                // Each size's CreateKey runs last, so core and moto both start them at n keys.
                let motoRow = row("moto", workload, keys: n, c: 16)
                guard let motoRow, motoRow.requestsPerSecond.median > 0 else { continue }
                let ratio = core.requestsPerSecond.median / motoRow.requestsPerSecond.median
                parts.append(String(format: "%@ keys: %@ vs %@ req/s = %.0f×", Render.grouped(n),
                                    Render.number(core.requestsPerSecond.median), Render.number(motoRow.requestsPerSecond.median), ratio))
                met = (met ?? true) && ratio >= 20
            }
            checks.append(TargetCheck(target: "core ≥ 20× moto, \(workload), 16 connections",
                                      measured: parts.isEmpty ? "–" : parts.joined(separator: "; "), met: met))
        }

        // ≥ 25% of the nginx ceiling on DescribeKey at 16 connections.
        if let nginx = r.rows.first(where: { $0.section == "2 ceiling" && $0.server.hasPrefix("nginx") && $0.connections == 16 }) {
            var parts: [String] = []
            var met: Bool?
            for n in sizes {
                guard let core = row("cks", "DescribeKey", keys: n, c: 16) else { continue }
                let share = core.requestsPerSecond.median / nginx.requestsPerSecond.median
                parts.append(String(format: "%@ keys: %@ of %@ req/s = %.0f%%", Render.grouped(n),
                                    Render.number(core.requestsPerSecond.median), Render.number(nginx.requestsPerSecond.median), share * 100))
                met = (met ?? true) && share >= 0.25
            }
            checks.append(TargetCheck(target: "core ≥ 25% of nginx, DescribeKey, 16 connections",
                                      measured: parts.isEmpty ? "–" : parts.joined(separator: "; "), met: met))
        } else {
            checks.append(TargetCheck(target: "core ≥ 25% of nginx, DescribeKey, 16 connections", measured: "–", met: nil))
        }

        // DescribeKey against the framework alone: ≥ 60% of it at 16 connections, ≥ 50% at 2.
        for (c, share) in [(16, 0.60), (2, 0.50)] {
            let target = "core ≥ \(Int(share * 100))% of the Hummingbird hello world, DescribeKey, \(c) connections"
            guard let hello = r.rows.first(where: { $0.section == "2 ceiling" && $0.server.hasPrefix("Hummingbird") && $0.connections == c }),
                  hello.requestsPerSecond.median > 0 else {
                checks.append(TargetCheck(target: target, measured: "–", met: nil))
                continue
            }
            var parts: [String] = []
            var met: Bool?
            for n in sizes {
                guard let core = row("cks", "DescribeKey", keys: n, c: c) else { continue }
                let measured = core.requestsPerSecond.median / hello.requestsPerSecond.median
                parts.append(String(format: "%@ keys: %@ of %@ req/s = %.0f%%", Render.grouped(n), Render.number(core.requestsPerSecond.median),
                                    Render.number(hello.requestsPerSecond.median), measured * 100))
                met = (met ?? true) && measured >= share
            }
            checks.append(TargetCheck(target: target, measured: parts.isEmpty ? "–" : parts.joined(separator: "; "), met: met))
        }

        // ListKeys p50 at the largest scale size within 1.5× of the smallest.
        let scaleList = r.rows.filter { $0.section == "3 scale" && $0.workload.hasPrefix("ListKeys") }.sorted { ($0.keys ?? 0) < ($1.keys ?? 0) }
        if let small = scaleList.first, let large = scaleList.last, scaleList.count > 1 {
            let ratio = large.p50ms / small.p50ms
            checks.append(TargetCheck(target: "ListKeys p50 at \(Render.grouped(large.keys ?? 0)) within 1.5× of \(Render.grouped(small.keys ?? 0)) keys",
                                      measured: String(format: "%.3f ms vs %.3f ms = %.2f×", large.p50ms, small.p50ms, ratio),
                                      met: ratio <= 1.5))
        } else {
            checks.append(TargetCheck(target: "ListKeys p50 at 100,000 within 1.5× of 1,000 keys", measured: "–", met: nil))
        }

        // p99 of every core read < 5 ms at 2 connections.
        let reads = r.rows.filter { $0.server.hasPrefix("cks") && $0.connections == 2
            && ["DescribeKey", "ListKeys (Limit 100)", "DescribeCustomKeyStores"].contains($0.workload) }
        if let worst = reads.max(by: { $0.p99ms < $1.p99ms }) {
            checks.append(TargetCheck(target: "p99 of every core read < 5 ms at 2 connections",
                                      measured: String(format: "worst %.2f ms (%@, %@ keys); %d read cells", worst.p99ms, worst.workload,
                                                       Render.grouped(worst.keys ?? 0), reads.count),
                                      met: worst.p99ms < 5))
        } else {
            checks.append(TargetCheck(target: "p99 of every core read < 5 ms at 2 connections", measured: "–", met: nil))
        }

        // The XKS proxy: AWS's default 1,800 requests/s per external key store, p99 within 35 ms, over HTTPS.
        let xks = r.rows.filter { $0.section == "6 xks proxy" && $0.workload.hasSuffix("HTTPS") && $0.connections == 16 }
        if xks.isEmpty {
            checks.append(TargetCheck(target: "XKS proxy ≥ 1,800 encrypt+decrypt req/s per key store, p99 ≤ 35 ms (HTTPS, 16 connections)",
                                      measured: "–", met: nil))
        }
        for row in xks {
            checks.append(TargetCheck(
                target: "XKS proxy ≥ 1,800 encrypt+decrypt req/s per key store, p99 ≤ 35 ms (HTTPS, 16 connections), \(row.server.replacingOccurrences(of: "cks xks-proxy, ", with: ""))",
                measured: String(format: "%@ req/s, p99 %.2f ms", Render.number(row.requestsPerSecond.median), row.p99ms),
                met: row.requestsPerSecond.median >= 1_800 && row.p99ms <= 35))
        }

        func limit(_ target: String, _ prefix: String, _ bound: Double, unit: String) {
            let matching = r.figures.filter { $0.name.hasPrefix(prefix) }
            guard !matching.isEmpty else { checks.append(TargetCheck(target: target, measured: "–", met: nil)); return }
            let worst = matching.max { $0.spread.median < $1.spread.median }!
            checks.append(TargetCheck(target: target,
                                      measured: matching.map { "\($0.name): \(Render.number($0.spread.median)) \(unit)" }.joined(separator: "; "),
                                      met: worst.spread.median <= bound))
        }
        limit("core start → first answer ≤ 200 ms", "core start →", 200, unit: "ms")
        limit("core RSS ≤ 150 MB with 100,000 keys", "core RSS with", 150, unit: "MiB")
        limit("console first frame ≤ 300 ms against a running core", "console first frame, running core", 300, unit: "ms")
        limit("console first frame ≤ 600 ms with the embedded core", "console first frame, embedded core", 600, unit: "ms")
        limit("console RSS ≤ 80 MB with a 100,000-key store open", "console RSS", 80, unit: "MiB")
        limit("all-stores view (4 contexts × 2 regions) first complete frame ≤ 1 s", "all-stores view first complete frame", 1000, unit: "ms")
        limit("keystroke → redrawn frame ≤ 16 ms", "console keystroke", 16, unit: "ms")
        // The scheduling itself (the bulk call, client → HTTP → engine → SQLite) with the client's default transport;
        // finding the keys the AWS way (ListKeys + DescribeKey each) is reported beside it.
        limit("schedule deletion of 10,000 keys ≤ 5 s", "teardown (\(ClientTransport.nio.label)): scheduleKeyDeletion", 5, unit: "s")
        return checks
    }
}
