import CKSClient
import CKSDomain
import CKSServer
import CKSWire
import Foundation
import Synchronization
import Testing
@testable import CKSConsole

/// Golden tests (the console's and the teardown's): the console on the in-memory test double with a hand-moved
/// clock, rendering into a memory surface, so every frame is the same in every run.
@MainActor
final class Harness {
    static let start = Date(timeIntervalSince1970: 1_795_000_000) // 2026-11-18 UTC, fixed for golden files
    let time = SimulatedTime.manual(at: Harness.start)
    let inbox = ActivityInbox()
    let backend: InMemoryBackend
    let app: ConsoleApp
    let surface: MemorySurface

    init(estate: DemoEstate = .small, width: Int = 80, height: Int = 24, readOnly: Bool = false, ascii: Bool = false,
         keymap: Keymap = .defaults, startupMessages: [String] = []) async {
        backend = InMemoryBackend(time: time, recorder: inbox.recorder,
                                  info: EndpointInfo(endpoint: "http://127.0.0.1:7911", account: "111122223333",
                                                     region: "us-east-1", principal: "admin", mode: .embedded))
        await estate.seed(into: backend, now: time.now())
        var options = ConsoleOptions()
        options.readOnly = readOnly
        options.ascii = ascii
        options.timeZone = TimeZone(identifier: "UTC")!
        options.startupMessages = startupMessages
        let t = time
        app = ConsoleApp(backend: backend, inbox: inbox, options: options, keymap: keymap, now: { t.now() })
        surface = MemorySurface(width: width, height: height, asciiOnly: ascii)
        app.start()
        await app.settle(on: surface)
    }

    /// Presses keys through the real event handling, then waits until the console is idle and redrawn.
    func press(_ keys: Key...) async {
        for k in keys {
            app.handle(k)
            await app.settle(on: surface)
        }
    }

    func type(_ text: String) async {
        for ch in text { await press(.char(ch)) }
    }

    /// Moves the shared clock and lets the console poll.
    func advance(_ seconds: TimeInterval) async {
        time.advance(by: seconds)
        app.tick()
        await app.settle(on: surface)
    }

    var screen: String { surface.text }

    /// Puts the cursor on the store called `name` (through the table, as j/k would).
    func selectStore(_ name: String) async {
        if let s = app.stores.first(where: { $0.name == name }) { app.storesTable.select(s.id) }
        await app.settle(on: surface)
    }

    func store(named name: String) async -> StoreRecord? {
        await backend.listStoresForTest().first { $0.name == name }
    }
}

extension InMemoryBackend {
    func listStoresForTest() -> [StoreRecord] { storeOrder.compactMap { stores[$0]?.record } }
    func keysForTest(store: String) -> [KeyRecord] {
        keyOrder.compactMap { keys[$0]?.record }.filter { $0.customKeyStoreId == store }
    }
}

/// Behaviour tests: the console's real event handling on a real core (the engine behind its HTTP front, in
/// process on 127.0.0.1), reached only through `KMSClientBackend` over HTTP, seeded with the small demo estate
/// through the client and the admin API. The wall clock of both the core and the console is a hand-moved
/// `ManualClock` (time scale 1), so nothing waits on real time.
@MainActor
final class CoreHarness {
    static let start = Date(timeIntervalSince1970: 1_795_000_000)
    static let connectDuration: TimeInterval = 120
    static let disconnectDuration: TimeInterval = 30
    let clock = ManualClock(CoreHarness.start)
    let directory: URL
    private(set) var core: EmbeddedCore
    let prepared: PreparedBackend
    let backend: KMSClientBackend
    /// A client of its own (not observed by the console) for seeding and for checking the core's state.
    let admin: KMSClient
    let seeded: DemoSeeder.Summary
    let app: ConsoleApp
    let surface: MemorySurface

    /// Runs `body` on a fresh seeded core and stops it afterwards, whatever happens.
    static func with(estate: DemoEstate = .small, width: Int = 80, height: Int = 24, readOnly: Bool = false,
                     keymap: Keymap = .defaults, startupMessages: [String] = [],
                     _ body: (CoreHarness) async throws -> Void) async throws {
        let h = try await CoreHarness(estate: estate, width: width, height: height, readOnly: readOnly, keymap: keymap,
                                      startupMessages: startupMessages)
        do { try await body(h) } catch {
            await h.stop()
            throw error
        }
        await h.stop()
    }

