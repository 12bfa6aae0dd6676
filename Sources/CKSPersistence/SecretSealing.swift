import Crypto
import Foundation
import GRDB
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Seals the secrets the database holds (every key's AES material, CloudHSM `kmsuser` and key store passwords,
/// XKS secret access keys) with AES-256-GCM under the data directory's key (`cks.key`, 0600), so a copy of the
/// database files alone reveals none of them. Each sealed value is bound to its column and row (the GCM
/// associated data), so one cannot be moved to another row. Everything else (ids, names, states, dates,
/// descriptions) stays in clear: the core filters and sorts on it.
///
/// A sealed value is `0x01 ‖ nonce (12) ‖ ciphertext ‖ tag (16)`, stored as a BLOB. Values written before sealing
/// existed (a TEXT secret, 32 bytes of raw material) still read, for a database opened read-only for recovery
/// before its migration ran.
public struct SecretSealer: Sendable {
    let key: SymmetricKey
    /// Values already opened, by column, row and sealed bytes: a key used again (Schedule/Cancel, Encrypt on a hot
    /// key) costs a lookup instead of an AES-GCM open.
    private let opened = OpenedValues()

    static let version: UInt8 = 1
    /// Key material is 32 bytes; a 32-byte BLOB in the material column is therefore an unsealed one.
    static let rawMaterialLength = 32

    init(key: SymmetricKey) { self.key = key }

    /// Why a sealed value could not be opened: the key is not the one it was sealed with, or the bytes changed.
    struct Unreadable: Error, CustomStringConvertible {
        var what: String
        var description: String { "cannot unseal \(what): it was not sealed with this data directory's cks.key, or it was altered" }
    }

    func seal(_ plaintext: Data, _ context: String) -> Data {
        // AES-GCM with a fresh random nonce cannot fail for a 256-bit key and a short message.
        let box = try! AES.GCM.seal(plaintext, using: key, authenticating: Data(context.utf8))
        var out = Data([Self.version])
        out.append(contentsOf: box.nonce)
        out.append(box.ciphertext)
        out.append(box.tag)
        return out
    }

    func open(_ sealed: Data, _ context: String) throws -> Data {
        let cacheKey = OpenedValues.Key(context: context, sealed: sealed)
        if let plain = opened.value(for: cacheKey) { return plain }
        guard sealed.count >= 1 + 12 + 16, sealed.first == Self.version else { throw Unreadable(what: context) }
        do {
            let bytes = sealed.dropFirst()
            let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: bytes.prefix(12)),
                                            ciphertext: bytes.dropFirst(12).dropLast(16), tag: bytes.suffix(16))
            let plain = try AES.GCM.open(box, using: key, authenticating: Data(context.utf8))
            opened.store(plain, for: cacheKey)
            return plain
        } catch {
            throw Unreadable(what: context)
        }
    }

    // MARK: columns

    /// A secret string column's value: sealed.
    func sealText(_ text: String?, _ context: String) -> Data? {
        text.map { seal(Data($0.utf8), context) }
    }

    /// A secret string column: sealed BLOB, or an unsealed TEXT from before sealing.
    func openText(_ value: DatabaseValue, _ context: String) throws -> String? {
        switch value.storage {
        case .null: return nil
        case .string(let text): return text
        case .blob(let data): return String(decoding: try open(data, context), as: UTF8.self)
        default: throw Unreadable(what: context)
        }
    }

    func sealMaterial(_ material: Data?, keyId: String) -> Data? {
        material.map { seal($0, Self.materialContext(keyId)) }
    }

    func openMaterial(_ stored: Data?, keyId: String) throws -> Data? {
        guard let stored else { return nil }
        if stored.count == Self.rawMaterialLength { return stored }
        return try open(stored, Self.materialContext(keyId))
    }

    static func materialContext(_ keyId: String) -> String { "kms_key.material:\(keyId)" }
    static func storePasswordContext(_ storeId: String) -> String { "store.key_store_password:\(storeId)" }
    static func storeXksSecretContext(_ storeId: String) -> String { "store.xks_secret:\(storeId)" }
    static func clusterPasswordContext(_ clusterId: String) -> String { "cluster.kmsuser_password:\(clusterId)" }
    static func proxySecretContext(_ endpoint: String, _ path: String) -> String { "xks_proxy.secret:\(endpoint)\(path)" }

    // MARK: the key check

    /// The meta entry holding a value sealed with the key, so a wrong `cks.key` is refused at start instead of
    /// failing request by request.
    static let checkMetaKey = "secrets.check"
    static let checkPlaintext = "cks sealed secrets"

    func makeCheck() -> String { seal(Data(Self.checkPlaintext.utf8), Self.checkMetaKey).base64EncodedString() }

    func verifies(_ check: String) -> Bool {
        guard let data = Data(base64Encoded: check), let plain = try? open(data, Self.checkMetaKey) else { return false }
        return plain == Data(Self.checkPlaintext.utf8)
    }
}

/// Opened values, keyed by their column and row (the associated data) and their sealed bytes (a fresh nonce each
/// time a value is written), so a hit is exactly what opening would return. Bounded: emptied when full.
final class OpenedValues: Sendable {
    struct Key: Hashable, Sendable {
        var context: String
        var sealed: Data
    }

    private let values = Mutex<[Key: Data]>([:])
    let capacity: Int

    init(capacity: Int = 20_000) { self.capacity = capacity }

    func value(for key: Key) -> Data? { values.withLock { $0[key] } }

    func store(_ value: Data, for key: Key) {
        values.withLock { values in
            if values.count >= capacity { values.removeAll(keepingCapacity: true) }
            values[key] = value
        }
    }
}

/// The data directory's sealing key: 32 random bytes, base64 on one line in `cks.key` (0600).
enum SealingKeyFile {
    /// Reads the key, or creates it when `create` (written and fsynced before any secret is sealed with it).
    static func load(_ url: URL, create: Bool) throws(DataDirectoryError) -> SecretSealer? {
        if let data = FileManager.default.contents(atPath: url.path) {
            try DataDirectory.tighten(url)
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard let bytes = Data(base64Encoded: text), bytes.count == 32 else {
                throw DataDirectoryError("\(url.path) is not a cks key (expected 32 bytes in base64 on one line); "
                    + "restore it from the backup taken with the database")
            }
            return SecretSealer(key: SymmetricKey(data: bytes))
        }
        guard create else { return nil }
        let key = SymmetricKey(size: .bits256)
        let text = key.withUnsafeBytes { Data($0).base64EncodedString() } + "\n"
        let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw DataDirectoryError("cannot create \(url.path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(url.path)
            throw DataDirectoryError("cannot write \(url.path): \(reason)")
        }
        let directory = open(url.deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            _ = fsync(directory)
            close(directory)
        }
        return SecretSealer(key: key)
    }
}
