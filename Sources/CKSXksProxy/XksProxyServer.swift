import CKSDomain
import CKSWire
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization
import UnixSignals

/// How to run a proxy: `cks xks-proxy --config FILE --data-dir DIR [--listen HOST:PORT] [PKCS#11 options]`.
public struct XksProxyOptions: Sendable {
    public struct PKCS11: Sendable {
        public var modulePath: String
        public var tokenLabel: String
        public var pinFile: String
        public init(modulePath: String, tokenLabel: String, pinFile: String) {
            self.modulePath = modulePath
            self.tokenLabel = tokenLabel
            self.pinFile = pinFile
        }
    }

    public var configFile: String
    public var dataDirectory: String
    public var host = "127.0.0.1"
    /// 0 picks a free port.
    public var port = 8443
    /// nil: software keys in the data directory.
    public var pkcs11: PKCS11?
    /// Idle connections are closed after this long.
    public var idleTimeout: Duration = .seconds(60)

    public init(configFile: String, dataDirectory: String) {
        self.configFile = configFile
        self.dataDirectory = dataDirectory
    }
}

/// A running proxy: the HTTP(S) front in a ServiceLifecycle group; SIGHUP re-reads the config.
public final class XksProxyServer: Sendable {
    public let host: String
    public let port: Int
    public let tlsEnabled: Bool
    /// The server certificate in use (when TLS is on).
    public let certificateFile: String?
    public let certificateGenerated: Bool
    /// What the operator should know at start (generated keys, credentials KMS would refuse, missing labels).
    public let notices: [String]
    public let service: XksService
    private let group: ServiceGroup
    private let runTask: Task<Void, Never>
    private let dataDirectory: ProxyDataDirectory
    private let reloadTask: Task<Void, Never>?

    /// `http(s)://HOST:PORT` (IPv6 hosts in brackets).
    public var endpoint: String {
        let shown = host.contains(":") ? "[\(host)]" : host
        return "\(tlsEnabled ? "https" : "http")://\(shown):\(port)"
    }

    private init(host: String, port: Int, tlsEnabled: Bool, certificateFile: String?, certificateGenerated: Bool,
                 notices: [String], service: XksService, group: ServiceGroup, runTask: Task<Void, Never>,
                 dataDirectory: ProxyDataDirectory, reloadTask: Task<Void, Never>?) {
        self.host = host
        self.port = port
        self.tlsEnabled = tlsEnabled
        self.certificateFile = certificateFile
        self.certificateGenerated = certificateGenerated
        self.notices = notices
        self.service = service
        self.group = group
        self.runTask = runTask
        self.dataDirectory = dataDirectory
        self.reloadTask = reloadTask
    }

