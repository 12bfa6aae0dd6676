import CKSClient
import CKSDomain
import CKSServer
import CKSTestSupport
@testable import CKSTeardown
import CKSWire
import Foundation
@testable import CKSConsole

/// What the console suites build in the in-process core (`InProcessCore` of CKSTestSupport).
extension InProcessCore {
    /// A core whose connects take `connectSeconds` and disconnects `disconnectSeconds` of simulated time.
    static func forConsole(connectSeconds: TimeInterval = 600, disconnectSeconds: TimeInterval = 30) async throws -> InProcessCore {
        try await start(options: EngineOptions(connectDuration: connectSeconds, disconnectDuration: disconnectSeconds,
                                               durability: .normal))
    }

    /// A connected CloudHSM store with `keys` keys (aliases `alias/<name>/N`); the first `used` are used now.
    @discardableResult
    func cloudHsmStore(_ name: String, keys: Int, used: Int = 0) async throws -> (storeId: String, clusterId: String, keyIds: [String]) {
        let password = "kmsuser-\(name)"
        let cluster = try await client.createCloudHsmCluster(kmsUserPassword: password, hsmCount: 2)
        let created = try await client.createCustomKeyStore(CreateCustomKeyStoreRequest(
            customKeyStoreName: name, cloudHsmClusterId: cluster.clusterId,
            trustAnchorCertificate: cluster.trustAnchorCertificate, keyStorePassword: password))
        let storeId = try required(created.customKeyStoreId)
        try await client.connectCustomKeyStore(id: storeId)
        try await client.advanceClock(seconds: 3_600)
        var ids: [String] = []
        for i in 0..<keys {
            let key = try await client.createKey(CreateKeyRequest(origin: .awsCloudHsm, customKeyStoreId: storeId))
            let id = try required(key.keyMetadata?.keyId)
            try await client.createAlias(aliasName: "alias/\(name)/\(i)", targetKeyId: id)
            ids.append(id)
        }
        for id in ids.prefix(used) {
            _ = try await client.generateDataKey(GenerateDataKeyRequest(keyId: id, keySpec: "AES_256"))
        }
        return (storeId, cluster.clusterId, ids)
    }

    /// A client-backed console backend (as `cks` uses against a core), recording calls to `inbox`.
    func consoleBackend(_ inbox: ActivityInbox) -> KMSClientBackend {
        let transport = ObservingTransport(wrapping: NIOTransport(), recorder: inbox.recorder)
        let admin = server.adminPrincipal
        let client = KMSClient(endpoint: server.endpoint, region: "us-east-1",
                               credentials: AWSCredentials(accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey),
                               transport: transport)
        return KMSClientBackend(client: client, info: EndpointInfo(endpoint: server.endpoint.absoluteString, account: admin.account,
                                                                   region: "us-east-1", principal: admin.name, mode: .remote))
    }

    /// Whether the store still exists.
    func storeExists(_ id: String) async throws -> Bool {
        do {
            _ = try await client.customKeyStore(idOrName: id)
            return true
        } catch where error.code == .customKeyStoreNotFound {
            return false
        }
    }

    /// Key ids of the store (ListKeys + DescribeKey).
    func keyIds(inStore id: String) async throws -> [String] {
        var ids: [String] = []
        for try await key in client.keys(inStore: id) { ids.append(key.keyId) }
        return ids.sorted()
    }
}

private func required<T>(_ value: T?) throws -> T {
    guard let value else { throw KMSError(.kmsInternal, "missing value") }
    return value
}
