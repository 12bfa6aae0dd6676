import CKSDomain
import Foundation

/// What the console learnt of an account's keys on earlier runs: each key's custom key store (a key's
/// `CustomKeyStoreId` never changes) and, for keys in a custom key store, the description it last saw. With it the
/// console lists a store from ListKeys pages at once and describes only keys it has never seen, refreshing the states
/// of the others afterwards. Kept per endpoint, account and region; a missing, unreadable or corrupt file only costs
/// speed (the console then describes every key, as on a first run).
public struct KeyIndex: Sendable, Equatable {
    /// Endpoint, account and region the keys belong to.
    public var identity: Identity
    /// When the descriptions were taken.
    public var savedAt: Date
    /// Key id → its store and last description; keys outside custom key stores have neither.
    public var keys: [String: KeyRecord?]

    public struct Identity: Sendable, Hashable {
        public var endpoint: String
        public var account: String
        public var region: String
        public init(endpoint: String, account: String, region: String) {
            self.endpoint = endpoint; self.account = account; self.region = region
        }

        /// A key's ARN in this account and region, as KMS writes it.
        func arn(of keyId: String) -> String { "arn:aws:kms:\(region):\(account):key/\(keyId)" }
    }

    public init(identity: Identity, savedAt: Date, keys: [String: KeyRecord?]) {
        self.identity = identity; self.savedAt = savedAt; self.keys = keys
    }

    static let magic = "cks-key-index 1"

    /// The file's text: a header line naming the identity, then one line per key, tab-separated.
    public func encoded() -> String {
        var out = [Self.magic, Self.escape(identity.endpoint), Self.escape(identity.account), Self.escape(identity.region),
                   String(savedAt.timeIntervalSince1970)].joined(separator: "\t") + "\n"
        out.reserveCapacity(keys.count * 200)
        for (id, record) in keys.sorted(by: { $0.key < $1.key }) {
            guard let r = record else { out += Self.escape(id) + "\n"; continue }
            let fields: [String] = [
                r.id, r.customKeyStoreId ?? "", r.arn == identity.arn(of: r.id) ? "" : r.arn,
                r.accountId == identity.account ? "" : r.accountId, r.state.rawValue, r.enabled ? "1" : "0",
                String(r.creationDate.timeIntervalSince1970), r.deletionDate.map { String($0.timeIntervalSince1970) } ?? "",
                r.pendingDeletionWindowInDays.map(String.init) ?? "", r.keyUsage, r.keySpec, r.origin.rawValue, r.keyManager,
                r.cloudHsmClusterId ?? "", r.xksKeyId ?? "", r.encryptionAlgorithms.joined(separator: ","),
                r.multiRegion ? "1" : "0", r.description,
            ]
            out += fields.map(Self.escape).joined(separator: "\t") + "\n"
        }
        return out
    }

    /// Reads a file's text; nil when it is not a whole index of `identity` (anything unexpected rejects it all).
    public static func decode(_ text: String, expecting identity: Identity) -> KeyIndex? {
        decode(Array(text.utf8), expecting: identity)
    }

