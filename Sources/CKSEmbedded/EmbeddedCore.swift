import CKSClient
import CKSDomain
import CKSServer
import CKSWire
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// A core started inside this process: what `cks` uses when no endpoint is configured anywhere (the client's
/// resolution yields `.embedded`), and what `cks --demo` runs on. It is the same engine behind the same HTTP front
/// as `cks serve`, listening on 127.0.0.1 on a free port over the default data directory (the same data `cks serve`
/// uses); callers reach it only over HTTP through `KMSClient`, signed as its admin principal, exactly as they would
/// reach AWS KMS. Lives here (not in CKSClient) because CKSClient must not depend on CKSServer.
public final class EmbeddedCore: Sendable {
    public let server: CoreServer
    public let dataDirectory: URL
    /// The region the client signs for (the core serves any region; resources are per region).
    public let region: String
    /// Whether `shutdown()` removes the data directory (a demo's temporary one).
    public let removesDataDirectory: Bool
    /// A demo's real XKS proxy, stopped by `shutdown()` (nil outside `cks --demo`).
    public let demoProxy: DemoLiveProxy?

    private init(server: CoreServer, dataDirectory: URL, region: String, removesDataDirectory: Bool,
                 demoProxy: DemoLiveProxy? = nil) {
        self.server = server
        self.dataDirectory = dataDirectory
        self.region = region
        self.removesDataDirectory = removesDataDirectory
        self.demoProxy = demoProxy
    }

