import CKSClient
import CKSWire
import CKSDomain
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What the fuzz workers saw: counts by status and the first violations.
private final class FuzzTally: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var sent = 0
    private(set) var byStatus: [Int: Int] = [:]
    private(set) var byType: [String: Int] = [:]
    private(set) var violations: [String] = []
    private(set) var unanswered = 0

    func record(_ status: Int, type: String?) {
        lock.withLock {
            sent += 1
            byStatus[status, default: 0] += 1
            if let type { byType[type, default: 0] += 1 }
        }
    }
    func noAnswer() { lock.withLock { sent += 1; unanswered += 1 } }
    private(set) var slow: [(Double, String)] = []
    func timing(_ seconds: Double, _ label: String) {
        guard seconds > 0.5 else { return }
        lock.withLock { slow.append((seconds, label)); slow.sort { $0.0 > $1.0 }; if slow.count > 8 { slow.removeLast() } }
    }
    func violation(_ text: String) { lock.withLock { if violations.count < 40 { violations.append(text) } else { violations[39] = "…" } } }
    var count: Int { lock.withLock { sent } }
}

extension Reliability {
    /// Hostile input: a generator of KMS requests from the model's shapes and their mutations, slow clients,
    /// idle connections. Zero crashes, zero 5xx, every error `{"__type","message"}`, memory flat afterwards.
    @Suite struct HostileInput {
        /// Checks one answer against the protocol's promises; returns the violation, if any.
        static func judge(_ fuzz: FuzzCase, _ response: RawResponse) -> String? {
            // Not HTTP at all (an unknown method, a NUL in a header, CONNECT): the HTTP parser refuses it before any
            // AWS handling, with a bare 4xx. Never a 5xx.
            if fuzz.malformedHTTP {
                return (400..<500).contains(response.status) ? nil : "\(fuzz.label): HTTP \(response.status) to malformed HTTP"
            }
            if response.status >= 500 { return "\(fuzz.label): HTTP \(response.status) \(response.bodyText)" }
            if response.header("x-amzn-requestid") == nil { return "\(fuzz.label): no x-amzn-RequestId on \(response)" }
            if response.status >= 400 {
                // AWS sends UnknownOperationException with no message (semantics §3.3); every other error has one.
                if response.awsError == nil, !(response.bodyText == #"{"__type":"UnknownOperationException"}"#) {
                    return "\(fuzz.label): error not in AWS JSON form: \(response)"
                }
            } else if response.status == 200 {
                if !response.body.isEmpty,
                   (try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any] == nil {
                    return "\(fuzz.label): 200 whose body is not a JSON object: \(response.bodyText)"
                }
            } else {
                return "\(fuzz.label): unexpected HTTP \(response.status)"
            }
            return nil
        }

