import Foundation

/// Key material left in a CloudHSM cluster because its store was not connected when the waiting period
/// of the KMS key ended (semantics §2.4, §6.3). It must be removed by hand in real life.
public struct OrphanedKeyMaterialRecord: Sendable, Hashable, Codable {
    public var keyId: String
    public var keyArn: String
    public var customKeyStoreId: String
    public var deletionDate: Date

    public init(keyId: String, keyArn: String, customKeyStoreId: String, deletionDate: Date) {
        self.keyId = keyId
        self.keyArn = keyArn
        self.customKeyStoreId = customKeyStoreId
        self.deletionDate = deletionDate
    }
}

/// A simulated AWS CloudHSM cluster (admin API). Belongs to one account and region like a real one.
public struct HsmCluster: Sendable, Hashable {
    public var id: String
    public var scope: ResourceScope
    public var hsmCount: Int
    /// The kmsuser crypto user's password; a store whose KeyStorePassword differs fails to connect.
    public var kmsUserPassword: String
    public var trustAnchorCertificate: String
    /// The CloudHSM cluster state (`ACTIVE`, `DEGRADED`, `UNINITIALIZED`, ...). Only ACTIVE clusters back a store.
    public var state: String
    public var creationDate: Date
    public var orphanedKeyMaterial: [OrphanedKeyMaterialRecord]

    public init(id: String, scope: ResourceScope, hsmCount: Int, kmsUserPassword: String, trustAnchorCertificate: String,
                state: String = "ACTIVE", creationDate: Date, orphanedKeyMaterial: [OrphanedKeyMaterialRecord] = []) {
        self.id = id
        self.scope = scope
        self.hsmCount = hsmCount
        self.kmsUserPassword = kmsUserPassword
        self.trustAnchorCertificate = trustAnchorCertificate
        self.state = state
        self.creationDate = creationDate
        self.orphanedKeyMaterial = orphanedKeyMaterial
    }

    /// Whether the cluster can back a store.
    public var isActive: Bool { state == "ACTIVE" }

    /// A fresh id matching `cluster-[2-7a-zA-Z]{11,16}`.
    public static func newId() -> String {
        let alphabet = Array("234567abcdefghijklmnopqrstuvwxyz")
        return "cluster-" + String((0..<11).map { _ in alphabet[Int.random(in: 0..<alphabet.count)] })
    }

    /// A PEM-looking self-signed trust anchor unique to the cluster.
    public static func makeTrustAnchor(clusterId: String) -> String {
        var bytes = [UInt8](repeating: 0, count: 192)
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255) }
        let body = Data((clusterId + ":").utf8 + bytes).base64EncodedString(options: [.lineLength64Characters])
        return "-----BEGIN CERTIFICATE-----\n\(body)\n-----END CERTIFICATE-----"
    }
}

/// A simulated external key store proxy (admin API), found by its URI endpoint and path.
public struct XksProxy: Sendable, Hashable {
    public var uriEndpoint: String
    public var uriPath: String
    public var accessKeyId: String
    public var rawSecretAccessKey: String
    public var externalKeyIds: [String]
    /// The VPC endpoint service the proxy is reachable through, if any.
    public var vpcEndpointServiceName: String?

    public init(uriEndpoint: String, uriPath: String, accessKeyId: String, rawSecretAccessKey: String, externalKeyIds: [String],
                vpcEndpointServiceName: String? = nil) {
        self.vpcEndpointServiceName = vpcEndpointServiceName
        self.uriEndpoint = uriEndpoint
        self.uriPath = uriPath
        self.accessKeyId = accessKeyId
        self.rawSecretAccessKey = rawSecretAccessKey
        self.externalKeyIds = externalKeyIds
    }

    /// Whether the proxy accepts this credential.
    public func accepts(accessKeyId: String, secret: String) -> Bool {
        self.accessKeyId == accessKeyId && rawSecretAccessKey == secret
    }
}

/// What the simulated backends say about creating and connecting stores.
public enum BackendRules {
    /// CloudHSM checks of CreateCustomKeyStore, in order: existence, use by another store, activity,
    /// at least 2 HSMs, trust anchor. `inUseBy` is the id of another store of the scope using the cluster.
    public static func checkCreate(clusterId: String, cluster: HsmCluster?, inUseBy: String?,
                                   trustAnchorCertificate: String) throws(KMSError) {
        guard let cluster else {
            throw KMSError(.cloudHsmClusterNotFound, "AWS KMS cannot find the AWS CloudHSM cluster with the specified cluster ID: \(clusterId).")
        }
        if let inUseBy {
            throw KMSError(.cloudHsmClusterInUse, "The AWS CloudHSM cluster \(clusterId) is already associated with custom key store \(inUseBy).")
        }
        try checkActiveWithHsms(cluster, minimum: 2, operation: "CreateCustomKeyStore")
        if normalizedPEM(cluster.trustAnchorCertificate) != normalizedPEM(trustAnchorCertificate) {
            throw KMSError(.incorrectTrustAnchor, "The trust anchor certificate is not the trust anchor certificate of AWS CloudHSM cluster \(clusterId).")
        }
    }