    /// Whether `host` is a loopback address (or `localhost`).
    public static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return h == "localhost" || h == "::1" || h.hasPrefix("127.")
    }

    /// Checks everything, prepares the keys, and returns once the socket listens. Every failure is an
    /// `XksProxyError` naming the problem.
    /// - Parameter handleSignals: SIGTERM/SIGINT stop gracefully and SIGHUP reloads the config (`cks xks-proxy`).
    public static func start(_ options: XksProxyOptions, handleSignals: Bool = false,
                             logger: Logger = Logger(label: "cks.xks-proxy")) async throws(XksProxyError) -> XksProxyServer {
        let configuration = try ProxyConfiguration.load(path: options.configFile)
        guard (0...65535).contains(options.port) else { throw XksProxyError("port \(options.port) is out of range (0-65535)") }
        if !configuration.tls.enabled, !isLoopback(options.host) {
            throw XksProxyError("refusing to listen on \(options.host) without TLS: SigV4 secrets and plaintext would cross "
                + "the network in the clear. Turn tls.enabled on, or listen on 127.0.0.1")
        }
        let directory = try ProxyDataDirectory(path: options.dataDirectory)
        let backend: any KeyBackend
        if let pkcs11 = options.pkcs11 {
            backend = try PKCS11Backend(modulePath: pkcs11.modulePath, tokenLabel: pkcs11.tokenLabel, pinFile: pkcs11.pinFile)
        } else {
            backend = SoftwareBackend(store: try SoftwareKeyStore(path: directory.keyDatabase.path))
        }
        var notices = configuration.warnings
        notices += try backend.prepare(keyIds: configuration.allKeyIds)

        var tlsConfiguration: TLSConfiguration?
        var certificate: (certificate: String, privateKey: String, generated: Bool)?
        var clientCheck: ClientCertificateCheck?
        if configuration.tls.enabled {
            var names = ["localhost", "127.0.0.1", "::1"]
            if !names.contains(options.host), options.host != "0.0.0.0", options.host != "::" { names.insert(options.host, at: 0) }
            let files = try ProxyTLS.serverFiles(configuration.tls, directory: directory.tlsDirectory, hostNames: names)
            certificate = files
            if let caFile = configuration.tls.clientCaFile {
                clientCheck = try ClientCertificateCheck(caFile: caFile, commonNames: configuration.tls.clientCommonNames)
            }
            tlsConfiguration = try ProxyTLS.serverConfiguration(certificateFile: files.certificate, privateKeyFile: files.privateKey,
                                                                mutual: clientCheck != nil)
        }

        let service = XksService(configuration: configuration, backend: backend, logger: logger)
        let idle = TimeAmount.nanoseconds(Int64(options.idleTimeout.components.seconds) * 1_000_000_000)
        let http = HTTPServerBuilder.http1(configuration: HTTP1Channel.Configuration(idleTimeout: idle))
        let server: HTTPServerBuilder
        do {
            if let tlsConfiguration, let clientCheck {
                server = try .tls(http, configuration: TLSChannelConfiguration(
                    tlsConfiguration: tlsConfiguration,
                    customAsyncVerificationCallback: { certificates in await clientCheck.verify(certificates) }))
            } else if let tlsConfiguration {
                server = try .tls(http, tlsConfiguration: tlsConfiguration)
            } else {
                server = http
            }
        } catch {
            throw XksProxyError("cannot set up TLS: \(error)")
        }
        let ready = OneShotResult<Int>()
        let app = Application(
            responder: XksHTTPResponder(service: service),
            server: server,
            configuration: ApplicationConfiguration(address: .hostname(options.host, port: options.port), serverName: nil),
            onServerRunning: { channel in ready.resolve(.success(channel.localAddress?.port ?? 0)) },
            logger: logger)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [app], gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [], logger: logger))
        let runTask = Task {
            do {
                try await group.run()
                ready.resolve(.failure(XksProxyError("the server stopped before it was listening")))
            } catch {
                ready.resolve(.failure(XksProxyError("cannot listen on \(options.host):\(options.port): \(error)")))
            }
        }
        let port: Int
        do {
            port = try await ready.value()
        } catch {
            await group.triggerGracefulShutdown()
            await runTask.value
            throw error as? XksProxyError ?? XksProxyError("\(error)")
        }
        var reloadTask: Task<Void, Never>?
        if handleSignals {
            let configFile = options.configFile
            reloadTask = Task {
                for await _ in await UnixSignalsSequence(trapping: .sighup) {
                    Self.reload(configFile: configFile, running: configuration, service: service, logger: logger)
                }
            }
        }
        return XksProxyServer(host: options.host, port: port, tlsEnabled: configuration.tls.enabled,
                              certificateFile: certificate?.certificate, certificateGenerated: certificate?.generated ?? false,
                              notices: notices, service: service, group: group, runTask: runTask, dataDirectory: directory,
                              reloadTask: reloadTask)
    }

    /// SIGHUP: re-reads the config and serves its key stores, credentials and keys (new software keys are
    /// generated first). TLS settings need a restart. A broken file leaves the running configuration in place.
    static func reload(configFile: String, running: ProxyConfiguration, service: XksService, logger: Logger) {
        do {
            let fresh = try ProxyConfiguration.load(path: configFile)
            if fresh.tls != running.tls { logger.warning("config reload: tls changes take effect after a restart") }
            for notice in fresh.warnings + (try service.backend.prepare(keyIds: fresh.allKeyIds)) {
                logger.notice("\(notice)")
            }
            service.apply(fresh)
            logger.notice("config reloaded from \(configFile): \(fresh.keyStores.count) key store(s)")
        } catch {
            logger.error("config reload failed, still serving the previous configuration: \(error)")
        }
    }

    /// Stops accepting connections and lets in-flight requests finish. Idempotent.
    public func shutdown() async {
        reloadTask?.cancel()
        await group.triggerGracefulShutdown()
        await runTask.value
    }

    /// Returns once the server has stopped (after `shutdown()` or a shutdown signal).
    public func waitUntilStopped() async {
        await runTask.value
        reloadTask?.cancel()
    }
}

/// Hummingbird's side: reads the head, refuses oversized bodies before and while reading them, and answers
/// with `Content-Type: application/json`.
struct XksHTTPResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let service: XksService

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        let method = request.method.rawValue
        let path = request.uri.path
        let contentLength = request.headers[.contentLength].flatMap { Int($0) }
        if let early = service.checkHead(method: method, path: path, contentLength: contentLength) {
            return Self.response(early)
        }
        let body: Data
        do {
            body = Data(try await request.body.collect(upTo: service.maxBodyBytes).readableBytesView)
        } catch is NIOTooManyBytesError {
            var answer = service.tooLarge()
            answer.headers.append(("Connection", "close"))
            return Self.response(answer)
        } catch {
            return Self.response(.error(XKSError(.validation, "The request body could not be read.")))
        }
        if let contentLength, body.count != contentLength {
            var answer = XksResponse.error(XKSError(.validation, "The request body ended after \(body.count) of \(contentLength) bytes."))
            answer.headers.append(("Connection", "close"))
            return Self.response(answer)
        }
        var headers: [(String, String)] = request.headers.map { ($0.name.canonicalName, $0.value) }
        // swift-http-types moves Host into the authority; SigV4 signs it as `host`.
        if let authority = request.head.authority, !headers.contains(where: { $0.0 == "host" }) {
            headers.append(("host", authority))
        }
        return Self.response(service.handle(method: method, path: path, query: request.uri.query ?? "", headers: headers, body: body))
    }

    static func response(_ answer: XksResponse) -> Response {
        var fields = HTTPFields()
        if !answer.body.isEmpty { fields[.contentType] = "application/json" }
        for (name, value) in answer.headers {
            if let fieldName = HTTPField.Name(name) { fields[fieldName] = value }
        }
        return Response(status: HTTPResponse.Status(code: answer.status), headers: fields,
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body)))
    }
}
