import CKSDomain
import CKSPersistence
import CKSWire
import Foundation

/// Which operations a grant can allow, and the refusal when neither the principals file nor a grant does.
enum GrantAuthorization {
    /// Targets the front lets through to the engine when the principals file does not allow them: the engine
    /// allows them when a grant on the key names the caller (RetireGrant: when the caller may retire the grant).
    static let grantable: Set<String> = [
        EncryptRequest.target, DecryptRequest.target, GenerateDataKeyRequest.target,
        GenerateDataKeyWithoutPlaintextRequest.target, ReEncryptRequest.target, DescribeKeyRequest.target,
        CreateGrantRequest.target, RetireGrantRequest.target,
    ]

    static func denied(arn: String, action: String, resource: String) -> KMSError {
        KMSError(.accessDenied, "User: \(arn) is not authorized to perform: \(action) on resource: \(resource) "
            + "because no identity-based policy allows the \(action) action")
    }
}

/// Grants, key policies, tags and key descriptions: who may use a key, and what names it.
extension KMSEngine {
    // MARK: Authorization by grant

    /// For a caller the principals file does not allow (`needsGrant`): the grant on `key` that lets it call
    /// `operation` with `context`, else AccessDeniedException. nil when the principals file allows the call.
    static func authorizingGrant(_ caller: Caller, key: KMSKey, operation: String, context: [String: String]?,
                                 _ r: DataReader) throws -> KMSGrant? {
        guard caller.needsGrant else { return nil }
        let takesContext = GrantRules.contextOperations.contains(operation)
        let grant = try r.grants(keyId: key.id, granteeIn: [caller.arn])
            .first { $0.permits(operation, context: context, takesContext: takesContext) }
        guard let grant else {
            throw GrantAuthorization.denied(arn: caller.arn, action: "kms:\(operation)", resource: key.arn)
        }
        return grant
    }

    // MARK: Grants

    func createGrant(_ r: CreateGrantRequest, _ caller: Caller) async throws -> CreateGrantResponse {
        let scope = caller.scope
        try GrantRules.checkPrincipal(r.granteePrincipal, member: "GranteePrincipal")
        if let retiring = r.retiringPrincipal { try GrantRules.checkPrincipal(retiring, member: "RetiringPrincipal") }
        guard !r.operations.isEmpty else {
            throw KMSError(.validation, "1 validation error detected: Value '[]' at 'operations' failed to satisfy "
                + "constraint: Member must have length greater than or equal to 1")
        }
        let unsupported = Set(r.operations).subtracting(GrantRules.symmetricOperations)
        if !unsupported.isEmpty {
            throw KMSError(.validation, "Grant operations \(unsupported.sorted().joined(separator: ", ")) are not valid "
                + "for a symmetric encryption KMS key.")
        }
        if let c = r.constraints, c.encryptionContextEquals != nil, c.encryptionContextSubset != nil {
            throw KMSError(.validation, "A grant constraint can have EncryptionContextEquals or EncryptionContextSubset, not both.")
        }
        if let tokens = r.grantTokens { try Self.checkGrantTokens(tokens) }
        return try await write { w, now in
            let key = try Self.resolveKey(r.keyId, allowAlias: false, scope, w, now)
            let (state, _) = try Self.effectiveState(of: key, w, now)
            if let grant = try Self.authorizingGrant(caller, key: key, operation: "CreateGrant", context: nil, w) {
                // A grantee may only pass on what its own grant allows.
                guard Set(r.operations).isSubset(of: grant.operations) else {
                    throw GrantAuthorization.denied(arn: caller.arn, action: "kms:CreateGrant", resource: key.arn)
                }
            }
            try KeyStateRules.check(.createGrant, state: state, arn: key.arn)
            if r.dryRun == true {
                throw KMSError(.dryRunOperation, "The request would have succeeded, but the DryRun option is set.")
            }
            let grant = KMSGrant(id: GrantRules.newGrantId(), keyId: key.id, scope: scope, name: r.name,
                                 creationDate: now.kmsRounded, granteePrincipal: r.granteePrincipal,
                                 retiringPrincipal: r.retiringPrincipal, issuingAccount: "arn:aws:iam::\(scope.account):root",
                                 operations: r.operations, encryptionContextSubset: r.constraints?.encryptionContextSubset,
                                 encryptionContextEquals: r.constraints?.encryptionContextEquals, token: "")
            // A named grant created again with the same parameters is the same grant (KMS's idempotent retry).
            if let name = r.name {
                let same = try w.grants(keyId: key.id, granteeIn: [r.granteePrincipal]).first {
                    $0.name == name && $0.retiringPrincipal == grant.retiringPrincipal && $0.operations == grant.operations
                        && $0.encryptionContextSubset == grant.encryptionContextSubset
                        && $0.encryptionContextEquals == grant.encryptionContextEquals
                }
                if let same { return CreateGrantResponse(grantToken: same.token, grantId: same.id) }
            }
            if try w.grantCount(keyId: key.id) >= GrantRules.maximumGrantsPerKey {
                throw KMSError(.limitExceeded, "The request was rejected because \(key.arn) already has "
                    + "\(GrantRules.maximumGrantsPerKey) grants, the most a KMS key can have. Retire or revoke grants first.")
            }
            var stored = grant
            stored.token = GrantRules.newToken(grantId: grant.id)
            try w.insert(stored)
            return CreateGrantResponse(grantToken: stored.token, grantId: stored.id)
        }
    }

