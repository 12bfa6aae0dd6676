import Foundation

/// A grant on a KMS key: its grantee may call `operations` on the key, within `constraints`.
public struct KMSGrant: Sendable, Hashable {
    /// 64 lowercase hex digits, as KMS grant ids.
    public var id: String
    public var keyId: String
    public var scope: ResourceScope
    public var name: String?
    public var creationDate: Date
    public var granteePrincipal: String
    public var retiringPrincipal: String?
    /// `arn:aws:iam::ACCOUNT:root` of the account that created the grant.
    public var issuingAccount: String
    public var operations: [String]
    public var encryptionContextSubset: [String: String]?
    public var encryptionContextEquals: [String: String]?
    public var token: String

    public init(id: String, keyId: String, scope: ResourceScope, name: String?, creationDate: Date,
                granteePrincipal: String, retiringPrincipal: String?, issuingAccount: String, operations: [String],
                encryptionContextSubset: [String: String]?, encryptionContextEquals: [String: String]?, token: String) {
        self.id = id
        self.keyId = keyId
        self.scope = scope
        self.name = name
        self.creationDate = creationDate
        self.granteePrincipal = granteePrincipal
        self.retiringPrincipal = retiringPrincipal
        self.issuingAccount = issuingAccount
        self.operations = operations
        self.encryptionContextSubset = encryptionContextSubset
        self.encryptionContextEquals = encryptionContextEquals
        self.token = token
    }

    /// Whether the grant lets its grantee call `operation` with this encryption context. A constraint applies
    /// only to operations that take an encryption context (`takesContext`), as in KMS.
    public func permits(_ operation: String, context: [String: String]?, takesContext: Bool) -> Bool {
        guard operations.contains(operation) else { return false }
        guard takesContext else { return true }
        let given = context ?? [:]
        if let equals = encryptionContextEquals, equals != given { return false }
        if let subset = encryptionContextSubset, !subset.allSatisfy({ given[$0.key] == $0.value }) { return false }
        return true
    }
}

/// The rules of grants: identifiers, tokens, principals, limits.
public enum GrantRules {
    /// KMS's quota of grants per key (not adjustable).
    public static let maximumGrantsPerKey = 50_000

    /// A new grant id: 64 lowercase hex digits.
    public static func newGrantId() -> String {
        var rng = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef")
        return String((0..<64).map { _ in digits[Int(rng.next() % 16)] })
    }

    /// A new grant token that names its grant: base64 of `cks-grant-token:` + grant id + `:` + 32 random bytes.
    public static func newToken(grantId: String) -> String {
        var rng = SystemRandomNumberGenerator()
        let random = Data((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })
        return (Data("cks-grant-token:\(grantId):".utf8) + random).base64EncodedString()
    }

    /// The grant id a token names, or nil when the text is not a token this core issued.
    public static func grantId(ofToken token: String) -> String? {
        guard let data = Data(base64Encoded: token), data.count > 16 + 64 + 1 else { return nil }
        let prefix = Data("cks-grant-token:".utf8)
        guard data.prefix(prefix.count) == prefix else { return nil }
        let id = data.dropFirst(prefix.count).prefix(64)
        guard let text = String(data: id, encoding: .ascii), isGrantId(text) else { return nil }
        return text
    }

    public static func isGrantId(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// Checks a grantee or retiring principal as KMS does: an AWS principal ARN (`arn:aws:iam::ACCOUNT:...` or
    /// `arn:aws:sts::ACCOUNT:assumed-role/...`), an account root, or a service principal (`name.amazonaws.com`).
    public static func checkPrincipal(_ principal: String, member: String) throws(KMSError) {
        if principal.hasSuffix(".amazonaws.com") { return }
        if principal.count == 12, principal.allSatisfy(\.isNumber) { return }
        let parts = principal.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        if parts.count == 6, parts[0] == "arn", parts[1].hasPrefix("aws"), parts[2] == "iam" || parts[2] == "sts",
           parts[4].count == 12, parts[4].allSatisfy(\.isNumber), !parts[5].isEmpty {
            return
        }
        throw KMSError(.invalidArn, "\(member) \(principal) is not a valid principal: name an IAM user or role ARN "
            + "(arn:aws:iam::111122223333:user/NAME), an account (arn:aws:iam::111122223333:root) or a service "
            + "principal (NAME.amazonaws.com).")
    }

    /// Operations that take an encryption context, where grant constraints apply.
    public static let contextOperations: Set<String> = [
        "Encrypt", "Decrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo",
        "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext",
    ]
}

/// Key policies: the default policy, validation as KMS does it before storing one verbatim.
public enum KeyPolicyRules {
    /// The only policy name KMS supports.
    public static let defaultName = "default"
    /// KMS's key policy size limit in bytes.
    public static let maximumBytes = 32_768

