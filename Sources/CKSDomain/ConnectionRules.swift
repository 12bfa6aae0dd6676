import Foundation

/// The store operations whose validity depends on `ConnectionState` (semantics §1.2).
public enum StoreOperation: String, Sendable, CaseIterable, Hashable {
    case connect = "ConnectCustomKeyStore"
    case disconnect = "DisconnectCustomKeyStore"
    case update = "UpdateCustomKeyStore"
    case delete = "DeleteCustomKeyStore"
    case createKey = "CreateKey"
    case generateRandom = "GenerateRandom"
    case describe = "DescribeCustomKeyStores"
}

/// What a valid `ConnectCustomKeyStore` does.
public enum ConnectAction: Sendable, Hashable {
    /// DISCONNECTED: a connect attempt starts (CONNECTING).
    case start
    /// CONNECTED or CONNECTING: accepted, nothing changes (semantics §1.2 note 1).
    case noChange
}

/// The fields an `UpdateCustomKeyStore` request sets, named as in the request.
public enum UpdateField: String, Sendable, CaseIterable, Hashable {
    case newCustomKeyStoreName = "NewCustomKeyStoreName"
    case keyStorePassword = "KeyStorePassword"
    case cloudHsmClusterId = "CloudHsmClusterId"
    case xksProxyUriEndpoint = "XksProxyUriEndpoint"
    case xksProxyUriPath = "XksProxyUriPath"
    case xksProxyVpcEndpointServiceName = "XksProxyVpcEndpointServiceName"
    case xksProxyVpcEndpointServiceOwner = "XksProxyVpcEndpointServiceOwner"
    case xksProxyAuthenticationCredential = "XksProxyAuthenticationCredential"
    case xksProxyConnectivity = "XksProxyConnectivity"

    /// Fields that belong to a store type; the name belongs to both.
    public func applies(to type: CustomKeyStoreType) -> Bool {
        switch self {
        case .newCustomKeyStoreName: return true
        case .keyStorePassword, .cloudHsmClusterId: return type == .awsCloudHsm
        default: return type == .externalKeyStore
        }
    }

    /// The connection states in which this field may change (semantics §1.2 notes 2–3, §6.7):
    /// the name (and for XKS the credential and UriPath) while CONNECTED or DISCONNECTED,
    /// everything else only while DISCONNECTED. CONNECTING, DISCONNECTING and FAILED reject every update.
    public func allowedStates(for type: CustomKeyStoreType) -> Set<ConnectionState> {
        switch self {
        case .newCustomKeyStoreName: return [.connected, .disconnected]
        case .xksProxyAuthenticationCredential, .xksProxyUriPath:
            return type == .externalKeyStore ? [.connected, .disconnected] : [.disconnected]
        default: return [.disconnected]
        }
    }
}

/// Table 1.2 as pure functions. Each throws the exact `KMSError` the operation returns, or says what happens.
public enum ConnectionRules {
    /// `ConnectCustomKeyStore`: starts from DISCONNECTED, is accepted without change on CONNECTED/CONNECTING,
    /// and is refused on DISCONNECTING and FAILED (FAILED only leaves through Disconnect).
    public static func connect(storeId: String, state: ConnectionState) throws(KMSError) -> ConnectAction {
        switch state {
        case .disconnected: return .start
        case .connected, .connecting: return .noChange
        case .failed:
            throw invalidState(storeId, state, "ConnectCustomKeyStore is not valid for a custom key store in the FAILED state. "
                + "To reconnect it, disconnect it (DisconnectCustomKeyStore), then connect it (ConnectCustomKeyStore).")
        case .disconnecting:
            throw invalidState(storeId, state, "ConnectCustomKeyStore is not valid while the custom key store is DISCONNECTING. "
                + "Wait until it is DISCONNECTED, then connect it.")
        }
    }

    /// `DisconnectCustomKeyStore`: valid from CONNECTING, CONNECTED and FAILED.
    public static func disconnect(storeId: String, state: ConnectionState) throws(KMSError) {
        switch state {
        case .connecting, .connected, .failed: return
        case .disconnected, .disconnecting:
            throw invalidState(storeId, state, "DisconnectCustomKeyStore is valid only when the ConnectionState is "
                + "CONNECTED, CONNECTING or FAILED.")
        }
    }

