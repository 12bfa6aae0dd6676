import CKSWire
import Crypto
import Foundation
import Synchronization

/// Why a backend could not do what was asked; the service turns each into the spec's error.
public enum KeyBackendFailure: Error, Sendable, Equatable {
    /// No such key in the key manager (KeyNotFoundException).
    case keyNotFound
    /// The key exists but cannot do AES-256-GCM (InvalidKeyUsageException).
    case unusableKey(String)
    /// The authentication tag does not match (InvalidCiphertextException).
    case tagMismatch
    /// The key manager cannot be reached or failed (InternalException).
    case unavailable(String)
}

/// What the key manager says about a key: the operations it permits (intersected with the configured usage).
public struct BackendKeyInfo: Sendable, Hashable {
    public var permits: Set<ProxyConfiguration.KeyUsage>
    public init(permits: Set<ProxyConfiguration.KeyUsage>) { self.permits = permits }
}

/// A key manager behind the proxy: software keys or a PKCS#11 token. AES-256-GCM with a 128-bit tag.
public protocol KeyBackend: Sendable {
    /// `ekmVendor` of the health answer.
    var vendor: String { get }
    /// Makes sure the configured keys can be served; returns warnings for the operator (e.g. a label missing on
    /// the token). Software keys named in the config are generated here, durably, when missing.
    func prepare(keyIds: [String]) throws(XksProxyError) -> [String]
    func describe(keyId: String) throws(KeyBackendFailure) -> BackendKeyInfo
    func seal(keyId: String, iv: Data, aad: Data, plaintext: Data) throws(KeyBackendFailure) -> (ciphertext: Data, tag: Data)
    func open(keyId: String, iv: Data, aad: Data, ciphertext: Data, tag: Data) throws(KeyBackendFailure) -> Data
    /// A deep check: a throw-away key encrypts and decrypts, and the store of real keys answers.
    func health() -> [XKSHealthStatus.EKM]
}

/// The AES-GCM construction of the proxy (spec, Encrypt: ciphertextMetadata): the key manager's AAD is
/// 2-byte big-endian length of the caller's AAD ‖ AAD ‖ 1-byte length of ciphertextMetadata ‖ ciphertextMetadata,
/// so neither can be passed off as the other.
public enum XKSCipherConstruction {
    /// What this proxy returns as ciphertextMetadata: names the construction, so a later one can tell its
    /// ciphertexts apart and still decrypt these.
    public static let ciphertextMetadata = Data("cks-xks-v1".utf8)

    public static func keyManagerAAD(additionalAuthenticatedData aad: Data?, ciphertextMetadata: Data?) -> Data {
        let aad = aad ?? Data()
        let metadata = ciphertextMetadata ?? Data()
        var out = Data(capacity: 3 + aad.count + metadata.count)
        out.append(UInt8(truncatingIfNeeded: aad.count >> 8))
        out.append(UInt8(truncatingIfNeeded: aad.count))
        out.append(aad)
        out.append(UInt8(truncatingIfNeeded: metadata.count))
        out.append(metadata)
        return out
    }
}

/// Software keys: material loaded from `SoftwareKeyStore` at start (and on reload), AES-GCM by swift-crypto.
public final class SoftwareBackend: KeyBackend {
    public let store: SoftwareKeyStore
    private let keys = Mutex<[String: SymmetricKey]>([:])

    public init(store: SoftwareKeyStore) { self.store = store }

    public var vendor: String { "cks" }

    public func prepare(keyIds: [String]) throws(XksProxyError) -> [String] {
        let created = try store.createMissing(keyIds)
        let loaded = try store.loadAll()
        keys.withLock { $0 = loaded }
        return created.isEmpty ? [] : ["generated software key(s) \(created.joined(separator: ", ")) in \(store.path)"]
    }

    private func key(_ id: String) throws(KeyBackendFailure) -> SymmetricKey {
        guard let key = keys.withLock({ $0[id] }) else { throw .keyNotFound }
        return key
    }

    public func describe(keyId: String) throws(KeyBackendFailure) -> BackendKeyInfo {
        _ = try key(keyId)
        return BackendKeyInfo(permits: [.encrypt, .decrypt])
    }

    public func seal(keyId: String, iv: Data, aad: Data, plaintext: Data) throws(KeyBackendFailure) -> (ciphertext: Data, tag: Data) {
        let key = try key(keyId)
        do {
            let box = try AES.GCM.seal(plaintext, using: key, nonce: try AES.GCM.Nonce(data: iv), authenticating: aad)
            return (box.ciphertext, box.tag)
        } catch {
            throw .unavailable("AES-GCM encryption failed")
        }
    }

    public func open(keyId: String, iv: Data, aad: Data, ciphertext: Data, tag: Data) throws(KeyBackendFailure) -> Data {
        let key = try key(keyId)
        do {
            let box = try AES.GCM.SealedBox(nonce: try AES.GCM.Nonce(data: iv), ciphertext: ciphertext, tag: tag)
            return try AES.GCM.open(box, using: key, authenticating: aad)
        } catch {
            throw .tagMismatch
        }
    }

    public func health() -> [XKSHealthStatus.EKM] {
        // A throw-away key round trip, and the key database answering a read.
        let probe = SymmetricKey(size: .bits256)
        let text = Data("cks health".utf8)
        let roundTrip = (try? AES.GCM.open(AES.GCM.seal(text, using: probe), using: probe)) == text
        let status: XKSHealthStatus.Status = roundTrip && store.isReadable() ? .active : .unavailable
        return [XKSHealthStatus.EKM(id: "cks-software-keys", model: "cks software key store (AES-256, SQLite)",
                                    healthStatus: status)]
    }
}
