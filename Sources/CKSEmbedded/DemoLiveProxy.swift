import CKSClient
import CKSDomain
import CKSWire
import CKSXksClient
import CKSXksProxy
import Foundation
import Logging
import Synchronization

/// The real `cks xks-proxy` of `cks --demo`: served in process on 127.0.0.1 (a free port, plain HTTP, which the
/// proxy allows only on loopback) over software keys in the demo's throw-away data directory. The demo core's XKS
/// client resolves the store's endpoint host to it, so the `live-xks` store's Connect and its keys' cryptography
/// really cross the network to a proxy. The demo can stop it and start it again on the same port (`:proxy stop`,
/// `:proxy start`) to show an outage: Connect ends FAILED with XKS_PROXY_NOT_REACHABLE, Encrypt fails with
/// KMSInvalidStateException.
public final class DemoLiveProxy: Sendable {
    /// The store on this proxy (not part of `DemoEstate`, whose fixed records the console's goldens render).
    public static let storeName = "live-xks"
    public static let host = "live-xks.xks.example.test"
    public static let endpoint = "https://\(host)"
    public static let uriPathPrefix = "demo"
    public static let path = "/\(uriPathPrefix)/kms/xks/v1"
    public static let keyCount = 4
    public static let aliasPrefix = "alias/live/"
    /// The store's credential: random per demo.
    public let accessKeyId: String
    public let secretAccessKey: String
    public let port: Int
    let options: XksProxyOptions
    private let server: Mutex<XksProxyServer?>
    /// Serializes stop/start.
    private let changing = Mutex(false)

    public static func externalKeyId(_ k: Int) -> String { "ekm-live-\(k + 1)" }

    /// What the core's XKS client needs to reach the proxy. The budget per call is generous, unlike KMS's 250 ms:
    /// the proxy shares a laptop (or a CI machine) with the core and the console, and a stopped proxy is refused
    /// at once anyway, so the demo's outage still shows immediately.
    public var clientOptions: XksClientOptions {
        XksClientOptions(resolve: [Self.host: .init(secure: false, address: "127.0.0.1", port: port)], timeout: .seconds(30))
    }

    public var isRunning: Bool { server.withLock { $0 != nil } }

    /// Writes the proxy's configuration under `directory` and starts it.
    public static func start(in directory: URL) async throws -> DemoLiveProxy {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let accessKeyId = "DEMOLIVE" + random(12, from: "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        let secret = random(43, from: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        let configFile = directory.appendingPathComponent("xks-proxy.json").path
        let store: [String: Any] = [
            "uriPathPrefix": uriPathPrefix,
            "credentials": [["accessKeyId": accessKeyId, "secretAccessKey": secret]],
            "keys": (0..<keyCount).map { ["id": externalKeyId($0), "usage": ["ENCRYPT", "DECRYPT"], "status": "ENABLED"] },
        ]
        let object: [String: Any] = ["tls": ["enabled": false], "keyStores": [store]]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        _ = FileManager.default.createFile(atPath: configFile, contents: data, attributes: [.posixPermissions: 0o600])
        var options = XksProxyOptions(configFile: configFile, dataDirectory: directory.appendingPathComponent("data").path)
        options.host = "127.0.0.1"
        options.port = 0
        let server = try await XksProxyServer.start(options, logger: silentLogger)
        options.port = server.port
        return DemoLiveProxy(options: options, server: server, accessKeyId: accessKeyId, secretAccessKey: secret)
    }

    private init(options: XksProxyOptions, server: XksProxyServer, accessKeyId: String, secretAccessKey: String) {
        self.options = options
        self.port = server.port
        self.server = Mutex(server)
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
    }

    static let silentLogger = Logger(label: "cks.demo.xks-proxy", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Stops the proxy (connections refused from now on); false when it was not running.
    @discardableResult
    public func stop() async -> Bool {
        let running = server.withLock { s -> XksProxyServer? in defer { s = nil }; return s }
        guard let running else { return false }
        await running.shutdown()
        return true
    }

    /// Starts the proxy again on its port, over the same keys; false when it was already running.
    @discardableResult
    public func start() async throws -> Bool {
        guard !isRunning else { return false }
        let started = try await XksProxyServer.start(options, logger: Self.silentLogger)
        let spare = server.withLock { s -> XksProxyServer? in
            if s == nil { s = started; return nil }
            return started
        }
        if let spare { await spare.shutdown(); return false }
        return true
    }

    /// Creates the `live-xks` store on this proxy, connects it (moving the core's clock past the connect), and
    /// creates its keys with aliases, each used once. Returns the store id and key ids.
    public func seed(client: KMSClient, connectDuration: TimeInterval) async throws(KMSClientError) -> (storeId: String, keyIds: [String]) {
        let storeId = try await client.createCustomKeyStore(CreateCustomKeyStoreRequest(
            customKeyStoreName: Self.storeName, customKeyStoreType: .externalKeyStore, xksProxyUriEndpoint: Self.endpoint,
            xksProxyUriPath: Self.path,
            xksProxyAuthenticationCredential: XksProxyAuthenticationCredentialType(accessKeyId: accessKeyId,
                                                                                   rawSecretAccessKey: secretAccessKey),
            xksProxyConnectivity: .publicEndpoint)).customKeyStoreId ?? ""
        try await client.connectCustomKeyStore(id: storeId)
        _ = try await client.advanceClock(seconds: Int(connectDuration.rounded(.up)) + 60)
        var keyIds: [String] = []
        for k in 0..<Self.keyCount {
            let keyId = try await client.createKey(CreateKeyRequest(
                description: "live proxy key \(k + 1)", origin: .externalKeyStore, customKeyStoreId: storeId,
                xksKeyId: Self.externalKeyId(k))).keyMetadata?.keyId ?? ""
            try await client.createAlias(aliasName: Self.aliasPrefix + String(k + 1), targetKeyId: keyId)
            _ = try await client.encrypt(EncryptRequest(keyId: keyId, plaintext: Data("cks demo".utf8)))
            keyIds.append(keyId)
        }
        return (storeId, keyIds)
    }

    static func random(_ n: Int, from alphabet: String) -> String {
        let chars = Array(alphabet)
        return String((0..<n).map { _ in chars.randomElement()! })
    }
}
