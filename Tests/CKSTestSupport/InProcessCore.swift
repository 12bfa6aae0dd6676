import CKSClient
import CKSEmbedded
import CKSServer
import Foundation

/// The suites' in-process core: the product's `EmbeddedCore` (the same engine and HTTP front as `cks serve`) on
/// 127.0.0.1 over a fresh temporary data directory, and a KMS client signed as its admin principal.
public final class InProcessCore: Sendable {
    public let core: EmbeddedCore
    public let client: KMSClient
    public var directory: URL { core.dataDirectory }
    public var server: CoreServer { core.server }
    public var endpoint: URL { core.endpoint }
    public let options: EngineOptions
    private let retryPolicy: RetryPolicy
    private let removesDirectory: Bool

    /// - Parameters:
    ///   - options: the engine's settings (`cks serve`'s defaults unless given).
    ///   - directory: the data directory (nil → a fresh temporary one, removed by `stop()`).
    ///   - port: 0 picks a free port; a given one restarts a core where it was.
    public static func start(options: EngineOptions = EngineOptions(), directory: URL? = nil, port: Int = 0,
                             retryPolicy: RetryPolicy = RetryPolicy()) async throws -> InProcessCore {
        let temporary = directory == nil
        let dataDirectory = try directory ?? EmbeddedCore.makeTemporaryDirectory(prefix: "cks-test-core")
        do {
            let core = try await EmbeddedCore.start(dataDirectory: dataDirectory, options: options, port: port)
            return InProcessCore(core: core, client: core.client(retryPolicy: retryPolicy), options: options,
                                 retryPolicy: retryPolicy, removesDirectory: temporary)
        } catch {
            if temporary { try? FileManager.default.removeItem(at: dataDirectory) }
            throw error
        }
    }

    private init(core: EmbeddedCore, client: KMSClient, options: EngineOptions, retryPolicy: RetryPolicy,
                 removesDirectory: Bool) {
        self.core = core
        self.client = client
        self.options = options
        self.retryPolicy = retryPolicy
        self.removesDirectory = removesDirectory
    }

    /// Stops the core as a crash would leave things for a client: nobody listens, the data stays.
    public func stopKeepingData() async { await core.shutdown() }

    /// A core over the same data on the same port (after `stopKeepingData()`); it removes the data when stopped
    /// if this one would have.
    public func restarted() async throws -> InProcessCore {
        let core = try await EmbeddedCore.start(dataDirectory: directory, options: options, port: server.port)
        return InProcessCore(core: core, client: core.client(retryPolicy: retryPolicy), options: options,
                             retryPolicy: retryPolicy, removesDirectory: removesDirectory)
    }

    /// Stops the client and the core; a temporary data directory is removed.
    public func stop() async {
        client.shutdown()
        await core.shutdown()
        if removesDirectory { try? FileManager.default.removeItem(at: directory) }
    }

    /// Runs `body` against a fresh core and always stops it.
    public static func with<T>(options: EngineOptions = EngineOptions(),
                               _ body: (InProcessCore) async throws -> T) async throws -> T {
        let core = try await start(options: options)
        do {
            let result = try await body(core)
            await core.stop()
            return result
        } catch {
            await core.stop()
            throw error
        }
    }
}
