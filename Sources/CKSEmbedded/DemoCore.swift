import CKSServer
import Foundation

/// The core of `cks --demo`: a fresh temporary data directory, accelerated time, short connects and disconnects,
/// no fsync (the data is thrown away), and a clock that starts `DemoSeeder.history` in the past so the seeded
/// estate has a history ending now.
public enum DemoCore {
    /// Time in a demo runs 60 times faster than the wall clock.
    public static let timeScale = 60.0
    /// A demo's connects last 10 simulated minutes (10 s), its disconnects one simulated minute (1 s).
    public static let connectDuration: TimeInterval = 600
    public static let disconnectDuration: TimeInterval = 60

    /// The engine options of a demo core.
    public static func engineOptions(wall: @escaping @Sendable () -> Date = { Date() }) -> EngineOptions {
        let history = DemoSeeder.history
        return EngineOptions(timeScale: timeScale, connectDuration: connectDuration,
                             disconnectDuration: disconnectDuration, durability: .normal,
                             wallClock: { wall().addingTimeInterval(-history) })
    }

    /// Starts a demo core (not yet seeded) with its real XKS proxy (`DemoLiveProxy`, in `xks-proxy/` of the data
    /// directory, started first so the core's XKS client knows its port); `shutdown()` stops both and removes the
    /// data directory.
    public static func start(region: String) async throws -> EmbeddedCore {
        let directory = try EmbeddedCore.makeTemporaryDirectory(prefix: "cks-demo")
        var proxy: DemoLiveProxy?
        do {
            try DemoScopes.writePrincipals(in: directory)
            let live = try await DemoLiveProxy.start(in: directory.appendingPathComponent("xks-proxy", isDirectory: true))
            proxy = live
            var options = engineOptions()
            options.xks = live.clientOptions
            return try await EmbeddedCore.start(dataDirectory: directory, region: region, options: options,
                                                removeOnShutdown: true, demoProxy: live)
        } catch {
            await proxy?.stop()
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }
}
