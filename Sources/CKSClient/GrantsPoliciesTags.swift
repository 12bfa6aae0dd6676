import CKSDomain
import CKSWire
import Foundation

// Typed calls for who may use a key (grants, key policy, tags) and for moving work off a key (UpdateAlias,
// ReEncrypt, UpdateKeyDescription, GenerateDataKeyWithoutPlaintext).

extension ListGrantsRequest: PaginatedRequest {
    public static func nextMarker(of response: ListGrantsResponse) -> String? {
        response.truncated == true ? response.nextMarker : nil
    }
}

extension ListRetirableGrantsRequest: PaginatedRequest {
    public static func nextMarker(of response: ListGrantsResponse) -> String? {
        response.truncated == true ? response.nextMarker : nil
    }
}

extension ListResourceTagsRequest: PaginatedRequest {
    public static func nextMarker(of response: ListResourceTagsResponse) -> String? {
        response.truncated == true ? response.nextMarker : nil
    }
}

extension KMSClient {
    // MARK: Grants

    public func createGrant(_ request: CreateGrantRequest, timeout: TimeInterval? = nil)
        async throws(KMSClientError) -> CreateGrantResponse {
        try await send(request, timeout: timeout)
    }

    /// One page of ListGrants for a key, optionally filtered by grant id or grantee principal.
    public func listGrants(keyId: String, grantId: String? = nil, granteePrincipal: String? = nil, limit: Int? = nil,
                           marker: String? = nil, timeout: TimeInterval? = nil)
        async throws(KMSClientError) -> ListGrantsResponse {
        try await send(ListGrantsRequest(limit: limit, marker: marker, keyId: keyId, grantId: grantId,
                                         granteePrincipal: granteePrincipal), timeout: timeout)
    }

    /// ListGrants, page by page (`limit` 1–100 per page; the server's default is 50).
    public func listGrantsPages(keyId: String, grantId: String? = nil, granteePrincipal: String? = nil,
                                limit: Int? = nil) -> PageSequence<ListGrantsRequest> {
        pages(ListGrantsRequest(limit: limit, keyId: keyId, grantId: grantId, granteePrincipal: granteePrincipal))
    }

    /// Every grant on a key, all pages collected.
    public func allGrants(keyId: String, pageSize: Int = 100) async throws(KMSClientError) -> [GrantListEntry] {
        var all: [GrantListEntry] = []
        for try await page in listGrantsPages(keyId: keyId, limit: pageSize) { all += page.grants ?? [] }
        return all
    }

    /// ListRetirableGrants, page by page.
    public func listRetirableGrantsPages(retiringPrincipal: String, limit: Int? = nil) -> PageSequence<ListRetirableGrantsRequest> {
        pages(ListRetirableGrantsRequest(limit: limit, retiringPrincipal: retiringPrincipal))
    }

    /// Retires a grant by its token, or by key and grant id.
    public func retireGrant(grantToken: String? = nil, keyId: String? = nil, grantId: String? = nil,
                            timeout: TimeInterval? = nil) async throws(KMSClientError) {
        _ = try await send(RetireGrantRequest(grantToken: grantToken, keyId: keyId, grantId: grantId), timeout: timeout)
    }

    public func revokeGrant(keyId: String, grantId: String, timeout: TimeInterval? = nil) async throws(KMSClientError) {
        _ = try await send(RevokeGrantRequest(keyId: keyId, grantId: grantId), timeout: timeout)
    }

    // MARK: Key policies

    /// The key's policy document, verbatim.
    public func getKeyPolicy(keyId: String, policyName: String? = "default", timeout: TimeInterval? = nil)
        async throws(KMSClientError) -> String {
        let response = try await send(GetKeyPolicyRequest(keyId: keyId, policyName: policyName), timeout: timeout)
        guard let policy = response.policy else {
            throw KMSClientError(kind: .invalidResponse, message: "GetKeyPolicy returned no Policy for \(keyId)",
                                 endpoint: endpoint)
        }
        return policy
    }

    public func putKeyPolicy(keyId: String, policy: String, policyName: String? = "default",
                             timeout: TimeInterval? = nil) async throws(KMSClientError) {
        _ = try await send(PutKeyPolicyRequest(keyId: keyId, policyName: policyName, policy: policy), timeout: timeout)
    }

    public func listKeyPolicies(keyId: String, timeout: TimeInterval? = nil) async throws(KMSClientError) -> [String] {
        try await send(ListKeyPoliciesRequest(keyId: keyId), timeout: timeout).policyNames ?? []
    }

    // MARK: Tags

    public func tagResource(keyId: String, tags: [Tag], timeout: TimeInterval? = nil) async throws(KMSClientError) {
        _ = try await send(TagResourceRequest(keyId: keyId, tags: tags), timeout: timeout)
    }

    public func untagResource(keyId: String, tagKeys: [String], timeout: TimeInterval? = nil) async throws(KMSClientError) {
        _ = try await send(UntagResourceRequest(keyId: keyId, tagKeys: tagKeys), timeout: timeout)
    }

    /// Every tag of a key, all pages collected.
    public func allResourceTags(keyId: String) async throws(KMSClientError) -> [Tag] {
        var all: [Tag] = []
        for try await page in pages(ListResourceTagsRequest(keyId: keyId, limit: 50)) { all += page.tags ?? [] }
        return all
    }

    // MARK: Moving work off a key

    public func updateAlias(aliasName: String, targetKeyId: String, timeout: TimeInterval? = nil) async throws(KMSClientError) {
        _ = try await send(UpdateAliasRequest(aliasName: aliasName, targetKeyId: targetKeyId), timeout: timeout)
    }

    public func updateKeyDescription(keyId: String, description: String, timeout: TimeInterval? = nil)
        async throws(KMSClientError) {
        _ = try await send(UpdateKeyDescriptionRequest(keyId: keyId, description: description), timeout: timeout)
    }

    public func reEncrypt(_ request: ReEncryptRequest, timeout: TimeInterval? = nil)
        async throws(KMSClientError) -> ReEncryptResponse {
        try await send(request, timeout: timeout)
    }

    public func generateDataKeyWithoutPlaintext(_ request: GenerateDataKeyWithoutPlaintextRequest, timeout: TimeInterval? = nil)
        async throws(KMSClientError) -> GenerateDataKeyWithoutPlaintextResponse {
        try await send(request, timeout: timeout)
    }
}

extension KMSClient {
    // MARK: Simulated workloads (CksAdmin)

    /// Starts a simulated application using `keyId` every `everyMinutes` simulated minutes as `principal`.
    public func startWorkload(keyId: String, operation: String, principal: String, everyMinutes: Int,
                              timeout: TimeInterval? = nil) async throws(KMSClientError) -> String {
        try await send(StartWorkloadRequest(keyId: keyId, operation: operation, principal: principal,
                                            everyMinutes: everyMinutes), timeout: timeout).workloadId
    }

    public func stopWorkload(id: String, timeout: TimeInterval? = nil) async throws(KMSClientError) {
        _ = try await send(StopWorkloadRequest(workloadId: id), timeout: timeout)
    }
}
