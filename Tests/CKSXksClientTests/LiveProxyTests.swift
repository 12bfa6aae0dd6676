@testable import CKSServer
import CKSDomain
import CKSPersistence
import CKSTestSupport
import CKSWire
import CKSXksClient
import Foundation
import Synchronization
import Testing

/// The core against a real proxy in process: every call KMS makes, and each failure mapped as the spec's
/// "KMS considerations" table says.
@Suite(.serialized) struct LiveProxyTests {
    @Test func aStoreOnARealProxyCreatesConnectsAndDoubleEncrypts() async throws {
        let h = try await LiveProxyHarness()
        defer { Task { await h.close() } }
        let store = try await h.connectedStore()
        let keyId = try await h.createKey(store)
        let context = ["purpose": "test"]
        let sealed = try await h.call(EncryptRequest(keyId: keyId, plaintext: Data("hello".utf8), encryptionContext: context))
        let blob = try #require(sealed.ciphertextBlob)
        #expect(blob.prefix(4) == Data("CKX1".utf8))
        let opened = try await h.call(DecryptRequest(ciphertextBlob: blob, encryptionContext: context))
        #expect(opened.plaintext == Data("hello".utf8))
        // Another context: the proxy refuses the outer layer (its AAD binds the context).
        let wrong = await h.failure(DecryptRequest(ciphertextBlob: blob, encryptionContext: ["purpose": "other"]))
        #expect(wrong?.code == .kmsInvalidState)
        #expect(wrong?.message.contains("ciphertext or encryption context") == true)
        let dataKey = try await h.call(GenerateDataKeyRequest(keyId: keyId, keySpec: "AES_256"))
        let again = try await h.call(DecryptRequest(ciphertextBlob: dataKey.ciphertextBlob))
        #expect(again.plaintext == dataKey.plaintext && dataKey.plaintext?.count == 32)
        // GenerateDataKeyWithoutPlaintext and ReEncrypt (to an AWS_KMS key and back) use the proxy too.
        let withoutPlaintext = try await h.call(GenerateDataKeyWithoutPlaintextRequest(keyId: keyId, keySpec: "AES_256"))
        #expect(withoutPlaintext.ciphertextBlob?.prefix(4) == Data("CKX1".utf8))
        #expect(try await h.call(DecryptRequest(ciphertextBlob: withoutPlaintext.ciphertextBlob)).plaintext?.count == 32)
        let local = try #require(try await h.call(CreateKeyRequest()).keyMetadata?.keyId)
        let moved = try await h.call(ReEncryptRequest(ciphertextBlob: blob, sourceEncryptionContext: context, destinationKeyId: local))
        let back = try await h.call(ReEncryptRequest(ciphertextBlob: moved.ciphertextBlob, destinationKeyId: keyId))
        #expect(back.ciphertextBlob?.prefix(4) == Data("CKX1".utf8))
        #expect(try await h.call(DecryptRequest(ciphertextBlob: back.ciphertextBlob)).plaintext == Data("hello".utf8))
        // The same external key cannot back two KMS keys of the store.
        #expect(await h.failure(CreateKeyRequest(origin: .externalKeyStore, customKeyStoreId: store, xksKeyId: "foo"))?.code
            == .xksKeyAlreadyInUse)
    }

    @Test func aRestartedCoreServesItsStoresOnRealProxiesAtOnce() async throws {
        let h = try await LiveProxyHarness()
        defer { Task { await h.close() } }
        let store = try await h.connectedStore()
        let keyId = try await h.createKey(store)
        let sealed = try await h.call(EncryptRequest(keyId: keyId, plaintext: Data("kept".utf8))).ciphertextBlob
        let restarted = try h.restartedEngine()
        defer { try? restarted.close() }
        let call = EngineCaller(engine: restarted)
        #expect(try await call.call(DecryptRequest(ciphertextBlob: sealed)).plaintext == Data("kept".utf8))
    }

    @Test func wrongCredentialsAreRefusedOnCreateUpdateAndConnect() async throws {
        let h = try await LiveProxyHarness()
        defer { Task { await h.close() } }
        let wrong = (accessKeyId: XksTestCredentials.first.accessKeyId, secretAccessKey: String(repeating: "Z", count: 43))
        let created = await h.failure(LiveProxyHarness.createStore(credential: wrong))
        #expect(created?.code == .xksProxyIncorrectAuthenticationCredential)
        #expect(created?.message.contains("could not authenticate AWS KMS") == true)
        let store = try await h.connectedStore()
        let update = await h.failure(UpdateCustomKeyStoreRequest(
            customKeyStoreId: store, xksProxyAuthenticationCredential: .init(accessKeyId: wrong.accessKeyId, rawSecretAccessKey: wrong.secretAccessKey)))
        #expect(update?.code == .xksProxyIncorrectAuthenticationCredential)
        // Rotation: the proxy accepts both credential sets, the update goes through while CONNECTED, and keys keep working.
        let keyId = try await h.createKey(store)
        try await h.call(UpdateCustomKeyStoreRequest(customKeyStoreId: store, xksProxyAuthenticationCredential: .init(
            accessKeyId: XksTestCredentials.second.accessKeyId, rawSecretAccessKey: XksTestCredentials.second.secretAccessKey)))
        #expect(try await h.state(of: store) == .connected)
        _ = try await h.call(EncryptRequest(keyId: keyId, plaintext: Data("x".utf8)))
    }

    @Test func anInvalidUriPathIsAnInvalidConfiguration() async throws {
        let h = try await LiveProxyHarness()
        defer { Task { await h.close() } }
        let created = await h.failure(LiveProxyHarness.createStore(path: "/wrong/kms/xks/v1"))
        #expect(created?.code == .xksProxyInvalidConfiguration)
    }

    @Test func createKeyChecksTheExternalKey() async throws {
        let h = try await LiveProxyHarness()
        defer { Task { await h.close() } }
        let store = try await h.connectedStore()
        let missing = await h.failure(CreateKeyRequest(origin: .externalKeyStore, customKeyStoreId: store, xksKeyId: "nope"))
        #expect(missing?.code == .xksKeyNotFound)
        let encryptOnly = await h.failure(CreateKeyRequest(origin: .externalKeyStore, customKeyStoreId: store, xksKeyId: "encrypt-only"))
        #expect(encryptOnly?.code == .xksKeyInvalidConfiguration)
        #expect(encryptOnly?.message.contains("DECRYPT") == true)
        let disabled = await h.failure(CreateKeyRequest(origin: .externalKeyStore, customKeyStoreId: store, xksKeyId: "disabled"))
        #expect(disabled?.code == .xksKeyInvalidConfiguration)
        #expect(disabled?.message.contains("DISABLED") == true)
    }

    @Test func aKeyDisabledInTheProxyFailsCryptoWithKMSInvalidState() async throws {
        let h = try await LiveProxyHarness()
        defer { Task { await h.close() } }
        let store = try await h.connectedStore()
        let keyId = try await h.createKey(store)
        let sealed = try await h.call(EncryptRequest(keyId: keyId, plaintext: Data("x".utf8)))
        try h.reconfigure(fooStatus: "DISABLED")
        let encrypt = await h.failure(EncryptRequest(keyId: keyId, plaintext: Data("x".utf8)))
        #expect(encrypt?.code == .kmsInvalidState)
        #expect(encrypt?.message.contains("not enabled in the external key manager") == true)
        #expect(await h.failure(DecryptRequest(ciphertextBlob: sealed.ciphertextBlob))?.code == .kmsInvalidState)
        try h.reconfigure(fooStatus: "ENABLED")
        #expect(try await h.call(DecryptRequest(ciphertextBlob: sealed.ciphertextBlob)).plaintext == Data("x".utf8))
    }

    @Test func aThrottledProxyIsUnreachableOnUpdateAndInvalidStateOnCrypto() async throws {
        let h = try await LiveProxyHarness(requestsPerSecond: 1000)
        defer { Task { await h.close() } }
        let store = try await h.connectedStore()
        let keyId = try await h.createKey(store)
        try h.reconfigure(requestsPerSecond: 1)
        // The bucket of one request per second is spent by the first call at most; the rest are throttled.
        var throttled: KMSError?
        for _ in 0..<3 {
            do { _ = try await h.call(EncryptRequest(keyId: keyId, plaintext: Data("x".utf8))) } catch let error as KMSError { throttled = error }
        }
        #expect(throttled?.code == .kmsInvalidState)
        #expect(throttled?.message.contains("very high request rate") == true)
        // UpdateCustomKeyStore checks new credentials with a health call: throttled, the proxy counts as unreachable.
        var updated: KMSError?
        for credential in [XksTestCredentials.second, XksTestCredentials.first, XksTestCredentials.second] {
            do {
                try await h.call(UpdateCustomKeyStoreRequest(customKeyStoreId: store, xksProxyAuthenticationCredential: .init(
                    accessKeyId: credential.accessKeyId, rawSecretAccessKey: credential.secretAccessKey)))
            } catch let error as KMSError { updated = error }
        }
        #expect(updated?.code == .xksProxyUriUnreachable)
        #expect(updated?.message.contains("very high request rate") == true)
    }

    @Test func aStoppedProxyFailsConnectAndCryptoAndRecovers() async throws {
        let h = try await LiveProxyHarness()
        defer { Task { await h.close() } }
        let store = try await h.connectedStore()
        let keyId = try await h.createKey(store)
        await h.stopProxy()
        let started = ContinuousClock.now
        let encrypt = await h.failure(EncryptRequest(keyId: keyId, plaintext: Data("x".utf8)))
        #expect(encrypt?.code == .kmsInvalidState)
        #expect(encrypt?.message.contains("cannot communicate with the external key store proxy") == true)
        // Answered well within the budget plus slack for a loaded machine (the budget here is 3 s; a refused connect is immediate).
        #expect(ContinuousClock.now - started < .seconds(10))
        try await h.call(DisconnectCustomKeyStoreRequest(customKeyStoreId: store))
        try await h.call(ConnectCustomKeyStoreRequest(customKeyStoreId: store))
        #expect(try await h.state(of: store) == .failed)
        #expect(try await h.errorCode(of: store) == .xksProxyNotReachable)
        #expect(await h.failure(LiveProxyHarness.createStore(path: "/other/kms/xks/v1"))?.code == .xksProxyUriUnreachable)
    }

    @Test func unreachableSilentGarbageAndClosingProxiesMapToTheSpecsCodes() async throws {
        let silent = try await MisbehavingListener(.silent)
        let closing = try await MisbehavingListener(.closeAtOnce)
        let garbage = try await MisbehavingListener(.answer("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"))
        let noErrorBody = try await MisbehavingListener(.answer("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
        let notHTTP = try await MisbehavingListener(.answer("SSH-2.0-OpenSSH_9.6\r\n"))
        let refusedPort = await Self.closedPort()
        let h = try await LiveProxyHarness(extraResolve: [
            "silent.example.test": .init(address: "127.0.0.1", port: silent.port),
            "closing.example.test": .init(secure: false, address: "127.0.0.1", port: closing.port),
            "garbage.example.test": .init(secure: false, address: "127.0.0.1", port: garbage.port),
            "noerror.example.test": .init(secure: false, address: "127.0.0.1", port: noErrorBody.port),
            "nothttp.example.test": .init(secure: false, address: "127.0.0.1", port: notHTTP.port),
            "refused.example.test": .init(address: "127.0.0.1", port: refusedPort),
        ], timeout: .seconds(5))
        defer {
            Task {
                await h.close()
                for listener in [silent, closing, garbage, noErrorBody, notHTTP] { await listener.close() }
            }
        }
        let cases: [(String, KMSErrorCode, ConnectionErrorCode)] = [
            ("silent", .xksProxyUriUnreachable, .xksProxyTimedOut),
            ("closing", .xksProxyUriUnreachable, .xksProxyNotReachable),
            ("garbage", .xksProxyInvalidResponse, .xksProxyInvalidResponse),
            ("noerror", .xksProxyInvalidResponse, .xksProxyInvalidResponse),
            ("nothttp", .xksProxyInvalidResponse, .xksProxyInvalidResponse),
            ("refused", .xksProxyUriUnreachable, .xksProxyNotReachable),
            ("unknown", .xksProxyUriUnreachable, .xksProxyNotReachable),
        ]
        for (name, createCode, connectCode) in cases {
            let endpoint = "https://\(name).example.test"
            let started = ContinuousClock.now
            let created = await h.failure(LiveProxyHarness.createStore(endpoint: endpoint))
            #expect(created?.code == createCode, "\(name): \(String(describing: created))")
            #expect(ContinuousClock.now - started < .seconds(60), "\(name) hung")
            // A store can exist only after a successful health check; insert one there to see Connect fail.
            let store = try await h.insertedStore(endpoint: endpoint)
            try await h.call(ConnectCustomKeyStoreRequest(customKeyStoreId: store))
            #expect(try await h.state(of: store) == .failed, "\(name)")
            #expect(try await h.errorCode(of: store) == connectCode, "\(name)")
            try await h.call(DisconnectCustomKeyStoreRequest(customKeyStoreId: store))
            try await h.call(DeleteCustomKeyStoreRequest(customKeyStoreId: store))
        }
    }

    @Test func aCertificateForAnotherNameIsATLSFailure() async throws {
        // The proxy's certificate names xks.example.test; reached as other.example.test, the handshake fails.
        let h = try await LiveProxyHarness(namesOfTheProxy: ["other.example.test"])
        defer { Task { await h.close() } }
        let created = await h.failure(LiveProxyHarness.createStore(endpoint: "https://other.example.test"))
        #expect(created?.code == .xksProxyUriUnreachable)
        #expect(created?.message.contains("TLS") == true)
        let store = try await h.call(LiveProxyHarness.createStore()).customKeyStoreId!
        await Self.pointStore(h, store, at: "https://other.example.test")
        try await h.call(ConnectCustomKeyStoreRequest(customKeyStoreId: store))
        #expect(try await h.errorCode(of: store) == .xksProxyInvalidTlsConfiguration)
    }

    @Test func underMutualTLSTheCorePresentsItsClientCertificate() async throws {
        let h = try await LiveProxyHarness(mutualTLS: true)
        defer { Task { await h.close() } }
        let store = try await h.connectedStore()
        let keyId = try await h.createKey(store)
        _ = try await h.call(EncryptRequest(keyId: keyId, plaintext: Data("x".utf8)))
        let without = try await LiveProxyHarness(mutualTLS: true, presentClientCertificate: false)
        defer { Task { await without.close() } }
        let refused = await without.failure(LiveProxyHarness.createStore())
        #expect(refused?.code == .xksProxyUriUnreachable)
        #expect(refused?.message.contains("TLS") == true)
    }

    @Test func thePeriodicHealthCheckFollowsTheSimulatedClock() async throws {
        let h = try await LiveProxyHarness()
        defer { Task { await h.close() } }
        let store = try await h.connectedStore()
        let logged = LogLines()
        await h.engine.runDueHealthChecks(log: logged.append)
        #expect(h.engine.liveProxies.healthRecords[store]?.failure == nil)
        let first = try #require(h.engine.liveProxies.healthRecords[store]?.checkedAt)
        await h.stopProxy()
        // Not due yet: the record stays.
        await h.engine.runDueHealthChecks(log: logged.append)
        #expect(h.engine.liveProxies.healthRecords[store]?.checkedAt == first)
        try await h.call(AdvanceClockRequest(seconds: Int(LiveProxies.healthCheckInterval)))
        await h.engine.runDueHealthChecks(log: logged.append)
        let record = try #require(h.engine.liveProxies.healthRecords[store])
        #expect(record.checkedAt > first)
        if case .unreachable = record.failure {} else { Issue.record("expected unreachable, got \(String(describing: record.failure))") }
        #expect(logged.lines.contains { $0.contains("KmsHealthCheck of custom key store \(store)") && $0.contains("failed") })
        // The store stays CONNECTED, as in AWS (the check feeds monitoring; Connect is what fails).
        #expect(try await h.state(of: store) == .connected)
    }

    // MARK: - Helpers

    /// A loopback port nothing listens on.
    static func closedPort() async -> Int {
        guard let listener = try? await MisbehavingListener(.silent) else { return 1 }
        let port = listener.port
        await listener.close()
        return port
    }

    /// Points a store at another endpoint behind the core's back (UpdateCustomKeyStore would call the proxy).
    static func pointStore(_ h: LiveProxyHarness, _ storeId: String, at endpoint: String) async {
        do {
            try await h.engine.write { w, _ in
                guard var store = try w.store(id: storeId) else { return }
                store.xks?.uriEndpoint = endpoint
                try w.update(store)
            }
        } catch {
            Issue.record("cannot repoint the store: \(error)")
        }
    }
}

final class LogLines: Sendable {
    private let storage = Mutex<[String]>([])
    var lines: [String] { storage.withLock { $0 } }
    func append(_ line: String) { storage.withLock { $0.append(line) } }
}
