@testable import CKSServer
import CKSDomain
import CKSTestSupport
import CKSWire
import CKSXksClient
import CKSXksProxy
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// A `cks xks-proxy` served in process over TLS on loopback for the name `xks.example.test` (its certificate made
/// for that name and trusted by the core), and an engine whose XKS client resolves that name (and others the test
/// adds) to listeners on loopback.
final class LiveProxyHarness: Sendable {
    static let host = "xks.example.test"
    static let endpoint = "https://xks.example.test"
    static let path = "/example/uri/path/prefix/kms/xks/v1"
    static let caller = Caller(account: "111122223333", region: "us-east-1", principalName: "alice")

    let directory: TemporaryDirectory
    let proxy: Mutex<XksProxyServer?>
    let proxyPort: Int
    let configFile: String
    let certificateFile: String
    /// The client CA of the proxy under mTLS.
    let mutualCA: String?
    let engine: KMSEngine
    let engineOptions: EngineOptions

    /// - Parameters:
    ///   - extraResolve: more host names and where they lead (listeners of the test).
    ///   - timeout: each proxy call's budget; generous by default so a loaded machine (the whole suite in parallel
    ///     on two cores) does not turn successes into time-outs (the time-out test sets its own).
    ///   - requestsPerSecond: the proxy store's quota.
    ///   - namesOfTheProxy: more host names that lead to the proxy (its certificate does not name them).
    ///   - mutualTLS: the proxy asks for a client certificate (CN cks.kms.us-east-1.amazonaws.com, self-signed and
    ///     trusted by the proxy); `presentClientCertificate` says whether the core has it.
    init(extraResolve: [String: XksClientOptions.Target] = [:], namesOfTheProxy: [String] = [], timeout: Duration = .seconds(30),
         requestsPerSecond: Int? = nil, mutualTLS: Bool = false, presentClientCertificate: Bool = true) async throws {
        directory = try TemporaryDirectory(prefix: "live-proxy")
        let d = directory.url
        let (certificate, key) = try ProxyTLS.selfSigned(hostNames: [Self.host, "localhost"])
        certificateFile = d.appendingPathComponent("proxy-cert.pem").path
        let keyFile = d.appendingPathComponent("proxy-key.pem").path
        try Data(certificate.utf8).write(to: URL(fileURLWithPath: certificateFile))
        _ = FileManager.default.createFile(atPath: keyFile, contents: Data(key.utf8), attributes: [.posixPermissions: 0o600])
        configFile = d.appendingPathComponent("proxy.json").path
        var clientFiles: (certificate: String, key: String)?
        if mutualTLS {
            let (clientCertificate, clientKey) = try ProxyTLS.selfSigned(hostNames: ["cks.kms.us-east-1.amazonaws.com"])
            let files = (d.appendingPathComponent("client-cert.pem").path, d.appendingPathComponent("client-key.pem").path)
            try Data(clientCertificate.utf8).write(to: URL(fileURLWithPath: files.0))
            _ = FileManager.default.createFile(atPath: files.1, contents: Data(clientKey.utf8), attributes: [.posixPermissions: 0o600])
            clientFiles = files
        }
        mutualCA = clientFiles?.certificate
        try Self.writeConfig(configFile, certificateFile: certificateFile, keyFile: keyFile, requestsPerSecond: requestsPerSecond,
                             clientCaFile: clientFiles?.certificate)
        var logger = Logger(label: "test-proxy")
        logger.logLevel = .critical
        var options = XksProxyOptions(configFile: configFile, dataDirectory: d.appendingPathComponent("proxy-data").path)
        options.port = 0
        let server = try await XksProxyServer.start(options, logger: logger)
        proxy = Mutex(server)
        proxyPort = server.port
        var resolve = extraResolve
        for name in [Self.host] + namesOfTheProxy { resolve[name] = .init(address: "127.0.0.1", port: server.port) }
        var engineOptions = EngineOptions(connectDuration: 0, disconnectDuration: 0)
        engineOptions.xks = XksClientOptions(resolve: resolve, caFile: certificateFile,
                                             clientCertificateFile: presentClientCertificate ? clientFiles?.certificate : nil,
                                             clientKeyFile: presentClientCertificate ? clientFiles?.key : nil, timeout: timeout)
        self.engineOptions = engineOptions
        engine = try KMSEngine.open(databaseAt: d.appendingPathComponent("cks.sqlite"), options: engineOptions)
    }

