import Crypto
import Foundation
import Testing
@testable import CKSWire

/// The derived-key cache must give exactly the key of the SigV4 HMAC chain, per scope, and stay bounded.
struct SigningKeyCacheTests {
    private func hex(_ key: SymmetricKey) -> String { key.withUnsafeBytes { SigV4.hex($0) } }

    /// What the cache's keyed HMAC makes of a message, as a stand-in for the key it was keyed with.
    private func mac(_ cache: SigningKeyCache, _ secret: String, _ date: String, _ region: String, _ service: String,
                     message: String = "AWS4-HMAC-SHA256\n20261130T000000Z") -> String {
        var hmac = cache.keyedHMAC(secretAccessKey: secret, scopeDate: date, region: region, service: service)
        hmac.update(data: Data(message.utf8))
        return SigV4.hex(hmac.finalize())
    }

    private func mac(of key: SymmetricKey, message: String = "AWS4-HMAC-SHA256\n20261130T000000Z") -> String {
        SigV4.hex(HMAC<SHA256>.authenticationCode(for: Data(message.utf8), using: key))
    }

    /// AWS's published example (Signature Version 4, "Examples of how to derive a signing key").
    @Test func derivesTheKeyOfAWSsPublishedExample() {
        let scope = SigningKeyCache.Scope(secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                          scopeDate: "20120215", region: "us-east-1", service: "iam")
        #expect(hex(SigningKeyCache.derive(scope)) == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d")
    }

    @Test func eachScopeGetsItsOwnKeyAndRepeatsAreServedFromTheCache() {
        let cache = SigningKeyCache(capacity: 8)
        let a = mac(cache, "s1", "20261130", "us-east-1", "kms")
        #expect(a == mac(of: SigningKeyCache.derive(.init(secretAccessKey: "s1", scopeDate: "20261130",
                                                          region: "us-east-1", service: "kms"))))
        #expect(cache.count == 1)
        // The cached state is copied, never consumed: another message, then the first again, from the cache.
        #expect(mac(cache, "s1", "20261130", "us-east-1", "kms", message: "other") != a)
        #expect(mac(cache, "s1", "20261130", "us-east-1", "kms") == a)
        #expect(cache.count == 1)
        let variants = [
            mac(cache, "s2", "20261130", "us-east-1", "kms"),
            mac(cache, "s1", "20261201", "us-east-1", "kms"),
            mac(cache, "s1", "20261130", "eu-west-1", "kms"),
            mac(cache, "s1", "20261130", "us-east-1", "iam"),
        ]
        #expect(cache.count == 5)
        #expect(Set([a] + variants).count == 5)
    }

    @Test func aFullCacheIsEmptiedRatherThanGrowing() {
        let cache = SigningKeyCache(capacity: 4)
        for day in 1...10 {
            _ = mac(cache, "s", "202612\(day < 10 ? "0" : "")\(day)", "r", "kms")
            #expect(cache.count <= 4)
        }
        let uncached = SigningKeyCache.derive(.init(secretAccessKey: "s", scopeDate: "20261210", region: "r", service: "kms"))
        #expect(mac(cache, "s", "20261210", "r", "kms") == mac(of: uncached))
    }

    @Test func trimAllKeepsSimpleValuesAndCollapsesTheRest() {
        #expect(SigV4.trimAll("application/x-amz-json-1.1") == "application/x-amz-json-1.1")
        #expect(SigV4.trimAll("a b") == "a b")
        #expect(SigV4.trimAll("  a   b  ") == "a b")
        #expect(SigV4.trimAll("a\tb") == "a b")
        #expect(SigV4.trimAll("") == "")
        #expect(SigV4.trimAll(" ") == "")
        #expect(SigV4.trimAll("é  x") == "é x")
    }
}
