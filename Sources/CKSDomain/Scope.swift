import Foundation

/// An account and a region: every store, key, alias and simulated cluster lives in exactly one.
/// Another scope's resources do not exist for a caller (AWS "cross-account use: no").
public struct ResourceScope: Sendable, Hashable, Codable {
    public var account: String
    public var region: String

    public init(account: String, region: String) {
        self.account = account
        self.region = region
    }

    /// `arn:aws:kms:REGION:ACCOUNT:key/ID`.
    public func keyARN(_ keyId: String) -> String { "arn:aws:kms:\(region):\(account):key/\(keyId)" }

    /// `arn:aws:kms:REGION:ACCOUNT:alias/NAME` for an alias name that already starts with `alias/`.
    public func aliasARN(_ aliasName: String) -> String { "arn:aws:kms:\(region):\(account):\(aliasName)" }
}

/// What a `KeyId` parameter names, once parsed: a key (by id or ARN) or an alias (by name or ARN).
public enum KeyReference: Sendable, Hashable {
    case keyId(String)
    case alias(String)

    /// Parses a `KeyId` parameter as KMS does. ARNs must belong to `scope`; anything else that
    /// is not a well-formed key id or alias name resolves to nothing (`nil`), which callers turn
    /// into `NotFoundException: Invalid keyId '...'`.
    public static func parse(_ raw: String, in scope: ResourceScope) -> KeyReference? {
        if raw.hasPrefix("arn:") {
            // arn:aws:kms:REGION:ACCOUNT:key/ID  or  ...:alias/NAME
            let parts = raw.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
            guard parts.count == 6, parts[1] == "aws", parts[2] == "kms",
                  parts[3] == scope.region, parts[4] == scope.account else { return nil }
            let resource = String(parts[5])
            if resource.hasPrefix("key/") {
                let id = String(resource.dropFirst(4))
                return KeyIdentifiers.isKeyId(id) ? .keyId(id) : nil
            }
            if resource.hasPrefix("alias/") { return AliasRules.isWellFormed(resource) ? .alias(resource) : nil }
            return nil
        }
        if raw.hasPrefix("alias/") { return AliasRules.isWellFormed(raw) ? .alias(raw) : nil }
        return KeyIdentifiers.isKeyId(raw) ? .keyId(raw) : nil
    }

    /// Whether a reference of this kind may name a key for an operation that accepts aliases.
    public var isAlias: Bool { if case .alias = self { return true } else { return false } }
}

/// Key identifiers: lowercase UUIDs, as AWS prints them.
public enum KeyIdentifiers {
    /// A fresh key id (lowercase UUID).
    public static func newKeyId() -> String { UUID().uuidString.lowercased() }

    /// Whether `s` is a UUID in the 8-4-4-4-12 hex form (either case; AWS ids are lowercase).
    public static func isKeyId(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard u.count == 36 else { return false }
        for (i, c) in u.enumerated() {
            if i == 8 || i == 13 || i == 18 || i == 23 {
                if c != UInt8(ascii: "-") { return false }
            } else if !isHex(c) { return false }
        }
        return true
    }

    static func isHex(_ c: UInt8) -> Bool {
        (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70)
    }
}

/// Custom key store identifiers: `cks-` followed by 17 lowercase hex digits (semantics §1.5).
public enum CustomKeyStoreIdentifiers {
    /// A fresh random id such as `cks-5ebd4ef395a96288e`.
    public static func newId<G: RandomNumberGenerator>(using generator: inout G) -> String {
        let digits = Array("0123456789abcdef")
        var s = "cks-"
        for _ in 0..<17 { s.append(digits[Int.random(in: 0..<16, using: &generator)]) }
        return s
    }

    /// A fresh id from the system generator.
    public static func newId() -> String {
        var g = SystemRandomNumberGenerator()
        return newId(using: &g)
    }

    /// Whether `s` has the shape of an id this service hands out.
    public static func isWellFormed(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard u.count == 21, s.hasPrefix("cks-") else { return false }
        return u[4...].allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }
}
