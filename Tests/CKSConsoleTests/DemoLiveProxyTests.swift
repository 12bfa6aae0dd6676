import CKSClient
import CKSDomain
import CKSEmbedded
import CKSWire
import Foundation
import Testing
@testable import CKSConsole

/// `cks --demo`'s store on a real `cks xks-proxy` in process, and the outage the demo stages with `:proxy stop`.
@Suite("Demo live XKS proxy", .serialized)
struct DemoLiveProxyTests {
    func store(_ client: KMSClient, _ id: String) async throws -> CustomKeyStoresListEntry {
        try #require(try await client.describeCustomKeyStores(customKeyStoreId: id).customKeyStores?.first)
    }

    /// The client error `body` fails with; nil when it succeeds.
    func failure(_ body: () async throws -> Void) async -> KMSClientError? {
        do {
            try await body()
            return nil
        } catch let error as KMSClientError {
            return error
        } catch {
            Issue.record("not a client error: \(error)")
            return nil
        }
    }

    func pass(_ client: KMSClient, _ seconds: TimeInterval) async throws {
        _ = try await client.advanceClock(seconds: Int(seconds) + 60)
    }

    @Test("the live store works through the proxy; stopped, Connect fails NOT_REACHABLE and Encrypt is KMSInvalidState; started again, it reconnects")
    func outageAndRepair() async throws {
        let core = try await DemoCore.start(region: "us-east-1")
        let client = core.client()
        do {
            let live = try #require(core.demoProxy)
            #expect(live.isRunning && live.port > 0)
            let (storeId, keyIds) = try await live.seed(client: client, connectDuration: DemoCore.connectDuration)
            #expect(keyIds.count == DemoLiveProxy.keyCount)
            let connected = try await store(client, storeId)
            #expect(connected.customKeyStoreName == DemoLiveProxy.storeName && connected.connectionState == .connected)
            let sealed = try #require(try await client.encrypt(EncryptRequest(keyId: keyIds[0], plaintext: Data("live".utf8))).ciphertextBlob)
            #expect(sealed.prefix(4) == Data("CKX1".utf8), "the proxy's key is the outer layer")

            let (stopped, ok) = await DemoProxyCommand.run("stop", on: live)
            #expect(ok && stopped.hasPrefix("Stopped") && !live.isRunning)
            #expect(await DemoProxyCommand.run("stop", on: live).1 == false, "stopping twice says it is already stopped")
            let refused = await failure { _ = try await client.encrypt(EncryptRequest(keyId: keyIds[1], plaintext: Data("x".utf8))) }
            #expect(refused?.kind == .service(.kmsInvalidState), "\(String(describing: refused))")
            try await client.disconnectCustomKeyStore(id: storeId)
            try await pass(client, DemoCore.disconnectDuration)
            try await client.connectCustomKeyStore(id: storeId)
            try await pass(client, DemoCore.connectDuration)
            let failed = try await store(client, storeId)
            #expect(failed.connectionState == .failed && failed.connectionErrorCode == .xksProxyNotReachable)

            let (started, startedOk) = await DemoProxyCommand.run("start", on: live)
            #expect(startedOk && started.hasPrefix("Started") && live.isRunning)
            try await client.disconnectCustomKeyStore(id: storeId)
            try await pass(client, DemoCore.disconnectDuration)
            try await client.connectCustomKeyStore(id: storeId)
            try await pass(client, DemoCore.connectDuration)
            #expect(try await store(client, storeId).connectionState == .connected)
            #expect(try await client.decrypt(DecryptRequest(ciphertextBlob: sealed)).plaintext == Data("live".utf8),
                    "the restarted proxy has the same keys")
        } catch {
            client.shutdown()
            await core.shutdown()
            throw error
        }
        client.shutdown()
        await core.shutdown()
        #expect(!FileManager.default.fileExists(atPath: core.dataDirectory.path))
        #expect(core.demoProxy?.isRunning == false)
    }

    @Test(":proxy is listed, completes and takes stop, start or status")
    func parsing() {
        #expect(CommandLineState.parse("proxy stop") == .success(.proxy("stop")))
        #expect(CommandLineState.parse("proxy Start") == .success(.proxy("start")))
        #expect(CommandLineState.parse("pro status") == .success(.proxy("status")))
        #expect(CommandLineState.parse("proxy") == .success(.proxy("status")))
        guard case .failure(let unknown) = CommandLineState.parse("proxy restart") else { Issue.record(":proxy restart accepted"); return }
        #expect(unknown.message.contains("stop, start or status"))
        #expect(CommandLineState.usage.contains(":proxy stop|start"))
        var line = CommandLineState()
        for ch in "pr" { line.type(ch) }
        line.complete(stores: [], themes: [])
        #expect(line.text == "proxy ")
        for ch in "st" { line.type(ch) }
        line.complete(stores: [], themes: [])
        #expect(line.candidates == ["stop", "start", "status"])
    }
}
