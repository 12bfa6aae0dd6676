import CKSDomain
import CKSEmbedded
@testable import CKSTeardown
import Foundation
@testable import CKSConsole

// The demo estate seeded into the in-memory backend, and the teardown calls only a core can answer.

extension DemoEstate {
    /// Seeds the in-memory double deterministically (same ids every time for the same `seed`).
    public func seed(into backend: InMemoryBackend, now: Date, seed: UInt64 = 42) async {
        var rng = SplitMix64(seed: seed)
        let account = "111122223333"
        let region = "us-east-1"
        for (index, plan) in stores.enumerated() {
            let storeId = "cks-" + rng.hex(17)
            let created = now.addingTimeInterval(-Double(400 - index * 37) * 86_400)
            let clusterId = plan.type == .awsCloudHsm ? "cluster-" + rng.base32(11) : nil
            let proxy = plan.type == .externalKeyStore
                ? XksProxyInfo(connectivity: .publicEndpoint, uriEndpoint: "https://\(plan.name).xks.example.com",
                               uriPath: "/example/kms/xks/v1", accessKeyId: "AKIA" + rng.base32(16).uppercased())
                : nil
            let record = StoreRecord(id: storeId, name: plan.name, type: plan.type, connectionState: plan.finalState,
                                     connectionErrorCode: plan.finalState == .failed ? plan.fault : nil, creationDate: created,
                                     cloudHsmClusterId: clusterId, hsmCount: clusterId == nil ? nil : 2 + index % 2, xksProxy: proxy)
            await backend.addStore(record, fault: plan.fault)
            for k in 0..<plan.keyCount {
                let keyId = rng.uuid()
                let keyCreated = created.addingTimeInterval(Double(k) * 3_600 + 86_400)
                var state: KeyState = k < plan.disabled ? .disabled : .enabled
                var deletion: Date?
                var window: Int?
                if k >= plan.keyCount - plan.pendingDeletion {
                    window = [7, 10, 14, 21, 30][k % 5]
                    let remaining = Double(window!) * 86_400 - Double((k * 7_919) % 500_000)
                    deletion = now.addingTimeInterval(max(3_600, remaining))
                    state = .pendingDeletion
                }
                let connected = plan.finalState == .connected
                let shownState: KeyState = (state == .pendingDeletion || connected) ? state : .unavailable
                let aliases = plan.aliasPrefix.map { [String(format: "\($0)%04d", k + 1)] } ?? []
                let used: Date? = k % 4 == 3 ? nil : now.addingTimeInterval(-Double((k * 104_729) % 5_000_000))
                let key = KeyRecord(
                    id: keyId, arn: "arn:aws:kms:\(region):\(account):key/\(keyId)", accountId: account, aliases: aliases,
                    state: shownState, enabled: shownState == .enabled, description: "\(plan.description) key \(k + 1)",
                    creationDate: keyCreated, deletionDate: deletion, pendingDeletionWindowInDays: window,
                    origin: plan.type == .awsCloudHsm ? .awsCloudHsm : .externalKeyStore, customKeyStoreId: storeId,
                    cloudHsmClusterId: clusterId, xksKeyId: plan.type == .externalKeyStore ? "ekm-" + rng.hex(12) : nil)
                await backend.addKey(key, lastUsed: used, stateBeforeUnavailable: shownState == .unavailable ? state : nil)
            }
        }
    }
}

/// Ids for seeded estates, the same in every run (`SplitMix64` is deterministic).
extension SplitMix64 {
    mutating func hex(_ n: Int) -> String {
        String((0..<n).map { _ in "0123456789abcdef".randomElement(using: &self)! })
    }
    mutating func base32(_ n: Int) -> String {
        String((0..<n).map { _ in "abcdefghijklmnopqrstuvwxyz234567".randomElement(using: &self)! })
    }
    mutating func uuid() -> String {
        "\(hex(8))-\(hex(4))-\(hex(4))-\(hex(4))-\(hex(12))"
    }
}

extension InMemoryBackend: TeardownCapableBackend {
    /// The teardown over this backend's own calls (no KMS client behind it).
    public func teardownService(info: EndpointInfo, endpointIdentity: String?) async -> any TeardownService {
        ConsoleBackendTeardownService(backend: self, info: info)
    }

    public func deleteStore(_ storeId: String) async throws {
        try await call("DeleteCustomKeyStore", target: storeId) {
            let s = try storeState(storeId)
            guard !keys.values.contains(where: { $0.record.customKeyStoreId == storeId }) else {
                throw KMSError(.customKeyStoreHasCMKs, "Custom key store \(storeId) has KMS keys; they must be deleted first.")
            }
            guard s.record.connectionState == .disconnected else {
                throw KMSError(.customKeyStoreInvalidState, "The custom key store \(storeId) is \(s.record.connectionState.rawValue); it must be DISCONNECTED to be deleted.")
            }
            stores[storeId] = nil
            storeOrder.removeAll { $0 == storeId }
        }
    }

    public func advanceClock(seconds: Int) async throws -> Date {
        try await call("CksAdmin.AdvanceClock", target: "\(seconds)s") {
            time.advance(by: TimeInterval(seconds))
            return time.now()
        }
    }

    /// The in-memory core does not track HSM key material.
    public func orphanedKeyMaterial(clusterId: String) async -> [TeardownObservation.OrphanedKeyMaterial]? { nil }
}