    /// Grant tokens must be tokens this core issued (KMS: InvalidGrantTokenException).
    static func checkGrantTokens(_ tokens: [String]) throws {
        for token in tokens where GrantRules.grantId(ofToken: token) == nil {
            throw KMSError(.invalidGrantToken, "The grant token is not valid.")
        }
    }

    static func entry(_ g: KMSGrant) -> GrantListEntry {
        let constraints: GrantConstraints? = (g.encryptionContextSubset == nil && g.encryptionContextEquals == nil) ? nil
            : GrantConstraints(encryptionContextSubset: g.encryptionContextSubset, encryptionContextEquals: g.encryptionContextEquals)
        return GrantListEntry(keyId: g.scope.keyARN(g.keyId), grantId: g.id, name: g.name ?? "",
                              creationDate: g.creationDate.kmsRounded, granteePrincipal: g.granteePrincipal,
                              retiringPrincipal: g.retiringPrincipal, issuingAccount: g.issuingAccount,
                              operations: g.operations, constraints: constraints)
    }

    func listGrants(_ r: ListGrantsRequest, _ scope: ResourceScope) async throws -> ListGrantsResponse {
        let after = try r.marker.map { m throws(KMSError) in try PageMarker.decodeSequence(m, as: .grants) }
        let limit = min(PageMarker.limit(r.limit, default: 50), 100)
        if let id = r.grantId, !GrantRules.isGrantId(id) {
            throw KMSError(.invalidGrantId, "Grant ID \(id) is not valid.")
        }
        return try await read { db, now in
            let key = try Self.resolveKey(r.keyId, allowAlias: false, scope, db, now)
            let page = try db.grants(keyId: key.id, grantId: r.grantId, grantee: r.granteePrincipal, after: after, limit: limit)
            return ListGrantsResponse(grants: page.items.map(Self.entry),
                                      nextMarker: page.nextPosition.map { PageMarker.encode(.grants, $0) },
                                      truncated: page.nextPosition != nil)
        }
    }

    func listRetirableGrants(_ r: ListRetirableGrantsRequest, _ scope: ResourceScope) async throws -> ListGrantsResponse {
        let after = try r.marker.map { m throws(KMSError) in try PageMarker.decodeSequence(m, as: .retirableGrants) }
        let limit = min(PageMarker.limit(r.limit, default: 50), 100)
        try GrantRules.checkPrincipal(r.retiringPrincipal, member: "RetiringPrincipal")
        return try await read { db, now in
            let page = try db.retirableGrants(retiring: r.retiringPrincipal, in: scope, after: after, limit: limit)
            return ListGrantsResponse(grants: page.items.map(Self.entry),
                                      nextMarker: page.nextPosition.map { PageMarker.encode(.retirableGrants, $0) },
                                      truncated: page.nextPosition != nil)
        }
    }

