import CKSClient
import CKSWire
import Foundation
import Testing

extension Reliability {
    /// Exposure: the core listens on loopback only unless told otherwise; the body-size limit and the connection
    /// handling hold under load.
    @Suite struct Exposure {
        @Test(arguments: ["0.0.0.0:0", "[::]:0", "10.1.2.3:0", "192.168.0.1:7911", "example.com:0"])
        func nonLoopbackWithoutAllowRemoteIsRefused(_ listen: String) async throws {
            let binary = try Locations.requireCksBinary()
            let dir = try TemporaryDirectory(prefix: "cks-rel-bind")
            defer { dir.remove() }
            let result = try await ProcessRunner.run([binary.path] + ["serve", "--listen", listen, "--data-dir",
                                                       dir.url.appendingPathComponent("data").path], timeout: .seconds(30))
            #expect(result.status != 0, "cks serve --listen \(listen) must refuse: \(result.stdout)")
            #expect(!result.stdout.contains("listening on"), "never listened on \(listen)")
            #expect((result.stdout + result.stderr).contains("--allow-remote"), "the refusal names --allow-remote: \(result.stderr)")
        }

        /// Oversized bodies (declared, undeclared, chunked) are refused with an AWS error while normal traffic goes on,
        /// and the core never buffers them whole (its RSS does not grow by their size).
        @Test func requestSizeLimitHoldsUnderLoad() async throws {
            let rounds = Scale.pick(ci: 4, long: 20)
            try await withServe { core in
                let builder = RawRequestBuilder(port: core.port, credentials: core.admin.credentials)
                let client = core.client()
                _ = try await client.listKeys()
                let before = ProcStats.rssKiB(core.pid) ?? 0
                var refused = 0, normal = 0
                for _ in 0..<rounds {
                    try await withThrowingTaskGroup(of: (Bool, String?).self) { group in
                        // Declared too large: refused from the head alone.
                        for _ in 0..<4 {
                            group.addTask {
                                try await onThread {
                                    let body = Data(repeating: UInt8(ascii: " "), count: (1 << 20) + 1)
                                    let request = builder.request(target: "TrentService.ListKeys", body: body)
                                    let connection = try RawConnection(port: builder.port, timeout: 20)
                                    connection.send(request)
                                    let answer = connection.readResponse()
                                    return (true, Self.problem(answer, "declared 1 MiB + 1"))
                                }
                            }
                        }
                        // Chunked, 48 MiB, no length: must be cut off at the limit, never read whole.
                        for _ in 0..<2 {
                            group.addTask {
                                try await onThread {
                                    var head = String(decoding: builder.request(target: "TrentService.ListKeys", body: Data(),
                                                                                 extraHeaders: [("Transfer-Encoding", "chunked")]),
                                                      as: UTF8.self)
                                    head = head.replacingOccurrences(of: "Content-Length: 0\r\n", with: "")
                                    let connection = try RawConnection(port: builder.port, timeout: 20)
                                    connection.send(Data(head.utf8))
                                    let chunk = Data("100000\r\n".utf8) + Data(repeating: UInt8(ascii: " "), count: 0x100000) + Data("\r\n".utf8)
                                    for _ in 0..<48 where connection.send(chunk) {}
                                    connection.send(Data("0\r\n\r\n".utf8))
                                    return (true, Self.problem(connection.readResponse(), "chunked 48 MiB"))
                                }
                            }
                        }
                        // Normal traffic alongside.
                        for _ in 0..<8 {
                            group.addTask {
                                try await onThread {
                                    let answer = try exchange(port: builder.port, builder.request(target: "TrentService.ListKeys",
                                                                                                   body: Data("{}".utf8)))
                                    return (false, answer.status == 200 ? nil : "normal request: \(answer)")
                                }
                            }
                        }
                        for try await (oversized, problem) in group {
                            if oversized { refused += 1 } else { normal += 1 }
                            #expect(problem == nil, "\(problem ?? "")")
                        }
                    }
                }
                let after = ProcStats.rssKiB(core.pid) ?? 0
                #expect(core.isRunning)
                // 2 × 48 MiB per round went in; buffering them would show as tens of MiB.
                #expect(after - before < 40 * 1024, "RSS \(before) → \(after) KiB: oversized bodies were buffered")
                reportFigure("exposure", "\(refused) oversized bodies refused alongside \(normal) normal requests; "
                    + "RSS \(before / 1024) → \(after / 1024) MiB")
            }
        }

