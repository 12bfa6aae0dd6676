import CKSDomain
import CKSPersistence
import CKSWire
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import UnixSignals

/// How to run the core: where to listen, where the data lives, who may call.
public struct CoreConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port; `CoreServer.port` tells which.
    public var port = 7911
    public var dataDirectory: URL
    /// nil → `<dataDirectory>/principals.json`, created (0600) with a fresh admin principal if absent.
    public var principalsFile: URL?
    /// The region the core advertises (examples, the console's default); each request's region comes from its
    /// SigV4 credential scope.
    public var region = "us-east-1"
    /// Listening on a non-loopback address is refused unless this is set.
    public var allowRemote = false
    /// Store quota, time scale and simulated durations for the engine.
    public var engine = EngineOptions()
    public var maxBodyBytes = 1 << 20
    /// Idle timeout and connection cap of the HTTP front.
    public var limits = ConnectionLimits()

    public init(dataDirectory: URL) {
        self.dataDirectory = dataDirectory
    }

    /// The principals file actually used.
    public var resolvedPrincipalsFile: URL {
        principalsFile ?? dataDirectory.appendingPathComponent("principals.json")
    }

    /// The SQLite database inside the data directory.
    public var databaseFile: URL { dataDirectory.appendingPathComponent(DataDirectory.databaseName) }
}

/// Why the core could not start; the message is meant for the person who started it.
public struct CoreStartError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The running core: the HTTP front in a ServiceLifecycle group, in front of a request handler (the engine).
public final class CoreServer: Sendable {
    public let port: Int
    public let host: String
    public let adminPrincipal: Principal
    public let createdPrincipalsFile: Bool
    public let principalsFile: URL
    /// The request handling behind the listener (SigV4, authorization, the engine): what an in-process transport
    /// calls to skip the sockets, exactly as the HTTP adaptor does.
    public let front: KMSFront
    private let group: ServiceGroup
    private let runTask: Task<Void, Never>
    private let onClose: @Sendable () async -> Void
    private let closed = Mutex(false)

    /// `http://HOST:PORT` (IPv6 hosts in brackets).
    public var endpoint: URL {
        let shown = host.contains(":") ? "[\(host)]" : host
        return URL(string: "http://\(shown):\(port)")!
    }

    private init(port: Int, host: String, admin: Principal, created: Bool, principalsFile: URL, front: KMSFront,
                 group: ServiceGroup, runTask: Task<Void, Never>, onClose: @escaping @Sendable () async -> Void) {
        self.front = front
        self.port = port
        self.host = host
        self.adminPrincipal = admin
        self.createdPrincipalsFile = created
        self.principalsFile = principalsFile
        self.group = group
        self.runTask = runTask
        self.onClose = onClose
    }

    /// Whether `host` is a loopback address (or `localhost`).
    public static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return h == "localhost" || h == "::1" || h.hasPrefix("127.")
    }

    /// Starts the front before `handler` and returns once the socket is listening.
    /// - Parameters:
    ///   - handleSignals: SIGTERM and SIGINT trigger a graceful shutdown (`cks serve`); off for in-process use.
    ///   - onClose: run once after the last in-flight request finished (the engine closes its database here);
    ///     not run if `start` throws, so the caller cleans up then.
    public static func start(_ configuration: CoreConfiguration, handler: any KMSRequestHandling,
                             handleSignals: Bool = false, logger: Logger = Logger(label: "cks"),
                             onClose: @escaping @Sendable () async -> Void = {}) async throws -> CoreServer {
        try checkAddressAndCreateDataDirectory(configuration)
        let principalsFile = configuration.resolvedPrincipalsFile
        let (principals, created): (PrincipalDirectory, Bool)
        do {
            (principals, created) = try PrincipalDirectory.load(from: principalsFile,
                                                                createIfMissing: configuration.principalsFile == nil)
        } catch {
            throw CoreStartError(error.message)
        }

        let front = KMSFront(handler: handler, principals: principals, maxBodyBytes: configuration.maxBodyBytes,
                             logger: logger)
        let ready = OneShotResult<Int>()
        let limits = configuration.limits
        let (cap, softLimit) = ConnectionLimits.fitDescriptorLimit(limits.maxConnections)
        if cap < limits.maxConnections {
            logger.warning("at most \(cap) connections: the open-files limit is \(softLimit)")
        }
        let table = ConnectionTable(cap: cap, logger: logger)
        let app = Application(
            responder: HTTPAdaptor(front: front),
            server: HTTPServerBuilder { responder in GuardedHTTP1Channel(responder: responder, limits: limits, table: table) },
            configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port),
                                                    serverName: nil, backlog: ConnectionLimits.listenBacklog,
                                                    availableConnectionsDelegate: ConnectionAdmission(table: table)),
            onServerRunning: { channel in ready.resolve(.success(channel.localAddress?.port ?? 0)) },
            logger: logger
        )
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [app], gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [], logger: logger))
        let runTask = Task {
            do {
                try await group.run()
                ready.resolve(.failure(CoreStartError("the server stopped before it was listening")))
            } catch {
                ready.resolve(.failure(CoreStartError("cannot listen on \(configuration.host):\(configuration.port): \(error)")))
            }
        }
        let port: Int
        do {
            port = try await ready.value()
        } catch {
            await group.triggerGracefulShutdown()
            await runTask.value
            throw error
        }
        return CoreServer(port: port, host: configuration.host, admin: principals.admin, created: created,
                          principalsFile: principalsFile, front: front, group: group, runTask: runTask, onClose: onClose)
    }

    /// The checks made before anything is opened: loopback unless allowed, port range, and the data directory
    /// (created 0700 if absent, refused if group or others can reach it).
    public static func checkAddressAndCreateDataDirectory(_ configuration: CoreConfiguration) throws(CoreStartError) {
        guard configuration.allowRemote || isLoopback(configuration.host) else {
            throw CoreStartError("refusing to listen on \(configuration.host): it is not a loopback address, and the "
                + "core is meant for local use. Pass --allow-remote to listen on it anyway.")
        }
        guard (0...65535).contains(configuration.port) else {
            throw CoreStartError("port \(configuration.port) is out of range (0-65535)")
        }
        do {
            try DataDirectory.preparePrivate(configuration.dataDirectory)
        } catch {
            throw CoreStartError(error.message)
        }
    }

    /// Stops accepting connections, lets in-flight requests finish, then runs `onClose`. Idempotent.
    public func shutdown() async {
        await group.triggerGracefulShutdown()
        await waitUntilStopped()
    }

    /// Returns once the server has stopped (after `shutdown()` or a shutdown signal) and `onClose` has run.
    public func waitUntilStopped() async {
        await runTask.value
        let first = closed.withLock { done in
            defer { done = true }
            return !done
        }
        if first { await onClose() }
    }
}
