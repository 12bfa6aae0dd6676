import CKSDomain
import Foundation
import GRDB

// Who may use a key: its grants, key policy and tags.

extension DataReader {
    // MARK: grants

    static let grantColumns = """
        seq, id, key_id, account, region, name, creation_date, grantee, retiring, issuing_account, operations,
        context_subset, context_equals, token
        """

    func decodeGrant(_ row: Row) -> KMSGrant {
        func map(_ column: String) -> [String: String]? {
            guard let text: String = row[column] else { return nil }
            return try? JSONDecoder().decode([String: String].self, from: Data(text.utf8))
        }
        let operations = (try? JSONDecoder().decode([String].self, from: Data((row["operations"] as String).utf8))) ?? []
        return KMSGrant(id: row["id"], keyId: row["key_id"],
                        scope: ResourceScope(account: row["account"], region: row["region"]), name: row["name"],
                        creationDate: Date(timeIntervalSince1970: row["creation_date"]), granteePrincipal: row["grantee"],
                        retiringPrincipal: row["retiring"], issuingAccount: row["issuing_account"], operations: operations,
                        encryptionContextSubset: map("context_subset"), encryptionContextEquals: map("context_equals"),
                        token: row["token"])
    }

    /// The grant with this id on this key.
    public func grant(id: String, keyId: String) throws -> KMSGrant? {
        try one("SELECT \(Self.grantColumns) FROM grant_entry WHERE id = ? AND key_id = ?", [id, keyId]).map(decodeGrant)
    }

    /// The grant with this id in `scope`, whatever its key.
    public func grant(id: String, in scope: ResourceScope) throws -> KMSGrant? {
        try one("SELECT \(Self.grantColumns) FROM grant_entry WHERE id = ? AND account = ? AND region = ?",
                [id, scope.account, scope.region]).map(decodeGrant)
    }

    /// Grants of a key in creation order after `after` (a row sequence), optionally one grant id or grantee.
    public func grants(keyId: String, grantId: String?, grantee: String?, after: Int64?, limit: Int) throws -> Page<KMSGrant> {
        var sql = "SELECT \(Self.grantColumns) FROM grant_entry WHERE key_id = ? AND seq > ?"
        var args: StatementArguments = [keyId, after ?? 0]
        if let grantId { sql += " AND id = ?"; args += [grantId] }
        if let grantee { sql += " AND grantee = ?"; args += [grantee] }
        sql += " ORDER BY seq LIMIT ?"
        args += [limit + 1]
        return try page(try all(sql, args), limit: limit, decode: decodeGrant)
    }

    /// Grants of `scope` that `retiring` may retire, in creation order after `after`.
    public func retirableGrants(retiring: String, in scope: ResourceScope, after: Int64?, limit: Int) throws -> Page<KMSGrant> {
        let rows = try all("""
            SELECT \(Self.grantColumns) FROM grant_entry WHERE account = ? AND region = ? AND retiring = ? AND seq > ?
            ORDER BY seq LIMIT ?
            """, [scope.account, scope.region, retiring, after ?? 0, limit + 1])
        return try page(rows, limit: limit, decode: decodeGrant)
    }

    /// Grants of a key whose grantee is one of `grantees` (for authorization).
    public func grants(keyId: String, granteeIn grantees: [String]) throws -> [KMSGrant] {
        guard !grantees.isEmpty else { return [] }
        let marks = Array(repeating: "?", count: grantees.count).joined(separator: ", ")
        var args: StatementArguments = [keyId]
        for g in grantees { args += [g] }
        return try all("SELECT \(Self.grantColumns) FROM grant_entry WHERE key_id = ? AND grantee IN (\(marks))", args)
            .map(decodeGrant)
    }

    public func grantCount(keyId: String) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM grant_entry WHERE key_id = ?"), arguments: [keyId]) ?? 0
    }

    // MARK: key policy

    /// The key policy stored for a key, nil when it has the default policy.
    public func storedPolicy(keyId: String) throws -> String? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT policy FROM kms_key WHERE id = ?"), arguments: [keyId])
    }

    // MARK: tags

    /// A key's tags, by tag key after `after`.
    public func tags(keyId: String, after: String?, limit: Int) throws -> Page<(key: String, value: String)> {
        let rows = try all("SELECT tag_key, tag_value FROM key_tag WHERE key_id = ? AND tag_key > ? ORDER BY tag_key LIMIT ?",
                           [keyId, after ?? "", limit + 1])
        let more = rows.count > limit
        let items = rows.prefix(limit).map { (key: $0["tag_key"] as String, value: $0["tag_value"] as String) }
        return Page(items: Array(items), nextPosition: more ? items.last?.key : nil)
    }

    public func tagKeys(keyId: String) throws -> Set<String> {
        Set(try String.fetchAll(db.cachedStatement(sql: "SELECT tag_key FROM key_tag WHERE key_id = ?"), arguments: [keyId]))
    }
}

extension DataWriter {
    public func insert(_ grant: KMSGrant) throws {
        func json(_ map: [String: String]?) throws -> String? {
            guard let map else { return nil }
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            return String(decoding: try encoder.encode(map), as: UTF8.self)
        }
        try run("""
            INSERT INTO grant_entry (id, key_id, account, region, name, creation_date, grantee, retiring, issuing_account,
              operations, context_subset, context_equals, token)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [grant.id, grant.keyId, grant.scope.account, grant.scope.region, grant.name,
                  grant.creationDate.timeIntervalSince1970, grant.granteePrincipal, grant.retiringPrincipal,
                  grant.issuingAccount, String(decoding: try JSONEncoder().encode(grant.operations), as: UTF8.self),
                  try json(grant.encryptionContextSubset), try json(grant.encryptionContextEquals), grant.token])
    }

    public func deleteGrant(id: String) throws {
        try run("DELETE FROM grant_entry WHERE id = ?", [id])
    }

    public func setPolicy(keyId: String, _ policy: String?) throws {
        try run("UPDATE kms_key SET policy = ? WHERE id = ?", [policy, keyId])
    }

    public func setDescription(keyId: String, _ description: String) throws {
        try run("UPDATE kms_key SET description = ? WHERE id = ?", [description, keyId])
    }

    public func setTag(keyId: String, key: String, value: String) throws {
        try run("""
            INSERT INTO key_tag (key_id, tag_key, tag_value) VALUES (?, ?, ?)
            ON CONFLICT(key_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value
            """, [keyId, key, value])
    }

    public func removeTag(keyId: String, key: String) throws {
        try run("DELETE FROM key_tag WHERE key_id = ? AND tag_key = ?", [keyId, key])
    }

    /// Points an alias at another key and sets its last-updated date.
    public func retarget(alias name: String, in scope: ResourceScope, to keyId: String, at date: Date) throws {
        try run("UPDATE alias SET key_id = ?, last_updated = ? WHERE account = ? AND region = ? AND name = ?",
                [keyId, date.timeIntervalSince1970, scope.account, scope.region, name])
    }
}
