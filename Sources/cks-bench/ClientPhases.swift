import CKSClient
import CKSConsole
import CKSWire
import Foundation
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

extension Bench {
    func client(for core: CoreProcess, maxConnections: Int = 16, transport: ClientTransport = .nio) -> KMSClient {
        KMSClient(endpoint: core.endpoint, region: CoreProcess.region, credentials: CoreProcess.credentials,
                  transport: transport.make(maxConnections: maxConnections))
    }

    // MARK: 5. teardown

    /// Every key of a store found the AWS way (`keys(inStore:)`: ListKeys, DescribeKey each) and scheduled for
    /// deletion with the client's bulk call, at the client's default concurrency (8, as the console's teardown uses).
    /// The estate also holds keys outside the store, so finding the store's keys means filtering.
    func teardown() async throws {
        let n = config.teardownKeys
        Host.log("5. teardown: a store of \(n) keys (and 1,000 other keys)")
        let core = try startCore(try freshDirectory("teardown"))
        defer { core.stop() }
        let estate = Estate(server: core)
        let storeId = try estate.connectedCloudHsmStore(name: "teardown-store")
        _ = try estate.createKeys(1_000, workers: 16)
        let body = "{\"CustomKeyStoreId\":\(RequestFactory.json(storeId)),\"Origin\":\"AWS_CLOUDHSM\"}"
        _ = try estate.createKeys(n, workers: 16, body: body)
        // Both HTTP stacks of the client, alternating run by run so machine noise falls on both alike: the
        // measured difference decides the client's default transport (URLSession vs AsyncHTTPClient).
        for transport in ClientTransport.allCases {
            try await teardownRuns(n: n, core: core, storeId: storeId, transport: transport)
        }
    }

    private func teardownRuns(n: Int, core: CoreProcess, storeId: String, transport: ClientTransport) async throws {
        let client = client(for: core, transport: transport)
        defer { client.shutdown() }
        var find: [Double] = [], schedule: [Double] = [], total: [Double] = []
        var failures = 0
        for rep in 0..<config.runs {
            let t0 = Date()
            var ids: [String] = []
            for try await key in client.keys(inStore: storeId) { ids.append(key.keyId) }
            let t1 = Date()
            let results = await client.scheduleKeyDeletion(keyIds: ids, pendingWindowInDays: 7)
            let t2 = Date()
            failures += results.filter { $0.error != nil }.count
            guard ids.count == n else { throw BenchError("keys(inStore:) found \(ids.count) keys, expected \(n)") }
            find.append(t1.timeIntervalSince(t0))
            schedule.append(t2.timeIntervalSince(t1))
            total.append(t2.timeIntervalSince(t0))
            Host.log(String(format: "  %@ run %d: found %d keys in %.2f s, scheduled in %.2f s (%d failed)", transport.label, rep + 1, ids.count,
                            t1.timeIntervalSince(t0), t2.timeIntervalSince(t1), results.filter { $0.error != nil }.count))
            // Undo (not timed) so the next run starts from the same estate.
            let undone = await client.cancelKeyDeletion(keyIds: ids, concurrency: 16)
            if undone.contains(where: { $0.error != nil }) { throw BenchError("CancelKeyDeletion failed while resetting") }
        }
        let note = "KMSClient over \(transport.label), concurrency 8"
        figure("5 teardown", "teardown (\(transport.label)): find and schedule \(Render.grouped(n)) keys, end to end", "s", total,
               note: "\(note); \(failures) failures")
        figure("5 teardown", "teardown (\(transport.label)): find the store's keys (keys(inStore:), ListKeys + \(Render.grouped(n + 1_000)) DescribeKey)",
               "s", find, note: note)
        figure("5 teardown", "teardown (\(transport.label)): scheduleKeyDeletion(keyIds:) bulk call, \(Render.grouped(n)) keys", "s", schedule,
               note: note)
    }

    // MARK: 4. console