    /// RetireGrant: by token, or by key and grant id. Allowed to the retiring principal, to the grantee when the
    /// grant includes RetireGrant, and to a principal of the key's account the principals file allows kms:RetireGrant.
    func retireGrant(_ r: RetireGrantRequest, _ caller: Caller) async throws -> EmptyResponse {
        let scope = caller.scope
        let grantId: String
        if let token = r.grantToken {
            guard let id = GrantRules.grantId(ofToken: token) else {
                throw KMSError(.invalidGrantToken, "The grant token is not valid.")
            }
            grantId = id
        } else if let id = r.grantId, r.keyId != nil {
            guard GrantRules.isGrantId(id) else { throw KMSError(.invalidGrantId, "Grant ID \(id) is not valid.") }
            grantId = id
        } else {
            throw KMSError(.validation, "Either GrantToken, or both KeyId and GrantId, must be specified.")
        }
        try await write { w, now in
            let grant: KMSGrant
            if let token = r.grantToken {
                guard let found = try w.grant(id: grantId, in: scope), found.token == token else {
                    throw KMSError(.notFound, "Grant ID \(grantId) not found")
                }
                grant = found
            } else {
                let key = try Self.resolveKey(r.keyId ?? "", allowAlias: false, scope, w, now)
                guard let found = try w.grant(id: grantId, keyId: key.id) else {
                    throw KMSError(.notFound, "Grant ID \(grantId) not found")
                }
                grant = found
            }
            let mayRetire = grant.retiringPrincipal == caller.arn
                || (grant.granteePrincipal == caller.arn && grant.operations.contains("RetireGrant"))
                || !caller.needsGrant
            guard mayRetire else {
                throw GrantAuthorization.denied(arn: caller.arn, action: "kms:RetireGrant",
                                                resource: grant.scope.keyARN(grant.keyId))
            }
            if r.dryRun == true {
                throw KMSError(.dryRunOperation, "The request would have succeeded, but the DryRun option is set.")
            }
            try w.deleteGrant(id: grant.id)
        }
        return EmptyResponse()
    }

    func revokeGrant(_ r: RevokeGrantRequest, _ scope: ResourceScope) async throws -> EmptyResponse {
        guard GrantRules.isGrantId(r.grantId) else { throw KMSError(.invalidGrantId, "Grant ID \(r.grantId) is not valid.") }
        try await write { w, now in
            let key = try Self.resolveKey(r.keyId, allowAlias: false, scope, w, now)
            guard try w.grant(id: r.grantId, keyId: key.id) != nil else {
                throw KMSError(.notFound, "Grant ID \(r.grantId) not found")
            }
            if r.dryRun == true {
                throw KMSError(.dryRunOperation, "The request would have succeeded, but the DryRun option is set.")
            }
            try w.deleteGrant(id: r.grantId)
        }
        return EmptyResponse()
    }

    // MARK: Key policies

    static func checkPolicyName(_ name: String?) throws {
        if let name, name != KeyPolicyRules.defaultName { throw KMSError(.notFound, "No such policy exists") }
    }

    func getKeyPolicy(_ r: GetKeyPolicyRequest, _ scope: ResourceScope) async throws -> GetKeyPolicyResponse {
        try Self.checkPolicyName(r.policyName)
        return try await read { db, now in
            let key = try Self.resolveKey(r.keyId, allowAlias: false, scope, db, now)
            let policy = try db.storedPolicy(keyId: key.id) ?? KeyPolicyRules.defaultPolicy(account: scope.account)
            return GetKeyPolicyResponse(policy: policy, policyName: KeyPolicyRules.defaultName)
        }
    }

