import CKSDomain
@testable import CKSTeardown
import Foundation
import Testing
@testable import CKSConsole

@Suite struct TeardownRunnerTests {
    static func hsm(_ state: ConnectionState = .connected) -> TeardownObservation.Store {
        .init(id: "cks-0123456789abcdef0", name: "payments-hsm", type: .awsCloudHsm, connectionState: state,
              connectionErrorCode: state == .failed ? .networkErrors : nil, cloudHsmClusterId: "cluster-1a23b4cdefg")
    }

    static func keys(_ n: Int, _ state: KeyState = .enabled) -> [TeardownObservation.Key] {
        (0..<n).map { TeardownObservation.Key(id: "k\(100 + $0)", state: state) }
    }

    static func runner(_ service: FakeTeardownService, journal: TeardownJournal = TeardownJournal(url: nil),
                       window: PendingWindow? = nil) -> TeardownRunner {
        TeardownRunner(service: service, journal: journal, store: "payments-hsm", window: window, sleep: { _ in })
    }

    /// Performs plan actions until the plan waits, blocks or is done; returns the last plan.
    static func advance(_ runner: TeardownRunner, confirm name: String? = nil) async throws -> TeardownPlan {
        var plan = try await runner.refresh()
        for _ in 0..<20 {
            guard plan.status == .ready else { return plan }
            if case .deleteStore = plan.action, name == nil { return plan }
            plan = try await runner.perform(plan.action, confirmedName: name).plan
        }
        return plan
    }

