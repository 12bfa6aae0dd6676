import CKSDomain
import CKSPersistence
import CKSWire
import Foundation

/// Custom key store operations (semantics §1).
extension KMSEngine {
    func createCustomKeyStore(_ r: CreateCustomKeyStoreRequest, _ scope: ResourceScope) async throws -> CreateCustomKeyStoreResponse {
        let draft = CustomKeyStoreDraft(
            name: r.customKeyStoreName, type: r.customKeyStoreType ?? .awsCloudHsm, cloudHsmClusterId: r.cloudHsmClusterId,
            trustAnchorCertificate: r.trustAnchorCertificate, keyStorePassword: r.keyStorePassword,
            xksConnectivity: r.xksProxyConnectivity, xksUriEndpoint: r.xksProxyUriEndpoint, xksUriPath: r.xksProxyUriPath,
            xksVpcEndpointServiceName: r.xksProxyVpcEndpointServiceName, xksVpcEndpointServiceOwner: r.xksProxyVpcEndpointServiceOwner,
            xksAccessKeyId: r.xksProxyAuthenticationCredential?.accessKeyId,
            xksSecretAccessKey: r.xksProxyAuthenticationCredential?.rawSecretAccessKey)
        let (cloudHsm, xks) = try StoreRules.settings(for: draft)
        let quota = options.storeQuota
        let checkedLive = try await checkLiveProxyForCreate(draft.name, xks, scope)
        let id = try await write { w, now -> String in
            if try w.storeCount(in: scope) >= quota { throw StoreRules.quotaExceeded(quota) }
            if try w.store(named: draft.name, in: scope) != nil { throw StoreRules.nameInUse(draft.name) }
            if let cloudHsm {
                try BackendRules.checkCreate(clusterId: cloudHsm.clusterId, cluster: try w.cluster(id: cloudHsm.clusterId, in: scope),
                                             inUseBy: try w.storeUsing(clusterId: cloudHsm.clusterId, in: scope),
                                             trustAnchorCertificate: cloudHsm.trustAnchorCertificate)
            }
            if let xks {
                try StoreRules.checkXksUniqueness(xks, against: try w.allStores(in: scope))
                if !checkedLive { try Self.checkProxy(xks, w) }
            }
            var id = CustomKeyStoreIdentifiers.newId()
            while try w.store(id: id) != nil { id = CustomKeyStoreIdentifiers.newId() }
            try w.insert(CustomKeyStore(id: id, scope: scope, name: draft.name, type: draft.type, creationDate: now.kmsRounded,
                                        cloudHsm: cloudHsm, xks: xks, connection: .new(at: now)))
            return id
        }
        return CreateCustomKeyStoreResponse(customKeyStoreId: id)
    }

    /// What KMS verifies about a proxy when a store is created or its proxy settings change: with a public
    /// endpoint it calls the proxy (GetHealthStatus); with a VPC endpoint service it only finds the service.
    static func checkProxy(_ xks: XksProxySettings, _ r: DataReader) throws {
        switch xks.connectivity {
        case .publicEndpoint:
            try BackendRules.checkProxyReachable(xks, proxy: try r.proxy(uriEndpoint: xks.uriEndpoint, uriPath: xks.uriPath))
        case .vpcEndpointService:
            let name = xks.vpcEndpointServiceName ?? ""
            try BackendRules.checkVpcEndpointService(name, proxy: try r.proxy(vpcEndpointServiceName: name))
        }
    }

    func describeCustomKeyStores(_ r: DescribeCustomKeyStoresRequest, _ scope: ResourceScope) async throws -> DescribeCustomKeyStoresResponse {
        if r.customKeyStoreId != nil && r.customKeyStoreName != nil {
            throw KMSError(.validation, "You cannot specify both CustomKeyStoreId and CustomKeyStoreName. Specify one of them, or neither to list every custom key store.")
        }
        let after = try r.marker.map { m throws(KMSError) in try PageMarker.decodeSequence(m, as: .customKeyStores) }
        let limit = PageMarker.limit(r.limit, default: 1000)
        return try await read { db, now in
            if let id = r.customKeyStoreId {
                guard let store = try db.store(id: id, in: scope) else { throw StoreRules.notFound(id: id) }
                return DescribeCustomKeyStoresResponse(customKeyStores: [Self.entry(store.resolved(at: now))], truncated: false)
            }
            if let name = r.customKeyStoreName {
                guard let store = try db.store(named: name, in: scope) else { throw StoreRules.notFound(name: name) }
                return DescribeCustomKeyStoresResponse(customKeyStores: [Self.entry(store.resolved(at: now))], truncated: false)
            }
            let page = try db.stores(in: scope, after: after, limit: limit)
            return DescribeCustomKeyStoresResponse(
                customKeyStores: page.items.map { Self.entry($0.resolved(at: now)) },
                nextMarker: page.nextPosition.map { PageMarker.encode(.customKeyStores, $0) },
                truncated: page.nextPosition != nil)
        }
    }

