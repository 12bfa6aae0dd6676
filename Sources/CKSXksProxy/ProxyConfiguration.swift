import CKSWire
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why the proxy cannot start or reload; the message names the problem and how to fix it.
public struct XksProxyError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The proxy's JSON configuration file (mode 0600: it holds SigV4 secrets):
/// `{"tls": {"enabled", "certificateFile"?, "privateKeyFile"?, "clientCaFile"?, "clientCommonNames"?},
///   "keyStores": [{"uriPathPrefix", "credentials": [{"accessKeyId", "secretAccessKey"}], "keys": [{"id", "usage", "status"}],
///                  "requestsPerSecond"?}]}`.
/// Unknown members are refused, so a misspelt one cannot silently change what the proxy does.
public struct ProxyConfiguration: Sendable, Hashable {
    public struct TLS: Sendable, Hashable {
        public var enabled: Bool
        /// PEM; both or neither. Neither: a self-signed certificate is made in the data directory on first start.
        public var certificateFile: String?
        public var privateKeyFile: String?
        /// PEM CA certificates; set → mTLS: every client must present a certificate chained to one of them.
        public var clientCaFile: String?
        /// The subject common names accepted from clients under mTLS. Default: `cks.kms.<region>.amazonaws.com`
        /// for any region, the names AWS KMS presents.
        public var clientCommonNames: [String]?

        public init(enabled: Bool, certificateFile: String? = nil, privateKeyFile: String? = nil,
                    clientCaFile: String? = nil, clientCommonNames: [String]? = nil) {
            self.enabled = enabled
            self.certificateFile = certificateFile
            self.privateKeyFile = privateKeyFile
            self.clientCaFile = clientCaFile
            self.clientCommonNames = clientCommonNames
        }
    }

    public struct Credential: Sendable, Hashable, CustomStringConvertible {
        public var accessKeyId: String
        public var secretAccessKey: String
        public init(accessKeyId: String, secretAccessKey: String) {
            self.accessKeyId = accessKeyId
            self.secretAccessKey = secretAccessKey
        }
        /// Never shows the secret.
        public var description: String { "Credential(accessKeyId: \(accessKeyId))" }
    }

    public enum KeyUsage: String, Sendable, Hashable, CaseIterable { case encrypt = "ENCRYPT", decrypt = "DECRYPT" }
    public enum KeyStatus: String, Sendable, Hashable { case enabled = "ENABLED", disabled = "DISABLED" }

    public struct Key: Sendable, Hashable {
        public var id: String
        public var usage: Set<KeyUsage>
        public var status: KeyStatus
        public init(id: String, usage: Set<KeyUsage>, status: KeyStatus) {
            self.id = id
            self.usage = usage
            self.status = status
        }
    }

    public struct KeyStore: Sendable, Hashable {
        /// Without leading or trailing slashes; "" serves `/kms/xks/v1/...`.
        public var uriPathPrefix: String
        /// One or two (two while rotating).
        public var credentials: [Credential]
        public var keys: [Key]
        /// The store's request quota; beyond it requests get 429 ThrottlingException. nil: no quota.
        public var requestsPerSecond: Int?
        public init(uriPathPrefix: String, credentials: [Credential], keys: [Key], requestsPerSecond: Int? = nil) {
            self.uriPathPrefix = XKSPath.normalizedPrefix(uriPathPrefix)
            self.credentials = credentials
            self.keys = keys
            self.requestsPerSecond = requestsPerSecond
        }
    }

    public var tls: TLS
    public var keyStores: [KeyStore]

    public init(tls: TLS, keyStores: [KeyStore]) {
        self.tls = tls
        self.keyStores = keyStores
    }

    /// Every key id of every store (ids are unique across the proxy).
    public var allKeyIds: [String] { keyStores.flatMap { $0.keys.map(\.id) } }

