import Foundation

/// The fields a CreateCustomKeyStore request gives, typed (the wire layer has checked lengths and patterns).
public struct CustomKeyStoreDraft: Sendable, Hashable {
    public var name: String
    public var type: CustomKeyStoreType
    public var cloudHsmClusterId: String?
    public var trustAnchorCertificate: String?
    public var keyStorePassword: String?
    public var xksConnectivity: XksProxyConnectivity?
    public var xksUriEndpoint: String?
    public var xksUriPath: String?
    public var xksVpcEndpointServiceName: String?
    public var xksVpcEndpointServiceOwner: String?
    public var xksAccessKeyId: String?
    public var xksSecretAccessKey: String?

    public init(name: String, type: CustomKeyStoreType = .awsCloudHsm, cloudHsmClusterId: String? = nil,
                trustAnchorCertificate: String? = nil, keyStorePassword: String? = nil,
                xksConnectivity: XksProxyConnectivity? = nil, xksUriEndpoint: String? = nil, xksUriPath: String? = nil,
                xksVpcEndpointServiceName: String? = nil, xksVpcEndpointServiceOwner: String? = nil,
                xksAccessKeyId: String? = nil, xksSecretAccessKey: String? = nil) {
        self.name = name
        self.type = type
        self.cloudHsmClusterId = cloudHsmClusterId
        self.trustAnchorCertificate = trustAnchorCertificate
        self.keyStorePassword = keyStorePassword
        self.xksConnectivity = xksConnectivity
        self.xksUriEndpoint = xksUriEndpoint
        self.xksUriPath = xksUriPath
        self.xksVpcEndpointServiceName = xksVpcEndpointServiceName
        self.xksVpcEndpointServiceOwner = xksVpcEndpointServiceOwner
        self.xksAccessKeyId = xksAccessKeyId
        self.xksSecretAccessKey = xksSecretAccessKey
    }
}

/// Per-type required fields and uniqueness rules of custom key stores (semantics §1.5).
public enum StoreRules {
    /// Checks the per-type required fields and refuses fields of the other type; returns the typed settings.
    public static func settings(for draft: CustomKeyStoreDraft) throws(KMSError) -> (CloudHsmSettings?, XksProxySettings?) {
        switch draft.type {
        case .awsCloudHsm:
            let xksGiven: [(String, Bool)] = [
                ("XksProxyConnectivity", draft.xksConnectivity != nil), ("XksProxyUriEndpoint", draft.xksUriEndpoint != nil),
                ("XksProxyUriPath", draft.xksUriPath != nil), ("XksProxyVpcEndpointServiceName", draft.xksVpcEndpointServiceName != nil),
                ("XksProxyVpcEndpointServiceOwner", draft.xksVpcEndpointServiceOwner != nil),
                ("XksProxyAuthenticationCredential", draft.xksAccessKeyId != nil),
            ]
            if let extra = xksGiven.first(where: { $0.1 }) {
                throw KMSError(.validation, "\(extra.0) is not a valid parameter for an AWS CloudHSM key store.")
            }
            guard let cluster = draft.cloudHsmClusterId else { throw required("CloudHsmClusterId", "an AWS CloudHSM key store") }
            guard let anchor = draft.trustAnchorCertificate else { throw required("TrustAnchorCertificate", "an AWS CloudHSM key store") }
            guard let password = draft.keyStorePassword else { throw required("KeyStorePassword", "an AWS CloudHSM key store") }
            return (CloudHsmSettings(clusterId: cluster, trustAnchorCertificate: anchor, keyStorePassword: password), nil)
        case .externalKeyStore:
            let hsmGiven: [(String, Bool)] = [
                ("CloudHsmClusterId", draft.cloudHsmClusterId != nil), ("TrustAnchorCertificate", draft.trustAnchorCertificate != nil),
                ("KeyStorePassword", draft.keyStorePassword != nil),
            ]
            if let extra = hsmGiven.first(where: { $0.1 }) {
                throw KMSError(.validation, "\(extra.0) is not a valid parameter for an external key store.")
            }
            guard let connectivity = draft.xksConnectivity else { throw required("XksProxyConnectivity", "an external key store") }
            guard let endpoint = draft.xksUriEndpoint else { throw required("XksProxyUriEndpoint", "an external key store") }
            guard let path = draft.xksUriPath else { throw required("XksProxyUriPath", "an external key store") }
            guard let accessKeyId = draft.xksAccessKeyId, let secret = draft.xksSecretAccessKey else {
                throw required("XksProxyAuthenticationCredential", "an external key store")
            }
            if connectivity == .vpcEndpointService, draft.xksVpcEndpointServiceName == nil {
                throw required("XksProxyVpcEndpointServiceName", "an external key store with VPC_ENDPOINT_SERVICE connectivity")
            }
            if connectivity == .publicEndpoint, draft.xksVpcEndpointServiceName != nil || draft.xksVpcEndpointServiceOwner != nil {
                throw KMSError(.validation, "XksProxyVpcEndpointServiceName and XksProxyVpcEndpointServiceOwner are valid only with VPC_ENDPOINT_SERVICE connectivity.")
            }
            return (nil, XksProxySettings(connectivity: connectivity, uriEndpoint: endpoint, uriPath: path,
                                          vpcEndpointServiceName: draft.xksVpcEndpointServiceName,
                                          vpcEndpointServiceOwner: draft.xksVpcEndpointServiceOwner,
                                          accessKeyId: accessKeyId, rawSecretAccessKey: secret))
        }
    }

