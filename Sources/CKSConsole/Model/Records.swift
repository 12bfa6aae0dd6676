import CKSDomain
import CKSTeardown
import Foundation

/// A custom key store as the console shows it (DescribeCustomKeyStores, plus the HSM count when known).
public struct StoreRecord: Sendable, Hashable, Identifiable {
    public var id: String
    public var name: String
    public var type: CustomKeyStoreType
    public var connectionState: ConnectionState
    public var connectionErrorCode: ConnectionErrorCode?
    public var creationDate: Date
    public var cloudHsmClusterId: String?
    /// HSMs in the cluster, when the backend can tell (the core's admin API can; AWS KMS cannot).
    public var hsmCount: Int?
    public var xksProxy: XksProxyInfo?

    public init(id: String, name: String, type: CustomKeyStoreType, connectionState: ConnectionState,
                connectionErrorCode: ConnectionErrorCode? = nil, creationDate: Date, cloudHsmClusterId: String? = nil,
                hsmCount: Int? = nil, xksProxy: XksProxyInfo? = nil) {
        self.id = id; self.name = name; self.type = type; self.connectionState = connectionState
        self.connectionErrorCode = connectionErrorCode; self.creationDate = creationDate
        self.cloudHsmClusterId = cloudHsmClusterId; self.hsmCount = hsmCount; self.xksProxy = xksProxy
    }

    /// `FAILED (NETWORK_ERRORS)` or the bare state.
    public var stateText: String {
        if connectionState == .failed, let code = connectionErrorCode { return "FAILED (\(code.rawValue))" }
        return connectionState.rawValue
    }

    public var typeText: String { type == .awsCloudHsm ? "CloudHSM" : "External" }
}

/// The external key store proxy of a store (the secret is never returned by KMS).
public struct XksProxyInfo: Sendable, Hashable {
    public var connectivity: XksProxyConnectivity
    public var uriEndpoint: String
    public var uriPath: String
    public var accessKeyId: String
    public var vpcEndpointServiceName: String?

    public init(connectivity: XksProxyConnectivity, uriEndpoint: String, uriPath: String, accessKeyId: String,
                vpcEndpointServiceName: String? = nil) {
        self.connectivity = connectivity; self.uriEndpoint = uriEndpoint; self.uriPath = uriPath
        self.accessKeyId = accessKeyId; self.vpcEndpointServiceName = vpcEndpointServiceName
    }
}

/// A KMS key: every DescribeKey field the console shows, plus its aliases (ListAliases).
public struct KeyRecord: Sendable, Hashable, Identifiable {
    public var id: String
    public var arn: String
    public var accountId: String
    public var aliases: [String]
    public var state: KeyState
    public var enabled: Bool
    public var description: String
    public var creationDate: Date
    public var deletionDate: Date?
    public var pendingDeletionWindowInDays: Int?
    public var keyUsage: String
    public var keySpec: String
    public var origin: Origin
    public var keyManager: String
    public var customKeyStoreId: String?
    public var cloudHsmClusterId: String?
    public var xksKeyId: String?
    public var encryptionAlgorithms: [String]
    public var multiRegion: Bool

    public init(id: String, arn: String, accountId: String, aliases: [String] = [], state: KeyState, enabled: Bool,
                description: String = "", creationDate: Date, deletionDate: Date? = nil, pendingDeletionWindowInDays: Int? = nil,
                keyUsage: String = "ENCRYPT_DECRYPT", keySpec: String = "SYMMETRIC_DEFAULT", origin: Origin,
                keyManager: String = "CUSTOMER", customKeyStoreId: String? = nil, cloudHsmClusterId: String? = nil,
                xksKeyId: String? = nil, encryptionAlgorithms: [String] = ["SYMMETRIC_DEFAULT"], multiRegion: Bool = false) {
        self.id = id; self.arn = arn; self.accountId = accountId; self.aliases = aliases; self.state = state
        self.enabled = enabled; self.description = description; self.creationDate = creationDate
        self.deletionDate = deletionDate; self.pendingDeletionWindowInDays = pendingDeletionWindowInDays
        self.keyUsage = keyUsage; self.keySpec = keySpec; self.origin = origin; self.keyManager = keyManager
        self.customKeyStoreId = customKeyStoreId; self.cloudHsmClusterId = cloudHsmClusterId; self.xksKeyId = xksKeyId
        self.encryptionAlgorithms = encryptionAlgorithms; self.multiRegion = multiRegion
    }
}

/// GetKeyLastUsage: when the key last did a successful cryptographic operation, if ever since tracking began.
public struct KeyLastUsage: Sendable, Hashable {
    public var lastUsed: Date?
    public var operation: String?
    public var trackingStartDate: Date?
    public init(lastUsed: Date?, operation: String? = nil, trackingStartDate: Date? = nil) {
        self.lastUsed = lastUsed; self.operation = operation; self.trackingStartDate = trackingStartDate
    }
}

/// Where the console is connected, for the header.
public struct EndpointInfo: Sendable, Hashable {
    public enum Mode: String, Sendable { case embedded = "EMBEDDED", remote = "REMOTE" }
    public var endpoint: String
    public var account: String
    public var region: String
    public var principal: String
    public var mode: Mode
    /// Shown after the region when there is room (`demo, time x60`).
    public var note: String?
    /// Where the credentials came from and where calls go: what an error banner tells the operator to check.
    public var context: EndpointContext?
    /// The context's name (`:ctx`): a profile, `embedded`, `endpoint` or `demo`; the header names it.
    public var contextName: String?
    public init(endpoint: String, account: String, region: String, principal: String, mode: Mode, note: String? = nil,
                context: EndpointContext? = nil, contextName: String? = nil) {
        self.endpoint = endpoint; self.account = account; self.region = region; self.principal = principal; self.mode = mode
        self.note = note
        self.contextName = contextName
        self.context = context ?? EndpointContext(endpoint: endpoint, region: region)
    }
}