    /// `DeleteCustomKeyStore`: only DISCONNECTED, and only with no KMS keys (pending deletion or not).
    /// The state is checked first, then the keys.
    public static func delete(storeId: String, state: ConnectionState, keyCount: Int) throws(KMSError) {
        guard state == .disconnected else {
            throw invalidState(storeId, state, "DeleteCustomKeyStore is valid only when the ConnectionState is DISCONNECTED. "
                + "Disconnect the custom key store (DisconnectCustomKeyStore) first.")
        }
        if keyCount > 0 {
            let what = keyCount == 1 ? "1 KMS key" : "\(keyCount) KMS keys"
            throw KMSError(.customKeyStoreHasCMKs, "Custom key store \(storeId) contains \(what). "
                + "Use ScheduleKeyDeletion to delete the KMS keys; after they are deleted you can delete the custom key store.")
        }
    }

    /// `CreateKey` with a `CustomKeyStoreId`: only CONNECTED.
    public static func createKey(storeId: String, state: ConnectionState) throws(KMSError) {
        guard state == .connected else {
            throw invalidState(storeId, state, "CreateKey is valid only when the custom key store ConnectionState is CONNECTED.")
        }
    }

    /// `GenerateRandom` with a `CustomKeyStoreId`: CloudHSM stores only, and only CONNECTED.
    public static func generateRandom(storeId: String, type: CustomKeyStoreType, state: ConnectionState) throws(KMSError) {
        guard type == .awsCloudHsm else {
            throw KMSError(.unsupportedOperation, "External key store IDs are not valid for this parameter. "
                + "GenerateRandom accepts only the ID of an AWS CloudHSM key store.")
        }
        guard state == .connected else {
            throw invalidState(storeId, state, "GenerateRandom is valid only when the AWS CloudHSM key store ConnectionState is CONNECTED.")
        }
    }

    /// `UpdateCustomKeyStore`: every field set must belong to the store's type and be changeable in `state`.
    /// An update that sets nothing follows the name rule.
    public static func update(storeId: String, type: CustomKeyStoreType, state: ConnectionState,
                              fields: Set<UpdateField>) throws(KMSError) {
        for field in UpdateField.allCases where fields.contains(field) && !field.applies(to: type) {
            let kind = type == .awsCloudHsm ? "an AWS CloudHSM key store" : "an external key store"
            throw KMSError(.validation, "\(field.rawValue) is not a valid parameter for \(kind).")
        }
        let checked = fields.isEmpty ? [UpdateField.newCustomKeyStoreName] : UpdateField.allCases.filter { fields.contains($0) }
        for field in checked where !field.allowedStates(for: type).contains(state) {
            let allowed = field.allowedStates(for: type).contains(.connected) ? "CONNECTED or DISCONNECTED" : "DISCONNECTED"
            throw invalidState(storeId, state, "To update \(field.rawValue), the custom key store ConnectionState must be \(allowed).")
        }
    }

    /// Whether `op` is accepted in `state` (for tables and the console); `update` means "some field can change".
    public static func isValid(_ op: StoreOperation, type: CustomKeyStoreType, state: ConnectionState) -> Bool {
        switch op {
        case .connect: return (try? connect(storeId: "", state: state)) != nil
        case .disconnect: return (try? disconnect(storeId: "", state: state)) != nil
        case .update: return (try? update(storeId: "", type: type, state: state, fields: [.newCustomKeyStoreName])) != nil
        case .delete: return (try? delete(storeId: "", state: state, keyCount: 0)) != nil
        case .createKey: return (try? createKey(storeId: "", state: state)) != nil
        case .generateRandom: return (try? generateRandom(storeId: "", type: type, state: state)) != nil
        case .describe: return true
        }
    }

    static func invalidState(_ storeId: String, _ state: ConnectionState, _ detail: String) -> KMSError {
        KMSError(.customKeyStoreInvalidState,
                 "The ConnectionState of custom key store \(storeId) is \(state.rawValue). \(detail)")
    }
}
