import Foundation
@testable import CKSDomain

/// Builders for teardown observations, so each test states only what matters to it.
enum TF {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)  // 2027-01-15 08:00 UTC
    static let day: TimeInterval = 86_400

    static func store(_ type: CustomKeyStoreType = .awsCloudHsm, _ state: ConnectionState = .connected,
                      code: ConnectionErrorCode? = nil, id: String = "cks-0123456789abcdef0",
                      name: String = "payments-hsm") -> TeardownObservation.Store {
        TeardownObservation.Store(
            id: id, name: name, type: type, connectionState: state,
            connectionErrorCode: state == .failed ? (code ?? .networkErrors) : nil,
            cloudHsmClusterId: type == .awsCloudHsm ? "cluster-1a23b4cdefg" : nil,
            xksProxyUriEndpoint: type == .externalKeyStore ? "https://xks.example.com" : nil)
    }

    static func key(_ id: String, _ state: KeyState = .enabled, deletesIn days: Double? = nil,
                    xks: Bool = false) -> TeardownObservation.Key {
        TeardownObservation.Key(id: id, state: state,
                                deletionDate: days.map { now.addingTimeInterval($0 * day) },
                                aliases: ["alias/\(id)"], xksKeyId: xks ? "ext-\(id)" : nil)
    }

    static func pending(_ id: String, in days: Double = 30) -> TeardownObservation.Key {
        key(id, .pendingDeletion, deletesIn: days)
    }

    /// Every key checked and never used, unless `lastUse` says otherwise.
    static func observe(_ store: TeardownObservation.Store, _ keys: [TeardownObservation.Key]?,
                        lastUse: [String: KeyLastUse]? = nil, scheduled: Set<String> = [],
                        acks: Set<TeardownAcknowledgement> = [], orphaned: [TeardownObservation.OrphanedKeyMaterial]? = nil,
                        window: PendingWindow = .default, now: Date = now) -> TeardownObservation {
        let uses = lastUse ?? Dictionary(uniqueKeysWithValues: (keys ?? []).map { ($0.id, KeyLastUse.neverUsed) })
        return TeardownObservation(store: .present(store), keys: keys, lastUse: uses, scheduledByTeardown: scheduled,
                                   acknowledgements: acks, orphanedKeyMaterial: orphaned, window: window, now: now)
    }

    static func plan(_ o: TeardownObservation) -> TeardownPlan { TeardownPlanner.plan(o) }

    static func statuses(_ plan: TeardownPlan) -> [String] { plan.steps.map(\.status.label) }
}