    /// The XKS uniqueness rules against the other external key stores of the scope (`others` excludes the
    /// store being updated): endpoint+path unique; a public endpoint may not reuse a VPC store's endpoint
    /// (nor the reverse); each VPC store has its own endpoint service.
    public static func checkXksUniqueness(_ s: XksProxySettings, against others: [CustomKeyStore]) throws(KMSError) {
        for other in others {
            guard let o = other.xks else { continue }
            if o.uriEndpoint == s.uriEndpoint && o.uriPath == s.uriPath {
                throw KMSError(.xksProxyUriInUse, "The combination of XksProxyUriEndpoint \(s.uriEndpoint) and XksProxyUriPath \(s.uriPath) "
                    + "is already associated with custom key store \(other.id).")
            }
            if o.uriEndpoint == s.uriEndpoint && (o.connectivity == .vpcEndpointService || s.connectivity == .vpcEndpointService) {
                throw KMSError(.xksProxyUriEndpointInUse, "The XksProxyUriEndpoint \(s.uriEndpoint) is already associated with custom key store \(other.id).")
            }
            if let name = s.vpcEndpointServiceName, o.vpcEndpointServiceName == name {
                throw KMSError(.xksProxyVpcEndpointServiceInUse, "The XksProxyVpcEndpointServiceName \(name) is already associated with custom key store \(other.id).")
            }
        }
    }

    /// `CustomKeyStoreNameInUseException` text.
    public static func nameInUse(_ name: String) -> KMSError {
        KMSError(.customKeyStoreNameInUse, "A custom key store with name \(name) already exists in this account and Region.")
    }

    /// `LimitExceededException` text for the custom key store quota.
    public static func quotaExceeded(_ quota: Int) -> KMSError {
        KMSError(.limitExceeded, "The request was rejected because it would exceed the custom key store quota of \(quota) for this account and Region.")
    }

    /// `CustomKeyStoreNotFoundException` texts.
    public static func notFound(id: String) -> KMSError {
        KMSError(.customKeyStoreNotFound, "Custom key store \(id) does not exist in this account and Region.")
    }
    public static func notFound(name: String) -> KMSError {
        KMSError(.customKeyStoreNotFound, "A custom key store with name \(name) does not exist in this account and Region.")
    }

    static func required(_ field: String, _ kind: String) -> KMSError {
        KMSError(.validation, "\(field) is required for \(kind).")
    }
}

/// Alias names (`alias/...`).
public enum AliasRules {
    /// `alias/` followed by `[a-zA-Z0-9/_-]+` (the model's pattern, with the required prefix).
    public static func isWellFormed(_ name: String) -> Bool {
        guard name.hasPrefix("alias/"), name.utf8.count > 6, name.utf8.count <= 256 else { return false }
        return name.utf8.dropFirst(6).allSatisfy { c in
            (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 47 || c == 95 || c == 45
        }
    }

    /// Checks a name for CreateAlias: well formed and not in the reserved `alias/aws/` space.
    public static func checkCreatable(_ name: String) throws(KMSError) {
        guard isWellFormed(name) else {
            throw KMSError(.invalidAliasName, "Alias name \(name) is not valid: it must begin with alias/ followed by letters, digits, /, _ or -.")
        }
        if name.hasPrefix("alias/aws/") {
            throw KMSError(.invalidAliasName, "Alias name \(name) is reserved: aliases beginning with alias/aws/ are reserved for AWS managed keys.")
        }
    }
}
