import CKSDomain
import CKSEmbedded
@testable import CKSTeardown
import Foundation
import Testing
@testable import CKSConsole

/// Abort gives back exactly what the teardown changed: keys Enabled when it scheduled them may be enabled again, keys
/// Disabled before stay Disabled. The states before come from the journal (`JournalPriorStates`), also after a restart.
@Suite struct TeardownAbortTests {
    typealias RT = TeardownRunnerTests
    typealias ST = TeardownScriptTests

    /// Five keys, k100 and k101 Disabled beforehand.
    static func service() -> FakeTeardownService {
        var keys = RT.keys(5)
        keys[0].state = .disabled
        keys[1].state = .disabled
        return FakeTeardownService(store: RT.hsm(), keys: keys)
    }

    static func journal() throws -> (TeardownJournal, URL) {
        let dir = try EmbeddedCore.makeTemporaryDirectory(prefix: "cks-abort-test")
        return (TeardownJournal(url: dir.appendingPathComponent("teardowns.jsonl")), dir)
    }

    static func scheduleEverything(_ runner: TeardownRunner) async throws {
        var plan = try await runner.refresh()
        while plan.status == .ready {
            plan = try await runner.perform(plan.action, confirmedName: "payments-hsm").plan
            if case .waitForDeletion = plan.action { break }
        }
    }

    @Test func abortThenEnableAgainRestoresTheStatesBefore() async throws {
        let service = Self.service()
        let (journal, dir) = try Self.journal()
        defer { try? FileManager.default.removeItem(at: dir) }
        let runner = RT.runner(service, journal: journal)
        try await Self.scheduleEverything(runner)
        let preview = try #require(await runner.plan?.abort)
        #expect(preview.keyIds.count == 5)
        #expect(preview.enableAgain == ["k102", "k103", "k104"])
        #expect(preview.stayDisabled == ["k100", "k101"])
        // The journal's ScheduleKeyDeletion lines carry each key's state before.
        let line = try #require(journal.read().entries.first { $0.operation == .scheduleKeyDeletion })
        #expect(line.statesBefore?["k100"] == "Disabled" && line.statesBefore?["k104"] == "Enabled")

        let outcome = try await runner.abort()
        #expect(outcome.givenBack.enableAgain == ["k102", "k103", "k104"])
        #expect(service.mutate { w in w.keys.values.allSatisfy { $0.state == .disabled } }, "CancelKeyDeletion: Disabled, as KMS does")
        // Asked for every key, enable-again still enables only those Enabled before.
        let enabled = await runner.enableAgain(["k100", "k101", "k102", "k103", "k104"])
        #expect(enabled.map(\.target).sorted() == ["k102", "k103", "k104"])
        #expect(service.mutate { $0.keys["k100"]?.state } == .disabled)
        #expect(service.mutate { $0.keys["k101"]?.state } == .disabled)
        #expect(service.mutate { $0.keys["k104"]?.state } == .enabled)
        #expect(await runner.enableAgain().isEmpty, "nothing left to enable")
    }

    @Test func aResumedTeardownKnowsTheStatesBeforeFromTheJournal() async throws {
        let service = Self.service()
        let (journal, dir) = try Self.journal()
        defer { try? FileManager.default.removeItem(at: dir) }
        try await Self.scheduleEverything(RT.runner(service, journal: journal))
        // Another run (the console restarted): the journal says which keys, and their states before.
        let resumed = RT.runner(service, journal: TeardownJournal(url: journal.url))
        let plan = try await resumed.refresh()
        #expect(plan.abort?.enableAgain == ["k102", "k103", "k104"])
        #expect(plan.abort?.stayDisabled == ["k100", "k101"])
    }

