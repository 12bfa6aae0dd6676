import CKSDomain
import Foundation

/// The demo estate: several CloudHSM and external key stores in different states, so every screen and
/// state shows something real. Described as data, so the in-memory core and the real core (through
/// the client and the admin API) are seeded with the same estate.
public struct DemoEstate: Sendable {
    public struct StorePlan: Sendable {
        public var name: String
        public var type: CustomKeyStoreType
        /// The state the store should end in.
        public var finalState: ConnectionState
        /// For FAILED stores: the connection error the core's fault injection produces.
        public var fault: ConnectionErrorCode?
        public var keyCount: Int
        /// How many of the keys are scheduled for deletion (with windows 7...30 days).
        public var pendingDeletion: Int
        /// How many are disabled.
        public var disabled: Int
        /// Alias prefix (`alias/payments/card-`); nil for keys without aliases.
        public var aliasPrefix: String?
        public var description: String
    }

    public var stores: [StorePlan]

    /// The estate `cks --demo` seeds.
    public static let standard = DemoEstate(stores: [
        StorePlan(name: "payments-hsm", type: .awsCloudHsm, finalState: .connected, fault: nil, keyCount: 240,
                  pendingDeletion: 6, disabled: 12, aliasPrefix: "alias/payments/card-", description: "card tokenisation"),
        StorePlan(name: "ledger-hsm", type: .awsCloudHsm, finalState: .disconnected, fault: nil, keyCount: 14,
                  pendingDeletion: 9, disabled: 0, aliasPrefix: "alias/ledger/", description: "ledger signing (retired)"),
        StorePlan(name: "analytics-hsm", type: .awsCloudHsm, finalState: .failed, fault: .networkErrors, keyCount: 6,
                  pendingDeletion: 0, disabled: 1, aliasPrefix: "alias/analytics/", description: "analytics exports"),
        StorePlan(name: "partner-xks", type: .externalKeyStore, finalState: .connected, fault: nil, keyCount: 24,
                  pendingDeletion: 2, disabled: 3, aliasPrefix: "alias/partner/", description: "partner data at the EKM"),
        StorePlan(name: "staging-hsm", type: .awsCloudHsm, finalState: .connecting, fault: nil, keyCount: 0,
                  pendingDeletion: 0, disabled: 0, aliasPrefix: nil, description: "staging"),
        StorePlan(name: "archive-xks", type: .externalKeyStore, finalState: .disconnected, fault: nil, keyCount: 0,
                  pendingDeletion: 0, disabled: 0, aliasPrefix: nil, description: "archive (empty)"),
    ])

    /// A small estate for golden tests at 80x24: the same kinds of stores, fewer keys.
    public static let small = DemoEstate(stores: standard.stores.map { plan in
        var p = plan
        p.keyCount = min(plan.keyCount, 30)
        p.pendingDeletion = min(plan.pendingDeletion, 4)
        p.disabled = min(plan.disabled, 3)
        return p
    })

    /// Seeds an in-memory core deterministically (same ids every time for the same `seed`).
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

/// A small deterministic generator (SplitMix64), so seeded estates have the same ids in every run.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
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