    /// The console as a person runs it (the `cks` executable on a pseudo-terminal, 160×48) against a running core
    /// over the large estate, and the console's own driver (ConsoleApp + MemorySurface over the client backend) for
    /// keystroke → frame.
    func console(estate big: (directory: URL, storeId: String, keys: Int)) async throws {
        Host.log("4. console against a running core with \(big.keys) keys in one store")
        let core = try startCore(big.directory)
        defer { core.stop() }
        let home = config.workDirectory.appendingPathComponent("console-home")
        try? FileManager.default.removeItem(at: home)
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = home.path
        env["XDG_CACHE_HOME"] = home.appendingPathComponent("cache").path
        env["XDG_CONFIG_HOME"] = home.appendingPathComponent("config").path
        env["XDG_STATE_HOME"] = home.appendingPathComponent("state").path
        env["XDG_DATA_HOME"] = home.appendingPathComponent("data").path
        env["TERM"] = "xterm-256color"
        env["LANG"] = "C.UTF-8"
        env["AWS_ACCESS_KEY_ID"] = CoreProcess.credentials.accessKeyId
        env["AWS_SECRET_ACCESS_KEY"] = CoreProcess.credentials.secretAccessKey
        env["AWS_DEFAULT_REGION"] = CoreProcess.region
        for k in ["AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS", "CKS_ENDPOINT"] { env[k] = nil }
        let arguments = ["--endpoint", core.endpoint.absoluteString]

        // First frame: spawn → the store's name drawn.
        var frames: [Double] = []
        for rep in 0..<config.runs {
            let session = try PtySession(executable: config.cksExecutable, arguments: arguments, environment: env,
                                         rows: 48, columns: 160, logFile: logDirectory.appendingPathComponent("console-\(rep).log"))
            let seconds = session.waitFor("scale-store", timeout: 30)
            session.type("q")
            _ = Host.waitFor(3) { !session.child.isRunning }
            session.child.stop(grace: 2)
            guard let seconds else { throw BenchError("the console drew no store within 30 s: \(session.text.suffix(400))") }
            frames.append(seconds * 1000)
        }
        figure("4 console", "console first frame, running core (spawn → stores listed)", "ms", frames,
               note: "`cks --endpoint` on a 160×48 pseudo-terminal; \(Render.grouped(big.keys)) keys in the estate")

        // RSS with the large store open, and the time to open it.
        let (session, opened) = try openStore(log: "console-open.log", arguments: arguments, environment: env)
        defer { session.child.stop(grace: 2) }
        let needle = "\(big.keys))"
        let loaded = session.waitFor(needle, timeout: 600)
        let openSeconds = Date().timeIntervalSince(opened)
        if let memory = Host.memory(pid: session.pid) {
            figure("4 console", "console RSS with the \(Render.grouped(big.keys))-key store open", "MiB", [memory.rss],
                   note: String(format: "high-water %.0f MiB%@", memory.hwm, loaded == nil ? "; the full count was not seen drawn" : ""))
        }
        figure("4 console", "console: open the \(Render.grouped(big.keys))-key store (Enter → all keys listed)", "s", [openSeconds],
               note: "the console's pass over the account (ListKeys, one DescribeKey per key, 8 in flight) that counts and lists every store; Enter pressed as the stores appear")
        var strokes: [Double] = []
        for i in 0..<60 {
            if let latency = session.keystrokeLatency(i % 20 == 19 ? "\u{06}" : "j") { strokes.append(latency * 1000) }
        }
        if !strokes.isEmpty {
            let sorted = strokes.sorted()
            figure("4 console", "console pty: keystroke → first byte of the redraw (j, ^F)", "ms", [Spread(strokes).median],
                   note: String(format: "%d keystrokes, p99 %.2f ms", strokes.count, sorted[min(sorted.count - 1, sorted.count * 99 / 100)]))
        }
        session.type("q")
        _ = Host.waitFor(3) { !session.child.isRunning }

        // The second open: the first run left the key index ($XDG_CACHE_HOME/cks/key-index, here under HOME), so the
        // store lists from ListKeys pages and its states are described again afterwards.
        let (again, reopened) = try openStore(log: "console-reopen.log", arguments: arguments, environment: env)
        defer { again.child.stop(grace: 2) }
        let relisted = again.waitFor(needle, timeout: 600)
        let relistSeconds = Date().timeIntervalSince(reopened)
        let confirmed = again.waitFor("every state described again", timeout: 900)
        let confirmSeconds = Date().timeIntervalSince(reopened)
        figure("4 console", "console: open the \(Render.grouped(big.keys))-key store again (Enter → all keys listed, key index)", "s",
               [relistSeconds], note: relisted == nil ? "the full count was not seen drawn" : "ListKeys pages + the remembered descriptions; target ≤ 3 s")
        figure("4 console", "console: second open, every state described again", "s", [confirmSeconds],
               note: confirmed == nil ? "the confirmation was not seen" : String(format: "target: within the first open's %.1f s", openSeconds))
        again.type("q")
        _ = Host.waitFor(3) { !again.child.isRunning }

        let driver = await Self.consoleDriver(endpoint: core.endpoint)
        core.stop()

        // First frame with the embedded core: `cks` with no endpoint starts the core in-process over
        // $XDG_DATA_HOME/cks, here the same large estate.
        let dataHome = home.appendingPathComponent("embedded-data")
        try? FileManager.default.removeItem(at: dataHome)
        try FileManager.default.createDirectory(at: dataHome, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: dataHome.appendingPathComponent("cks"), withDestinationURL: big.directory)
        var embeddedEnv = env
        embeddedEnv["XDG_DATA_HOME"] = dataHome.path
        for k in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] { embeddedEnv[k] = nil }
        var embeddedFrames: [Double] = []
        for rep in 0..<config.runs {
            let session = try PtySession(executable: config.cksExecutable, arguments: [], environment: embeddedEnv,
                                         rows: 48, columns: 160, logFile: logDirectory.appendingPathComponent("console-embedded-\(rep).log"))
            let seconds = session.waitFor("scale-store", timeout: 30)
            session.type("q")
            _ = Host.waitFor(5) { !session.child.isRunning }
            session.child.stop(grace: 5)
            guard let seconds else {
                Host.log("  the embedded console drew no store within 30 s: \(session.text.suffix(300))")
                break
            }
            embeddedFrames.append(seconds * 1000)
        }
        if !embeddedFrames.isEmpty {
            figure("4 console", "console first frame, embedded core (spawn → stores listed)", "ms", embeddedFrames,
                   note: "`cks` with no endpoint: the core starts in-process over the \(Render.grouped(big.keys))-key estate")
        }
        Host.log(String(format: "  driver: stores listed and every key counted (one pass) in %.1f s, then the store opened in %.1f s", driver.ready, driver.opened))
        let sorted = driver.frames.sorted()
        figure("4 console", "console keystroke → redrawn frame, \(Render.grouped(big.keys))-key store (driver)", "ms",
               [Spread(driver.frames).median],
               note: String(format: "ConsoleApp.handle + render on a 160×48 MemorySurface over the client backend; %d keys (j, PageDown); p99 %.2f ms, max %.2f ms; until idle p50 %.2f ms",
                            driver.frames.count, sorted[sorted.count * 99 / 100], sorted.last ?? 0, Spread(driver.settled).median))
    }

    /// The console on a 160×48 pseudo-terminal, Enter pressed on the large store as soon as it is drawn: the session
    /// and when Enter was pressed.
    func openStore(log: String, arguments: [String], environment: [String: String]) throws -> (PtySession, Date) {
        let session = try PtySession(executable: config.cksExecutable, arguments: arguments, environment: environment,
                                     rows: 48, columns: 160, logFile: logDirectory.appendingPathComponent(log))
        guard session.waitFor("scale-store", timeout: 30) != nil else {
            session.child.stop(grace: 2)
            throw BenchError("the console drew no store (\(log))")
        }
        session.type("\r")
        return (session, Date())
    }

    struct DriverFigures: Sendable {
        var ready: Double
        var opened: Double
        var frames: [Double]
        var settled: [Double]
    }

    /// Keystroke → redrawn frame in the console's own driver: the real ConsoleApp over the client backend, drawing
    /// into a 160×48 MemorySurface; each key goes through `handle` and the frame is `render`.
    @MainActor
    static func consoleDriver(endpoint: URL) async -> DriverFigures {
        let prepared = BackendFactory.remote(url: endpoint, region: CoreProcess.region, credentials: CoreProcess.credentials)
        let app = ConsoleApp(backend: prepared.backend, inbox: prepared.inbox)
        let surface = MemorySurface(width: 160, height: 48)
        let clock = ContinuousClock()
        let t0 = clock.now
        app.start()
        await app.settle(on: surface)
        let ready = (clock.now - t0).benchSeconds
        app.handle(.enter)
        await app.settle(on: surface)
        let opened = (clock.now - t0).benchSeconds - ready
        var frames: [Double] = []
        var settled: [Double] = []
        for i in 0..<400 {
            let key: Key = i % 40 == 39 ? .pageDown : .char("j")
            let start = clock.now
            app.handle(key)
            app.render(on: surface)
            frames.append((clock.now - start).benchSeconds * 1000)
            await app.settle(on: surface)
            settled.append((clock.now - start).benchSeconds * 1000)
        }
        await prepared.stop()
        return DriverFigures(ready: ready, opened: opened, frames: frames, settled: settled)
    }
}

extension Duration {
    var benchSeconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}

/// The client's HTTP stacks, compared by the teardown workload.
enum ClientTransport: CaseIterable {
    case nio, urlSession

    var label: String { self == .nio ? "AsyncHTTPClient" : "URLSession" }

    func make(maxConnections: Int) -> any KMSTransport {
        switch self {
        case .nio: NIOTransport(maxConnections: maxConnections)
        case .urlSession: URLSessionTransport(maxConnections: maxConnections)
        }
    }
}
