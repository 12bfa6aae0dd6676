import CKSClient
import CKSDomain
import CKSEmbedded
@testable import CKSTeardown
import Foundation
import Synchronization
import Testing
@testable import CKSConsole

/// `cks teardown` logic against the in-memory KMS: confirmation, dry run, waiting, exit statuses, JSON.
@Suite struct TeardownScriptTests {
    final class Captured: Sendable {
        let out = Mutex("")
        let err = Mutex("")
        let answers: Mutex<[String]>
        init(answers: [String] = []) { self.answers = Mutex(answers) }
        var stdout: String { out.withLock { $0 } }
        var stderr: String { err.withLock { $0 } }

        func terminal(tty: Bool, stdoutTTY: Bool = true) -> TeardownTerminal {
            TeardownTerminal(out: { s in self.out.withLock { $0 += s } }, err: { s in self.err.withLock { $0 += s } },
                             stdinIsTerminal: tty, stdoutIsTerminal: stdoutTTY,
                             readLine: { self.answers.withLock { $0.isEmpty ? nil : $0.removeFirst() } })
        }
    }

    static func service(keys: Int = 3, uses: [String: KeyLastUse] = [:]) -> FakeTeardownService {
        FakeTeardownService(store: TeardownRunnerTests.hsm(), keys: TeardownRunnerTests.keys(keys), uses: uses)
    }

    static func script(_ service: FakeTeardownService, _ options: TeardownScriptOptions, _ captured: Captured,
                       journal: TeardownJournal = TeardownJournal(url: nil), tty: Bool = false,
                       stdoutTTY: Bool = true) -> TeardownScript {
        // "Sleeping" moves the fake's clock a day: a --wait run finishes without waiting for real.
        TeardownScript(store: "payments-hsm", options: options, service: service, journal: journal,
                       terminal: captured.terminal(tty: tty, stdoutTTY: stdoutTTY),
                       sleep: { _ in _ = try? await service.advanceClock(seconds: 86_400) })
    }

    @Test func aDryRunPrintsThePlanAndChangesNothing() async {
        let service = Self.service()
        var options = TeardownScriptOptions()
        options.dryRun = true
        let out = Captured()
        let status = await Self.script(service, options, out).run()
        // The read-only use check runs; the next step (scheduling) would change something.
        #expect(status == TeardownExit.wouldAct.rawValue)
        #expect(out.stdout.contains("Next: ScheduleKeyDeletion for 3 keys, window 30 days"))
        #expect(out.stdout.contains("Teardown of CloudHSM key store payments-hsm (cks-0123456789abcdef0)"))
        #expect(out.stdout.contains("Dry run: nothing was changed."))
        #expect(out.stdout.contains("Not deleted by this teardown:"))
        #expect(!service.calls.contains { ["ScheduleKeyDeletion", "DisconnectCustomKeyStore", "DeleteCustomKeyStore"].contains($0) })
    }

    @Test func withoutYesANonInteractiveRunRefusesToChangeAnything() async {
        let service = Self.service()
        let out = Captured()
        let status = await Self.script(service, TeardownScriptOptions(), out, tty: false).run()
        #expect(status == TeardownExit.blocked.rawValue)
        #expect(out.stderr.contains("refusing to change anything without --yes"))
        #expect(!service.calls.contains("ScheduleKeyDeletion"))
    }

    @Test func onATerminalTheStoreNameMustBeTyped() async {
        let wrong = Self.service()
        let refused = Captured(answers: ["payments"])
        #expect(await Self.script(wrong, TeardownScriptOptions(), refused, tty: true).run() == TeardownExit.blocked.rawValue)
        #expect(refused.stderr.contains("Type the store's name (payments-hsm)"))
        #expect(!wrong.calls.contains("ScheduleKeyDeletion"))

        let right = Self.service()
        let typed = Captured(answers: ["payments-hsm"])
        let status = await Self.script(right, TeardownScriptOptions(), typed, tty: true).run()
        #expect(status == TeardownExit.waiting.rawValue)
        #expect(right.calls.filter { $0 == "ScheduleKeyDeletion" }.count == 3)
        #expect(typed.stdout.contains("ScheduleKeyDeletion: 3 of 3 succeeded"))
        #expect(typed.stdout.contains("Run this command again later, or with --wait"))
    }

    @Test func yesAndWaitGoAllTheWayAndARerunSaysDone() async throws {
        let service = Self.service()
        let journal = TeardownJournal(url: nil)
        var options = TeardownScriptOptions()
        options.yes = true
        options.wait = true
        options.window = PendingWindow(days: 7)
        let out = Captured()
        let status = await Self.script(service, options, out, journal: journal).run()
        #expect(status == TeardownExit.done.rawValue, "\(out.stdout)\n\(out.stderr)")
        #expect(service.mutate { $0.store } == nil)
        #expect(service.mutate { $0.orphaned }.isEmpty)
        #expect(out.stdout.contains("Done: the store payments-hsm is deleted."))
        #expect(out.stdout.contains("the AWS CloudHSM cluster cluster-1a23b4cdefg"))

        // Idempotent: the same command afterwards reports done from the journal, changing nothing.
        let again = Captured()
        let calls = service.calls.count
        #expect(await Self.script(service, options, again, journal: journal).run() == TeardownExit.done.rawValue)
        #expect(!service.calls[calls...].contains { $0 != "DescribeCustomKeyStores" })
    }

