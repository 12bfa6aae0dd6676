import CKSDomain
@testable import CKSTeardown
import Foundation
import Testing
@testable import CKSConsole

@Suite struct TeardownJournalTests {
    static let store = TeardownJournalEntry.Store(id: "cks-0123456789abcdef0", name: "payments-hsm", type: .awsCloudHsm,
                                                  cloudHsmClusterId: "cluster-1a23b4cdefg")

    static func temporaryDirectory() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cks-journal-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func entry(_ op: TeardownJournalEntry.Operation, _ targets: [String], teardown: String = "t1",
                      result: TeardownJournalEntry.Result = .ok, failures: [String: String]? = nil,
                      at seconds: TimeInterval = 0, step: TeardownStep.Kind? = nil) -> TeardownJournalEntry {
        TeardownJournalEntry(time: Date(timeIntervalSince1970: 1_800_000_000 + seconds), teardown: teardown,
                             endpoint: "http://127.0.0.1:7911", account: "111122223333", principal: "admin",
                             store: store, step: step, operation: op, targets: targets, result: result,
                             requestIds: targets.map { "req-\($0)" }, failures: failures, windowDays: op == .start ? 7 : nil)
    }

    @Test func theStateDirectoryFollowsXDG() {
        #expect(TeardownJournal.defaultURL(environment: ["XDG_STATE_HOME": "/s", "HOME": "/h"])?.path == "/s/cks/teardowns.jsonl")
        #expect(TeardownJournal.defaultURL(environment: ["HOME": "/h"])?.path == "/h/.local/state/cks/teardowns.jsonl")
        // A relative XDG_STATE_HOME is invalid per the XDG spec and ignored.
        #expect(TeardownJournal.defaultURL(environment: ["XDG_STATE_HOME": "rel", "HOME": "/h"])?.path == "/h/.local/state/cks/teardowns.jsonl")
        #expect(TeardownJournal.defaultURL(environment: [:]) == nil)
    }

