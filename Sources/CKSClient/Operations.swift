import CKSDomain
import CKSWire
import Foundation

// One convenience method per operation the core implements. Each is `send(_:)` of the shared request shape;
// operations with many optional members take the request value itself.

extension KMSClient {
    // MARK: Custom key stores

    public func createCustomKeyStore(_ request: CreateCustomKeyStoreRequest, timeout: TimeInterval? = nil)
        async throws(KMSClientError) -> CreateCustomKeyStoreResponse {
        try await send(request, timeout: timeout)
    }

    /// One page of DescribeCustomKeyStores; see `describeCustomKeyStoresPages` / `allCustomKeyStores` for all.
    public func describeCustomKeyStores(customKeyStoreId: String? = nil, customKeyStoreName: String? = nil,
                                        limit: Int? = nil, marker: String? = nil, timeout: TimeInterval? = nil)
        async throws(KMSClientError) -> DescribeCustomKeyStoresResponse {
        try await send(DescribeCustomKeyStoresRequest(customKeyStoreId: customKeyStoreId, customKeyStoreName: customKeyStoreName,
                                                      limit: limit, marker: marker), timeout: timeout)
    }

    /// The store with this id or name; `CustomKeyStoreNotFoundException` if there is none.
    public func customKeyStore(idOrName: String) async throws(KMSClientError) -> CustomKeyStoresListEntry {
        let looksLikeId = idOrName.hasPrefix("cks-")
        do throws(KMSClientError) {
            let page = try await describeCustomKeyStores(customKeyStoreId: looksLikeId ? idOrName : nil,
                                                         customKeyStoreName: looksLikeId ? nil : idOrName)
            if let store = page.customKeyStores?.first { return store }
        } catch where error.code == .customKeyStoreNotFound && looksLikeId {
            // A store may be *named* like an id; try the name before giving up, but report the id's error.
            if let byName = try? await describeCustomKeyStores(customKeyStoreName: idOrName).customKeyStores?.first {
                return byName
            }
            throw error
        }
        throw KMSClientError(kind: .service(.customKeyStoreNotFound),
                             message: "Custom key store '\(idOrName)' does not exist", endpoint: endpoint)
    }

    @discardableResult
    public func connectCustomKeyStore(id: String, timeout: TimeInterval? = nil)
        async throws(KMSClientError) -> ConnectCustomKeyStoreResponse {
        try await send(ConnectCustomKeyStoreRequest(customKeyStoreId: id), timeout: timeout)
    }

    @discardableResult
    public func disconnectCustomKeyStore(id: String, timeout: TimeInterval? = nil)
        async throws(KMSClientError) -> DisconnectCustomKeyStoreResponse {
        try await send(DisconnectCustomKeyStoreRequest(customKeyStoreId: id), timeout: timeout)
    }

    @discardableResult
    public func updateCustomKeyStore(_ request: UpdateCustomKeyStoreRequest, timeout: TimeInterval? = nil)
        async throws(KMSClientError) -> UpdateCustomKeyStoreResponse {
        try await send(request, timeout: timeout)
    }

    @discardableResult
    public func deleteCustomKeyStore(id: String, timeout: TimeInterval? = nil)
        async throws(KMSClientError) -> DeleteCustomKeyStoreResponse {
        try await send(DeleteCustomKeyStoreRequest(customKeyStoreId: id), timeout: timeout)
    }

    // MARK: Keys

    public func createKey(_ request: CreateKeyRequest = CreateKeyRequest(), timeout: TimeInterval? = nil)
        async throws(KMSClientError) -> CreateKeyResponse {
        try await send(request, timeout: timeout)
    }

    /// DescribeKey's `KeyMetadata` (a key id, ARN, alias name or alias ARN).
    public func describeKey(keyId: String, timeout: TimeInterval? = nil) async throws(KMSClientError) -> KeyMetadata {
        let response = try await send(DescribeKeyRequest(keyId: keyId), timeout: timeout)
        guard let metadata = response.keyMetadata else {
            throw KMSClientError(kind: .invalidResponse, message: "DescribeKey returned no KeyMetadata for \(keyId)",
                                 endpoint: endpoint)
        }
        return metadata
    }

    /// One page of ListKeys; see `listKeysPages` / `allKeys` for all.
    public func listKeys(limit: Int? = nil, marker: String? = nil, timeout: TimeInterval? = nil)
        async throws(KMSClientError) -> ListKeysResponse {
        try await send(ListKeysRequest(limit: limit, marker: marker), timeout: timeout)
    }

    public func scheduleKeyDeletion(keyId: String, pendingWindowInDays: Int? = nil, timeout: TimeInterval? = nil)
        async throws(KMSClientError) -> ScheduleKeyDeletionResponse {
        try await send(ScheduleKeyDeletionRequest(keyId: keyId, pendingWindowInDays: pendingWindowInDays), timeout: timeout)
    }

    @discardableResult
    public func cancelKeyDeletion(keyId: String, timeout: TimeInterval? = nil)
        async throws(KMSClientError) -> CancelKeyDeletionResponse {
        try await send(CancelKeyDeletionRequest(keyId: keyId), timeout: timeout)
    }

