import Crypto
import Foundation
import Synchronization

/// Derived SigV4 signing keys (kSigning), by secret, scope date, region and service.
///
/// Deriving kSigning is four HMACs and changes only once a day per credential and region, yet the verifier
/// and the client signer would otherwise redo it for every request (docs/perf/decisions.md). The cache is
/// bounded: when full it is emptied, which a long-running
/// process reaches only after `capacity` distinct (credential, day, region, service) scopes.
final class SigningKeyCache: Sendable {
    struct Scope: Hashable, Sendable {
        var secretAccessKey: String
        var scopeDate: String
        var region: String
        var service: String
    }

    static let shared = SigningKeyCache(capacity: 256)

    private let capacity: Int
    /// HMAC states already keyed with kSigning: keying one hashes two padded blocks, about as much as signing
    /// a short string again; a copy of the keyed state is cheap (copy-on-write of the digest context).
    private let entries = Mutex<[Scope: HMAC<SHA256>]>([:])

    init(capacity: Int) { self.capacity = capacity }

    /// An HMAC keyed with this scope's signing key, derived once and then reused (update and finalize a copy).
    func keyedHMAC(secretAccessKey: String, scopeDate: String, region: String, service: String) -> HMAC<SHA256> {
        let scope = Scope(secretAccessKey: secretAccessKey, scopeDate: scopeDate, region: region, service: service)
        if let known = entries.withLock({ $0[scope] }) { return known }
        let derived = HMAC<SHA256>(key: Self.derive(scope))
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[scope] = derived
        }
        return derived
    }

    var count: Int { entries.withLock { $0.count } }

    /// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
    static func derive(_ scope: Scope) -> SymmetricKey {
        func step(_ key: SymmetricKey, _ message: String) -> SymmetricKey {
            SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Data(message.utf8), using: key))
        }
        let secret = SymmetricKey(data: Data("AWS4\(scope.secretAccessKey)".utf8))
        return step(step(step(step(secret, scope.scopeDate), scope.region), scope.service), "aws4_request")
    }
}