    /// The key policy KMS gives a key created without one (the "default key policy" of the developer guide),
    /// formatted as `GetKeyPolicy` returns it.
    public static func defaultPolicy(account: String) -> String {
        """
        {
          "Version" : "2012-10-17",
          "Id" : "key-default-1",
          "Statement" : [ {
            "Sid" : "Enable IAM User Permissions",
            "Effect" : "Allow",
            "Principal" : {
              "AWS" : "arn:aws:iam::\(account):root"
            },
            "Action" : "kms:*",
            "Resource" : "*"
          } ]
        }
        """
    }

    /// Checks a policy document: JSON object, size, a `Statement` whose entries have `Effect` Allow/Deny, and
    /// principals that are well formed. Returns nothing: the text is stored and returned verbatim.
    public static func validate(_ policy: String) throws(KMSError) {
        if policy.utf8.count > maximumBytes {
            throw KMSError(.limitExceeded, "The key policy exceeds the maximum size of \(maximumBytes) bytes "
                + "(it has \(policy.utf8.count)).")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(policy.utf8))) as? [String: Any] else {
            throw KMSError(.malformedPolicyDocument, "The new key policy is not valid JSON: it must be a JSON object.")
        }
        let statements: [[String: Any]]
        if let one = object["Statement"] as? [String: Any] {
            statements = [one]
        } else if let many = object["Statement"] as? [[String: Any]], !many.isEmpty {
            statements = many
        } else {
            throw KMSError(.malformedPolicyDocument, "Policy document must contain a Statement (an object or a non-empty list of objects).")
        }
        for statement in statements {
            guard let effect = statement["Effect"] as? String, effect == "Allow" || effect == "Deny" else {
                throw KMSError(.malformedPolicyDocument, "Policy contains a statement without a valid Effect (Allow or Deny).")
            }
            guard statement["Action"] != nil || statement["NotAction"] != nil else {
                throw KMSError(.malformedPolicyDocument, "Policy contains a statement with no Action.")
            }
            guard statement["Principal"] != nil || statement["NotPrincipal"] != nil else {
                throw KMSError(.malformedPolicyDocument, "Policy contains a statement with no Principal.")
            }
            for principal in principals(of: statement) where principal != "*" {
                if principal.hasSuffix(".amazonaws.com") || principal.hasPrefix("arn:aws") ||
                    (principal.count == 12 && principal.allSatisfy(\.isNumber)) { continue }
                throw KMSError(.malformedPolicyDocument, "Policy contains a statement with one or more invalid principals.")
            }
        }
    }

    /// Every principal a policy's statements name (`AWS` and `Service` values), in order, without repeats.
    /// A policy that cannot be read names nobody.
    public static func principals(inPolicy policy: String) -> [String] {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(policy.utf8))) as? [String: Any] else { return [] }
        let statements = (object["Statement"] as? [[String: Any]]) ?? ((object["Statement"] as? [String: Any]).map { [$0] } ?? [])
        var seen: [String] = []
        for statement in statements {
            for principal in principals(of: statement) where !seen.contains(principal) { seen.append(principal) }
        }
        return seen
    }

    static func principals(of statement: [String: Any]) -> [String] {
        var out: [String] = []
        for member in ["Principal", "NotPrincipal"] {
            if let text = statement[member] as? String { out.append(text) }
            if let map = statement[member] as? [String: Any] {
                for (_, value) in map.sorted(by: { $0.key < $1.key }) {
                    if let one = value as? String { out.append(one) }
                    if let many = value as? [String] { out.append(contentsOf: many) }
                }
            }
        }
        return out
    }
}

/// Tags on keys: KMS's limits and the `TagException` cases.
public enum TagRules {
    /// Tags per key (KMS quota).
    public static let maximumTagsPerKey = 50

    /// Checks tags to add to a key that already has `existing` keys; throws TagException / LimitExceeded as KMS.
    public static func check(_ tags: [(key: String, value: String)], existing: Set<String>) throws(KMSError) {
        var seen = Set<String>()
        for (key, _) in tags {
            if key.lowercased().hasPrefix("aws:") {
                throw KMSError(.tag, "Tag keys beginning with aws: are reserved for AWS use: \(key)")
            }
            if !seen.insert(key).inserted {
                throw KMSError(.tag, "Duplicate tag keys in the request: \(key)")
            }
        }
        let total = existing.union(seen).count
        if total > maximumTagsPerKey {
            throw KMSError(.tag, "A KMS key can have at most \(maximumTagsPerKey) tags; this request would give it \(total).")
        }
    }
}
