import CKSDomain
import CKSWire
@testable import CKSXksClient
import Testing

/// The spec's "KMS considerations" table, row by row, and the `--xks-resolve` syntax.
struct MappingTests {
    @Test func everyProxyErrorMapsPerOperationAsTheSpecsTableSays() {
        func code(_ f: XksCallFailure, _ op: XksCallingOperation) -> KMSErrorCode { XksFailureMapping.error(f, during: op).code }
        let auth = XksCallFailure.proxy(.authenticationFailed, message: "x")
        #expect(code(auth, .createCustomKeyStore) == .xksProxyIncorrectAuthenticationCredential)
        #expect(code(auth, .updateCustomKeyStore) == .xksProxyIncorrectAuthenticationCredential)
        #expect(code(auth, .createKey) == .customKeyStoreInvalidState)
        #expect(code(auth, .encrypt) == .kmsInvalidState)
        #expect(code(.proxy(.invalidUriPath, message: nil), .createCustomKeyStore) == .xksProxyInvalidConfiguration)
        #expect(code(.proxy(.validation, message: nil), .updateCustomKeyStore) == .xksProxyInvalidResponse)
        #expect(code(.proxy(.internalFailure, message: nil), .createCustomKeyStore) == .xksProxyInvalidResponse)
        #expect(code(.malformed("x"), .createCustomKeyStore) == .xksProxyInvalidResponse)
        for f in [XksCallFailure.proxy(.throttling, message: nil), .proxy(.dependencyTimeout, message: nil), .unreachable("x"), .tls("x"), .timedOut] {
            #expect(code(f, .createCustomKeyStore) == .xksProxyUriUnreachable, "\(f)")
            #expect(code(f, .createKey) == .customKeyStoreInvalidState, "\(f)")
            #expect(code(f, .decrypt) == .kmsInvalidState, "\(f)")
        }
        #expect(code(.proxy(.keyNotFound, message: nil), .createKey) == .xksKeyNotFound)
        #expect(code(.proxy(.invalidState, message: nil), .createKey) == .xksKeyInvalidConfiguration)
        #expect(code(.proxy(.invalidKeyUsage, message: nil), .createKey) == .xksKeyInvalidConfiguration)
        #expect(code(.proxy(.accessDenied, message: nil), .createKey) == .kmsInvalidState)
        #expect(code(.proxy(.unsupportedOperation, message: nil), .createKey) == .customKeyStoreInvalidState)
        // The proxy's own message never reaches the caller; the spec's does.
        let message = XksFailureMapping.error(.proxy(.keyNotFound, message: "secret detail"), during: .encrypt).message
        #expect(!message.contains("secret detail") && message.contains("was not found in its external key manager"))
        #expect(XksFailureMapping.message(.malformed("x")).hasPrefix("AWS KMS cannot interpret the response"))
    }

    @Test func connectFailuresEndWithTheMatchingConnectionErrorCode() {
        let cases: [(XksCallFailure, ConnectionErrorCode)] = [
            (.proxy(.authenticationFailed, message: nil), .invalidCredentials),
            (.proxy(.accessDenied, message: nil), .xksProxyAccessDenied),
            (.proxy(.invalidUriPath, message: nil), .xksProxyInvalidConfiguration),
            (.proxy(.internalFailure, message: nil), .xksProxyInvalidResponse),
            (.malformed("x"), .xksProxyInvalidResponse),
            (.tls("x"), .xksProxyInvalidTlsConfiguration),
            (.unreachable("x"), .xksProxyNotReachable),
            (.allKeyManagersUnavailable, .xksProxyNotReachable),
            (.timedOut, .xksProxyTimedOut),
            (.proxy(.dependencyTimeout, message: nil), .xksProxyTimedOut),
        ]
        for (failure, expected) in cases {
            #expect(XksFailureMapping.connectionErrorCode(failure) == expected, "\(failure)")
        }
    }

    @Test func resolveEntriesAreParsedAndBadOnesExplained() throws {
        let (host, target) = try XksClientOptions.parseResolve("XKS.Example.test=127.0.0.1:8443")
        #expect(host == "xks.example.test" && target == .init(address: "127.0.0.1", port: 8443))
        #expect(try XksClientOptions.parseResolve("h=[::1]:9").target == .init(address: "::1", port: 9))
        #expect(try XksClientOptions.parseResolve("h=http://127.0.0.1:80").target == .init(secure: false, address: "127.0.0.1", port: 80))
        for bad in ["nohost", "=1.2.3.4:5", "h=1.2.3.4", "h=1.2.3.4:0", "h=1.2.3.4:x", "h_x=1.2.3.4:5"] {
            #expect(throws: XksClientSetupError.self, "\(bad)") { try XksClientOptions.parseResolve(bad) }
        }
        do {
            _ = try XksClientOptions.parseResolve("h=http://10.0.0.1:80")
            Issue.record("plain http to a remote address must be refused")
        } catch {
            #expect(error.message.contains("loopback"))
        }
        #expect(XksClientOptions.isReservedName("xks.example.com") && XksClientOptions.isReservedName("a.test"))
        #expect(!XksClientOptions.isReservedName("xks.mycompany.internal") && !XksClientOptions.isReservedName("localhost"))
    }
}
