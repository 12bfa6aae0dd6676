@testable import CKSServer
import CKSDomain
import CKSTestSupport
import CKSWire
import Foundation
import Synchronization
import Testing

/// An engine over a temporary database, called exactly as the HTTP front calls it: `handle(target:body:caller:)`.
final class EngineHarness: Sendable {
    let directory: URL
    let wall: ManualClock
    let options: EngineOptions
    let engineBox: Mutex<KMSEngine?>

    static let alice = Caller(account: "111122223333", region: "us-east-1", principalName: "alice")
    static let bob = Caller(account: "444455556666", region: "us-east-1", principalName: "bob")
    static let aliceWest = Caller(account: "111122223333", region: "eu-west-1", principalName: "alice")

    /// CONNECTING lasts 20 simulated minutes and DISCONNECTING 30 s, as the defaults say.
    init(quota: Int = 10, connect: TimeInterval = 1200, disconnect: TimeInterval = 30, timeScale: Double = 1) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("cks-engine-\(UUID().uuidString)")
        let wall = ManualClock()
        self.wall = wall
        options = EngineOptions(storeQuota: quota, timeScale: timeScale, connectDuration: connect, disconnectDuration: disconnect,
                                wallClock: { wall.now() })
        engineBox = Mutex(try KMSEngine.open(databaseAt: directory.appendingPathComponent("cks.sqlite"), options: options))
    }

    var engine: KMSEngine { engineBox.withLock { $0! } }

    /// Closes the engine and opens the same database again, as a restart does.
    func restart(timeScale: Double? = nil) throws {
        var opts = options
        if let timeScale { opts.timeScale = timeScale }
        try engine.close()
        let reopened = try KMSEngine.open(databaseAt: directory.appendingPathComponent("cks.sqlite"), options: opts)
        engineBox.withLock { $0 = reopened }
    }

    func cleanup() {
        try? engine.close()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Sends a typed request and decodes the response.
    @discardableResult
    func call<R: WireRequest>(_ request: R, as caller: Caller = alice) async throws -> R.Response {
        let body = try WireCodec.encodeRequest(request)
        let data = try await engine.handle(target: R.target, body: body, caller: caller)
        return try WireCodec.decodeResponse(R.Response.self, from: data)
    }

    /// Sends a request expected to fail and returns its error.
    func failure<R: WireRequest>(_ request: R, as caller: Caller = alice,
                                 sourceLocation: SourceLocation = #_sourceLocation) async -> KMSError? {
        do {
            _ = try await call(request, as: caller)
            Issue.record("expected \(R.target) to fail", sourceLocation: sourceLocation)
            return nil
        } catch let error as KMSError {
            return error
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    /// Expects `request` to fail with `code`.
    func expect<R: WireRequest>(_ code: KMSErrorCode, _ request: R, as caller: Caller = alice,
                                sourceLocation: SourceLocation = #_sourceLocation) async {
        let error = await failure(request, as: caller, sourceLocation: sourceLocation)
        #expect(error?.code == code, "\(R.target): \(String(describing: error))", sourceLocation: sourceLocation)
    }

    // MARK: Fixtures

    static let password = "kmsPswd1"
    static let xksAccessKey = "ABCDEFGHIJKLMNOPQRST"
    static let xksSecret = "K2bOnlYXsWuS1ffk0C6hR3ybTZv5E2CTqw2EZ1ySKvC"

    func advance(_ seconds: Int, as caller: Caller = alice) async throws {
        try await call(AdvanceClockRequest(seconds: seconds), as: caller)
    }

    func cluster(hsms: Int = 2, password: String = password, as caller: Caller = alice) async throws -> CreateCloudHsmClusterResponse {
        try await call(CreateCloudHsmClusterRequest(hsmCount: hsms, kmsUserPassword: password), as: caller)
    }

    /// A CloudHSM store on a fresh cluster; returns (store id, cluster id).
    func hsmStore(name: String = "store-\(UUID().uuidString.prefix(8))", password: String = password,
                  as caller: Caller = alice) async throws -> (String, String) {
        let c = try await cluster(as: caller)
        let r = try await call(CreateCustomKeyStoreRequest(customKeyStoreName: name, cloudHsmClusterId: c.clusterId,
                                                           trustAnchorCertificate: c.trustAnchorCertificate,
                                                           keyStorePassword: password), as: caller)
        return (r.customKeyStoreId!, c.clusterId)
    }

    func connect(_ storeId: String, wait: Bool = true, as caller: Caller = alice) async throws {
        try await call(ConnectCustomKeyStoreRequest(customKeyStoreId: storeId), as: caller)
        if wait { try await advance(Int(options.connectDuration), as: caller) }
    }

    func disconnect(_ storeId: String, wait: Bool = true, as caller: Caller = alice) async throws {
        try await call(DisconnectCustomKeyStoreRequest(customKeyStoreId: storeId), as: caller)
        if wait { try await advance(Int(options.disconnectDuration), as: caller) }
    }

    func state(_ storeId: String, as caller: Caller = alice) async throws -> ConnectionState? {
        try await entry(storeId, as: caller).connectionState
    }

    func entry(_ storeId: String, as caller: Caller = alice) async throws -> CustomKeyStoresListEntry {
        let r = try await call(DescribeCustomKeyStoresRequest(customKeyStoreId: storeId), as: caller)
        return r.customKeyStores!.first!
    }

    func createKey(in storeId: String? = nil, origin: Origin? = nil, xksKeyId: String? = nil, description: String? = nil,
                   as caller: Caller = alice) async throws -> KeyMetadata {
        let o = origin ?? (storeId == nil ? nil : .awsCloudHsm)
        return try await call(CreateKeyRequest(description: description, origin: o, customKeyStoreId: storeId, xksKeyId: xksKeyId),
                              as: caller).keyMetadata!
    }

    func keyState(_ keyId: String, as caller: Caller = alice) async throws -> KeyState? {
        try await call(DescribeKeyRequest(keyId: keyId), as: caller).keyMetadata?.keyState
    }

    func schedule(_ keyId: String, days: Int? = 7, as caller: Caller = alice) async throws -> ScheduleKeyDeletionResponse {
        try await call(ScheduleKeyDeletionRequest(keyId: keyId, pendingWindowInDays: days), as: caller)
    }

    func listAllKeys(limit: Int? = nil, as caller: Caller = alice) async throws -> [String] {
        var ids: [String] = []
        var marker: String?
        repeat {
            let page = try await call(ListKeysRequest(limit: limit, marker: marker), as: caller)
            ids += page.keys?.compactMap(\.keyId) ?? []
            marker = page.truncated == true ? page.nextMarker : nil
        } while marker != nil
        return ids
    }

    func registerProxy(endpoint: String = "https://xks.example.com", path: String = "/kms/xks/v1",
                       keys: [String] = ["ext-key-1", "ext-key-2"], vpc: String? = nil) async throws {
        try await call(CreateXksProxyRequest(uriEndpoint: endpoint, uriPath: path, accessKeyId: Self.xksAccessKey,
                                             rawSecretAccessKey: Self.xksSecret, externalKeyIds: keys, vpcEndpointServiceName: vpc))
    }

    func xksStoreRequest(name: String, endpoint: String = "https://xks.example.com", path: String = "/kms/xks/v1",
                         secret: String = xksSecret) -> CreateCustomKeyStoreRequest {
        CreateCustomKeyStoreRequest(customKeyStoreName: name, customKeyStoreType: .externalKeyStore, xksProxyUriEndpoint: endpoint,
                                    xksProxyUriPath: path,
                                    xksProxyAuthenticationCredential: XksProxyAuthenticationCredentialType(accessKeyId: Self.xksAccessKey,
                                                                                                           rawSecretAccessKey: secret),
                                    xksProxyConnectivity: .publicEndpoint)
    }
}

/// Runs `body` with a fresh harness and removes it afterwards.
func withEngine<T>(quota: Int = 10, connect: TimeInterval = 1200, disconnect: TimeInterval = 30,
                   _ body: (EngineHarness) async throws -> T) async throws -> T {
    let h = try EngineHarness(quota: quota, connect: connect, disconnect: disconnect)
    defer { h.cleanup() }
    return try await body(h)
}
