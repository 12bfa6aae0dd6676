import CKSDomain
import Foundation
import Testing
@testable import CKSConsole

/// A console on an in-memory core with a hand-moved clock, rendering into a memory surface.
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
        surface = MemorySurface(width: width, height: height)
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
