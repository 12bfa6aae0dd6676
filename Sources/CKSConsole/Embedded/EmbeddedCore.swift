import CKSClient
import CKSServer
import CKSWire
import Foundation
import Logging

/// A core started inside this process: what `cks` uses when no endpoint is configured anywhere. It listens on
/// 127.0.0.1 on a free port over the default data directory (the same data `cks serve` uses), and the client
/// signs as its admin principal. Lives here (not in CKSClient) because CKSClient must not depend on CKSServer.
public final class EmbeddedCore: Sendable {
    public let server: CoreServer
    public let dataDirectory: URL

    private init(server: CoreServer, dataDirectory: URL) {
        self.server = server
        self.dataDirectory = dataDirectory
    }

    /// `$XDG_DATA_HOME/cks`, else `~/.local/share/cks`: the default data directory of `cks serve`.
    public static func defaultDataDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let xdg = environment["XDG_DATA_HOME"], !xdg.isEmpty {
            return URL(fileURLWithPath: xdg, isDirectory: true).appendingPathComponent("cks", isDirectory: true)
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? FileManager.default.homeDirectoryForCurrentUser.path
        return URL(fileURLWithPath: home, isDirectory: true).appendingPathComponent(".local/share/cks", isDirectory: true)
    }

    /// A logger that drops everything: the embedded core must not write to a terminal the console draws on, nor
    /// mix its lines into a scripted verb's output.
    public static let silentLogger = Logger(label: "cks.embedded", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Starts a core on 127.0.0.1:0 over `dataDirectory` (nil → the default) and returns once it listens.
    public static func start(dataDirectory: URL? = nil, region: String = ClientConfigurationResolver.defaultRegion,
                             environment: [String: String] = ProcessInfo.processInfo.environment,
                             logger: Logger = silentLogger) async throws -> EmbeddedCore {
        let directory = dataDirectory ?? defaultDataDirectory(environment: environment)
        var configuration = CoreConfiguration(dataDirectory: directory)
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.region = region
        configuration.engine = engineOptions
        let server = try await CoreServer.start(configuration, logger: logger)
        return EmbeddedCore(server: server, dataDirectory: directory)
    }

    /// The engine settings of the embedded core (the defaults of `cks serve`).
    public static let engineOptions = EngineOptions()

    public var endpoint: URL { server.endpoint }

    /// The admin principal's keys, which the embedded client signs with.
    public var credentials: AWSCredentials {
        AWSCredentials(accessKeyId: server.adminPrincipal.accessKeyId, secretAccessKey: server.adminPrincipal.secretAccessKey)
    }

    /// Stops listening once in-flight requests are done, and closes the database.
    public func shutdown() async { await server.shutdown() }
}

/// A client ready to use, resolved the AWS way (see `ClientConfigurationResolver`), with the embedded core it
/// started when no endpoint was configured. Call `close()` when done.
public final class ClientConnection: Sendable {
    public let client: KMSClient
    public let configuration: ClientConfiguration
    public let embedded: EmbeddedCore?

    private init(client: KMSClient, configuration: ClientConfiguration, embedded: EmbeddedCore?) {
        self.client = client
        self.configuration = configuration
        self.embedded = embedded
    }

    /// Resolves flags, environment and `~/.aws` files; starts the embedded core if nothing names an endpoint.
    /// - Throws: `ClientConfigurationError`; `KMSClientError(.noCredentials)` for a configured endpoint without
    ///   credentials; the core's start error when the embedded core cannot start.
    public static func open(_ flags: ClientFlags, environment: [String: String] = ProcessInfo.processInfo.environment,
                            homeDirectory: URL? = nil, embeddedDataDirectory: URL? = nil,
                            retryPolicy: RetryPolicy = RetryPolicy(), timeout: TimeInterval = 30) async throws -> ClientConnection {
        let resolver = ClientConfigurationResolver(environment: environment, homeDirectory: homeDirectory)
        let configuration = try resolver.resolve(flags)
        switch configuration.endpoint {
        case .remote(let url):
            guard let credentials = configuration.credentials else {
                throw KMSClientError(kind: .noCredentials,
                                     message: "Unable to locate credentials for \(url.absoluteString). Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use --profile with ~/.aws/credentials.",
                                     endpoint: url)
            }
            let client = KMSClient(endpoint: url, region: configuration.region, credentials: credentials,
                                   retryPolicy: retryPolicy, defaultTimeout: timeout)
            return ClientConnection(client: client, configuration: configuration, embedded: nil)
        case .embedded:
            let core = try await EmbeddedCore.start(dataDirectory: embeddedDataDirectory, region: configuration.region,
                                                    environment: environment)
            var resolved = configuration
            resolved.credentials = core.credentials
            resolved.sources["credentials"] = "embedded core admin principal"
            let client = KMSClient(endpoint: core.endpoint, region: configuration.region, credentials: core.credentials,
                                   retryPolicy: retryPolicy, defaultTimeout: timeout)
            return ClientConnection(client: client, configuration: resolved, embedded: core)
        }
    }

    /// Stops the embedded core, if one was started.
    public func close() async {
        client.shutdown()
        await embedded?.shutdown()
    }
}
