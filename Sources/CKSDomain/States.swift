/// The vocabulary of custom key stores and KMS keys, spelled exactly as the KMS API spells it
/// (raw values are the wire values), so every layer speaks the same words.

/// `ConnectionStateType`: where a custom key store is in its connect/disconnect life.
public enum ConnectionState: String, Sendable, Codable, CaseIterable, Hashable {
    case connected = "CONNECTED"
    case connecting = "CONNECTING"
    case failed = "FAILED"
    case disconnected = "DISCONNECTED"
    case disconnecting = "DISCONNECTING"

    /// CONNECTING and DISCONNECTING resolve by themselves; a poller watches them closely.
    public var isTransient: Bool { self == .connecting || self == .disconnecting }
}

/// `ConnectionErrorCodeType`: why a connect attempt ended FAILED. Present only when FAILED.
public enum ConnectionErrorCode: String, Sendable, Codable, CaseIterable, Hashable {
    case invalidCredentials = "INVALID_CREDENTIALS"
    case clusterNotFound = "CLUSTER_NOT_FOUND"
    case networkErrors = "NETWORK_ERRORS"
    case internalError = "INTERNAL_ERROR"
    case insufficientCloudHsmHsms = "INSUFFICIENT_CLOUDHSM_HSMS"
    case userLockedOut = "USER_LOCKED_OUT"
    case userNotFound = "USER_NOT_FOUND"
    case userLoggedIn = "USER_LOGGED_IN"
    case subnetNotFound = "SUBNET_NOT_FOUND"
    case insufficientFreeAddressesInSubnet = "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET"
    case xksProxyAccessDenied = "XKS_PROXY_ACCESS_DENIED"
    case xksProxyNotReachable = "XKS_PROXY_NOT_REACHABLE"
    case xksVpcEndpointServiceNotFound = "XKS_VPC_ENDPOINT_SERVICE_NOT_FOUND"
    case xksProxyInvalidResponse = "XKS_PROXY_INVALID_RESPONSE"
    case xksProxyInvalidConfiguration = "XKS_PROXY_INVALID_CONFIGURATION"
    case xksVpcEndpointServiceInvalidConfiguration = "XKS_VPC_ENDPOINT_SERVICE_INVALID_CONFIGURATION"
    case xksProxyTimedOut = "XKS_PROXY_TIMED_OUT"
    case xksProxyInvalidTlsConfiguration = "XKS_PROXY_INVALID_TLS_CONFIGURATION"
}

/// `CustomKeyStoreType`. `AWS_CLOUDHSM` is the API default when the field is absent.
public enum CustomKeyStoreType: String, Sendable, Codable, CaseIterable, Hashable {
    case awsCloudHsm = "AWS_CLOUDHSM"
    case externalKeyStore = "EXTERNAL_KEY_STORE"
}

/// `XksProxyConnectivityType`.
public enum XksProxyConnectivity: String, Sendable, Codable, CaseIterable, Hashable {
    case publicEndpoint = "PUBLIC_ENDPOINT"
    case vpcEndpointService = "VPC_ENDPOINT_SERVICE"
}

/// `KeyState`. Custom-key-store keys use Enabled, Disabled, PendingDeletion and Unavailable.
public enum KeyState: String, Sendable, Codable, CaseIterable, Hashable {
    case creating = "Creating"
    case enabled = "Enabled"
    case disabled = "Disabled"
    case pendingDeletion = "PendingDeletion"
    case pendingImport = "PendingImport"
    case pendingReplicaDeletion = "PendingReplicaDeletion"
    case unavailable = "Unavailable"
    case updating = "Updating"
}

/// `OriginType`: where a key's material comes from.
public enum Origin: String, Sendable, Codable, CaseIterable, Hashable {
    case awsKMS = "AWS_KMS"
    case external = "EXTERNAL"
    case awsCloudHsm = "AWS_CLOUDHSM"
    case externalKeyStore = "EXTERNAL_KEY_STORE"
}
