import CKSClient
import CKSServer
import CKSWire
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// The core running inside this process: what `cks` uses when no endpoint is configured anywhere (the client's
/// resolution yields `.embedded`), and what `cks --demo` runs on. It is the same `KMSEngine` behind the same
/// HTTP front as `cks serve`, listening on 127.0.0.1 on a free port; callers reach it only over HTTP through
/// `KMSClient`, signed as the admin principal of its principals file, exactly as they would reach AWS KMS.
public final class EmbeddedCore: Sendable {
    public let server: CoreServer
    public let dataDirectory: URL
    /// The region the client signs for (the core serves any region; resources are per region).
    public let region: String
    /// Whether `stop()` removes the data directory (a demo's temporary one).
    public let removesDataDirectory: Bool

    /// `http://127.0.0.1:PORT`.
    public var endpoint: URL { server.endpoint }
    /// The first principal allowed `kms:*` and `cks:*` (created with fresh keys when the file did not exist).
    public var admin: Principal { server.adminPrincipal }
    /// The admin principal's credentials, for `KMSClient`.
    public var credentials: AWSCredentials {
        AWSCredentials(accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey)
    }

    private init(server: CoreServer, dataDirectory: URL, region: String, removesDataDirectory: Bool) {
        self.server = server
        self.dataDirectory = dataDirectory
        self.region = region
        self.removesDataDirectory = removesDataDirectory
    }

    /// The default data directory: `$XDG_DATA_HOME/cks`, else `~/.local/share/cks` (as `cks serve` uses).
    public static func defaultDataDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let xdg = environment["XDG_DATA_HOME"], !xdg.isEmpty, xdg.hasPrefix("/") {
            return URL(fileURLWithPath: xdg, isDirectory: true).appendingPathComponent("cks", isDirectory: true)
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? FileManager.default.homeDirectoryForCurrentUser.path
        return URL(fileURLWithPath: home, isDirectory: true).appendingPathComponent(".local/share/cks", isDirectory: true)
    }

    /// Opens the engine over `dataDirectory` (created 0700 if absent, with a principals file holding a fresh admin
    /// principal) and starts the HTTP front on 127.0.0.1. Returns once it is listening.
    /// - Parameters:
    ///   - port: 0 picks a free port (the default); a given one lets a restarted core be found where it was.
    ///   - options: the engine's time scale, connect/disconnect durations and durability.
    ///   - removeOnStop: remove `dataDirectory` in `stop()` (temporary directories only).
    public static func start(dataDirectory: URL, options: EngineOptions = EngineOptions(), region: String = "us-east-1",
                             removeOnStop: Bool = false, port: Int = 0) async throws -> EmbeddedCore {
        var configuration = CoreConfiguration(dataDirectory: dataDirectory)
        configuration.host = "127.0.0.1"
        configuration.port = port
        configuration.region = region
        // The data directory must exist, private, before SQLite creates its files in it.
        try CoreServer.checkAddressAndCreateDataDirectory(configuration)
        let engine: KMSEngine
        do {
            engine = try KMSEngine.open(databaseAt: configuration.databaseFile, options: options)
        } catch {
            throw CoreStartError("cannot open the core's database \(configuration.databaseFile.path): \(error)")
        }
        // Only real problems are logged (to stderr, which the console sends to its log file): the front's
        // "listening on" line would land on the terminal before the UI starts.
        var logger = Logger(label: "cks.embedded")
        logger.logLevel = .error
        do {
            let server = try await CoreServer.start(configuration, handler: engine, logger: logger,
                                                    onClose: { try? engine.close() })
            return EmbeddedCore(server: server, dataDirectory: dataDirectory, region: region, removesDataDirectory: removeOnStop)
        } catch {
            try? engine.close()
            throw error
        }
    }

    /// A core on a fresh temporary data directory (`$TMPDIR/cks-demo-XXXXXX`), removed again by `stop()`.
    public static func startTemporary(options: EngineOptions, region: String = "us-east-1",
                                      prefix: String = "cks-demo") async throws -> EmbeddedCore {
        let directory = try makeTemporaryDirectory(prefix: prefix)
        do {
            return try await start(dataDirectory: directory, options: options, region: region, removeOnStop: true)
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    /// A client for this core, signed as its admin principal.
    /// - Parameter transport: nil → a pooled URLSession transport of its own.
    public func client(transport: (any KMSTransport)? = nil, retryPolicy: RetryPolicy = RetryPolicy(),
                       defaultTimeout: TimeInterval = 30) -> KMSClient {
        KMSClient(endpoint: endpoint, region: region, credentials: credentials, transport: transport,
                  retryPolicy: retryPolicy, defaultTimeout: defaultTimeout)
    }

    /// Stops the front (in-flight requests finish), closes the database and, for a temporary core, removes the
    /// data directory. Idempotent.
    public func stop() async {
        await server.shutdown()
        if removesDataDirectory { try? FileManager.default.removeItem(at: dataDirectory) }
    }

    /// `mkdtemp` under the temporary directory: a new directory only this user can enter.
    static func makeTemporaryDirectory(prefix: String) throws -> URL {
        let base = FileManager.default.temporaryDirectory.path
        var template = Array((base.hasSuffix("/") ? base : base + "/").utf8CString.dropLast()) + Array("\(prefix)-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw CoreStartError("cannot create a temporary directory in \(base): \(String(cString: strerror(errno)))")
        }
        return URL(fileURLWithPath: String(cString: made), isDirectory: true)
    }
}
