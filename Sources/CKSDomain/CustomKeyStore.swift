import Foundation

/// The CloudHSM side of an `AWS_CLOUDHSM` custom key store.
public struct CloudHsmSettings: Sendable, Hashable, Codable {
    public var clusterId: String
    public var trustAnchorCertificate: String
    /// The kmsuser password KMS logs in with. Sensitive: never returned by any operation.
    public var keyStorePassword: String

    public init(clusterId: String, trustAnchorCertificate: String, keyStorePassword: String) {
        self.clusterId = clusterId
        self.trustAnchorCertificate = trustAnchorCertificate
        self.keyStorePassword = keyStorePassword
    }
}

/// The proxy side of an `EXTERNAL_KEY_STORE` custom key store (`XksProxyConfiguration` plus the secret).
public struct XksProxySettings: Sendable, Hashable, Codable {
    public var connectivity: XksProxyConnectivity
    public var uriEndpoint: String
    public var uriPath: String
    public var vpcEndpointServiceName: String?
    public var vpcEndpointServiceOwner: String?
    public var accessKeyId: String
    /// Sensitive: never returned by any operation.
    public var rawSecretAccessKey: String

    public init(connectivity: XksProxyConnectivity, uriEndpoint: String, uriPath: String,
                vpcEndpointServiceName: String? = nil, vpcEndpointServiceOwner: String? = nil,
                accessKeyId: String, rawSecretAccessKey: String) {
        self.connectivity = connectivity
        self.uriEndpoint = uriEndpoint
        self.uriPath = uriPath
        self.vpcEndpointServiceName = vpcEndpointServiceName
        self.vpcEndpointServiceOwner = vpcEndpointServiceOwner
        self.accessKeyId = accessKeyId
        self.rawSecretAccessKey = rawSecretAccessKey
    }
}

/// A custom key store as persisted. Its visible `ConnectionState` at a given time is
/// `connection.resolved(at:)`, because CONNECTING and DISCONNECTING end by themselves.
public struct CustomKeyStore: Sendable, Hashable {
    public var id: String
    public var scope: ResourceScope
    public var name: String
    public var type: CustomKeyStoreType
    public var creationDate: Date
    public var cloudHsm: CloudHsmSettings?
    public var xks: XksProxySettings?
    public var connection: StoreConnection
    /// Set through `CksAdmin.SetConnectionFault`: every connect started while it is set ends FAILED with it.
    public var connectionFault: ConnectionErrorCode?

    public init(id: String, scope: ResourceScope, name: String, type: CustomKeyStoreType, creationDate: Date,
                cloudHsm: CloudHsmSettings? = nil, xks: XksProxySettings? = nil,
                connection: StoreConnection, connectionFault: ConnectionErrorCode? = nil) {
        self.id = id
        self.scope = scope
        self.name = name
        self.type = type
        self.creationDate = creationDate
        self.cloudHsm = cloudHsm
        self.xks = xks
        self.connection = connection
        self.connectionFault = connectionFault
    }

    /// The store as it is at `now`: transient states that have run their course are settled.
    public func resolved(at now: Date) -> CustomKeyStore {
        var copy = self
        copy.connection = connection.resolved(at: now)
        return copy
    }
}

/// The persisted connection record of a store: the state it entered at `changedAt`, and for the
/// transient states when they end (`settlesAt`) and how (`outcome`). Everything time-derived is
/// computed from these timestamps, so it is right after a restart and after `AdvanceClock`.
public struct StoreConnection: Sendable, Hashable, Codable {
    public var state: ConnectionState
    /// Present only in FAILED.
    public var errorCode: ConnectionErrorCode?
    /// When `state` was entered.
    public var changedAt: Date
    /// For CONNECTING and DISCONNECTING: when the state ends by itself.
    public var settlesAt: Date?
    /// For CONNECTING: `nil` means the attempt succeeds (CONNECTED), otherwise it ends FAILED with this code.
    public var outcome: ConnectionErrorCode?

    public init(state: ConnectionState, errorCode: ConnectionErrorCode? = nil, changedAt: Date,
                settlesAt: Date? = nil, outcome: ConnectionErrorCode? = nil) {
        self.state = state
        self.errorCode = errorCode
        self.changedAt = changedAt
        self.settlesAt = settlesAt
        self.outcome = outcome
    }

    /// A new store: DISCONNECTED, never connected.
    public static func new(at date: Date) -> StoreConnection { StoreConnection(state: .disconnected, changedAt: date) }

    /// The record as it stands at time `t`: a CONNECTING or DISCONNECTING whose `settlesAt` has passed
    /// becomes CONNECTED / FAILED / DISCONNECTED, entered at `settlesAt` (not at `t`).
    public func resolved(at t: Date) -> StoreConnection {
        guard let settlesAt, t >= settlesAt else { return self }
        switch state {
        case .connecting:
            if let outcome {
                return StoreConnection(state: .failed, errorCode: outcome, changedAt: settlesAt)
            }
            return StoreConnection(state: .connected, changedAt: settlesAt)
        case .disconnecting:
            return StoreConnection(state: .disconnected, changedAt: settlesAt)
        default:
            return self
        }
    }

    /// The visible state at `t`.
    public func state(at t: Date) -> ConnectionState { resolved(at: t).state }

    /// Starts a connect attempt at `now` that lasts `duration` and ends as `outcome` says.
    /// A zero duration settles at once.
    public static func connecting(at now: Date, duration: TimeInterval, outcome: ConnectionErrorCode?) -> StoreConnection {
        StoreConnection(state: .connecting, changedAt: now, settlesAt: now.addingTimeInterval(max(0, duration)),
                        outcome: outcome).resolved(at: now)
    }

    /// Starts a disconnect at `now` that lasts `duration`. A zero duration settles at once.
    public static func disconnecting(at now: Date, duration: TimeInterval) -> StoreConnection {
        StoreConnection(state: .disconnecting, changedAt: now, settlesAt: now.addingTimeInterval(max(0, duration)))
            .resolved(at: now)
    }
}