    @Test func aWholeTeardownThroughTheRunnerAndItsJournal() async throws {
        let service = FakeTeardownService(store: Self.hsm(), keys: Self.keys(3),
                                          uses: ["k100": .used(at: Date(timeIntervalSince1970: 1_800_000_000 - 3600), operation: "Encrypt")])
        let journal = TeardownJournal(url: nil)
        let runner = Self.runner(service, journal: journal, window: PendingWindow(days: 7))

        var plan = try await Self.advance(runner)
        #expect(plan.currentStep == .checkUse)
        guard case .acknowledge(let flags) = plan.action else { Issue.record("\(plan.action)"); return }
        #expect(flags.map(\.keyId) == ["k100"])
        plan = await runner.acknowledge(flags.map(\.acknowledgement))!
        #expect(plan.action == .scheduleDeletion(keyIds: ["k100", "k101", "k102"], window: PendingWindow(days: 7)!,
                                                 deletionDate: Date(timeIntervalSince1970: 1_800_000_000 + 7 * 86_400)))

        plan = try await Self.advance(runner)
        #expect(plan.status == .waiting)
        #expect(plan.abortableKeyIds == ["k100", "k101", "k102"])
        plan = try await runner.fastForward()
        #expect(plan.currentStep == .disconnect)
        plan = try await Self.advance(runner)
        #expect(plan.currentStep == .waitForDisconnected || plan.currentStep == .deleteStore)
        plan = try await runner.refresh()
        #expect(plan.action == .deleteStore(confirmName: "payments-hsm"))
        await #expect(throws: TeardownRunError.confirmationMismatch(expected: "payments-hsm")) {
            _ = try await runner.perform(plan.action, confirmedName: "payments")
        }
        #expect(!service.calls.contains("DeleteCustomKeyStore"))
        plan = try await runner.perform(plan.action, confirmedName: "payments-hsm").plan
        #expect(plan.status == .done)
        #expect(service.mutate { $0.orphaned }.isEmpty)

        let ops = journal.read().entries.map(\.operation)
        #expect(ops == [.start, .acknowledge, .scheduleKeyDeletion, .disconnectCustomKeyStore, .deleteCustomKeyStore, .complete])
        let record = try #require(journal.teardowns().last)
        #expect(record.state == .completed)
        #expect(record.scheduledKeyIds == ["k100", "k101", "k102"])
        #expect(journal.inProgress().isEmpty)
        let schedule = journal.read().entries[2]
        #expect(schedule.requestIds.count == 3)
        #expect(schedule.windowDays == 7)
        #expect(schedule.account == "111122223333")
        #expect(schedule.principal == "admin")
        #expect(schedule.endpoint == "http://127.0.0.1:7911")
    }

    @Test func failedKeysAreReportedOneByOneAndRetried() async throws {
        let service = FakeTeardownService(store: Self.hsm(), keys: Self.keys(4))
        service.mutate { $0.failSchedule["k102"] = .init(typeName: "KMSInternalException", message: "try again", code: .kmsInternal) }
        let journal = TeardownJournal(url: nil)
        let runner = Self.runner(service, journal: journal)
        var plan = try await runner.refresh()
        plan = try await runner.perform(plan.action).plan  // check use
        let outcome = try await runner.perform(plan.action)
        #expect(outcome.results.count == 4)
        #expect(outcome.failed.map(\.target) == ["k102"])
        #expect(outcome.failed.first?.error?.typeName == "KMSInternalException")
        // The retry is simply the plan's next action: the one key not yet pending.
        #expect(outcome.plan.action == .scheduleDeletion(keyIds: ["k102"], window: .default,
                                                         deletionDate: Date(timeIntervalSince1970: 1_800_000_000 + 30 * 86_400)))
        let retried = try await runner.perform(outcome.plan.action)
        #expect(retried.failed.isEmpty)
        #expect(retried.plan.status == .waiting)
        let lines = journal.read().entries.filter { $0.operation == .scheduleKeyDeletion }
        #expect(lines.map(\.result) == [.partial, .ok])
        #expect(lines[0].failures == ["k102": "KMSInternalException: try again"])
    }

    @Test func aNewRunnerResumesFromTheJournal() async throws {
        let service = FakeTeardownService(store: Self.hsm(), keys: Self.keys(2))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cks-runner-\(UUID().uuidString)/teardowns.jsonl")
        let first = Self.runner(service, journal: TeardownJournal(url: url), window: PendingWindow(days: 9))
        let waiting = try await Self.advance(first)
        #expect(waiting.status == .waiting)

        // "Restart": a new journal object and runner; nothing carried over but the file.
        let journal = TeardownJournal(url: url)
        #expect(journal.inProgress().map(\.store.name) == ["payments-hsm"])
        let second = Self.runner(service, journal: journal)
        let plan = try await second.refresh()
        #expect(await second.resumed)
        #expect(plan == waiting)
        #expect(await second.window.days == 30, "a run's window is its own (or the default), never the journal's")
        #expect(await second.recordedWindow?.days == 9, "the journal's is known, for a note")
        #expect(plan.abortableKeyIds == ["k100", "k101"])
        #expect(await second.currentTeardownId == (await first.currentTeardownId))
    }

    @Test func abortGivesEveryScheduledKeyBackAndOffersEnablingThem() async throws {
        let service = FakeTeardownService(store: Self.hsm(), keys: Self.keys(3) + [.init(id: "other", state: .pendingDeletion,
                                          deletionDate: Date(timeIntervalSince1970: 1_800_100_000))])
        let journal = TeardownJournal(url: nil)
        let runner = Self.runner(service, journal: journal)
        _ = try await Self.advance(runner)
        let outcome = try await runner.abort()
        #expect(outcome.results.map(\.target) == ["k100", "k101", "k102"])
        #expect(outcome.failed.isEmpty)
        let states = service.mutate { w in w.keys.mapValues(\.state) }
        #expect(states == ["k100": .disabled, "k101": .disabled, "k102": .disabled, "other": .pendingDeletion])
        // After an abort the plan starts afresh: nothing is "scheduled by this teardown" any more.
        #expect(outcome.plan.abortableKeyIds.isEmpty)
        #expect(outcome.plan.disconnectOnly != nil)
        #expect(journal.inProgress().isEmpty)
        #expect(journal.teardowns().last?.state == .aborted)
        #expect(journal.teardowns().last?.cancelledKeyIds == ["k100", "k101", "k102"])

        let enabled = await runner.enableAgain(outcome.results.map(\.target))
        #expect(enabled.allSatisfy { $0.succeeded })
        #expect(service.mutate { $0.keys["k101"]?.state } == .enabled)
        #expect(journal.teardowns().last?.enabledKeyIds == ["k100", "k101", "k102"])
    }

    @Test func aStaleActionIsRefusedWithTheNewPlan() async throws {
        let service = FakeTeardownService(store: Self.hsm(), keys: Self.keys(1))
        let runner = Self.runner(service)
        let plan = try await runner.refresh()
        await #expect(throws: TeardownRunError.self) {
            _ = try await runner.perform(.disconnect)
        }
        #expect(!service.calls.contains("DisconnectCustomKeyStore"))
        #expect(plan.action == .checkUse(keyIds: ["k100"]))
    }

    @Test func aFailedCloudHsmStoreWithPendingKeysIsReconnectedThroughDisconnect() async throws {
        let service = FakeTeardownService(store: Self.hsm(.failed), keys: [
            .init(id: "k1", state: .pendingDeletion, deletionDate: Date(timeIntervalSince1970: 1_800_500_000))])
        let journal = TeardownJournal(url: nil)
        let runner = Self.runner(service, journal: journal)
        let plan = try await runner.refresh()
        #expect(plan.action == .reconnect(calls: [.disconnectCustomKeyStore, .connectCustomKeyStore]))
        let outcome = try await runner.perform(plan.action)
        #expect(outcome.failed.isEmpty)
        #expect(service.calls.filter { $0.hasSuffix("CustomKeyStore") } == ["DisconnectCustomKeyStore", "ConnectCustomKeyStore"])
        let settled = try await runner.refresh()
        #expect(settled.status == .waiting)
        #expect(settled.action == .waitForDeletion(keysLeft: 1, lastDeletionDate: Date(timeIntervalSince1970: 1_800_500_000)))
        #expect(journal.read().entries.map(\.operation) == [.start, .disconnectCustomKeyStore, .connectCustomKeyStore])
    }

    @Test func anUnknownStoreIsAnErrorButATornDownOneIsDone() async throws {
        let service = FakeTeardownService(store: nil)
        await #expect(throws: TeardownRunError.storeNotFound("payments-hsm")) {
            _ = try await Self.runner(service).refresh()
        }
        // Once a teardown of it is journalled as complete, the same command says done (idempotent).
        let journal = TeardownJournal(url: nil)
        let done = FakeTeardownService(store: Self.hsm(.disconnected))
        let first = Self.runner(done, journal: journal)
        let plan = try await first.refresh()
        _ = try await first.perform(plan.action, confirmedName: "payments-hsm")
        let again = try await Self.runner(done, journal: journal).refresh()
        #expect(again.status == .done)
        #expect(again.notDeleted.first?.contains("cluster-1a23b4cdefg") == true)
    }

    @Test func disconnectOnlyNeedsTheAcknowledgementWhenCloudHsmKeysArePending() async throws {
        let service = FakeTeardownService(store: Self.hsm(), keys: Self.keys(1) + [
            .init(id: "p", state: .pendingDeletion, deletionDate: Date(timeIntervalSince1970: 1_800_500_000))])
        let journal = TeardownJournal(url: nil)
        let runner = Self.runner(service, journal: journal)
        await #expect(throws: TeardownRunError.self) { _ = try await runner.disconnectOnly(confirmedName: "payments-hsm") }
        #expect(!service.calls.contains("DisconnectCustomKeyStore"))
        await runner.acknowledge([.init(.disconnectWithPendingKeys, Self.hsm().id)])
        let outcome = try await runner.disconnectOnly(confirmedName: "payments-hsm")
        #expect(outcome.failed.isEmpty)
        #expect(service.calls.contains("DisconnectCustomKeyStore"))
        #expect(journal.teardowns().last?.state == .disconnectedOnly)
        #expect(journal.inProgress().isEmpty)
    }

    @Test func anUnwritableJournalDoesNotStopTheTeardown() async throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("cks-ro-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        try Data().write(to: base.appendingPathComponent("state"))
        let journal = TeardownJournal(url: base.appendingPathComponent("state/cks/teardowns.jsonl"))
        let service = FakeTeardownService(store: Self.hsm(), keys: Self.keys(2))
        let plan = try await Self.advance(Self.runner(service, journal: journal))
        #expect(plan.status == .waiting)
        #expect(journal.problem?.contains("cannot write the teardown journal") == true)
        #expect(journal.inProgress().count == 1, "this session still sees its record")
    }
}
