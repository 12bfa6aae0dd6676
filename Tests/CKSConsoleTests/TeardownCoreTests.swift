import CKSClient
import CKSDomain
import CKSEmbedded
import CKSWire
@testable import CKSTeardown
import Foundation
import Synchronization
import Testing
@testable import CKSConsole

/// The teardown against the real core in-process, through the project's KMS client: the scripted path with
/// `--wait`, the console's event loop end to end, and orphaned key material as the core reports it.
@Suite("Teardown against the in-process core", .serialized)
struct TeardownCoreTests {
    @Test func theScriptedTeardownWithWaitDeletesTheStoreAndNothingElse() async throws {
        let core = try await InProcessCore.forConsole()
        do {
            let target = try await core.cloudHsmStore("payments-hsm", keys: 5, used: 1)
            let other = try await core.cloudHsmStore("keep-me", keys: 2)
            let service = KMSClientTeardownService(client: core.client)
            let journal = TeardownJournal.memory()
            var options = TeardownScriptOptions()
            options.yes = true
            options.wait = true
            options.window = PendingWindow(days: 7)
            options.acknowledgeKeys = [target.keyIds[0]]
            let out = TeardownScriptTests.Captured()
            // Each "sleep" of the wait moves the core's clock a day forward instead of waiting.
            let script = TeardownScript(store: "payments-hsm", options: options, service: service, journal: journal,
                                        terminal: out.terminal(tty: false, stdoutTTY: true),
                                        sleep: { _ in _ = try? await core.client.advanceClock(seconds: 86_400) })
            let status = await script.run()
            #expect(status == TeardownExit.done.rawValue, "\(out.stdout)\n\(out.stderr)")
            #expect(try await !core.storeExists(target.storeId))
            for id in target.keyIds {
                await #expect(throws: KMSClientError.self) { _ = try await core.client.describeKey(keyId: id) }
            }
            #expect(try await core.storeExists(other.storeId))
            #expect(try await core.keyIds(inStore: other.storeId) == other.keyIds.sorted())
            let clusters = try await core.client.describeCloudHsmClusters(clusterId: target.clusterId)
            #expect(clusters.first?.orphanedKeyMaterial?.isEmpty ?? true, "connected during the wait: nothing orphaned")
            let entries = journal.read().entries
            #expect(entries.first?.operation == .start)
            #expect(entries.last?.operation == .complete)
            #expect(entries.filter { $0.operation == .scheduleKeyDeletion }.flatMap(\.requestIds).count == 5)

            // Idempotent: again, the same command says done.
            let again = TeardownScriptTests.Captured()
            let rerun = TeardownScript(store: "payments-hsm", options: options, service: service, journal: journal,
                                       terminal: again.terminal(tty: false))
            #expect(await rerun.run() == TeardownExit.done.rawValue)
        }
        await core.stop()
    }