    @Test func scriptedAbortWithEnableAgainReportsEachKeyBeforeAndAfter() async throws {
        let service = Self.service()
        let (journal, dir) = try Self.journal()
        defer { try? FileManager.default.removeItem(at: dir) }
        var yes = TeardownScriptOptions()
        yes.yes = true
        #expect(await ST.script(service, yes, ST.Captured(), journal: journal).run() == TeardownExit.waiting.rawValue)

        var abort = TeardownScriptOptions()
        abort.abort = true
        abort.enableAgain = true
        // Without --yes, on a non-terminal: refused, nothing changed.
        let refused = ST.Captured()
        #expect(await ST.script(service, abort, refused, journal: journal, tty: false).run() == TeardownExit.blocked.rawValue)
        #expect(refused.stderr.contains("nothing was changed"))
        #expect(service.mutate { w in w.keys.values.allSatisfy { $0.isPendingDeletion } })

        abort.yes = true
        let out = ST.Captured()
        #expect(await ST.script(service, abort, out, journal: journal, stdoutTTY: false).run() == TeardownExit.done.rawValue,
                "\(out.stdout)\n\(out.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any])
        let keys = try #require(report["keys"] as? [[String: Any]])
        #expect(keys.count == 5)
        for key in keys {
            let id = key["keyId"] as? String ?? ""
            let expected = ["k100", "k101"].contains(id) ? "Disabled" : "Enabled"
            #expect(key["stateBefore"] as? String == expected, "\(key)")
            #expect(key["stateAfter"] as? String == expected, "\(key)")
        }
        #expect(report["stateBeforeSource"] as? String == "the teardown journal")

        // Again: already aborted and given back, nothing to do, exit 0.
        let again = ST.Captured()
        #expect(await ST.script(service, abort, again, journal: TeardownJournal(url: journal.url)).run() == TeardownExit.done.rawValue,
                "\(again.stdout)\(again.stderr)")
        #expect(again.stdout.contains("was aborted"))
    }

    @Test func scriptedAbortWithoutEnableAgainCanBeFinishedLater() async throws {
        let service = Self.service()
        let (journal, dir) = try Self.journal()
        defer { try? FileManager.default.removeItem(at: dir) }
        var yes = TeardownScriptOptions()
        yes.yes = true
        _ = await ST.script(service, yes, ST.Captured(), journal: journal).run()
        var abort = TeardownScriptOptions()
        abort.abort = true
        abort.yes = true
        let first = ST.Captured()
        #expect(await ST.script(service, abort, first, journal: journal).run() == TeardownExit.done.rawValue)
        #expect(first.stdout.contains("run again with --enable-again"))
        #expect(service.mutate { w in w.keys.values.allSatisfy { $0.state == .disabled } })
        abort.enableAgain = true
        let second = ST.Captured()
        #expect(await ST.script(service, abort, second, journal: TeardownJournal(url: journal.url)).run() == TeardownExit.done.rawValue,
                "\(second.stdout)\(second.stderr)")
        #expect(service.mutate { $0.keys["k102"]?.state } == .enabled)
        #expect(service.mutate { $0.keys["k100"]?.state } == .disabled)
    }

    @Test func abortWithNoTeardownInTheJournalIsNotFound() async throws {
        var abort = TeardownScriptOptions()
        abort.abort = true
        abort.yes = true
        let out = ST.Captured()
        #expect(await ST.script(Self.service(), abort, out).run() == TeardownExit.notFound.rawValue)
        #expect(out.stderr.contains("nothing to abort"))
    }

    @Test func anEarlierRunsAcknowledgementsAreNotCarriedOver() async throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let service = FakeTeardownService(store: RT.hsm(), keys: RT.keys(2),
                                          uses: ["k100": .used(at: now.addingTimeInterval(-60), operation: "Encrypt")])
        let (journal, dir) = try Self.journal()
        defer { try? FileManager.default.removeItem(at: dir) }
        var first = TeardownScriptOptions()
        first.yes = true
        first.acknowledgeFlagged = true
        #expect(await ST.script(service, first, ST.Captured(), journal: journal).run() == TeardownExit.waiting.rawValue)
        #expect(journal.read().entries.contains { $0.operation == .acknowledge }, "journalled, as a record")
        // Someone cancels k100's deletion; the next run must ask again rather than reuse the journal's answer.
        _ = await service.cancelKeyDeletion(["k100"]) { _ in }
        var second = TeardownScriptOptions()
        second.yes = true
        let out = ST.Captured()
        #expect(await ST.script(service, second, out, journal: TeardownJournal(url: journal.url)).run() == TeardownExit.blocked.rawValue,
                "\(out.stdout)")
        #expect(out.stdout.contains("NOT ACKNOWLEDGED k100"))
        #expect(out.stdout.contains("not carried over from the journal"))
    }
}