    /// Reads a file's bytes, field by field without building a line first (100,000 keys are read on every start).
    public static func decode(_ bytes: [UInt8], expecting identity: Identity) -> KeyIndex? {
        guard bytes.last == UInt8(ascii: "\n") else { return nil }   // a file cut short is not trusted
        return bytes.withUnsafeBufferPointer { buffer -> KeyIndex? in
            var fields: [String?] = []
            fields.reserveCapacity(18)
            var position = 0
            /// The next line's fields, unescaped (nil for a bad escape).
            func nextLine() -> Bool {
                guard position < buffer.count else { return false }
                fields.removeAll(keepingCapacity: true)
                var start = position
                var escaped = false
                while true {
                    let byte = buffer[position]
                    if byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n") {
                        let field = UnsafeBufferPointer(rebasing: buffer[start..<position])
                        fields.append(escaped ? unescape(Substring(String(decoding: field, as: UTF8.self)))
                                              : String(decoding: field, as: UTF8.self))
                        position += 1
                        if byte == UInt8(ascii: "\n") { return true }
                        start = position
                        escaped = false
                    } else {
                        if byte == UInt8(ascii: "\\") { escaped = true }
                        position += 1
                    }
                }
            }
            guard nextLine(), fields.count == 5, fields[0] == magic,
                  Identity(endpoint: fields[1] ?? "", account: fields[2] ?? "", region: fields[3] ?? "") == identity,
                  let saved = fields[4].flatMap(Double.init) else { return nil }
            var keys: [String: KeyRecord?] = [:]
            keys.reserveCapacity(buffer.count / 150)   // lines are ~190 bytes: no rehashing while reading
            while nextLine() {
                guard let key = record(fields, identity) else { return nil }
                keys[key.id] = key.record
            }
            return KeyIndex(identity: identity, savedAt: Date(timeIntervalSince1970: saved), keys: keys)
        }
    }

    /// One key's line: its id alone (outside every custom key store), or its 18 fields.
    /// An empty ARN or account is the identity's (written so: they are most of a line).
    private static func record(_ f: [String?], _ identity: Identity) -> (id: String, record: KeyRecord?)? {
        if f.count == 1 {
            guard let id = f[0], !id.isEmpty else { return nil }
            return (id, nil)
        }
        guard f.count == 18, let id = f[0], !id.isEmpty, let store = f[1], !store.isEmpty, let arn = f[2],
              let account = f[3], let state = f[4].flatMap(KeyState.init(rawValue:)), let enabled = f[5],
              let created = f[6].flatMap(Double.init), let deletion = f[7], let window = f[8],
              let usage = f[9], let spec = f[10], let origin = f[11].flatMap(Origin.init(rawValue:)),
              let manager = f[12], let cluster = f[13], let xks = f[14], let algorithms = f[15],
              let multi = f[16], let description = f[17] else { return nil }
        let deletionDate: Date?
        if deletion.isEmpty { deletionDate = nil } else {
            guard let d = Double(deletion) else { return nil }
            deletionDate = Date(timeIntervalSince1970: d)
        }
        return (id, KeyRecord(
            id: id, arn: arn.isEmpty ? identity.arn(of: id) : arn, accountId: account.isEmpty ? identity.account : account, state: state, enabled: enabled == "1", description: description,
            creationDate: Date(timeIntervalSince1970: created), deletionDate: deletionDate,
            pendingDeletionWindowInDays: Int(window), keyUsage: usage, keySpec: spec, origin: origin, keyManager: manager,
            customKeyStoreId: store, cloudHsmClusterId: cluster.isEmpty ? nil : cluster, xksKeyId: xks.isEmpty ? nil : xks,
            encryptionAlgorithms: algorithms.isEmpty ? [] : algorithms.split(separator: ",").map(String.init),
            multiRegion: multi == "1"))
    }

    /// Tabs, line ends and backslashes written as `\t`, `\n`, `\r`, `\\`.
    static func escape(_ s: String) -> String {
        guard s.contains(where: { $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\\" }) else { return s }
        var out = ""
        for c in s {
            switch c {
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\\": out += "\\\\"
            default: out.append(c)
            }
        }
        return out
    }

    /// The inverse of `escape`; nil for an escape it never writes.
    static func unescape(_ s: Substring) -> String? {
        guard s.contains("\\") else { return String(s) }
        var out = ""
        var escaped = false
        for c in s {
            if escaped {
                switch c {
                case "t": out.append("\t")
                case "n": out.append("\n")
                case "r": out.append("\r")
                case "\\": out.append("\\")
                default: return nil
                }
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else {
                out.append(c)
            }
        }
        return escaped ? nil : out
    }
}

/// Where key indexes are kept: one file per endpoint, account and region under `directory` (the cache directory's
/// `key-index`), written whole to a temporary file and renamed, readable by the user alone.
public struct KeyIndexStore: Sendable {
    public var directory: URL
    /// How the endpoint is named in the index (the URL, or the embedded core's data directory: its port changes).
    public var endpoint: String

    public init(directory: URL, endpoint: String) {
        self.directory = directory
        self.endpoint = endpoint
    }

    public func identity(account: String, region: String) -> KeyIndex.Identity {
        KeyIndex.Identity(endpoint: endpoint, account: account, region: region)
    }

    func file(for identity: KeyIndex.Identity) -> URL {
        // FNV-1a of the identity names the file; the header inside says whose it is.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "\(identity.endpoint)|\(identity.account)|\(identity.region)".utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return directory.appendingPathComponent(String(format: "%016llx.tsv", hash))
    }

    public func load(_ identity: KeyIndex.Identity) -> KeyIndex? {
        guard let data = try? Data(contentsOf: file(for: identity)) else { return nil }
        return KeyIndex.decode([UInt8](data), expecting: identity)
    }

    /// Writes the index; a failure (read-only cache, full disk) is ignored: the next run describes every key again.
    public func save(_ index: KeyIndex) {
        let fm = FileManager.default
        guard (try? fm.createDirectory(at: directory, withIntermediateDirectories: true,
                                       attributes: [.posixPermissions: 0o700])) != nil else { return }
        let target = file(for: index.identity)
        let temporary = directory.appendingPathComponent(".\(target.lastPathComponent).\(getpid()).tmp")
        guard fm.createFile(atPath: temporary.path, contents: Data(index.encoded().utf8),
                            attributes: [.posixPermissions: 0o600]) else { return }
        if rename(temporary.path, target.path) != 0 { try? fm.removeItem(at: temporary) }
    }
}