    @Test func flaggedKeysBlockUntilAcknowledged() async {
        let uses: [String: KeyLastUse] = ["k101": .used(at: Date(timeIntervalSince1970: 1_800_000_000 - 600), operation: "Decrypt")]
        var options = TeardownScriptOptions()
        options.yes = true
        let blocked = Captured()
        let service = Self.service(uses: uses)
        #expect(await Self.script(service, options, blocked).run() == TeardownExit.blocked.rawValue)
        #expect(blocked.stdout.contains("NOT ACKNOWLEDGED k101"))
        #expect(blocked.stdout.components(separatedBy: "Blocked:").count == 2, "the reason is printed once")
        #expect(blocked.stdout.contains("--acknowledge KEY_ID"))
        #expect(!service.calls.contains("ScheduleKeyDeletion"))

        options.acknowledgeKeys = ["k101"]
        let acknowledged = Captured()
        #expect(await Self.script(service, options, acknowledged).run() == TeardownExit.waiting.rawValue)
        #expect(acknowledged.stdout.contains("Acknowledged: keyInUse:k101"))
        #expect(service.calls.filter { $0 == "ScheduleKeyDeletion" }.count == 3)
    }

    /// Issue 5: a dry run with the acknowledgements a real run would be given says what that run would do
    /// (exit 12), without recording anything: the journal stays empty, no teardown is started.
    @Test func aDryRunTakesTheCommandLineAcknowledgementsIntoAccount() async {
        let uses: [String: KeyLastUse] = ["k101": .used(at: Date(timeIntervalSince1970: 1_800_000_000 - 600), operation: "Decrypt")]
        let service = Self.service(uses: uses)
        let journal = TeardownJournal.memory()
        var options = TeardownScriptOptions()
        options.dryRun = true
        let blocked = Captured()
        #expect(await Self.script(service, options, blocked, journal: journal).run() == TeardownExit.blocked.rawValue)

        options.acknowledgeFlagged = true
        let out = Captured()
        #expect(await Self.script(service, options, out, journal: journal).run() == TeardownExit.wouldAct.rawValue, "\(out.stdout)")
        #expect(out.stdout.contains("Acknowledged for this dry run (not recorded): keyInUse:k101"))
        #expect(out.stdout.contains("Next: ScheduleKeyDeletion for 3 keys"))
        #expect(out.stdout.contains("Dry run: nothing was changed."))
        #expect(journal.read().entries.isEmpty, "a dry run writes nothing to the journal")
        #expect(!service.calls.contains("ScheduleKeyDeletion"))

        options.acknowledgeFlagged = false
        options.acknowledgeKeys = ["k101"]
        let byId = Captured()
        #expect(await Self.script(service, options, byId, journal: journal).run() == TeardownExit.wouldAct.rawValue)
    }

    /// A refused run writes nothing a later run obeys: `--window-days 7 --acknowledge-flagged` without `--yes` on a
    /// non-terminal refuses, and the next run, given no window and no acknowledgement, neither schedules with 7 days
    /// nor treats the flagged key as acknowledged; given `--acknowledge-flagged` it schedules with the default 30.
    @Test func aRefusedRunLeavesNothingTheNextRunObeys() async throws {
        let home = try EmbeddedCore.makeTemporaryDirectory(prefix: "cks-refused-run")
        defer { try? FileManager.default.removeItem(at: home) }
        let url = home.appendingPathComponent("teardowns.jsonl")
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let service = Self.service(uses: ["k101": .used(at: now.addingTimeInterval(-600), operation: "Decrypt")])

        var refusedOptions = TeardownScriptOptions()
        refusedOptions.window = PendingWindow(days: 7)
        refusedOptions.acknowledgeFlagged = true
        let refused = Captured()
        let refusedStatus = await Self.script(service, refusedOptions, refused, journal: TeardownJournal(url: url), tty: false).run()
        #expect(refusedStatus == TeardownExit.blocked.rawValue, "\(refused.stdout)\n\(refused.stderr)")
        #expect(refused.stderr.contains("nothing was changed"))
        #expect(TeardownJournal(url: url).read().entries.isEmpty, "a refused run writes nothing to the journal")

        // No acknowledgement given to this run: the flagged key blocks it, whatever the refused run was told.
        var yes = TeardownScriptOptions()
        yes.yes = true
        let blocked = Captured()
        #expect(await Self.script(service, yes, blocked, journal: TeardownJournal(url: url)).run() == TeardownExit.blocked.rawValue,
                "\(blocked.stdout)")
        #expect(blocked.stdout.contains("NOT ACKNOWLEDGED k101"))
        #expect(!service.calls.contains("ScheduleKeyDeletion"))

