import CKSDomain
import CKSPersistence
import CKSWire
import Foundation

/// Alias operations. Aliases die with their key.
extension KMSEngine {
    func createAlias(_ r: CreateAliasRequest, _ scope: ResourceScope) async throws -> EmptyResponse {
        try AliasRules.checkCreatable(r.aliasName)
        try await write { w, now in
            let key = try Self.resolveKey(r.targetKeyId, allowAlias: false, scope, w, now)
            let (state, _) = try Self.effectiveState(of: key, w, now)
            try KeyStateRules.check(.createAlias, state: state, arn: key.arn)
            if try w.alias(named: r.aliasName, in: scope) != nil {
                throw KMSError(.alreadyExists, "An alias with the name \(scope.aliasARN(r.aliasName)) already exists")
            }
            let at = now.kmsRounded
            try w.insert(KMSAlias(name: r.aliasName, scope: scope, targetKeyId: key.id, creationDate: at, lastUpdatedDate: at))
        }
        return EmptyResponse()
    }

    /// Points an existing alias at another key of the same account and region (moving work off a key before it
    /// is deleted). The new key must not be pending deletion.
    func updateAlias(_ r: UpdateAliasRequest, _ scope: ResourceScope) async throws -> EmptyResponse {
        try await write { w, now in
            guard try w.alias(named: r.aliasName, in: scope) != nil else {
                throw KMSError(.notFound, "Alias \(scope.aliasARN(r.aliasName)) is not found.")
            }
            let key = try Self.resolveKey(r.targetKeyId, allowAlias: false, scope, w, now)
            let (state, _) = try Self.effectiveState(of: key, w, now)
            try KeyStateRules.check(.updateAlias, state: state, arn: key.arn)
            try w.retarget(alias: r.aliasName, in: scope, to: key.id, at: now.kmsRounded)
        }
        return EmptyResponse()
    }

    func deleteAlias(_ r: DeleteAliasRequest, _ scope: ResourceScope) async throws -> EmptyResponse {
        try await write { w, _ in
            guard try w.alias(named: r.aliasName, in: scope) != nil else {
                throw KMSError(.notFound, "Alias \(scope.aliasARN(r.aliasName)) is not found.")
            }
            try w.deleteAlias(named: r.aliasName, in: scope)
        }
        return EmptyResponse()
    }

    func listAliases(_ r: ListAliasesRequest, _ scope: ResourceScope) async throws -> ListAliasesResponse {
        let after = try r.marker.map { m throws(KMSError) in try PageMarker.decode(m, as: .aliases) }
        let limit = PageMarker.limit(r.limit, default: 50)
        return try await read { db, now in
            let keyId = try r.keyId.map { try Self.resolveKey($0, allowAlias: false, scope, db, now).id }
            let page = try db.aliases(in: scope, keyId: keyId, existingAt: now, after: after, limit: limit)
            return ListAliasesResponse(
                aliases: page.items.map {
                    AliasListEntry(aliasName: $0.name, aliasArn: $0.arn, targetKeyId: $0.targetKeyId,
                                   creationDate: $0.creationDate, lastUpdatedDate: $0.lastUpdatedDate)
                },
                nextMarker: page.nextPosition.map { PageMarker.encode(.aliases, $0) },
                truncated: page.nextPosition != nil)
        }
    }
}
