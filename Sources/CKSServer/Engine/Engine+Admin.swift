import CKSDomain
import CKSPersistence
import CKSWire
import Foundation

/// The admin API (`CksAdmin.*`): simulated CloudHSM clusters and XKS proxies, connection faults, the clock.
extension KMSEngine {
    func createCloudHsmCluster(_ r: CreateCloudHsmClusterRequest, _ scope: ResourceScope) async throws -> CreateCloudHsmClusterResponse {
        let hsmCount = r.hsmCount ?? 2
        let cluster = try await write { w, now -> HsmCluster in
            var id = HsmCluster.newId()
            while try w.cluster(id: id, in: scope) != nil { id = HsmCluster.newId() }
            let cluster = HsmCluster(id: id, scope: scope, hsmCount: hsmCount, kmsUserPassword: r.kmsUserPassword,
                                     trustAnchorCertificate: HsmCluster.makeTrustAnchor(clusterId: id), creationDate: now.kmsRounded)
            try w.insert(cluster)
            return cluster
        }
        return CreateCloudHsmClusterResponse(clusterId: cluster.id, trustAnchorCertificate: cluster.trustAnchorCertificate)
    }

    /// A write, so keys whose waiting period ended are settled and their orphaned material shows.
    func describeCloudHsmClusters(_ r: DescribeCloudHsmClustersRequest, _ scope: ResourceScope) async throws -> DescribeCloudHsmClustersResponse {
        try await write { w, _ in
            let clusters: [HsmCluster]
            if let id = r.clusterId {
                guard let c = try w.cluster(id: id, in: scope) else { throw Self.clusterNotFound(id) }
                clusters = [c]
            } else {
                clusters = try w.clusters(in: scope)
            }
            return DescribeCloudHsmClustersResponse(clusters: try clusters.map { try Self.view($0, w) })
        }
    }

    func updateCloudHsmCluster(_ r: UpdateCloudHsmClusterRequest, _ scope: ResourceScope) async throws -> UpdateCloudHsmClusterResponse {
        try await write { w, _ in
            guard var cluster = try w.cluster(id: r.clusterId, in: scope) else { throw Self.clusterNotFound(r.clusterId) }
            if let n = r.hsmCount { cluster.hsmCount = n }
            if let s = r.state { cluster.state = s }
            if let p = r.kmsUserPassword { cluster.kmsUserPassword = p }
            try w.update(cluster)
            return UpdateCloudHsmClusterResponse(cluster: try Self.view(cluster, w))
        }
    }

    static func clusterNotFound(_ id: String) -> KMSError {
        KMSError(.cloudHsmClusterNotFound, "AWS KMS cannot find the AWS CloudHSM cluster with the specified cluster ID: \(id).")
    }

    /// The admin view of a cluster: never the kmsuser password.
    static func view(_ c: HsmCluster, _ r: DataReader) throws -> CloudHsmCluster {
        CloudHsmCluster(
            clusterId: c.id, state: c.state, hsmCount: c.hsmCount, trustAnchorCertificate: c.trustAnchorCertificate,
            kmsUserName: "kmsuser", customKeyStoreId: try r.storeUsing(clusterId: c.id, in: c.scope), creationDate: c.creationDate,
            orphanedKeyMaterial: c.orphanedKeyMaterial.map {
                CKSWire.OrphanedKeyMaterial(keyId: $0.keyId, keyHandle: keyHandle($0.keyId), customKeyStoreId: $0.customKeyStoreId,
                                            deletionDate: $0.deletionDate)
            })
    }

    /// The HSM key handle KMS would have used for a key: a number derived from the key id.
    static func keyHandle(_ keyId: String) -> String {
        String(UInt64(keyId.prefix(8), radix: 16) ?? 0)
    }

    func createXksProxy(_ r: CreateXksProxyRequest, _ scope: ResourceScope) async throws -> EmptyResponse {
        let proxy = XksProxy(uriEndpoint: r.uriEndpoint, uriPath: r.uriPath, accessKeyId: r.accessKeyId,
                             rawSecretAccessKey: r.rawSecretAccessKey, externalKeyIds: r.externalKeyIds ?? [],
                             vpcEndpointServiceName: r.vpcEndpointServiceName)
        try await write { w, _ in try w.upsert(proxy) }
        return EmptyResponse()
    }

    func setConnectionFault(_ r: SetConnectionFaultRequest, _ scope: ResourceScope) async throws -> EmptyResponse {
        try await write { w, now in
            var store = try Self.existingStore(r.customKeyStoreId, scope, w, now)
            store.connectionFault = r.connectionErrorCode
            try w.update(store)
        }
        return EmptyResponse()
    }

    /// Moves simulated time forward (persisted) and settles what became due.
    func advanceClock(_ r: AdvanceClockRequest, _ scope: ResourceScope) async throws -> ClockResponse {
        let seconds = Double(r.seconds)
        guard !isReadOnly else { throw KMSError(.kmsInternal, Self.readOnlyRefusal, cause: "AdvanceClock refused: read-only") }
        let offset = try await keyRows.aroundWrite { try await database.write { w -> Double in
            let current = try w.meta(Self.metaOffset).flatMap(Double.init) ?? self.clock.withLock { $0.offset }
            var advanced = self.clock.withLock { $0 }
            advanced.offset = current
            // Checked against the committed offset, inside the transaction: concurrent advances cannot add up past
            // the end of the servable range.
            try SimulatedClock.validateAdvance(seconds, from: advanced.now())
            let next = current + seconds
            try w.setMeta(Self.metaOffset, String(next))
            advanced.offset = next
            try self.settleWorkloads(w, now: advanced.now())
            try self.settleExpiredKeys(w, now: advanced.now())
            return next
        } }
        // Offsets only grow, so concurrent advances converge on the largest committed one.
        clock.withLock { $0.offset = max($0.offset, offset) }
        return ClockResponse(now: now().kmsRounded)
    }
}