    func putKeyPolicy(_ r: PutKeyPolicyRequest, _ scope: ResourceScope) async throws -> EmptyResponse {
        try Self.checkPolicyName(r.policyName)
        try KeyPolicyRules.validate(r.policy)
        try await write { w, now in
            let key = try Self.resolveKey(r.keyId, allowAlias: false, scope, w, now)
            try w.setPolicy(keyId: key.id, r.policy)
        }
        return EmptyResponse()
    }

    func listKeyPolicies(_ r: ListKeyPoliciesRequest, _ scope: ResourceScope) async throws -> ListKeyPoliciesResponse {
        if let marker = r.marker { _ = try PageMarker.decode(marker, as: .keys) }
        return try await read { db, now in
            _ = try Self.resolveKey(r.keyId, allowAlias: false, scope, db, now)
            return ListKeyPoliciesResponse(policyNames: [KeyPolicyRules.defaultName], nextMarker: nil, truncated: false)
        }
    }

    // MARK: Tags

    func tagResource(_ r: TagResourceRequest, _ scope: ResourceScope) async throws -> EmptyResponse {
        try await write { w, now in
            let key = try Self.resolveKey(r.keyId, allowAlias: false, scope, w, now)
            let (state, _) = try Self.effectiveState(of: key, w, now)
            try KeyStateRules.check(.tagResource, state: state, arn: key.arn)
            try Self.applyTags(r.tags, keyId: key.id, w)
        }
        return EmptyResponse()
    }

    static func applyTags(_ tags: [Tag], keyId: String, _ w: DataWriter) throws {
        try TagRules.check(tags.map { (key: $0.tagKey, value: $0.tagValue) }, existing: try w.tagKeys(keyId: keyId))
        for tag in tags { try w.setTag(keyId: keyId, key: tag.tagKey, value: tag.tagValue) }
    }

    func untagResource(_ r: UntagResourceRequest, _ scope: ResourceScope) async throws -> EmptyResponse {
        for key in r.tagKeys where key.lowercased().hasPrefix("aws:") {
            throw KMSError(.tag, "Tag keys beginning with aws: are reserved for AWS use: \(key)")
        }
        try await write { w, now in
            let key = try Self.resolveKey(r.keyId, allowAlias: false, scope, w, now)
            let (state, _) = try Self.effectiveState(of: key, w, now)
            try KeyStateRules.check(.untagResource, state: state, arn: key.arn)
            for tagKey in r.tagKeys { try w.removeTag(keyId: key.id, key: tagKey) }
        }
        return EmptyResponse()
    }

    func listResourceTags(_ r: ListResourceTagsRequest, _ scope: ResourceScope) async throws -> ListResourceTagsResponse {
        let after = try r.marker.map { m throws(KMSError) in try PageMarker.decode(m, as: .tags) }
        let limit = min(PageMarker.limit(r.limit, default: 50), 50)
        return try await read { db, now in
            let key = try Self.resolveKey(r.keyId, allowAlias: false, scope, db, now)
            let page = try db.tags(keyId: key.id, after: after, limit: limit)
            return ListResourceTagsResponse(tags: page.items.map { Tag(tagKey: $0.key, tagValue: $0.value) },
                                            nextMarker: page.nextPosition.map { PageMarker.encode(.tags, $0) },
                                            truncated: page.nextPosition != nil)
        }
    }

    // MARK: Description

    func updateKeyDescription(_ r: UpdateKeyDescriptionRequest, _ scope: ResourceScope) async throws -> EmptyResponse {
        try await write { w, now in
            let key = try Self.resolveKey(r.keyId, allowAlias: false, scope, w, now)
            let (state, _) = try Self.effectiveState(of: key, w, now)
            try KeyStateRules.check(.updateKeyDescription, state: state, arn: key.arn)
            try w.setDescription(keyId: key.id, r.description)
        }
        return EmptyResponse()
    }
}

extension GrantRules {
    /// The grant operations valid for the symmetric encryption keys this core creates.
    static let symmetricOperations: Set<String> = [
        "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo",
        "CreateGrant", "RetireGrant", "DescribeKey", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext",
    ]
}