    @Test func linesSurviveARestartInOrder() throws {
        let url = Self.temporaryDirectory().appendingPathComponent("state/cks/teardowns.jsonl")
        let journal = TeardownJournal(url: url)
        #expect(journal.append(Self.entry(.start, [Self.store.id], step: .inventory)))
        #expect(journal.append(Self.entry(.scheduleKeyDeletion, ["k1", "k2"], at: 5, step: .scheduleDeletion)))
        #expect(journal.problem == nil)

        let reopened = TeardownJournal(url: url)
        let contents = reopened.read()
        #expect(contents.skipped.isEmpty)
        #expect(contents.entries == [Self.entry(.start, [Self.store.id], step: .inventory),
                                     Self.entry(.scheduleKeyDeletion, ["k1", "k2"], at: 5, step: .scheduleDeletion)])
        let text = try String(contentsOf: url, encoding: .utf8)
        #expect(text.hasSuffix("\n"))
        #expect(text.split(separator: "\n").count == 2)
        #expect(text.contains("\"operation\":\"ScheduleKeyDeletion\""))
        #expect(text.contains("\"requestIds\":[\"req-k1\",\"req-k2\"]"))
        let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }

    @Test func corruptAndTruncatedLinesAreSkippedAndReported() throws {
        let url = Self.temporaryDirectory().appendingPathComponent("teardowns.jsonl")
        let journal = TeardownJournal(url: url)
        journal.append(Self.entry(.start, [Self.store.id]))
        // A hand-edited line, then a line cut short by a crash (no final newline).
        let handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("this is not json\n{\"time\":\"2027-01-15T08:00:00Z\",\"teardo".utf8))
        try handle.close()

        journal.append(Self.entry(.scheduleKeyDeletion, ["k1"], at: 9))
        let contents = TeardownJournal(url: url).read()
        #expect(contents.entries.map(\.operation) == [.start, .scheduleKeyDeletion])
        #expect(contents.skipped.map(\.lineNumber) == [2, 3])
        let report = TeardownJournal.report(contents.skipped, url: url) ?? ""
        #expect(report.contains("skipped 2 unreadable lines"))
        #expect(report.contains("line 2 (not valid JSON, perhaps truncated)"))
        #expect(TeardownJournal.report([], url: url) == nil)
    }

    @Test func anUnwritableStateDirectoryIsExplainedAndTheSessionKeepsItsRecord() throws {
        // A regular file where the directory should be: fails even for root, unlike chmod.
        let base = Self.temporaryDirectory()
        let blocker = base.appendingPathComponent("state")
        try Data("x".utf8).write(to: blocker)
        let journal = TeardownJournal(url: blocker.appendingPathComponent("cks/teardowns.jsonl"))
        #expect(!journal.append(Self.entry(.start, [Self.store.id])))
        let problem = journal.problem ?? ""
        #expect(problem.contains("cannot write the teardown journal"))
        #expect(problem.contains("the teardown goes on"))
        #expect(journal.read().entries.map(\.operation) == [.start])
        #expect(journal.inProgress().map(\.store.name) == ["payments-hsm"])
    }

    @Test func withoutAStateDirectoryTheJournalIsInMemory() {
        let journal = TeardownJournal(url: nil)
        #expect(journal.problem?.contains("in memory only") == true)
        #expect(!journal.append(Self.entry(.start, [Self.store.id])))
        #expect(journal.read().entries.count == 1)
    }

    @Test func foldingTellsScheduledAcknowledgedAbortedAndCompleted() {
        let entries = [
            Self.entry(.start, [Self.store.id]),
            Self.entry(.acknowledge, ["keyInUse:k1", "bogus", "rescheduleCancelledKey:k2"], at: 1),
            Self.entry(.scheduleKeyDeletion, ["k1", "k2", "k3"], result: .partial, failures: ["k3": "KMSInternalException: x"], at: 2),
            Self.entry(.scheduleKeyDeletion, ["k4"], result: .failed, at: 3),
            Self.entry(.start, [Self.store.id], teardown: "t2", at: 4),
            Self.entry(.complete, [Self.store.id], teardown: "t2", at: 5),
        ]
        let records = TeardownRecord.fold(entries)
        #expect(records.map(\.id) == ["t1", "t2"])
        let t1 = records[0]
        #expect(t1.state == .inProgress)
        #expect(t1.scheduledKeyIds == ["k1", "k2"])
        #expect(t1.acknowledgements == [.init(.keyInUse, "k1"), .init(.rescheduleCancelledKey, "k2")])
        #expect(t1.window?.days == 7)
        #expect(t1.updatedAt == Date(timeIntervalSince1970: 1_800_000_003))
        #expect(records[1].state == .completed)

        let aborted = TeardownRecord.fold(entries + [
            Self.entry(.abort, ["k1", "k2"], at: 6),
            Self.entry(.cancelKeyDeletion, ["k1", "k2"], result: .partial, failures: ["k2": "NotFoundException: gone"], at: 7),
            Self.entry(.enableKey, ["k1"], at: 8),
        ])[0]
        #expect(aborted.state == .aborted)
        #expect(aborted.scheduledKeyIds == ["k2"])
        #expect(aborted.cancelledKeyIds == ["k1"])
        #expect(aborted.enabledKeyIds == ["k1"])
    }

    @Test func inProgressListsOnlyOpenTeardownsMostRecentFirst() {
        let journal = TeardownJournal(url: nil)
        let other = TeardownJournalEntry.Store(id: "cks-1111111111111111a", name: "xks", type: .externalKeyStore)
        journal.append(Self.entry(.start, [Self.store.id], teardown: "a"))
        var second = Self.entry(.start, [other.id], teardown: "b", at: 10)
        second.store = other
        journal.append(second)
        journal.append(Self.entry(.start, [Self.store.id], teardown: "c", at: 20))
        journal.append(Self.entry(.abort, [], teardown: "c", at: 21))
        #expect(journal.inProgress().map(\.id) == ["b", "a"])
        #expect(journal.latest(endpoint: "http://127.0.0.1:7911", account: "111122223333", store: "payments-hsm")?.id == "c")
        #expect(journal.latest(endpoint: "http://127.0.0.1:7911", account: nil, store: other.id)?.id == "b")
        #expect(journal.latest(endpoint: "http://elsewhere", account: nil, store: other.id) == nil)
    }

    @Test func acknowledgementsRoundTripThroughJournalTargets() {
        for kind in TeardownAcknowledgement.Kind.allCases {
            let ack = TeardownAcknowledgement(kind, "arn:aws:kms:us-east-1:111122223333:key/x")
            #expect(TeardownAcknowledgement(journalTarget: ack.journalTarget) == ack)
        }
        #expect(TeardownAcknowledgement(journalTarget: "nokind") == nil)
        #expect(TeardownAcknowledgement(journalTarget: "unknown:x") == nil)
    }
}
