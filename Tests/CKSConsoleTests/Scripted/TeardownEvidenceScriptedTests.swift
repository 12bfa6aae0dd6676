import CKSClient
import CKSDomain
@testable import CKSTeardown
import CKSTestSupport
import CKSWire
import Foundation
import Testing
@testable import CKSConsole

/// The evidence and the disable-and-observe phase of `cks teardown`, against `cks serve` with a workload, and against
/// moto (which has no CloudTrail).
@Suite struct TeardownEvidenceScriptedTests {
    static let app = "arn:aws:iam::111122223333:role/payments-api"

    /// A connected CloudHSM store with `keys` keys on `client`'s core; the first key is disabled beforehand.
    static func store(_ client: KMSClient, name: String, keys: Int) async throws -> (id: String, keyIds: [String]) {
        let cluster = try await client.createCloudHsmCluster(kmsUserPassword: "kmsPswd-\(name)")
        let id = try #require(try await client.createCustomKeyStore(CreateCustomKeyStoreRequest(
            customKeyStoreName: name, cloudHsmClusterId: cluster.clusterId,
            trustAnchorCertificate: cluster.trustAnchorCertificate, keyStorePassword: "kmsPswd-\(name)")).customKeyStoreId)
        try await client.connectCustomKeyStore(id: id)
        for _ in 0..<40 where try await client.customKeyStore(idOrName: id).connectionState != .connected {
            try await client.advanceClock(seconds: 600)
        }
        var ids: [String] = []
        for _ in 0..<keys {
            ids.append(try #require(try await client.createKey(CreateKeyRequest(origin: .awsCloudHsm, customKeyStoreId: id)).keyMetadata?.keyId))
        }
        try await client.disableKey(keyId: ids[0])
        return (id, ids)
    }

    @Test("--observe-days 7 --wait against cks serve: a workload's refused call blocks with exit 11 naming the caller; --abort re-enables exactly the keys it disabled")
    func observeCatchesAWorkload() async throws {
        try await withServe { core in
            let client = core.client()
            defer { client.shutdown() }
            let (storeId, keys) = try await Self.store(client, name: "observed", keys: 3)
            _ = try await client.createGrant(CreateGrantRequest(keyId: keys[1], granteePrincipal: "ebs.amazonaws.com",
                                                                operations: ["Decrypt"]))
            let workload = try await client.startWorkload(keyId: keys[2], operation: "Decrypt", principal: Self.app, everyMinutes: 5)
            try await client.advanceClock(seconds: 3_600)   // the workload's history: twelve Decrypts

            var env = core.awsEnvironment()
            let home = core.logDirectory.appendingPathComponent("home-evidence")
            env["HOME"] = home.path
            env["XDG_STATE_HOME"] = home.appendingPathComponent("state").path
            env["AWS_ENDPOINT_URL"] = core.endpoint.absoluteString

            // Without acknowledgements: blocked on the evidence, one flag per reason, nothing changed.
            let blocked = try await CKSBinary.run(["teardown", storeId, "--observe-days", "7", "--yes", "--output", "json"],
                                                  environment: env)
            #expect(blocked.status == 11, "\(blocked.err)\n\(blocked.out)")
            let first = try #require(try JSONSerialization.jsonObject(with: Data(blocked.out.utf8)) as? [String: Any])
            let flags = try #require(first["flaggedKeys"] as? [[String: Any]])
            let reasons = Set(flags.compactMap { f in (f["keyId"] as? String).flatMap { k in (f["acknowledgeReason"] as? String).map { "\(k):\($0)" } } })
            #expect(reasons.contains("\(keys[1]):grants"), "\(reasons)")
            #expect(reasons.contains("\(keys[2]):used"), "\(reasons)")
            #expect(flags.contains { ($0["detail"] as? String)?.contains(Self.app) == true }, "the latest caller is named: \(flags)")
            let pass = try #require(first["evidencePass"] as? [String: Any])
            #expect((pass["lookupEventsRequests"] as? Int ?? 0) >= 1)
            #expect(try await client.describeKey(keyId: keys[2]).keyState == .enabled, "nothing changed")

            // Naming only some reasons acknowledges no key partly: still blocked.
            let partial = try await CKSBinary.run(["teardown", storeId, "--observe-days", "7", "--yes", "--output", "json",
                                                   "--acknowledge-reason", "used"], environment: env)
            #expect(partial.status == 11, "\(partial.err)")
            #expect(try await client.describeKey(keyId: keys[2]).keyState == .enabled)

            // Every reason acknowledged, observing with --wait: it disables and marks, then waits. The workload's next
            // Decrypt is refused once the clock moves, and the teardown stops naming the caller.
            let args = ["teardown", storeId, "--observe-days", "7", "--yes", "--wait", "--poll-seconds", "0.2", "--output", "json",
                        "--acknowledge-reason", "used,refused,grants,policy,unknown"]
            async let observing = CKSBinary.run(args, environment: env, timeout: .seconds(240))
            try await eventually("the teardown disables the keys", timeout: .seconds(120), every: .milliseconds(200)) {
                try await client.describeKey(keyId: keys[2]).keyState == .disabled
            }
            let tags = try await client.allResourceTags(keyId: keys[2])
            #expect(tags.contains { $0.tagKey == ObservationMark.teardownTag }, "\(tags)")
            #expect(!(try await client.allResourceTags(keyId: keys[0])).contains { $0.tagKey == ObservationMark.teardownTag },
                    "a key Disabled before is observed but not marked as disabled by the teardown")
            try await client.advanceClock(seconds: 3_600)
            let stopped = try await observing
            #expect(stopped.status == 11, "\(stopped.err)\n\(stopped.out)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(stopped.out.utf8)) as? [String: Any])
            let observation = try #require(report["observation"] as? [String: Any], "\(stopped.out)")
            let refused = try #require(observation["refusedAttempts"] as? [[String: Any]])
            #expect(refused.contains { $0["caller"] as? String == Self.app && $0["keyId"] as? String == keys[2]
                                       && $0["errorCode"] as? String == "DisabledException" }, "\(refused)")
            #expect(Set(observation["disabledByTeardown"] as? [String] ?? []) == Set([keys[1], keys[2]]))
            #expect(try await client.describeKey(keyId: keys[2]).keyState == .disabled, "nothing scheduled")

            // Abort: exactly the keys the teardown disabled come back Enabled; the one Disabled before stays so.
            let aborted = try await CKSBinary.run(["teardown", storeId, "--abort", "--yes"], environment: env)
            #expect(aborted.status == 0, "\(aborted.err)\n\(aborted.out)")
            #expect(try await client.describeKey(keyId: keys[0]).keyState == .disabled)
            #expect(try await client.describeKey(keyId: keys[1]).keyState == .enabled)
            #expect(try await client.describeKey(keyId: keys[2]).keyState == .enabled)
            #expect(!(try await client.allResourceTags(keyId: keys[2])).contains { $0.tagKey.hasPrefix("cks:") })
            let journal = (try? String(contentsOf: home.appendingPathComponent("state/cks/teardowns.jsonl"), encoding: .utf8)) ?? ""
            #expect(journal.contains("evidence shown"), "acknowledgements are journalled with the evidence shown")
            #expect(journal.contains("DisableAndObserve") && journal.contains("EndObservation"))
            try await client.stopWorkload(id: workload)
        }
    }

    /// moto has no custom key stores: its keys are presented as one store's by this wrapper, every other call goes to
    /// moto through the product's service.
    struct MotoStore: TeardownService {
        let inner: KMSClientTeardownService
        let store = TeardownObservation.Store(id: "cks-0123456789abcdef0", name: "moto-store", type: .externalKeyStore,
                                              connectionState: .connected)
        var endpoint: String { inner.endpoint }
        func caller() async -> (account: String?, principal: String?) { await inner.caller() }
        func now() async -> Date { await inner.now() }
        func describeStore(_ idOrName: String) async throws(TeardownCallError) -> TeardownObservation.Store? { store }
        func keys(inStore storeId: String, progress: @escaping @Sendable (Int) -> Void) async throws(TeardownCallError) -> [TeardownObservation.Key] {
            do throws(KMSClientError) {
                var keys: [TeardownObservation.Key] = []
                for entry in try await inner.client.listKeys().keys ?? [] {
                    let m = try await inner.client.describeKey(keyId: entry.keyId ?? "")
                    keys.append(TeardownObservation.Key(id: m.keyId, state: m.keyState ?? .enabled, deletionDate: m.deletionDate))
                }
                return keys
            } catch { throw KMSClientTeardownService.wrap(error) }
        }
        func lastUse(of keyIds: [String], progress: @escaping @Sendable (Int) -> Void) async -> [String: KeyLastUse] {
            await inner.lastUse(of: keyIds, progress: progress)
        }
        func scheduleKeyDeletion(_ keyIds: [String], window: PendingWindow, progress: @escaping @Sendable (TeardownCallResult) -> Void) async -> [TeardownCallResult] {
            await inner.scheduleKeyDeletion(keyIds, window: window, progress: progress)
        }
        func cancelKeyDeletion(_ keyIds: [String], progress: @escaping @Sendable (TeardownCallResult) -> Void) async -> [TeardownCallResult] {
            await inner.cancelKeyDeletion(keyIds, progress: progress)
        }
        func enableKey(_ keyIds: [String], progress: @escaping @Sendable (TeardownCallResult) -> Void) async -> [TeardownCallResult] {
            await inner.enableKey(keyIds, progress: progress)
        }
        func connect(storeId: String) async -> TeardownCallResult { TeardownCallResult(target: storeId) }
        func disconnect(storeId: String) async -> TeardownCallResult { TeardownCallResult(target: storeId) }
        func delete(storeId: String) async -> TeardownCallResult { TeardownCallResult(target: storeId) }
        func orphanedKeyMaterial(clusterId: String) async -> [TeardownObservation.OrphanedKeyMaterial]? { nil }
        func advanceClock(seconds: Int) async throws(TeardownCallError) -> Date { Date() }
        func pendingDeletions() async throws(TeardownCallError) -> (stores: [TeardownObservation.Store], keys: [FastForwardPreview.PendingKey]) { ([], []) }
        func evidence(of keys: [TeardownObservation.Key], lookbackDays: Int, now: Date, progress: @escaping @Sendable (EvidenceProgress) -> Void) async -> EvidencePass {
            await inner.evidence(of: keys, lookbackDays: lookbackDays, now: now, progress: progress)
        }
        func refusedCalls(on keyIds: Set<String>, since: Date, now: Date) async throws(TeardownCallError) -> [RefusedAttempt] {
            try await inner.refusedCalls(on: keyIds, since: since, now: now)
        }
        func observe(_ keyIds: [String], disable: Set<String>, mark: ObservationMark, teardownId: String,
                     progress: @escaping @Sendable (TeardownCallResult) -> Void) async -> [TeardownCallResult] {
            await inner.observe(keyIds, disable: disable, mark: mark, teardownId: teardownId, progress: progress)
        }
        func endObservation(enable: [String], unmark: [String], progress: @escaping @Sendable (TeardownCallResult) -> Void) async -> [TeardownCallResult] {
            await inner.endObservation(enable: enable, unmark: unmark, progress: progress)
        }
    }

    @Test("against moto (no CloudTrail): use is reported unknown and nothing is scheduled without that acknowledgement",
          .enabled(if: ExternalTool.shouldRun("moto_server"), ExternalTool.skipNote("moto_server")))
    func motoHasNoCloudTrail() async throws {
        let moto = try await ExternalTool.startMoto()
        do {
            let client = KMSClient(endpoint: URL(string: moto.endpoint)!, region: "us-east-1",
                                   credentials: AWSCredentials(accessKeyId: "testing", secretAccessKey: "testing"))
            let key = try #require(try await client.createKey(CreateKeyRequest(description: "on moto")).keyMetadata?.keyId)
            let service = MotoStore(inner: KMSClientTeardownService(client: client))
            func run(_ configure: (inout TeardownScriptOptions) -> Void) async -> (Int32, String) {
                var options = TeardownScriptOptions()
                options.yes = true
                options.json = true
                configure(&options)
                let out = TeardownScriptTests.Captured()
                let script = TeardownScript(store: "moto-store", options: options, service: service, journal: .memory(),
                                            terminal: out.terminal(tty: false, stdoutTTY: false), sleep: { _ in })
                return (await script.run(), out.stdout)
            }
            let (status, out) = await run { _ in }
            #expect(status == TeardownExit.blocked.rawValue, "\(out)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
            let flags = try #require(report["flaggedKeys"] as? [[String: Any]])
            #expect(flags.contains { $0["keyId"] as? String == key && $0["acknowledgeReason"] as? String == "unknown"
                                     && ($0["detail"] as? String)?.contains("CloudTrail") == true }, "\(flags)")
            #expect(try await client.describeKey(keyId: key).keyState == .enabled)

            // Other reasons named do not cover "unknown".
            let (other, _) = await run { $0.acknowledgeReasons = [.used, .grants, .policy, .refused] }
            #expect(other == TeardownExit.blocked.rawValue)
            #expect(try await client.describeKey(keyId: key).keyState == .enabled)

            let (acknowledged, after) = await run { $0.acknowledgeReasons = [.unknown] }
            #expect(acknowledged == TeardownExit.waiting.rawValue, "\(after)")
            #expect(try await client.describeKey(keyId: key).keyState == .pendingDeletion)
            client.shutdown()
        } catch {
            await moto.process.stop()
            throw error
        }
        await moto.process.stop()
    }
}
