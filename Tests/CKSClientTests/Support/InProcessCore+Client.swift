import CKSDomain
import CKSTestSupport
import CKSWire
import Foundation
import Testing
@testable import CKSClient

/// What the client suites build in the in-process core (`InProcessCore` of CKSTestSupport).
extension InProcessCore {
    /// A CONNECTED CloudHSM store (cluster created through the admin API, clock advanced past CONNECTING).
    func connectedCloudHsmStore(name: String) async throws -> String {
        let password = "kmsPswd-\(name.prefix(8))"
        let cluster = try await client.createCloudHsmCluster(kmsUserPassword: password)
        let created = try await client.createCustomKeyStore(CreateCustomKeyStoreRequest(
            customKeyStoreName: name, cloudHsmClusterId: cluster.clusterId,
            trustAnchorCertificate: cluster.trustAnchorCertificate, keyStorePassword: password))
        let id = try #require(created.customKeyStoreId)
        try await client.connectCustomKeyStore(id: id)
        try await waitForState(id, .connected)
        return id
    }

    /// Advances the simulated clock until the store reaches `state` (or fails the test after a bound).
    func waitForState(_ id: String, _ state: ConnectionState, step: Int = 300) async throws {
        for _ in 0..<40 {
            let store = try await client.customKeyStore(idOrName: id)
            if store.connectionState == state { return }
            try await client.advanceClock(seconds: step)
        }
        Issue.record("store \(id) never reached \(state)")
    }

    /// `count` keys in the store (or in KMS itself when nil), created with bounded concurrency.
    func createKeys(_ count: Int, inStore store: String?, concurrency: Int = 8) async throws -> [String] {
        let client = self.client
        let results = await client.bulk((0..<count).map(String.init), concurrency: concurrency) {
            (i: String) throws(KMSClientError) -> String in
            let request = store.map { CreateKeyRequest(description: "k\(i)", origin: .awsCloudHsm, customKeyStoreId: $0) }
                ?? CreateKeyRequest(description: "k\(i)")
            return try await client.createKey(request).keyMetadata?.keyId ?? ""
        }
        let failures = results.compactMap(\.error)
        #expect(failures.isEmpty, "CreateKey failures: \(failures.prefix(3))")
        return results.compactMap(\.value)
    }
}