    /// The default data directory of `cks serve` (see `CKSPaths.dataDirectory`).
    public static func defaultDataDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        CKSPaths(environment: environment).dataDirectory
    }

    /// A logger that drops everything: the embedded core must not write to a terminal the console draws on, nor
    /// mix its lines into a scripted verb's output.
    public static let silentLogger = Logger(label: "cks.embedded", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Starts a core on 127.0.0.1 over `dataDirectory` (nil → the default; created 0700 with a principals file
    /// holding a fresh admin principal when absent) and returns once it listens.
    /// - Parameters:
    ///   - options: the engine's time scale, connect/disconnect durations and durability (`cks serve`'s defaults).
    ///   - port: 0 picks a free port; a given one lets a restarted core be found where it was.
    ///   - removeOnShutdown: remove the data directory in `shutdown()` (temporary directories only).
    public static func start(dataDirectory: URL? = nil, region: String = ClientConfigurationResolver.defaultRegion,
                             environment: [String: String] = ProcessInfo.processInfo.environment,
                             options: EngineOptions = engineOptions, port: Int = 0, removeOnShutdown: Bool = false,
                             logger: Logger = silentLogger, demoProxy: DemoLiveProxy? = nil) async throws -> EmbeddedCore {
        let directory = dataDirectory ?? defaultDataDirectory(environment: environment)
        var configuration = CoreConfiguration(dataDirectory: directory)
        configuration.host = "127.0.0.1"
        configuration.port = port
        configuration.region = region
        configuration.engine = options
        let server = try await CoreServer.start(configuration, logger: logger)
        return EmbeddedCore(server: server, dataDirectory: directory, region: region, removesDataDirectory: removeOnShutdown,
                            demoProxy: demoProxy)
    }

    /// A core on a fresh temporary data directory (`$TMPDIR/cks-demo-XXXXXX`), removed again by `shutdown()`.
    public static func startTemporary(options: EngineOptions, region: String = ClientConfigurationResolver.defaultRegion,
                                      prefix: String = "cks-demo") async throws -> EmbeddedCore {
        let directory = try makeTemporaryDirectory(prefix: prefix)
        do {
            return try await start(dataDirectory: directory, region: region, options: options, removeOnShutdown: true)
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    /// The engine settings of the embedded core (the defaults of `cks serve`).
    public static let engineOptions = EngineOptions()

    public var endpoint: URL { server.endpoint }

    /// The first principal allowed `kms:*` and `cks:*` (created with fresh keys when the file did not exist).
    public var admin: Principal { server.adminPrincipal }

    /// The admin principal's account and name, as the console and the teardown journal show them.
    public var identity: EmbeddedIdentity {
        EmbeddedIdentity(dataDirectory: dataDirectory, account: admin.account, principal: admin.name)
    }

    /// The admin principal's keys, which the embedded client signs with.
    public var credentials: AWSCredentials {
        AWSCredentials(accessKeyId: server.adminPrincipal.accessKeyId, secretAccessKey: server.adminPrincipal.secretAccessKey)
    }

    /// A client for this core, signed as its admin principal.
    /// - Parameter transport: nil → a pooled URLSession transport of its own.
    public func client(transport: (any KMSTransport)? = nil, retryPolicy: RetryPolicy = RetryPolicy(),
                       defaultTimeout: TimeInterval = 30) -> KMSClient {
        KMSClient(endpoint: endpoint, region: region, credentials: credentials, transport: transport,
                  retryPolicy: retryPolicy, defaultTimeout: defaultTimeout)
    }

    /// Stops listening once in-flight requests are done, and closes the database; a temporary core's data
    /// directory is removed. Idempotent.
    public func shutdown() async {
        await server.shutdown()
        await demoProxy?.stop()
        if removesDataDirectory { try? FileManager.default.removeItem(at: dataDirectory) }
    }

    /// `mkdtemp` under the temporary directory: a new directory only this user can enter.
    public static func makeTemporaryDirectory(prefix: String) throws -> URL {
        let base = FileManager.default.temporaryDirectory.path
        var template = Array((base.hasSuffix("/") ? base : base + "/").utf8CString.dropLast()) + Array("\(prefix)-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw CoreStartError("cannot create a temporary directory in \(base): \(String(cString: strerror(errno)))")
        }
        return URL(fileURLWithPath: String(cString: made), isDirectory: true)
    }
}

/// A client ready to use, resolved the AWS way (see `ClientConfigurationResolver`), with the embedded core it
/// started when no endpoint was configured. Call `close()` when done.
public final class ClientConnection: ClientSession {
    public let client: KMSClient
    public let configuration: ClientConfiguration
    public let embedded: EmbeddedCore?

    private init(client: KMSClient, configuration: ClientConfiguration, embedded: EmbeddedCore?) {
        self.client = client
        self.configuration = configuration
        self.embedded = embedded
    }

    /// Resolves flags, environment and `~/.aws` files; starts the embedded core if nothing names an endpoint.
    /// - Parameter transport: the client's transport (nil → a `NIOTransport`); the console passes one that
    ///   reports every exchange to its Activity pane.
    /// - Throws: `ClientConfigurationError`; `KMSClientError(.noCredentials)` for a configured endpoint without
    ///   credentials; the core's start error when the embedded core cannot start.
    public static func open(_ flags: ClientFlags, environment: [String: String] = ProcessInfo.processInfo.environment,
                            homeDirectory: URL? = nil, embeddedDataDirectory: URL? = nil,
                            retryPolicy: RetryPolicy = RetryPolicy(), timeout: TimeInterval = 30,
                            transport: (any KMSTransport)? = nil) async throws -> ClientConnection {
        let resolver = ClientConfigurationResolver(environment: environment, homeDirectory: homeDirectory)
        let flags = try contextFlags(flags, resolver: resolver)
        var configuration = try resolver.resolve(flags)
        configuration.sources["context"] = ClientContextCatalog.name(of: configuration, flags: flags)
        if let problem = configuration.credentialsProblem, configuration.credentials == nil,
           case .remote = configuration.endpoint {
            throw ClientConfigurationError(problem)
        }
        switch configuration.endpoint {
        case .remote(let url):
            guard let credentials = configuration.credentials else {
                throw KMSClientError(kind: .noCredentials,
                                     message: "Unable to locate credentials for \(url.absoluteString). Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use --profile with ~/.aws/credentials.",
                                     endpoint: url)
            }
            let client = KMSClient(endpoint: url, region: configuration.region, credentials: credentials,
                                   transport: transport, retryPolicy: retryPolicy, defaultTimeout: timeout)
            return ClientConnection(client: client, configuration: configuration, embedded: nil)
        case .embedded:
            let core = try await EmbeddedCore.start(dataDirectory: embeddedDataDirectory, region: configuration.region,
                                                    environment: environment)
            var resolved = configuration
            resolved.credentials = core.credentials
            resolved.sources["credentials"] = "embedded core admin principal"
            let client = KMSClient(endpoint: core.endpoint, region: configuration.region, credentials: core.credentials,
                                   transport: transport, retryPolicy: retryPolicy, defaultTimeout: timeout)
            return ClientConnection(client: client, configuration: resolved, embedded: core)
        }
    }

    public var embeddedIdentity: EmbeddedIdentity? { embedded?.identity }

    /// `--context NAME` (else `CKS_CONTEXT` when no `--endpoint`/`--profile` says otherwise) turned into the flags
    /// that open that context; flags without a context are returned as they are.
    public static func contextFlags(_ flags: ClientFlags, resolver: ClientConfigurationResolver) throws -> ClientFlags {
        var name = flags.context
        if name == nil, flags.endpoint == nil, flags.profile == nil, !flags.embedded,
           let fromEnvironment = resolver.environment["CKS_CONTEXT"], !fromEnvironment.isEmpty {
            name = fromEnvironment
        }
        guard let name else { return flags }
        return try ClientContextCatalog(resolver: resolver, commandLine: flags).flags(forContext: name, commandLine: flags)
    }

    /// Stops the embedded core, if one was started.
    public func close() async {
        client.shutdown()
        await embedded?.shutdown()
    }
}