        // Acknowledged in this run, no window given: the default 30 days, not the refused run's 7.
        yes.acknowledgeFlagged = true
        let run = Captured()
        #expect(await Self.script(service, yes, run, journal: TeardownJournal(url: url)).run() == TeardownExit.waiting.rawValue,
                "\(run.stdout)")
        #expect(run.stdout.contains("window 30 days"), "\(run.stdout)")
        let dates = Set(service.mutate { $0.keys.values.compactMap(\.deletionDate) })
        #expect(dates == [PendingWindow.default.deletionDate(from: now)], "every key scheduled with 30 days: \(dates)")
    }

    /// A run's waiting period is its own: a teardown started with 7 days, resumed by a run given no window, schedules
    /// a key that appeared meanwhile with the default 30 days (and says so), not with the journal's 7.
    @Test func aResumedRunUsesItsOwnWindow() async throws {
        let home = try EmbeddedCore.makeTemporaryDirectory(prefix: "cks-resumed-window")
        defer { try? FileManager.default.removeItem(at: home) }
        let url = home.appendingPathComponent("teardowns.jsonl")
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let service = Self.service(keys: 2)
        var first = TeardownScriptOptions()
        first.yes = true
        first.window = PendingWindow(days: 7)
        #expect(await Self.script(service, first, Captured(), journal: TeardownJournal(url: url)).run() == TeardownExit.waiting.rawValue)
        service.mutate { $0.keys["k900"] = TeardownObservation.Key(id: "k900", state: .enabled) }

        var second = TeardownScriptOptions()
        second.yes = true
        let out = Captured()
        #expect(await Self.script(service, second, out, journal: TeardownJournal(url: url)).run() == TeardownExit.waiting.rawValue,
                "\(out.stdout)")
        #expect(service.mutate { $0.keys["k900"]?.deletionDate } == PendingWindow.default.deletionDate(from: now))
        #expect(service.mutate { $0.keys["k100"]?.deletionDate } == PendingWindow(days: 7)!.deletionDate(from: now))
    }

    /// 1–6 mean the same for `cks teardown` as for every scripted verb: one mapping of AWS error types.
    @Test func teardownStatusesOneToSixAreTheScriptedVerbs() {
        for code in KMSErrorCode.allCases {
            let viaClient = ScriptedExit.status(for: KMSClientError(kind: .service(code), message: ""))
            #expect(TeardownExit.status(for: TeardownCallError(KMSError(code, ""))).rawValue == viaClient.rawValue, "\(code)")
        }
        #expect(TeardownExit.status(for: TeardownCallError(typeName: "NoCredentialsError", message: "", isTransport: true)) == .configuration,
                "missing credentials are a configuration error")
        #expect(TeardownExit.status(for: TeardownCallError(typeName: "ConnectionRefused", message: "", isTransport: true)) == .cannotReachEndpoint)
    }

    @Test func anUnknownStoreExitsNotFound() async {
        let out = Captured()
        let status = await Self.script(FakeTeardownService(store: nil), TeardownScriptOptions(), out).run()
        #expect(status == TeardownExit.notFound.rawValue)
        #expect(out.stderr.contains("CustomKeyStoreNotFoundException"))
    }

    @Test func jsonOutputIsOneDocumentWithTheStatus() async throws {
        var options = TeardownScriptOptions()
        options.yes = true
        let out = Captured()
        let status = await Self.script(Self.service(), options, out, stdoutTTY: false).run()
        #expect(status == TeardownExit.waiting.rawValue)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any])
        #expect(object["status"] as? String == "waiting")
        #expect(object["exitStatus"] as? Int == 10)
        #expect(object["currentStep"] as? String == "waitForDeletion")
        #expect((object["steps"] as? [[String: Any]])?.count == 7)
        #expect((object["abortableKeyIds"] as? [String]) == ["k100", "k101", "k102"])
        let performed = try #require(object["performed"] as? [[String: Any]])
        #expect(performed.contains { $0["operation"] as? String == "ScheduleKeyDeletion" && $0["succeeded"] as? Int == 3 })
        #expect((object["notDeleted"] as? [String])?.isEmpty == false)
    }

    @Test func retryableFailuresAreRetriedAndOthersReported() async {
        let service = Self.service()
        service.mutate { $0.failSchedule["k100"] = .init(typeName: "ThrottlingException", message: "Rate exceeded", code: .throttling) }
        var options = TeardownScriptOptions()
        options.yes = true
        let out = Captured()
        #expect(await Self.script(service, options, out).run() == TeardownExit.waiting.rawValue)
        #expect(out.stdout.contains("failed k100: ThrottlingException: Rate exceeded"))
        #expect(out.stdout.contains("Retrying 1 failed call"))

        let stuck = Self.service()
        stuck.mutate { $0.failSchedule["k100"] = .init(typeName: "AccessDeniedException", message: "no", code: .accessDenied) }
        let denied = Captured()
        #expect(await Self.script(stuck, options, denied).run() == TeardownExit.accessDenied.rawValue)
    }
}