    /// A store as DescribeCustomKeyStores shows it: never the password or the proxy secret.
    static func entry(_ s: CustomKeyStore) -> CustomKeyStoresListEntry {
        CustomKeyStoresListEntry(
            customKeyStoreId: s.id, customKeyStoreName: s.name, cloudHsmClusterId: s.cloudHsm?.clusterId,
            trustAnchorCertificate: s.cloudHsm?.trustAnchorCertificate, connectionState: s.connection.state,
            connectionErrorCode: s.connection.state == .failed ? s.connection.errorCode : nil,
            creationDate: s.creationDate.kmsRounded, customKeyStoreType: s.type,
            xksProxyConfiguration: s.xks.map {
                XksProxyConfigurationType(connectivity: $0.connectivity, accessKeyId: $0.accessKeyId, uriEndpoint: $0.uriEndpoint,
                                          uriPath: $0.uriPath, vpcEndpointServiceName: $0.vpcEndpointServiceName,
                                          vpcEndpointServiceOwner: $0.vpcEndpointServiceOwner)
            })
    }

    /// The store of `scope` with this id, settled at `now`; `CustomKeyStoreNotFoundException` otherwise.
    static func existingStore(_ id: String, _ scope: ResourceScope, _ r: DataReader, _ now: Date) throws -> CustomKeyStore {
        guard let store = try r.store(id: id, in: scope) else { throw StoreRules.notFound(id: id) }
        return store.resolved(at: now)
    }

    func connectCustomKeyStore(_ r: ConnectCustomKeyStoreRequest, _ scope: ResourceScope) async throws -> ConnectCustomKeyStoreResponse {
        let duration = options.connectDuration
        let liveOutcome = try await liveConnectOutcome(r.customKeyStoreId, scope)
        try await write { w, now in
            var store = try Self.existingStore(r.customKeyStoreId, scope, w, now)
            guard try ConnectionRules.connect(storeId: store.id, state: store.connection.state) == .start else { return }
            let outcome: ConnectionErrorCode?
            switch store.type {
            case .awsCloudHsm:
                let cluster = try store.cloudHsm.flatMap { try w.cluster(id: $0.clusterId, in: scope) }
                outcome = try BackendRules.connectOutcome(store: store, cluster: cluster)
            case .externalKeyStore where liveOutcome != nil:
                outcome = store.connectionFault ?? liveOutcome ?? nil
            case .externalKeyStore:
                let proxy = try store.xks.flatMap { try w.proxy(uriEndpoint: $0.uriEndpoint, uriPath: $0.uriPath) }
                outcome = BackendRules.connectOutcome(store: store, proxy: proxy)
            }
            store.connection = .connecting(at: now, duration: duration, outcome: outcome)
            try w.update(store)
        }
        return ConnectCustomKeyStoreResponse()
    }

    func disconnectCustomKeyStore(_ r: DisconnectCustomKeyStoreRequest, _ scope: ResourceScope) async throws -> DisconnectCustomKeyStoreResponse {
        let duration = options.disconnectDuration
        try await write { w, now in
            var store = try Self.existingStore(r.customKeyStoreId, scope, w, now)
            try ConnectionRules.disconnect(storeId: store.id, state: store.connection.state)
            store.connection = .disconnecting(at: now, duration: duration)
            try w.update(store)
        }
        return DisconnectCustomKeyStoreResponse()
    }

    func deleteCustomKeyStore(_ r: DeleteCustomKeyStoreRequest, _ scope: ResourceScope) async throws -> DeleteCustomKeyStoreResponse {
        try await write { w, now in
            let store = try Self.existingStore(r.customKeyStoreId, scope, w, now)
            try ConnectionRules.delete(storeId: store.id, state: store.connection.state, keyCount: try w.keyCount(storeId: store.id))
            try w.deleteStore(id: store.id)
        }
        return DeleteCustomKeyStoreResponse()
    }