    public func enableKey(keyId: String, timeout: TimeInterval? = nil) async throws(KMSClientError) {
        _ = try await send(EnableKeyRequest(keyId: keyId), timeout: timeout)
    }

    public func disableKey(keyId: String, timeout: TimeInterval? = nil) async throws(KMSClientError) {
        _ = try await send(DisableKeyRequest(keyId: keyId), timeout: timeout)
    }

    public func getKeyLastUsage(keyId: String, timeout: TimeInterval? = nil)
        async throws(KMSClientError) -> GetKeyLastUsageResponse {
        try await send(GetKeyLastUsageRequest(keyId: keyId), timeout: timeout)
    }

    // MARK: Aliases

    public func createAlias(aliasName: String, targetKeyId: String, timeout: TimeInterval? = nil) async throws(KMSClientError) {
        _ = try await send(CreateAliasRequest(aliasName: aliasName, targetKeyId: targetKeyId), timeout: timeout)
    }

    /// One page of ListAliases; see `listAliasesPages` / `allAliases` for all.
    public func listAliases(keyId: String? = nil, limit: Int? = nil, marker: String? = nil, timeout: TimeInterval? = nil)
        async throws(KMSClientError) -> ListAliasesResponse {
        try await send(ListAliasesRequest(keyId: keyId, limit: limit, marker: marker), timeout: timeout)
    }

    public func deleteAlias(aliasName: String, timeout: TimeInterval? = nil) async throws(KMSClientError) {
        _ = try await send(DeleteAliasRequest(aliasName: aliasName), timeout: timeout)
    }

    // MARK: Cryptography

    public func encrypt(_ request: EncryptRequest, timeout: TimeInterval? = nil) async throws(KMSClientError) -> EncryptResponse {
        try await send(request, timeout: timeout)
    }

    public func decrypt(_ request: DecryptRequest, timeout: TimeInterval? = nil) async throws(KMSClientError) -> DecryptResponse {
        try await send(request, timeout: timeout)
    }

    public func generateDataKey(_ request: GenerateDataKeyRequest, timeout: TimeInterval? = nil)
        async throws(KMSClientError) -> GenerateDataKeyResponse {
        try await send(request, timeout: timeout)
    }

    public func generateRandom(numberOfBytes: Int, customKeyStoreId: String? = nil, timeout: TimeInterval? = nil)
        async throws(KMSClientError) -> GenerateRandomResponse {
        try await send(GenerateRandomRequest(numberOfBytes: numberOfBytes, customKeyStoreId: customKeyStoreId), timeout: timeout)
    }

    // MARK: The core's admin API (CksAdmin.*)

    public func createCloudHsmCluster(kmsUserPassword: String, hsmCount: Int? = nil, timeout: TimeInterval? = nil)
        async throws(KMSClientError) -> CreateCloudHsmClusterResponse {
        try await send(CreateCloudHsmClusterRequest(hsmCount: hsmCount, kmsUserPassword: kmsUserPassword), timeout: timeout)
    }

    public func describeCloudHsmClusters(clusterId: String? = nil, timeout: TimeInterval? = nil)
        async throws(KMSClientError) -> [CloudHsmCluster] {
        try await send(DescribeCloudHsmClustersRequest(clusterId: clusterId), timeout: timeout).clusters
    }

    public func updateCloudHsmCluster(_ request: UpdateCloudHsmClusterRequest, timeout: TimeInterval? = nil)
        async throws(KMSClientError) -> UpdateCloudHsmClusterRequest.Response {
        try await send(request, timeout: timeout)
    }

    public func createXksProxy(_ request: CreateXksProxyRequest, timeout: TimeInterval? = nil)
        async throws(KMSClientError) -> CreateXksProxyRequest.Response {
        try await send(request, timeout: timeout)
    }

    /// Makes the store's following connects fail with `code`; nil clears the fault.
    public func setConnectionFault(customKeyStoreId: String, code: ConnectionErrorCode?, timeout: TimeInterval? = nil)
        async throws(KMSClientError) {
        _ = try await send(SetConnectionFaultRequest(customKeyStoreId: customKeyStoreId, connectionErrorCode: code),
                           timeout: timeout)
    }

    /// The core's simulated now.
    public func simulatedNow(timeout: TimeInterval? = nil) async throws(KMSClientError) -> Date {
        try await send(GetClockRequest(), timeout: timeout).now
    }

    /// Who the credentials belong to (CksAdmin.GetCallerIdentity: account, ARN, name); a cks core only.
    public func callerIdentity(timeout: TimeInterval? = nil) async throws(KMSClientError) -> CallerIdentityResponse {
        try await send(GetCallerIdentityRequest(), timeout: timeout)
    }

    /// Moves the core's simulated clock forward; returns the new simulated now.
    @discardableResult
    public func advanceClock(seconds: Int, timeout: TimeInterval? = nil) async throws(KMSClientError) -> Date {
        try await send(AdvanceClockRequest(seconds: seconds), timeout: timeout).now
    }
}