    static func writeConfig(_ path: String, certificateFile: String, keyFile: String, requestsPerSecond: Int? = nil,
                            fooStatus: String = "ENABLED", clientCaFile: String? = nil) throws {
        var store: [String: Any] = [
            "uriPathPrefix": "example/uri/path/prefix",
            "credentials": [["accessKeyId": XksTestCredentials.first.accessKeyId, "secretAccessKey": XksTestCredentials.first.secretAccessKey],
                            ["accessKeyId": XksTestCredentials.second.accessKeyId, "secretAccessKey": XksTestCredentials.second.secretAccessKey]],
            "keys": [["id": "foo", "usage": ["ENCRYPT", "DECRYPT"], "status": fooStatus],
                     ["id": "bar", "usage": ["ENCRYPT", "DECRYPT"], "status": "ENABLED"],
                     ["id": "encrypt-only", "usage": ["ENCRYPT"], "status": "ENABLED"],
                     ["id": "disabled", "usage": ["ENCRYPT", "DECRYPT"], "status": "DISABLED"]],
        ]
        if let requestsPerSecond { store["requestsPerSecond"] = requestsPerSecond }
        var tls: [String: Any] = ["enabled": true, "certificateFile": certificateFile, "privateKeyFile": keyFile]
        if let clientCaFile { tls["clientCaFile"] = clientCaFile }
        let object: [String: Any] = ["tls": tls, "keyStores": [store]]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        try? FileManager.default.removeItem(atPath: path)
        _ = FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: 0o600])
    }

    /// Serves a changed configuration without a restart (as SIGHUP does).
    func reconfigure(fooStatus: String = "ENABLED", requestsPerSecond: Int? = nil) throws {
        let keyFile = directory.url.appendingPathComponent("proxy-key.pem").path
        try Self.writeConfig(configFile, certificateFile: certificateFile, keyFile: keyFile, requestsPerSecond: requestsPerSecond,
                             fooStatus: fooStatus, clientCaFile: mutualCA)
        let configuration = try ProxyConfiguration.load(path: configFile)
        proxy.withLock { $0?.service.apply(configuration) }
    }

    /// Closes the engine and opens its database again, as a restart of the core does.
    func restartedEngine() throws -> KMSEngine {
        try engine.close()
        return try KMSEngine.open(databaseAt: directory.url.appendingPathComponent("cks.sqlite"), options: engineOptions)
    }

    func stopProxy() async {
        let server = proxy.withLock { s -> XksProxyServer? in defer { s = nil }; return s }
        await server?.shutdown()
    }

    func close() async {
        await stopProxy()
        try? engine.close()
        directory.remove()
    }

    // MARK: - Calls

    @discardableResult
    func call<R: WireRequest>(_ request: R) async throws -> R.Response {
        let data = try await engine.handle(target: R.target, body: try WireCodec.encodeRequest(request), caller: Self.caller)
        return try WireCodec.decodeResponse(R.Response.self, from: data)
    }

    func failure<R: WireRequest>(_ request: R, sourceLocation: SourceLocation = #_sourceLocation) async -> KMSError? {
        do {
            _ = try await call(request)
            Issue.record("expected \(R.target) to fail", sourceLocation: sourceLocation)
            return nil
        } catch let error as KMSError {
            return error
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    static func createStore(name: String = "live-\(UUID().uuidString.prefix(8))", endpoint: String = endpoint, path: String = path,
                            credential: (accessKeyId: String, secretAccessKey: String) = XksTestCredentials.first) -> CreateCustomKeyStoreRequest {
        CreateCustomKeyStoreRequest(
            customKeyStoreName: name, customKeyStoreType: .externalKeyStore, xksProxyUriEndpoint: endpoint, xksProxyUriPath: path,
            xksProxyAuthenticationCredential: XksProxyAuthenticationCredentialType(accessKeyId: credential.accessKeyId,
                                                                                   rawSecretAccessKey: credential.secretAccessKey),
            xksProxyConnectivity: .publicEndpoint)
    }

    /// Inserts an external key store at `endpoint` without calling any proxy (CreateCustomKeyStore would), so a
    /// test can watch Connect meet a misbehaving proxy; returns its id.
    func insertedStore(endpoint: String) async throws -> String {
        let id = CustomKeyStoreIdentifiers.newId()
        let scope = ResourceScope(account: Self.caller.account, region: Self.caller.region)
        try await engine.write { w, now in
            try w.insert(CustomKeyStore(
                id: id, scope: scope, name: "inserted-\(id)", type: .externalKeyStore, creationDate: now,
                xks: XksProxySettings(connectivity: .publicEndpoint, uriEndpoint: endpoint, uriPath: Self.path,
                                      accessKeyId: XksTestCredentials.first.accessKeyId,
                                      rawSecretAccessKey: XksTestCredentials.first.secretAccessKey),
                connection: .new(at: now)))
        }
        return id
    }

    /// Creates and connects a store on the proxy; returns its id.
    func connectedStore() async throws -> String {
        let id = try #require(try await call(Self.createStore()).customKeyStoreId)
        try await call(ConnectCustomKeyStoreRequest(customKeyStoreId: id))
        #expect(try await state(of: id) == .connected)
        return id
    }

    func state(of storeId: String) async throws -> ConnectionState? {
        try await call(DescribeCustomKeyStoresRequest(customKeyStoreId: storeId)).customKeyStores?.first?.connectionState
    }

    func errorCode(of storeId: String) async throws -> ConnectionErrorCode? {
        try await call(DescribeCustomKeyStoresRequest(customKeyStoreId: storeId)).customKeyStores?.first?.connectionErrorCode
    }

    func createKey(_ storeId: String, xksKeyId: String = "foo") async throws -> String {
        try await call(CreateKeyRequest(origin: .externalKeyStore, customKeyStoreId: storeId, xksKeyId: xksKeyId)).keyMetadata!.keyId
    }
}

/// A TCP listener on loopback that misbehaves as told: says nothing, closes at once, or answers fixed bytes.
final class MisbehavingListener: Sendable {
    enum Behaviour: Sendable {
        case silent
        case closeAtOnce
        case answer(String)
    }

    let channel: any Channel
    var port: Int { channel.localAddress?.port ?? 0 }

    init(_ behaviour: Behaviour) async throws {
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture { try child.pipeline.syncOperations.addHandler(Handler(behaviour)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func close() async { try? await channel.close() }

    final class Handler: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let behaviour: Behaviour
        init(_ behaviour: Behaviour) { self.behaviour = behaviour }

        func channelActive(context: ChannelHandlerContext) {
            if case .closeAtOnce = behaviour { context.close(promise: nil) }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case let .answer(text) = behaviour else { return }
            context.writeAndFlush(NIOAny(ByteBuffer(string: text)), promise: nil)
            context.close(promise: nil)
        }
    }
}