        @Test func generatedAndMutatedRequests() async throws {
            let total = Int(ProcessInfo.processInfo.environment["CKS_FUZZ_REQUESTS"] ?? "") ?? Scale.pick(ci: 10_000, long: 100_000)
            let workers = 4
            try await withServe { core in
                let client = core.client()
                let storeId = try await Fixtures.makeStore(client, name: "fuzz-store")
                try await Fixtures.connect(client, storeId)
                let keyIds = try await Fixtures.makeKeys(client, storeId: storeId, count: 20)
                let clusterIds = try await client.describeCloudHsmClusters().map(\.clusterId)
                let builder = RawRequestBuilder(port: core.port, credentials: core.admin.credentials)
                let tally = FuzzTally()
                let pid = core.pid
                reportFigure("fuzz", "seed \(Scale.seed), \(total) requests, \(workers) connections")

                // Memory is sampled all along; "flat" compares the end with the plateau after warm-up.
                let sampling = Task {
                    var samples = ResourceSamples()
                    while !Task.isCancelled {
                        samples.sample(pid)
                        try? await Task.sleep(for: .milliseconds(250))
                    }
                    return samples
                }
                let started = ContinuousClock.now
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for worker in 0..<workers {
                        group.addTask {
                            try await onThread {
                                var generator = FuzzGenerator(rng: SplitMix64(seed: Scale.seed &+ UInt64(worker)),
                                                              storeIds: [storeId], keyIds: keyIds, clusterIds: clusterIds)
                                var connection = try RawConnection(port: builder.port, timeout: 15)
                                var previous = "(new connection)"
                                for index in stride(from: worker, to: total, by: workers) {
                                    let fuzz = generator.next(index)
                                    let request = builder.request(
                                        target: fuzz.target, body: fuzz.body, method: fuzz.method, path: fuzz.path,
                                        contentType: fuzz.contentType, authorization: fuzz.signed ? .signed : .none,
                                        contentLength: fuzz.contentLength)
                                    if fuzz.malformedHTTP || (fuzz.contentLength ?? 0) > fuzz.body.count {
                                        // The server waits for bytes that never come (or, for malformed HTTP, may leave the
                                        // connection in a state no client can reuse): it must not answer 5xx, and must not
                                        // hang anyone else. Sent on a connection of its own, then abandoned.
                                        let short = try RawConnection(port: builder.port, timeout: 0.05)
                                        short.send(request)
                                        if let answer = short.readResponse(), let problem = Self.judge(fuzz, answer) {
                                            tally.violation(problem)
                                        }
                                        tally.noAnswer()
                                        continue
                                    }
                                    var answer: RawResponse?
                                    let sentAt = ContinuousClock.now
                                    defer {
                                        tally.timing((ContinuousClock.now - sentAt) / .seconds(1), "\(fuzz.label) after \(previous)")
                                        previous = fuzz.label
                                    }
                                    if connection.send(request) { answer = connection.readResponse() }
                                    if answer == nil {
                                        previous = "(reconnect)"
                                        // The connection may have been closed after an earlier answer: retry once fresh.
                                        connection = try RawConnection(port: builder.port, timeout: 15)
                                        if connection.send(request) { answer = connection.readResponse() }
                                    }
                                    guard let answer else {
                                        tally.noAnswer()
                                        tally.violation("\(fuzz.label): no answer (request #\(index))")
                                        connection = try RawConnection(port: builder.port, timeout: 15)
                                        continue
                                    }
                                    tally.record(answer.status, type: answer.awsError?.type)
                                    if let problem = Self.judge(fuzz, answer) { tally.violation("#\(index) \(problem)") }
                                    if answer.header("connection")?.lowercased() == "close" {
                                        previous = "(closed)"
                                        connection = try RawConnection(port: builder.port, timeout: 15)
                                    }
                                    if index % 2000 == worker, sendSignal(pid, 0) != 0 {
                                        throw HarnessError("the core died after request #\(index) (\(fuzz.label))")
                                    }
                                }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                let elapsed = (ContinuousClock.now - started) / .seconds(1)
                // Let the last answers settle, then a few more samples of the quiet core.
                try await Task.sleep(for: .seconds(2))
                sampling.cancel()
                let samples = await sampling.value

                #expect(core.isRunning, "the core survived \(tally.count) hostile requests")
                // The core still serves a well-formed client normally.
                _ = try await client.listKeys()
                #expect(tally.violations.isEmpty, "\(tally.violations.joined(separator: "\n"))")
                let growth = samples.rssGrowthKiB
                #expect(growth < 24 * 1024, "RSS grew \(growth) KiB after the plateau: \(samples.summary)")
                reportFigure("fuzz", "requests fuzzed \(tally.count) in \(String(format: "%.1f", elapsed)) s, "
                    + "statuses \(tally.byStatus.sorted { $0.key < $1.key }), no answer \(tally.unanswered) (by design: "
                    + "bodies shorter than their Content-Length), \(tally.byType.count) distinct __type; \(samples.summary); "
                    + "slowest \(tally.slow.map { String(format: "%.2f s %@", $0.0, $0.1) })")
            }
        }

        /// Slow clients dribble their requests byte by byte, and others stall half-way, while a normal client keeps
        /// being answered promptly; the dribbled requests are answered in the end.
        @Test func slowClientsDoNotStarveOthers() async throws {
            let dribblers = Scale.pick(ci: 16, long: 64)
            try await withServe { core in
                let builder = RawRequestBuilder(port: core.port, credentials: core.admin.credentials)
                let body = Data("{\"Limit\": 5}".utf8)
                // Stalled: half a head, then nothing (kept open until the end of the test).
                var stalled: [RawConnection] = []
                for _ in 0..<dribblers {
                    let connection = try RawConnection(port: core.port)
                    connection.send(Data("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le".utf8))
                    stalled.append(connection)
                }
                let slow = Task {
                    try await withThrowingTaskGroup(of: RawResponse?.self) { group in
                        for _ in 0..<dribblers {
                            group.addTask {
                                try await onThread {
                                    let request = builder.request(target: "TrentService.ListKeys", body: body)
                                    let connection = try RawConnection(port: builder.port, timeout: 60)
                                    connection.dribble(request, chunk: 16, pause: 0.02)
                                    return connection.readResponse()
                                }
                            }
                        }
                        var answers: [RawResponse?] = []
                        for try await answer in group { answers.append(answer) }
                        return answers
                    }
                }
                // Meanwhile: normal requests, each answered within a few seconds.
                var slowest: Double = 0
                for _ in 0..<Scale.pick(ci: 100, long: 1000) {
                    let started = ContinuousClock.now
                    let answer = try await onThread {
                        try exchange(port: builder.port, builder.request(target: "TrentService.ListKeys", body: body), timeout: 10)
                    }
                    slowest = max(slowest, (ContinuousClock.now - started) / .seconds(1))
                    #expect(answer.status == 200)
                }
                #expect(slowest < 5, "a normal request waited \(slowest) s behind slow clients")
                let answers = try await slow.value
                #expect(answers.allSatisfy { $0?.status == 200 }, "dribbled requests answered: \(answers.map { $0?.status ?? -1 })")
                #expect(core.isRunning)
                withExtendedLifetime(stalled) {}
                reportFigure("fuzz", "slow clients: \(dribblers) dribbling + \(dribblers) stalled; slowest normal request "
                    + String(format: "%.3f s", slowest))
            }
        }

        /// Many idle connections: the core keeps serving, and its file descriptors come back once they close.
        @Test func manyIdleConnections() async throws {
            let idle = Scale.pick(ci: 500, long: 3000)
            // All of them held at once (the cap and idle timeout are the exposure suite's subject).
            try await withServe(extraArguments: ["--max-connections", "\(idle + 64)"]) { core in
                let client = core.client()
                _ = try await client.listKeys()
                let baseline = ProcStats.openFiles(core.pid) ?? 0
                var connections: [RawConnection] = []
                var refused = 0
                for _ in 0..<idle {
                    do { connections.append(try RawConnection(port: core.port, timeout: 5)) } catch { refused += 1 }
                }
                let started = ContinuousClock.now
                _ = try await client.listKeys()
                let latency = (ContinuousClock.now - started) / .seconds(1)
                let peak = ProcStats.openFiles(core.pid) ?? 0
                connections.removeAll()
                let recovered = await poll(timeout: .seconds(20)) { (ProcStats.openFiles(core.pid) ?? .max) <= baseline + 8 }
                #expect(recovered, "fds after closing \(idle) idle connections: \(ProcStats.openFiles(core.pid) ?? -1), baseline \(baseline)")
                #expect(core.isRunning)
                _ = try await client.listKeys()
                reportFigure("fuzz", "idle connections: \(idle) opened (\(refused) refused), request among them took "
                    + String(format: "%.3f s", latency) + ", server fds baseline \(baseline) → peak \(peak) → back to "
                    + "\(ProcStats.openFiles(core.pid) ?? -1)")
            }
        }
    }
}
