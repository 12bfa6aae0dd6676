import CKSDomain
import Foundation

/// The demo estate: several CloudHSM and external key stores in different states, so every screen and
/// state shows something real. Described as data: `DemoSeeder` builds it in a real core through the client and
/// the core's admin API, and the console's golden tests render the same estate from fixed records.
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
}
