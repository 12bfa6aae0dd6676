import CKSDomain
import CKSPersistence
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A caller the core knows: its SigV4 credentials, its account, and the IAM-style actions it may perform.
/// File format: `{"principals":[{"name","account","accessKeyId","secretAccessKey","allow":["kms:*","cks:*"]}]}`,
/// optionally `"arn"` naming the principal as grants and CloudTrail do (an IAM role ARN, for example); without it
/// the principal is the IAM user `arn:aws:iam::ACCOUNT:user/NAME`.
public struct Principal: Codable, Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable {
    public var name: String
    /// 12-digit AWS account id; resources are isolated per account.
    public var account: String
    public var accessKeyId: String
    public var secretAccessKey: String
    /// IAM-style action patterns (`kms:*`, `kms:Describe*`, `cks:AdvanceClock`); `*` and `?` are wildcards,
    /// matching is case-insensitive as in IAM.
    public var allow: [String]
    /// The principal's ARN when it is not the IAM user of its name (a role, for example).
    public var principalArn: String?

    enum CodingKeys: String, CodingKey {
        case name, account, accessKeyId, secretAccessKey, allow
        case principalArn = "arn"
    }

    public init(name: String, account: String, accessKeyId: String, secretAccessKey: String, allow: [String],
                arn: String? = nil) {
        self.name = name
        self.account = account
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.allow = allow
        self.principalArn = arn
    }

    /// Whether `action` (`kms:DeleteCustomKeyStore`) is allowed by one of the patterns.
    public func isAllowed(_ action: String) -> Bool {
        allow.contains { IAMPattern.matches(pattern: $0, action) }
    }

    /// The ARN in AccessDenied messages, grants and recorded events.
    public var arn: String { principalArn ?? "arn:aws:iam::\(account):user/\(name)" }

    /// Never shows the secret.
    public var description: String {
        "Principal(name: \(name), account: \(account), accessKeyId: \(accessKeyId), allow: \(allow))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["name": name, "account": account, "accessKeyId": accessKeyId,
                                "secretAccessKey": "<redacted>", "allow": allow], displayStyle: .struct)
    }
}