    @Test func theVerbConnectsTheAWSWayAndJournalsUnderTheStateDirectory() async throws {
        let core = try await InProcessCore.forConsole()
        do {
            try await core.cloudHsmStore("payments-hsm", keys: 3, used: 1)
            let home = FileManager.default.temporaryDirectory.appendingPathComponent("cks-home-\(UUID().uuidString)")
            let admin = core.server.adminPrincipal
            let environment = ["HOME": home.path, "XDG_STATE_HOME": home.appendingPathComponent("state").path,
                               "AWS_ACCESS_KEY_ID": admin.accessKeyId, "AWS_SECRET_ACCESS_KEY": admin.secretAccessKey]
            var options = TeardownScriptOptions()
            options.yes = true
            options.acknowledgeFlagged = true
            options.json = true
            let out = TeardownScriptTests.Captured()
            let status = await TeardownScript.main(
                store: "payments-hsm", options: options, flags: ClientFlags(endpoint: core.server.endpoint.absoluteString),
                environment: environment, terminal: out.terminal(tty: false, stdoutTTY: false),
                connect: { flags in try await ClientConnection.open(flags, environment: environment, homeDirectory: home) })
            #expect(status == TeardownExit.waiting.rawValue, "\(out.stdout)\n\(out.stderr)")
            let report = try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any]
            #expect(report?["status"] as? String == "waiting")
            let file = home.appendingPathComponent("state/cks/teardowns.jsonl")
            let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n")
            #expect(lines.count == 3, "start, acknowledge, one ScheduleKeyDeletion line")
            #expect(lines.allSatisfy { $0.contains("\"endpoint\":\"\(core.server.endpoint.absoluteString)\"") })
            #expect(lines.allSatisfy { $0.contains("\"account\":\"\(admin.account)\"") })

            // Unreachable endpoint: its own exit status, nothing journalled.
            let down = TeardownScriptTests.Captured()
            let unreachable = await TeardownScript.main(
                store: "payments-hsm", options: options, flags: ClientFlags(endpoint: "http://127.0.0.1:9"),
                environment: environment, terminal: down.terminal(tty: false, stdoutTTY: false),
                connect: { flags in try await ClientConnection.open(flags, environment: environment, homeDirectory: home,
                                                                     retryPolicy: RetryPolicy(maxAttempts: 1), timeout: 2) })
            #expect(unreachable == TeardownExit.cannotReachEndpoint.rawValue, "\(down.stderr)")
            try? FileManager.default.removeItem(at: home)
        }
        await core.stop()
    }

    /// The use check's CloudTrail pass reads the account's KMS events once for every key (other stores' events
    /// included, filtered locally) and reports how far it has come as it goes, ending at what it read.
    @Test func theUseCheckReadsCloudTrailOnceForEveryKeyAndSaysHowFar() async throws {
        let core = try await InProcessCore.forConsole()
        do {
            let store = try await core.cloudHsmStore("payments-hsm", keys: 6, used: 3)
            let other = try await core.cloudHsmStore("busy-hsm", keys: 1)
            for _ in 0..<120 { _ = try await core.client.generateDataKey(GenerateDataKeyRequest(keyId: other.keyIds[0], keySpec: "AES_256")) }
            let runner = TeardownRunner(service: KMSClientTeardownService(client: core.client), journal: .memory(),
                                        store: "payments-hsm", sleep: { _ in })
            var plan = try await runner.refresh()
            guard case .checkUse(let ids) = plan.action else { Issue.record("the use check comes first: \(plan.action)"); return }
            #expect(ids.count == 6)
            let seen = Mutex<[TeardownProgress]>([])
            plan = try await runner.perform(plan.action) { event in seen.withLock { $0.append(event) } }.plan
            let pass = try #require(await runner.lastEvidencePass)
            let trail = seen.withLock { $0 }.compactMap { event -> (Int, Int)? in
                if case .trail(let requests, let events) = event { return (requests, events) }
                return nil
            }
            #expect(pass.eventsRead >= 120 + 3, "the other store's 120 calls are read too: \(pass.eventsRead)")
            #expect(pass.lookupRequests >= 3 && pass.lookupRequests <= pass.eventsRead / 50 + 4,
                    "pages of 50, never one query per key: \(pass.lookupRequests) requests for \(pass.eventsRead) events")
            #expect(trail.count == pass.lookupRequests, "one progress report per LookupEvents answer")
            #expect(trail.last.map { $0.0 == pass.lookupRequests && $0.1 == pass.eventsRead } == true, "\(trail.suffix(2))")
            #expect(zip(trail, trail.dropFirst()).allSatisfy { $0.0 < $1.0 && $0.1 <= $1.1 }, "progress only grows")
            let used = store.keyIds.prefix(3).filter { id in
                if case .known(let summary) = pass.evidence[id]?.trail { return summary.uses > 0 }
                return false
            }
            #expect(used.count == 3, "the three keys used are named by the pass: \(pass.evidence)")
        }
        await core.stop()
    }

    @Test func orphanedKeyMaterialReportedByTheCoreIsNamed() async throws {
        let core = try await InProcessCore.forConsole()
        do {
            let store = try await core.cloudHsmStore("ledger-hsm", keys: 2)
            for id in store.keyIds { _ = try await core.client.scheduleKeyDeletion(keyId: id, pendingWindowInDays: 7) }
            try await core.client.disconnectCustomKeyStore(id: store.storeId)
            try await core.client.advanceClock(seconds: 60)
            let runner = TeardownRunner(service: KMSClientTeardownService(client: core.client), journal: .memory(),
                                        store: "ledger-hsm", sleep: { _ in })
            var plan = try await runner.refresh()
            #expect(plan.action == .reconnect(calls: [.connectCustomKeyStore]))
            #expect(plan.warnings.contains { $0.kind == .keyMaterialWillBeOrphaned })
            // The operator goes on without reconnecting: the material is orphaned, and the plan says so.
            plan = await runner.acknowledge([TeardownAcknowledgement(.orphanKeyMaterial, store.storeId)])!
            #expect(plan.status == .waiting)
            plan = try await runner.fastForward()
            #expect(plan.currentStep == .deleteStore)
            #expect(plan.warnings.contains { $0.kind == .orphanedKeyMaterial })
            for id in store.keyIds { #expect(plan.notDeleted.contains { $0.contains("key \(id)") && $0.contains(store.clusterId) }) }
        }
        await core.stop()
    }

    @Test @MainActor func aWholeTeardownThroughTheConsoleEventLoop() async throws {
        let core = try await InProcessCore.forConsole()
        do {
            let target = try await core.cloudHsmStore("payments-hsm", keys: 4, used: 2)
            let inbox = ActivityInbox()
            var options = ConsoleOptions()
            options.timeZone = TimeZone(identifier: "UTC")!
            let app = ConsoleApp(backend: core.consoleBackend(inbox), inbox: inbox, options: options)
            let journal = TeardownJournal.memory()
            TeardownFeature(journal: journal, demo: true).install(on: app)
            let surface = MemorySurface(width: 120, height: 40)
            app.start()
            await app.settle(on: surface)
            func press(_ keys: Key...) async { for k in keys { app.handle(k); await app.settle(on: surface) } }
            func confirm() async {
                let dialog = app.dialog
                await press(.tab, .enter)
                for _ in 0..<3 where dialog != nil && app.dialog === dialog { await press(.enter) }
            }

            app.run("teardown payments-hsm")
            await app.settle(on: surface)
            let t = try #require(app.teardown)
            #expect(t.plan?.flaggedKeys.count == 2, "the two keys used just now")
            await press(.char("Y"))
            await confirm()
            await press(.enter)
            #expect(surface.contains("ScheduleKeyDeletion"))
            await confirm()
            #expect(t.plan?.status == .waiting)
            #expect(surface.contains("Waiting: 4 keys left"))
            await press(.char("F"))   // a dialog first (it lists what the clock move deletes in every store)
            #expect(app.dialog?.title.hasPrefix("Fast-forward the core's clock") == true)
            await confirm()
            #expect(try await core.keyIds(inStore: target.storeId).isEmpty)
            #expect(t.plan?.action == .disconnect)
            await press(.enter)
            await confirm()
            // DISCONNECTING lasts 30 simulated seconds; move the core's clock and observe again.
            try await core.client.advanceClock(seconds: 60)
            await press(.char("r"))
            #expect(t.plan?.action == .deleteStore(confirmName: "payments-hsm"))
            await press(.enter)
            for ch in "payments-hsm" { await press(.char(ch)) }
            await press(.enter)
            #expect(t.plan?.status == .done)
            #expect(try await !core.storeExists(target.storeId))
            #expect(surface.contains("is deleted"))
            // Every call is in the Activity log under the teardown's actions, with request ids.
            let calls = app.activity.groups.filter { $0.label.hasPrefix("teardown payments-hsm") }.flatMap(\.calls)
            #expect(calls.contains { $0.operation == "DeleteCustomKeyStore" && $0.requestId != nil })
            #expect(calls.contains { $0.operation == "CksAdmin.AdvanceClock" })
            #expect(journal.read().entries.last?.operation == .complete)
        }
        await core.stop()
    }
}