    static func engineOptions(_ clock: ManualClock) -> EngineOptions {
        let history = DemoSeeder.history
        return EngineOptions(timeScale: 1, connectDuration: connectDuration, disconnectDuration: disconnectDuration,
                             durability: .normal, wallClock: { clock.now().addingTimeInterval(-history) })
    }

    private init(estate: DemoEstate, width: Int, height: Int, readOnly: Bool, keymap: Keymap, startupMessages: [String]) async throws {
        directory = try EmbeddedCore.makeTemporaryDirectory(prefix: "cks-console-test")
        core = try await EmbeddedCore.start(dataDirectory: directory, options: Self.engineOptions(clock))
        admin = core.client(retryPolicy: RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(5)))
        do {
            // Seeded as `cks --demo` seeds: in process, through the core's front (SigV4 and all), without sockets.
            let seeding = core.client(transport: InProcessTransport(core: core))
            defer { seeding.shutdown() }
            seeded = try await DemoSeeder(estate: estate, client: seeding, connectDuration: Self.connectDuration,
                                          disconnectDuration: Self.disconnectDuration).seed(endingAt: clock.now())
        } catch {
            await core.shutdown()
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        prepared = BackendFactory.embedded(core, retryPolicy: RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(5)))
        backend = prepared.backend as! KMSClientBackend
        var options = ConsoleOptions()
        options.readOnly = readOnly
        options.timeZone = TimeZone(identifier: "UTC")!
        options.startupMessages = startupMessages
        let c = clock
        app = ConsoleApp(backend: backend, inbox: prepared.inbox, options: options, keymap: keymap, now: { c.now() })
        surface = MemorySurface(width: width, height: height)
        app.start()
        await app.settle(on: surface)
    }

    func stop() async {
        await core.shutdown()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Stops the core (the console then finds nobody listening) ...
    func stopCore() async { await core.shutdown() }

    /// ... and starts it again on the same port over the same data (the console's client finds it there).
    func restartCore() async throws {
        core = try await EmbeddedCore.start(dataDirectory: directory, options: Self.engineOptions(clock), port: core.server.port)
    }

    /// Presses keys through the real event handling, then waits until the console is idle and redrawn.
    func press(_ keys: Key...) async {
        for k in keys {
            app.handle(k)
            await app.settle(on: surface)
        }
    }

    func type(_ text: String) async {
        for ch in text { await press(.char(ch)) }
    }

    /// Moves the wall clock of the core and the console, and lets the console poll.
    func advance(_ seconds: TimeInterval) async {
        clock.advance(by: seconds)
        app.tick()
        await app.settle(on: surface)
    }

    var screen: String { surface.text }

    /// Puts the cursor on the store called `name` (through the table, as j/k would).
    func selectStore(_ name: String) async {
        if let s = app.stores.first(where: { $0.name == name }) { app.storesTable.select(s.id) }
        await app.settle(on: surface)
    }

    /// The store as the core describes it now (through the test's own client).
    func store(named name: String) async throws -> CustomKeyStoresListEntry {
        try await admin.customKeyStore(idOrName: name)
    }

    /// The store, or nil once it no longer exists.
    func storeIfExists(_ name: String) async -> CustomKeyStoresListEntry? {
        try? await admin.customKeyStore(idOrName: name)
    }

    /// The store's keys as the core describes them now.
    func keys(ofStore name: String) async throws -> [KeyMetadata] {
        let id = try #require(seeded.storeIds[name])
        var out: [KeyMetadata] = []
        for try await k in admin.keys(inStore: id) { out.append(k) }
        return out
    }
}

/// A clock that moves only when told to (the core's and the console's wall clock in behaviour tests).
final class ManualClock: Sendable {
    private let current: Mutex<Date>
    init(_ start: Date) { current = Mutex(start) }
    func now() -> Date { current.withLock { $0 } }
    func advance(by seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// The repository root, found from this file's path.
func repoRoot(_ file: String = #filePath) -> URL {
    URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

/// Waits for `condition` with a deadline (no fixed sleeps).
func eventually(_ what: String, timeout: Duration = .seconds(10), _ condition: () async -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if await condition() { return true }
        await Task.yield()
    }
    Issue.record("timed out waiting for \(what)")
    return false
}