/// IAM action patterns: `*` matches any run of characters, `?` exactly one; case-insensitive.
public enum IAMPattern {
    public static func matches(pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.lowercased().unicodeScalars), t = Array(text.lowercased().unicodeScalars)
        // Iterative wildcard match with backtracking to the last `*` (linear in practice, no recursion).
        var pi = 0, ti = 0, star = -1, mark = 0
        while ti < t.count {
            if pi < p.count, p[pi] == "?" || p[pi] == t[ti] {
                pi += 1; ti += 1
            } else if pi < p.count, p[pi] == "*" {
                star = pi; mark = ti; pi += 1
            } else if star >= 0 {
                pi = star + 1; mark += 1; ti = mark
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}

/// Why the principals file cannot be used; the message says how to fix it.
public struct PrincipalsFileError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// The principals, loaded once at start, looked up by access key id.
public struct PrincipalDirectory: Sendable {
    public let principals: [Principal]
    private let byAccessKey: [String: Principal]

    public init(_ principals: [Principal]) throws(PrincipalsFileError) {
        guard !principals.isEmpty else { throw PrincipalsFileError(message: "the principals file lists no principals") }
        var index: [String: Principal] = [:]
        for principal in principals {
            guard !principal.accessKeyId.isEmpty, !principal.secretAccessKey.isEmpty else {
                throw PrincipalsFileError(message: "principal '\(principal.name)' has an empty accessKeyId or secretAccessKey")
            }
            guard principal.account.count == 12, principal.account.allSatisfy(\.isASCII), principal.account.allSatisfy(\.isNumber)
            else { throw PrincipalsFileError(message: "principal '\(principal.name)': account must be 12 digits") }
            if let arn = principal.principalArn {
                let parts = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
                guard parts.count == 6, parts[0] == "arn", parts[2] == "iam" || parts[2] == "sts", parts[4] == principal.account,
                      !parts[5].isEmpty else {
                    throw PrincipalsFileError(message: "principal '\(principal.name)': arn \(arn) must be an IAM ARN of its "
                        + "account, such as arn:aws:iam::\(principal.account):role/NAME")
                }
            }
            guard index[principal.accessKeyId] == nil else {
                throw PrincipalsFileError(message: "access key id \(principal.accessKeyId) is listed twice")
            }
            index[principal.accessKeyId] = principal
        }
        self.principals = principals
        self.byAccessKey = index
    }

    public func principal(accessKeyId: String) -> Principal? { byAccessKey[accessKeyId] }

    /// The first principal allowed every `kms:` and `cks:` action; else the first principal.
    public var admin: Principal {
        principals.first { $0.isAllowed("kms:*") && $0.isAllowed("cks:*") } ?? principals[0]
    }

    private struct FileContents: Codable { var principals: [Principal] }

    /// Loads `url`; if it does not exist and `createIfMissing`, writes a fresh admin principal there (mode 0600,
    /// its directory 0700 when created). A file readable or writable by group or others is refused.
    /// Returns the directory and whether the file was created.
    public static func load(from url: URL, createIfMissing: Bool) throws(PrincipalsFileError) -> (PrincipalDirectory, Bool) {
        let path = url.path
        var created = false
        if !FileManager.default.fileExists(atPath: path) {
            guard createIfMissing else { throw PrincipalsFileError(message: "principals file \(path) does not exist") }
            try create(at: url)
            created = true
        }
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw PrincipalsFileError(message: "cannot read principals file \(path): \(String(cString: strerror(errno)))")
        }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw PrincipalsFileError(message: "principals file \(path) is accessible by group or others (mode "
                + String(mode, radix: 8) + "); it holds secret keys. Fix it with: chmod 600 \(path)")
        }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw PrincipalsFileError(message: "cannot read principals file \(path): \(error.localizedDescription)")
        }
        let contents: FileContents
        do { contents = try JSONDecoder().decode(FileContents.self, from: data) } catch {
            throw PrincipalsFileError(message: "principals file \(path) is not valid: expected "
                + #"{"principals":[{"name","account","accessKeyId","secretAccessKey","allow":[...]}]}"#)
        }
        do { return (try PrincipalDirectory(contents.principals), created) } catch {
            throw PrincipalsFileError(message: "principals file \(path): \(error.message)")
        }
    }

    /// A fresh admin principal with random AWS-shaped credentials.
    public static func freshAdmin() -> Principal {
        var rng = SystemRandomNumberGenerator()
        let base32 = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        let secretAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        let keyId = "AKIA" + String((0..<16).map { _ in base32.randomElement(using: &rng)! })
        let secret = String((0..<40).map { _ in secretAlphabet.randomElement(using: &rng)! })
        return Principal(name: "admin", account: "111122223333", accessKeyId: keyId, secretAccessKey: secret,
                         allow: ["kms:*", "cks:*", "cloudtrail:LookupEvents"])
    }

    private static func create(at url: URL) throws(PrincipalsFileError) {
        let directory = url.deletingLastPathComponent()
        try createPrivateDirectory(directory)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(FileContents(principals: [freshAdmin()])) else {
            throw PrincipalsFileError(message: "cannot encode a fresh principal")
        }
        // O_EXCL + mode 0600 at creation: the secret is never readable by others, not even for an instant.
        let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            throw PrincipalsFileError(message: "cannot create principals file \(url.path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let bytes = [UInt8](data) + [0x0A]
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else {
            throw PrincipalsFileError(message: "cannot write principals file \(url.path): \(String(cString: strerror(errno)))")
        }
    }

    /// Creates `directory` (and parents) with mode 0700 if it does not exist; an existing one is left alone.
    public static func createPrivateDirectory(_ directory: URL) throws(PrincipalsFileError) {
        do { try DataDirectory.createPrivate(directory) } catch { throw PrincipalsFileError(message: error.message) }
    }
}
