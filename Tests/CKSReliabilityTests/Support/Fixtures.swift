import CKSClient
import CKSDomain
import CKSWire
import Foundation

/// Builds the estates the tests attack, through the client and the admin API.
enum Fixtures {
    static let kmsUserPassword = "kmsuser-Pa55word"

    /// `cks` against `core` for a tmux session: the shell line (its exit status echoed as `EXIT:n`) and an
    /// environment signed as the core's admin, with the console's configuration and state in `scratch`.
    static func console(_ binary: URL, against core: ServeProcess, scratch: URL,
                        environment extra: [String: String] = [:]) -> (shell: String, environment: [String: String]) {
        var environment = ["AWS_ACCESS_KEY_ID": core.admin.accessKeyId, "AWS_SECRET_ACCESS_KEY": core.admin.secretAccessKey,
                           "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                           "XDG_CONFIG_HOME": scratch.path, "XDG_STATE_HOME": scratch.path]
        environment.merge(extra) { _, new in new }
        let shell = [binary.path, "--endpoint", core.endpoint.absoluteString, "--region", "us-east-1"]
            .map(TmuxSession.quote).joined(separator: " ") + "; echo \"EXIT:$?\""
        return (shell, environment)
    }

    /// A fresh CloudHSM cluster (2 HSMs) and a store on it, left DISCONNECTED.
    static func makeStore(_ client: KMSClient, name: String) async throws -> String {
        let cluster = try await client.createCloudHsmCluster(kmsUserPassword: kmsUserPassword, hsmCount: 2)
        let store = try await client.createCustomKeyStore(CreateCustomKeyStoreRequest(
            customKeyStoreName: name, cloudHsmClusterId: cluster.clusterId,
            trustAnchorCertificate: cluster.trustAnchorCertificate, keyStorePassword: kmsUserPassword))
        guard let id = store.customKeyStoreId else { throw HarnessError("CreateCustomKeyStore returned no id") }
        return id
    }

    /// Connects the store and moves the simulated clock past CONNECTING; returns once it is CONNECTED.
    static func connect(_ client: KMSClient, _ storeId: String) async throws {
        try await client.connectCustomKeyStore(id: storeId)
        try await client.advanceClock(seconds: 3600)
        try await waitForState(client, storeId, .connected)
    }

    /// Disconnects and moves the clock past DISCONNECTING; returns once it is DISCONNECTED.
    static func disconnect(_ client: KMSClient, _ storeId: String) async throws {
        try await client.disconnectCustomKeyStore(id: storeId)
        try await client.advanceClock(seconds: 120)
        try await waitForState(client, storeId, .disconnected)
    }

    static func state(_ client: KMSClient, _ storeId: String) async throws -> ConnectionState? {
        try await client.describeCustomKeyStores(customKeyStoreId: storeId).customKeyStores?.first?.connectionState
    }

    static func waitForState(_ client: KMSClient, _ storeId: String, _ wanted: ConnectionState) async throws {
        var last: ConnectionState?
        let reached = try await poll(timeout: .seconds(30)) {
            last = try await state(client, storeId)
            return last == wanted
        }
        if !reached { throw HarnessError("store \(storeId) stayed \(last?.rawValue ?? "nil"), never \(wanted.rawValue)") }
    }

    /// Creates `count` keys in the store (it must be CONNECTED) with bounded concurrency; returns their ids.
    static func makeKeys(_ client: KMSClient, storeId: String, count: Int, concurrency: Int = 8) async throws -> [String] {
        let results = await client.bulk(Array(0..<count).map(String.init), concurrency: concurrency) {
            (_: String) throws(KMSClientError) -> String in
            let created = try await client.createKey(CreateKeyRequest(origin: .awsCloudHsm, customKeyStoreId: storeId))
            return created.keyMetadata?.keyId ?? ""
        }
        var ids: [String] = []
        for item in results {
            switch item.result {
            case .success(let id): ids.append(id)
            case .failure(let error): throw HarnessError("CreateKey failed: \(error)")
            }
        }
        return ids
    }

    /// The whole safe teardown, for cleaning up: schedule every key, let the window pass, disconnect, delete.
    static func tearDown(_ client: KMSClient, storeId: String) async throws {
        var keyIds: [String] = []
        for try await key in client.keys(inStore: storeId) where key.keyState != .pendingDeletion {
            keyIds.append(key.keyId)
        }
        for item in await client.scheduleKeyDeletion(keyIds: keyIds, pendingWindowInDays: 7) {
            if let error = item.error { throw HarnessError("ScheduleKeyDeletion \(item.id): \(error)") }
        }
        try await client.advanceClock(seconds: 31 * 86400)
        if try await state(client, storeId) != .disconnected {
            if try await state(client, storeId) == .disconnecting {
                try await client.advanceClock(seconds: 120)
            } else {
                try await disconnect(client, storeId)
            }
        }
        try await client.deleteCustomKeyStore(id: storeId)
    }
}
