import CKSClient
import CKSDomain
import CKSEmbedded
import CKSServer
@testable import CKSTeardown
import CKSWire
import Foundation
import Synchronization
import Testing
@testable import CKSConsole

/// Golden tests (the console's and the teardown's): the console on the in-memory test double with a hand-moved
/// clock, rendering into a memory surface, so every frame is the same in every run.
/// What drives the console in a test: the real event handling, then wait until the console is idle and redrawn.
/// Both harnesses (in-memory and on a real core) drive it the same way.
@MainActor
protocol ConsoleDriver: AnyObject {
    var app: ConsoleApp { get }
    var surface: MemorySurface { get }
    /// Moves the wall clock the console (and its backend) reads.
    func moveClock(by seconds: TimeInterval)
}

extension ConsoleDriver {
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

    /// Moves the clock and lets the console poll.
    func advance(_ seconds: TimeInterval) async {
        moveClock(by: seconds)
        app.tick()
        await app.settle(on: surface)
    }

    var screen: String { surface.text }

    /// Puts the cursor on the store called `name` (through the table, as j/k would).
    func selectStore(_ name: String) async {
        if let s = app.stores.first(where: { $0.name == name }) { app.storesTable.select(s.id) }
        await app.settle(on: surface)
    }

    /// Opens the teardown of `store` with `t` on the Stores screen.
    func openTeardown(_ store: String) async {
        await selectStore(store)
        await press(.char("t"))
    }

    /// Tab to the confirm button, then Enter (again while the same dialog stays open: an irreversible one arms first,
    /// and one taller than the screen first shows the rest of its consequences).
    func confirmDialog() async {
        let dialog = app.dialog
        await press(.tab, .enter)
        for _ in 0..<3 where dialog != nil && app.dialog === dialog { await press(.enter) }
    }
}

@MainActor
final class Harness: ConsoleDriver {
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

    func moveClock(by seconds: TimeInterval) { time.advance(by: seconds) }

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
final class CoreHarness: ConsoleDriver {
    static let start = Date(timeIntervalSince1970: 1_795_000_000)
    static let connectDuration: TimeInterval = 120
    static let disconnectDuration: TimeInterval = 30
    let clock = ManualClock(CoreHarness.start)
    private(set) var core: InProcessCore
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
        core = try await InProcessCore.start(options: Self.engineOptions(clock),
                                             retryPolicy: RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(5)))
        admin = core.client
        do {
            // Seeded as `cks --demo` seeds: in process, through the core's front (SigV4 and all), without sockets.
            let seeding = core.core.client(transport: InProcessTransport(core: core.core))
            defer { seeding.shutdown() }
            seeded = try await DemoSeeder(estate: estate, client: seeding, connectDuration: Self.connectDuration,
                                          disconnectDuration: Self.disconnectDuration).seed(endingAt: clock.now())
        } catch {
            await core.stop()
            throw error
        }
        prepared = BackendFactory.embedded(core.core, retryPolicy: RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(5)))
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

    func stop() async { await core.stop() }

    /// Stops the core (the console then finds nobody listening) ...
    func stopCore() async { await core.stopKeepingData() }

    /// ... and starts it again on the same port over the same data (the console's client finds it there).
    func restartCore() async throws { core = try await core.restarted() }

    /// The wall clock of both the core and the console.
    func moveClock(by seconds: TimeInterval) { clock.advance(by: seconds) }

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