    /// What is legal but will not work with AWS KMS (credential formats KMS refuses): said at start, not refused.
    public var warnings: [String] {
        var out: [String] = []
        for store in keyStores {
            for credential in store.credentials {
                let id = credential.accessKeyId
                if !(20...30).contains(id.count) || !id.utf8.allSatisfy({ ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x32 && $0 <= 0x37) }) {
                    out.append("key store '\(store.uriPathPrefix)': access key id \(id) is not 20-30 characters of A-Z and 2-7; AWS KMS will refuse it")
                }
                let secret = credential.secretAccessKey
                let base64 = secret.utf8.allSatisfy { b in
                    (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39)
                        || b == UInt8(ascii: "+") || b == UInt8(ascii: "/") || b == UInt8(ascii: "=")
                }
                if !(43...64).contains(secret.count) || !base64 {
                    out.append("key store '\(store.uriPathPrefix)': the secret of \(id) is not 43-64 Base64 characters; AWS KMS will refuse it (make one with: openssl rand -base64 32)")
                }
            }
        }
        return out
    }

    // MARK: - Loading

    /// Reads and checks `path`: it must exist, be readable by its owner only (0600), and be valid.
    public static func load(path: String) throws(XksProxyError) -> ProxyConfiguration {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw XksProxyError("cannot read the config file \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else { throw XksProxyError("the config file \(path) is not a regular file") }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw XksProxyError("the config file \(path) is accessible by group or others (mode " + String(mode, radix: 8)
                + "); it holds SigV4 secrets. Fix it with: chmod 600 \(path)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw XksProxyError("cannot read the config file \(path)")
        }
        do {
            return try parse(data)
        } catch {
            throw XksProxyError("the config file \(path) is not valid: \(error.message)")
        }
    }

    /// Parses and validates the JSON text of a configuration.
    public static func parse(_ data: Data) throws(XksProxyError) -> ProxyConfiguration {
        let root: JSONValue
        do { root = try JSONValue.parse(data) } catch {
            throw XksProxyError("it is not JSON (\(error.description))")
        }
        let top = try Object(root, at: "the top level", allowed: ["tls", "keyStores"])
        let tlsObject = try Object(try top.required("tls"), at: "tls",
                                   allowed: ["enabled", "certificateFile", "privateKeyFile", "clientCaFile", "clientCommonNames"])
        let tls = TLS(enabled: try tlsObject.bool("enabled"),
                      certificateFile: try tlsObject.optionalString("certificateFile"),
                      privateKeyFile: try tlsObject.optionalString("privateKeyFile"),
                      clientCaFile: try tlsObject.optionalString("clientCaFile"),
                      clientCommonNames: try tlsObject.optionalStrings("clientCommonNames"))
        if (tls.certificateFile == nil) != (tls.privateKeyFile == nil) {
            throw XksProxyError("tls.certificateFile and tls.privateKeyFile go together: give both, or neither for a generated certificate")
        }
        if !tls.enabled, tls.clientCaFile != nil {
            throw XksProxyError("tls.clientCaFile (mTLS) needs tls.enabled: true")
        }
        if let names = tls.clientCommonNames, names.isEmpty || names.contains(where: \.isEmpty) {
            throw XksProxyError("tls.clientCommonNames must list at least one non-empty name (or be left out)")
        }
        guard case let .array(storeValues) = try top.required("keyStores"), !storeValues.isEmpty else {
            throw XksProxyError("keyStores must be a non-empty array")
        }
        var stores: [KeyStore] = []
        var prefixes: Set<String> = []
        var keyOwners: [String: String] = [:]
        for (i, value) in storeValues.enumerated() {
            let at = "keyStores[\(i)]"
            let object = try Object(value, at: at, allowed: ["uriPathPrefix", "credentials", "keys", "requestsPerSecond"])
            let rawPrefix = try object.string("uriPathPrefix")
            let prefix = XKSPath.normalizedPrefix(rawPrefix)
            let allowedPrefix = prefix.utf8.allSatisfy { b in
                (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39)
                    || b == UInt8(ascii: "/") || b == UInt8(ascii: "-") || b == UInt8(ascii: "_")
            }
            guard allowedPrefix, !prefix.contains("//"), ("/" + prefix + "/kms/xks/v1").count <= 128 || prefix.isEmpty else {
                throw XksProxyError("\(at).uriPathPrefix '\(rawPrefix)' must be letters, digits, '/', '-' and '_' only, "
                    + "and with /kms/xks/v1 appended at most 128 characters (AWS KMS's XksProxyUriPath rule)")
            }
            guard prefixes.insert(prefix).inserted else {
                throw XksProxyError("\(at).uriPathPrefix '\(prefix)' is used by another key store")
            }
            guard case let .array(credentialValues) = try object.required("credentials"),
                  (1...2).contains(credentialValues.count) else {
                throw XksProxyError("\(at).credentials must list one or two credentials (two while rotating)")
            }
            var credentials: [Credential] = []
            for (j, credentialValue) in credentialValues.enumerated() {
                let cat = "\(at).credentials[\(j)]"
                let c = try Object(credentialValue, at: cat, allowed: ["accessKeyId", "secretAccessKey"])
                let credential = Credential(accessKeyId: try c.string("accessKeyId"), secretAccessKey: try c.string("secretAccessKey"))
                guard !credential.accessKeyId.isEmpty, !credential.secretAccessKey.isEmpty else {
                    throw XksProxyError("\(cat): accessKeyId and secretAccessKey must not be empty")
                }
                guard !credentials.contains(where: { $0.accessKeyId == credential.accessKeyId }) else {
                    throw XksProxyError("\(cat): access key id \(credential.accessKeyId) is listed twice in this key store")
                }
                credentials.append(credential)
            }
            guard case let .array(keyValues) = try object.required("keys") else {
                throw XksProxyError("\(at).keys must be an array")
            }
            var keys: [Key] = []
            for (j, keyValue) in keyValues.enumerated() {
                let kat = "\(at).keys[\(j)]"
                let k = try Object(keyValue, at: kat, allowed: ["id", "usage", "status"])
                let id = try k.string("id")
                guard XKSPath.isValidKeyId(id) else {
                    throw XksProxyError("\(kat).id '\(id)' must be 1-128 characters of A-Z, a-z, 0-9, '.', '-' and '_'")
                }
                if let owner = keyOwners[id] {
                    throw XksProxyError("\(kat).id '\(id)' is already a key of key store '\(owner)'; a key belongs to one key store")
                }
                keyOwners[id] = prefix
                var usage: Set<KeyUsage> = []
                for name in try k.optionalStrings("usage") ?? [] {
                    guard let known = KeyUsage(rawValue: name) else {
                        throw XksProxyError("\(kat).usage: '\(name)' is not ENCRYPT or DECRYPT")
                    }
                    usage.insert(known)
                }
                let statusText = try k.optionalString("status") ?? "ENABLED"
                guard let status = KeyStatus(rawValue: statusText) else {
                    throw XksProxyError("\(kat).status '\(statusText)' is not ENABLED or DISABLED")
                }
                keys.append(Key(id: id, usage: usage, status: status))
            }
            var quota: Int?
            if let member = object.value["requestsPerSecond"], member != .null {
                guard case let .number(text) = member, let n = Int(text), (1...1_000_000).contains(n) else {
                    throw XksProxyError("\(at).requestsPerSecond must be a whole number from 1 to 1000000 (or be left out for no quota)")
                }
                quota = n
            }
            stores.append(KeyStore(uriPathPrefix: prefix, credentials: credentials, keys: keys, requestsPerSecond: quota))
        }
        return ProxyConfiguration(tls: tls, keyStores: stores)
    }

    /// A JSON object being read, with its location for messages.
    private struct Object {
        let value: JSONValue
        let at: String

        init(_ value: JSONValue, at: String, allowed: Set<String>) throws(XksProxyError) {
            guard case let .object(members) = value else { throw XksProxyError("\(at) must be a JSON object") }
            for (name, _) in members where !allowed.contains(name) {
                throw XksProxyError("\(at) has an unknown member '\(name)' (known: \(allowed.sorted().joined(separator: ", ")))")
            }
            self.value = value
            self.at = at
        }

        func required(_ name: String) throws(XksProxyError) -> JSONValue {
            guard let member = value[name] else { throw XksProxyError("\(at) is missing '\(name)'") }
            return member
        }

        func string(_ name: String) throws(XksProxyError) -> String {
            guard case let .string(text) = try required(name) else { throw XksProxyError("\(at).\(name) must be a string") }
            return text
        }

        func bool(_ name: String) throws(XksProxyError) -> Bool {
            guard case let .bool(flag) = try required(name) else { throw XksProxyError("\(at).\(name) must be true or false") }
            return flag
        }

        func optionalString(_ name: String) throws(XksProxyError) -> String? {
            guard let member = value[name], member != .null else { return nil }
            guard case let .string(text) = member else { throw XksProxyError("\(at).\(name) must be a string") }
            return text
        }

        func optionalStrings(_ name: String) throws(XksProxyError) -> [String]? {
            guard let member = value[name], member != .null else { return nil }
            guard case let .array(items) = member else { throw XksProxyError("\(at).\(name) must be an array of strings") }
            var out: [String] = []
            for item in items {
                guard case let .string(text) = item else { throw XksProxyError("\(at).\(name) must be an array of strings") }
                out.append(text)
            }
            return out
        }
    }
}