    func updateCustomKeyStore(_ r: UpdateCustomKeyStoreRequest, _ scope: ResourceScope) async throws -> UpdateCustomKeyStoreResponse {
        var fields: Set<UpdateField> = []
        if r.newCustomKeyStoreName != nil { fields.insert(.newCustomKeyStoreName) }
        if r.keyStorePassword != nil { fields.insert(.keyStorePassword) }
        if r.cloudHsmClusterId != nil { fields.insert(.cloudHsmClusterId) }
        if r.xksProxyUriEndpoint != nil { fields.insert(.xksProxyUriEndpoint) }
        if r.xksProxyUriPath != nil { fields.insert(.xksProxyUriPath) }
        if r.xksProxyVpcEndpointServiceName != nil { fields.insert(.xksProxyVpcEndpointServiceName) }
        if r.xksProxyVpcEndpointServiceOwner != nil { fields.insert(.xksProxyVpcEndpointServiceOwner) }
        if r.xksProxyAuthenticationCredential != nil { fields.insert(.xksProxyAuthenticationCredential) }
        if r.xksProxyConnectivity != nil { fields.insert(.xksProxyConnectivity) }
        let updateFields = fields
        let checkedLive = try await checkLiveProxyForUpdate(r, fields: updateFields, scope)
        try await write { w, now in
            var store = try Self.existingStore(r.customKeyStoreId, scope, w, now)
            try ConnectionRules.update(storeId: store.id, type: store.type, state: store.connection.state, fields: updateFields)
            if let name = r.newCustomKeyStoreName, name != store.name {
                if try w.store(named: name, in: scope) != nil { throw StoreRules.nameInUse(name) }
                store.name = name
            }
            if var hsm = store.cloudHsm {
                if let password = r.keyStorePassword { hsm.keyStorePassword = password }
                if let clusterId = r.cloudHsmClusterId, clusterId != hsm.clusterId {
                    hsm.clusterId = clusterId
                    hsm.trustAnchorCertificate = try Self.checkRelatedCluster(clusterId, replacing: store, w)
                }
                store.cloudHsm = hsm
            }
            if let old = store.xks, !updateFields.isDisjoint(with: Self.xksUpdateFields) {
                let xks = try Self.mergedXks(old, r)
                let others = try w.allStores(in: scope).filter { $0.id != store.id }
                try StoreRules.checkXksUniqueness(xks, against: others)
                // KMS validates the new settings with a GetHealthStatus call (semantics §1.2 note 3).
                if !checkedLive { try Self.checkProxy(xks, w) }
                store.xks = xks
            }
            try w.update(store)
        }
        return UpdateCustomKeyStoreResponse()
    }

    /// UpdateCustomKeyStore with another cluster: it must exist, be related (share the backup history, which the
    /// simulation models as "has the same trust anchor"), be unused by other stores, active and have 2 HSMs.
    /// Returns the cluster's trust anchor.
    static func checkRelatedCluster(_ clusterId: String, replacing store: CustomKeyStore, _ r: DataReader) throws -> String {
        guard let cluster = try r.cluster(id: clusterId, in: store.scope) else {
            throw KMSError(.cloudHsmClusterNotFound, "AWS KMS cannot find the AWS CloudHSM cluster with the specified cluster ID: \(clusterId).")
        }
        if let inUse = try r.storeUsing(clusterId: clusterId, in: store.scope, excluding: store.id) {
            throw KMSError(.cloudHsmClusterInUse, "The AWS CloudHSM cluster \(clusterId) is already associated with custom key store \(inUse).")
        }
        let current = try store.cloudHsm.flatMap { try r.cluster(id: $0.clusterId, in: store.scope) }
        guard let current, current.trustAnchorCertificate == cluster.trustAnchorCertificate else {
            throw KMSError(.cloudHsmClusterNotRelated, "The AWS CloudHSM cluster \(clusterId) is not related to the cluster of custom key store \(store.id): "
                + "they do not share a backup history.")
        }
        try BackendRules.checkActiveWithHsms(cluster, minimum: 2, operation: "UpdateCustomKeyStore")
        return cluster.trustAnchorCertificate
    }
}