    /// The cluster checks KMS makes for CreateKey, UpdateCustomKeyStore (2 HSMs) and Connect (1 HSM).
    public static func checkActiveWithHsms(_ cluster: HsmCluster, minimum: Int, operation: String) throws(KMSError) {
        guard cluster.isActive else {
            throw KMSError(.cloudHsmClusterNotActive, "The AWS CloudHSM cluster \(cluster.id) is not active (its state is \(cluster.state)). "
                + "Initialize and activate the cluster and try again.")
        }
        guard cluster.hsmCount >= minimum else {
            let need = minimum == 1 ? "at least one active HSM" : "at least \(minimum) active HSMs in different Availability Zones"
            throw KMSError(.cloudHsmClusterInvalidConfiguration,
                           "The AWS CloudHSM cluster \(cluster.id) has \(cluster.hsmCount) active HSM\(cluster.hsmCount == 1 ? "" : "s"); \(operation) requires \(need).")
        }
    }

    /// Connect for a CloudHSM store. Throws the synchronous failures (the store stays DISCONNECTED);
    /// otherwise returns how the attempt ends: nil = CONNECTED, else FAILED with the code.
    public static func connectOutcome(store: CustomKeyStore, cluster: HsmCluster?) throws(KMSError) -> ConnectionErrorCode? {
        guard let cluster else { return .clusterNotFound }
        try checkActiveWithHsms(cluster, minimum: 1, operation: "ConnectCustomKeyStore")
        if let fault = store.connectionFault { return fault }
        if store.cloudHsm?.keyStorePassword != cluster.kmsUserPassword { return .invalidCredentials }
        return nil
    }

    /// Connect for an external key store: always asynchronous. An unregistered proxy is not reachable;
    /// a credential the proxy refuses gives INVALID_CREDENTIALS.
    public static func connectOutcome(store: CustomKeyStore, proxy: XksProxy?) -> ConnectionErrorCode? {
        if let fault = store.connectionFault { return fault }
        guard let xks = store.xks else { return .xksProxyInvalidConfiguration }
        if xks.connectivity == .vpcEndpointService, proxy?.vpcEndpointServiceName != xks.vpcEndpointServiceName {
            return .xksVpcEndpointServiceNotFound
        }
        guard let proxy else { return .xksProxyNotReachable }
        if !proxy.accepts(accessKeyId: xks.accessKeyId, secret: xks.rawSecretAccessKey) { return .invalidCredentials }
        return nil
    }

    /// The proxy checks KMS makes with a GetHealthStatus call while creating or updating an external key
    /// store with public endpoint connectivity.
    public static func checkProxyReachable(_ settings: XksProxySettings, proxy: XksProxy?) throws(KMSError) {
        guard let proxy else {
            throw KMSError(.xksProxyUriUnreachable, "AWS KMS was unable to reach the external key store proxy at \(settings.uriEndpoint)\(settings.uriPath). "
                + "Verify the XksProxyUriEndpoint and XksProxyUriPath.")
        }
        if !proxy.accepts(accessKeyId: settings.accessKeyId, secret: settings.rawSecretAccessKey) {
            throw KMSError(.xksProxyIncorrectAuthenticationCredential,
                           "The external key store proxy at \(settings.uriEndpoint)\(settings.uriPath) rejected the XksProxyAuthenticationCredential.")
        }
    }

    /// CreateCustomKeyStore/UpdateCustomKeyStore with VPC_ENDPOINT_SERVICE connectivity: KMS finds the endpoint
    /// service (a registered proxy reachable through it) but does not talk to the proxy until Connect.
    public static func checkVpcEndpointService(_ name: String, proxy: XksProxy?) throws(KMSError) {
        guard proxy?.vpcEndpointServiceName == name else {
            throw KMSError(.xksProxyVpcEndpointServiceNotFound, "AWS KMS cannot find the VPC endpoint service \(name). "
                + "Verify the XksProxyVpcEndpointServiceName and that the KMS service principal has consumer permissions on it.")
        }
    }

    /// CreateKey in an external key store: the proxy must know the external key, and no other KMS key of
    /// the store may use it.
    public static func checkXksKey(_ xksKeyId: String, proxy: XksProxy?, storeId: String, usedBy: String?) throws(KMSError) {
        guard let proxy, proxy.externalKeyIds.contains(xksKeyId) else {
            throw KMSError(.xksKeyNotFound, "The external key store proxy for custom key store \(storeId) could not find an external key with ID \(xksKeyId).")
        }
        if let usedBy {
            throw KMSError(.xksKeyAlreadyInUse, "The external key \(xksKeyId) is already associated with KMS key \(usedBy) in custom key store \(storeId).")
        }
    }

    static func normalizedPEM(_ s: String) -> String { s.filter { !$0.isWhitespace } }
}
