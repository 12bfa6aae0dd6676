import Crypto
import Foundation
import Testing
@testable import CKSWire

/// The derived-key cache must give exactly the key of the SigV4 HMAC chain, per scope, and stay bounded.
struct SigningKeyCacheTests {
    private func hex(_ key: SymmetricKey) -> String { key.withUnsafeBytes { SigV4.hex($0) } }

    /// AWS's published example (Signature Version 4, "Examples of how to derive a signing key").
    @Test func derivesTheKeyOfAWSsPublishedExample() {
        let scope = SigningKeyCache.Scope(secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                          scopeDate: "20120215", region: "us-east-1", service: "iam")
        #expect(hex(SigningKeyCache.derive(scope)) == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d")
    }

    @Test func eachScopeGetsItsOwnKeyAndRepeatsAreServedFromTheCache() {
        let cache = SigningKeyCache(capacity: 8)
        let a = cache.key(secretAccessKey: "s1", scopeDate: "20261130", region: "us-east-1", service: "kms")
        #expect(cache.count == 1)
        let again = cache.key(secretAccessKey: "s1", scopeDate: "20261130", region: "us-east-1", service: "kms")
        #expect(cache.count == 1)
        #expect(hex(a) == hex(again))
        let variants = [
            cache.key(secretAccessKey: "s2", scopeDate: "20261130", region: "us-east-1", service: "kms"),
            cache.key(secretAccessKey: "s1", scopeDate: "20261201", region: "us-east-1", service: "kms"),
            cache.key(secretAccessKey: "s1", scopeDate: "20261130", region: "eu-west-1", service: "kms"),
            cache.key(secretAccessKey: "s1", scopeDate: "20261130", region: "us-east-1", service: "iam"),
        ]
        #expect(cache.count == 5)
        #expect(Set(([a] + variants).map(hex)).count == 5)
    }

    @Test func aFullCacheIsEmptiedRatherThanGrowing() {
        let cache = SigningKeyCache(capacity: 4)
        for day in 1...10 {
            _ = cache.key(secretAccessKey: "s", scopeDate: "202612\(day < 10 ? "0" : "")\(day)", region: "r", service: "kms")
            #expect(cache.count <= 4)
        }
        let uncached = SigningKeyCache.derive(.init(secretAccessKey: "s", scopeDate: "20261210", region: "r", service: "kms"))
        #expect(hex(cache.key(secretAccessKey: "s", scopeDate: "20261210", region: "r", service: "kms")) == hex(uncached))
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