        /// Idle connections, clients dribbling a head or a body a byte at a time, and more connections than the cap:
        /// the core closes the idle and slow ones (the slow body with a 408 AWS error, also when closed to make room),
        /// never holds more than the cap and a few (so its descriptors stay bounded), and normal clients alongside
        /// are all served.
        @Test func idleAndSlowClientsStarveNoOne() async throws {
            // Idle + slow + normal stay under cap + the listen backlog (256), so every connect completes.
            let cap = Scale.pick(ci: 48, long: 128)
            let idle = Scale.pick(ci: 120, long: 300)
            let slow = Scale.pick(ci: 8, long: 24)
            let normalRequests = Scale.pick(ci: 20, long: 200)
            try await withServe(extraArguments: ["--idle-timeout", "2", "--read-timeout", "2", "--max-connections", "\(cap)"]) { core in
                let builder = RawRequestBuilder(port: core.port, credentials: core.admin.credentials)
                // Warm up with concurrent requests first: the database opens its pooled readers lazily, and those
                // descriptors stay; the baseline must include them.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<8 {
                        group.addTask {
                            _ = try await onThread {
                                try exchange(port: builder.port, builder.request(target: "TrentService.ListKeys", body: Data("{}".utf8)))
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                // Settled: the warm-up connections are closed when two readings 200 ms apart agree.
                var last = -1
                _ = await poll(timeout: .seconds(10), every: .milliseconds(200)) {
                    let now = ProcStats.openFiles(core.pid) ?? -1
                    defer { last = now }
                    return now == last
                }
                let baseline = ProcStats.openFiles(core.pid) ?? 0
                let peak = PeakCounter()
                let sampler = Task {
                    while !Task.isCancelled {
                        if let files = ProcStats.openFiles(core.pid) { peak.record(files) }
                        try? await Task.sleep(for: .milliseconds(50))
                    }
                }
                defer { sampler.cancel() }

                let outcome = try await withThrowingTaskGroup(of: Outcome.self) { group in
                    // Idle: connect, send nothing, wait for the core to close (those beyond the cap wait in the
                    // backlog first, then get their turn and are closed in turn).
                    for batch in stride(from: 0, to: idle, by: 60) {
                        group.addTask {
                            try await onThread {
                                let connections = try (batch..<min(idle, batch + 60)).map { _ in
                                    try RawConnection(port: builder.port, timeout: 30)
                                }
                                let closed = connections.filter { $0.peerClosed(within: 60) }.count
                                return Outcome(idleClosed: closed, idleTotal: connections.count)
                            }
                        }
                    }
                    // Slow heads: a byte every 300 ms; the core closes them long before the head is complete.
                    for _ in 0..<slow {
                        group.addTask {
                            try await onThread {
                                let connection = try RawConnection(port: builder.port, timeout: 30)
                                let request = builder.request(target: "TrentService.ListKeys", body: Data("{}".utf8))
                                let started = ContinuousClock.now
                                var sent = 0, closed = false
                                while sent < request.count, ContinuousClock.now - started < .seconds(60) {
                                    if connection.peerClosed(within: 0.3) { closed = true; break }
                                    guard connection.send(request.subdata(in: sent..<(sent + 1))) else { closed = true; break }
                                    sent += 1
                                }
                                return Outcome(slowHeadsCut: closed && sent < request.count ? 1 : 0)
                            }
                        }
                    }
                    // Slow bodies: the head at once, then a byte every 300 ms; answered 408 with an AWS error.
                    for _ in 0..<slow {
                        group.addTask {
                            try await onThread {
                                let body = Data(#"{"Limit":10}"#.utf8) + Data(repeating: UInt8(ascii: " "), count: 400)
                                let request = builder.request(target: "TrentService.ListKeys", body: body)
                                let headLength = request.count - body.count
                                let connection = try RawConnection(port: builder.port, timeout: 30)
                                connection.send(request.prefix(headLength))
                                var sent = headLength
                                let started = ContinuousClock.now
                                while sent < request.count, ContinuousClock.now - started < .seconds(60) {
                                    if connection.readable(within: 0.3) { break }
                                    guard connection.send(request.subdata(in: sent..<(sent + 1))) else { break }
                                    sent += 1
                                }
                                let answer = connection.readResponse()
                                let good = answer?.status == 408 && answer?.awsError != nil && sent < request.count
                                return Outcome(slowBodiesCut: good ? 1 : 0,
                                               problems: good ? [] : ["slow body: \(answer.map { "\($0)" } ?? "no answer"), sent \(sent)"])
                            }
                        }
                    }
                    // Normal clients alongside, each request on a fresh connection that may wait its turn.
                    for _ in 0..<4 {
                        group.addTask {
                            try await onThread {
                                var outcome = Outcome()
                                for _ in 0..<(normalRequests / 4) {
                                    let answer = try? exchange(port: builder.port, builder.request(
                                        target: "TrentService.ListKeys", body: Data("{}".utf8)), timeout: 60)
                                    if answer?.status == 200 { outcome.served += 1 } else {
                                        outcome.problems.append("normal request: \(answer.map { "\($0)" } ?? "no answer")")
                                    }
                                }
                                return outcome
                            }
                        }
                    }
                    var total = Outcome()
                    for try await part in group { total.add(part) }
                    return total
                }
                sampler.cancel()
                #expect(outcome.problems.isEmpty, "\(outcome.problems.count) problems: \(outcome.problems.prefix(5))")
                #expect(outcome.served == normalRequests / 4 * 4)
                #expect(outcome.idleClosed == outcome.idleTotal, "idle connections closed by the core: \(outcome.idleClosed)/\(outcome.idleTotal)")
                #expect(outcome.slowHeadsCut == slow, "slow heads cut off: \(outcome.slowHeadsCut)/\(slow)")
                #expect(outcome.slowBodiesCut == slow, "slow bodies answered 408: \(outcome.slowBodiesCut)/\(slow)")
                // Never more connections than the cap, plus the few (at most 32) accepted while the ones closed to
                // make room finish closing: descriptors stay bounded.
                #expect(peak.value <= baseline + cap + 32 + 6, "fds peaked at \(peak.value) (baseline \(baseline), cap \(cap))")
                #expect(core.isRunning)
                let recovered = await poll(timeout: .seconds(20)) { (ProcStats.openFiles(core.pid) ?? .max) <= baseline + 6 }
                #expect(recovered, "fds \(ProcStats.openFiles(core.pid) ?? -1) afterwards, baseline \(baseline)")
                reportFigure("exposure", "cap \(cap), idle timeout 2 s: \(outcome.idleClosed) idle, \(outcome.slowHeadsCut) slow-head "
                    + "and \(outcome.slowBodiesCut) slow-body connections cut off while \(outcome.served) normal requests were served; "
                    + "fds \(baseline) → peak \(peak.value) → \(ProcStats.openFiles(core.pid) ?? -1)")
            }
        }

        /// 2,000 half-sent requests against the 1,024-connection limit: a new client's signed DescribeKey is answered
        /// every time, within 5 s, and typically (the median round) within a second: the longest-stalled connection
        /// makes room for it; the read timeout is set long (120 s) so it is not what frees room, and a lockout would
        /// leave every round unanswered. The worst round is reported, not judged: on a loaded CI machine scheduling
        /// alone can delay one answer past a second. RSS comes back once they are gone.
        @Test func stalledHalfRequestsLockNoOneOut() async throws {
            let stalledTarget = 2000
            guard StalledClients.ensureDescriptors(stalledTarget + 64) else {
                throw HarnessError("this test needs \(stalledTarget + 256) file descriptors; raise `ulimit -n`")
            }
            let rounds = Scale.pick(ci: 10, long: 50)
            try await withServe(extraArguments: ["--read-timeout", "120", "--idle-timeout", "120"]) { core in
                let builder = RawRequestBuilder(port: core.port, credentials: core.admin.credentials)
                let keyId = try await core.client().createKey().keyMetadata?.keyId ?? ""
                let describe: @Sendable () -> Data = { builder.request(target: "TrentService.DescribeKey", body: Data(#"{"KeyId":"\#(keyId)"}"#.utf8)) }
                for _ in 0..<20 { _ = try await onThread { try exchange(port: builder.port, describe()) } }
                let before = ProcStats.rssKiB(core.pid) ?? 0

                let head = "POST / HTTP/1.1\r\nHost: 127.0.0.1:\(core.port)\r\nContent-Type: application/x-amz-json-1.1\r\n"
                    + "X-Amz-Target: TrentService.DescribeKey\r\n"
                let clients = StalledClients(port: core.port, partialHead: Data(head.utf8))
                defer { clients.closeAll() }
                let opened = try await onThread { clients.topUp(to: stalledTarget, timeout: 20) }
                var peak = ProcStats.rssKiB(core.pid) ?? 0
                var latencies: [Double] = [], problems: [String] = []
                var burst: [Double] = []
                for round in 0..<rounds {
                    // Keep 2,000 half-requests open: reopen the ones the core closed to make room, and let the core
                    // work through them (it closes as many again) until it is idle.
                    _ = try await onThread { () -> Int in
                        clients.reapClosed()
                        return clients.topUp(to: stalledTarget, timeout: 5)
                    }
                    if round % 2 == 1 {
                        // Right after the reopening burst, without letting the core catch up: recorded, not judged.
                        let started = ContinuousClock.now
                        _ = try? await onThread { try exchange(port: builder.port, describe(), timeout: 10) }
                        let elapsed = ContinuousClock.now - started
                        burst.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
                    }
                    _ = await ProcStats.waitUntilQuiet(core.pid)
                    _ = try await onThread { clients.reapClosed() }
                    let started = ContinuousClock.now
                    let answer = try? await onThread { try exchange(port: builder.port, describe(), timeout: 5) }
                    let elapsed = ContinuousClock.now - started
                    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                    latencies.append(seconds)
                    if answer?.status != 200 { problems.append("DescribeKey: \(answer.map { "\($0)" } ?? "no answer within 5 s")") }
                    peak = max(peak, ProcStats.rssKiB(core.pid) ?? 0)
                }
                let stalledAtEnd = clients.stalledCount
                let closedForRoom = clients.closedByServer
                clients.closeAll()
                // Once they are gone, the core gives their memory back.
                // Given back: within 8 MiB of the start, or at least half of what the stalled connections took (a
                // leak per connection would keep nearly all of it; malloc keeps some arenas' pages on a loaded machine).
                let held = peak - before
                let givenBack: @Sendable (Int) -> Bool = { rss in rss <= before + 8 * 1024 || rss - before <= held / 2 }
                var after = ProcStats.rssKiB(core.pid) ?? 0
                _ = await poll(timeout: .seconds(20), every: .milliseconds(250)) {
                    after = ProcStats.rssKiB(core.pid) ?? 0
                    return givenBack(after)
                }
                let worst = latencies.max() ?? 0
                let median = latencies.sorted()[latencies.count / 2]
                #expect(problems.isEmpty, "\(problems.count) problems: \(problems.prefix(3))")
                #expect(median <= 1.0, "a new client waited \(median) s (median) among \(stalledTarget) stalled half-requests: \(latencies)")
                #expect(givenBack(after), "RSS \(before / 1024) → peak \(peak / 1024) → \(after / 1024) MiB")
                #expect(core.isRunning)
                reportFigure("exposure", "\(stalledTarget) stalled half-requests (\(opened) connected at first, \(stalledAtEnd) at the end, "
                    + "\(closedForRoom) closed by the core to make room): \(rounds) new DescribeKeys, worst "
                    + String(format: "%.3f", worst) + " s, median " + String(format: "%.3f", median)
                    + " s; RSS \(before / 1024) → peak \(peak / 1024) → \(after / 1024) MiB; right after reopening ~1,000 at once "
                    + "a new client waited up to " + String(format: "%.3f", burst.max() ?? 0) + " s")
            }
        }

        struct Outcome: Sendable {
            var idleClosed = 0, idleTotal = 0, slowHeadsCut = 0, slowBodiesCut = 0, served = 0
            var problems: [String] = []

            mutating func add(_ other: Outcome) {
                idleClosed += other.idleClosed; idleTotal += other.idleTotal; slowHeadsCut += other.slowHeadsCut
                slowBodiesCut += other.slowBodiesCut; served += other.served; problems += other.problems
            }
        }

        /// An oversized answer must be a 4xx AWS error (413 or 400), or the connection closed after the refusal.
        static func problem(_ answer: RawResponse?, _ label: String) -> String? {
            guard let answer else { return nil } // closed at the limit: acceptable, nothing buffered
            guard (400..<500).contains(answer.status), answer.awsError != nil else { return "\(label): \(answer)" }
            return nil
        }

        /// Many clients at once, each with its own connection, all served; file descriptors return to the baseline.
        @Test func connectionsUnderLoad() async throws {
            let clients = Scale.pick(ci: 200, long: 1000)
            let perClient = Scale.pick(ci: 5, long: 20)
            try await withServe { core in
                let builder = RawRequestBuilder(port: core.port, credentials: core.admin.credentials)
                _ = try await core.client().listKeys()
                let baseline = ProcStats.openFiles(core.pid) ?? 0
                var failures: [String] = []
                var peak = baseline
                try await withThrowingTaskGroup(of: [String].self) { group in
                    for start in stride(from: 0, to: clients, by: 50) {
                        group.addTask {
                            // 50 connections held open by one thread, used round-robin.
                            try await onThread {
                                var problems: [String] = []
                                let connections = try (start..<min(clients, start + 50)).map { _ in
                                    try RawConnection(port: builder.port, timeout: 30)
                                }
                                for _ in 0..<perClient {
                                    for connection in connections {
                                        connection.send(builder.request(target: "TrentService.ListKeys", body: Data("{}".utf8)))
                                    }
                                    for connection in connections {
                                        let answer = connection.readResponse()
                                        if answer?.status != 200 { problems.append("\(answer.map { "\($0)" } ?? "no answer")") }
                                    }
                                }
                                return problems
                            }
                        }
                    }
                    group.addTask {
                        try? await Task.sleep(for: .milliseconds(300))
                        return ["peak:\(ProcStats.openFiles(core.pid) ?? 0)"]
                    }
                    for try await problems in group {
                        for problem in problems {
                            if problem.hasPrefix("peak:") { peak = max(peak, Int(problem.dropFirst(5)) ?? 0) } else { failures.append(problem) }
                        }
                    }
                }
                #expect(failures.isEmpty, "\(failures.count) failures: \(failures.prefix(5))")
                let recovered = await poll(timeout: .seconds(20)) { (ProcStats.openFiles(core.pid) ?? .max) <= baseline + 8 }
                #expect(recovered, "fds \(ProcStats.openFiles(core.pid) ?? -1) after load, baseline \(baseline)")
                reportFigure("exposure", "\(clients) concurrent connections × \(perClient) requests served; fds \(baseline) → "
                    + "\(peak) → \(ProcStats.openFiles(core.pid) ?? -1)")
            }
        }
    }
}
