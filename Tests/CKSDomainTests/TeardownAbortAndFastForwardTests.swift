import Foundation
import Testing
@testable import CKSDomain

/// What abort gives back and what a fast-forward deletes, as pure values.
@Suite struct TeardownAbortAndFastForwardTests {
    @Test func abortOffersToEnableOnlyTheKeysThatWereEnabledBefore() {
        var o = TF.observe(TF.store(), [TF.pending("k1"), TF.pending("k2"), TF.pending("k3"), TF.pending("k4"),
                                        TF.pending("other")],
                           scheduled: ["k1", "k2", "k3", "k4"])
        o.stateBeforeTeardown = ["k1": .enabled, "k2": .disabled, "k3": .enabled, "k4": .unavailable]
        let abort = try? #require(TF.plan(o).abort)
        #expect(abort?.keyIds == ["k1", "k2", "k3", "k4"], "the key pending before the teardown is not its own")
        #expect(abort?.enableAgain == ["k1", "k3"])
        #expect(abort?.stayDisabled == ["k2"])
        #expect(abort?.stateUnknown == ["k4"], "Unavailable before: whether it was enabled cannot be told")
        let text = abort?.consequence ?? ""
        #expect(text.contains("4 keys come back Disabled"))
        #expect(text.contains("2 keys were Enabled before the teardown"))
        #expect(text.contains("1 key was Disabled before the teardown and stays Disabled (k2)"))
        #expect(text.contains("not known"))
    }

    @Test func withNoRecordedStateNothingIsOfferedForEnabling() {
        let o = TF.observe(TF.store(), [TF.pending("k1")], scheduled: ["k1"])
        let abort = TF.plan(o).abort
        #expect(abort?.enableAgain == [])
        #expect(abort?.stateUnknown == ["k1"])
        #expect(TF.plan(TF.observe(TF.store(), [TF.pending("k1")])).abort == nil, "nothing this teardown scheduled")
    }

    @Test func restrictingKeepsTheStatesBefore() {
        let preview = AbortPreview(keyIds: ["b", "a", "c"], stateBefore: ["a": .enabled, "b": .disabled, "c": .enabled])
        let cancelled = preview.restricted(to: ["a", "b"])
        #expect(cancelled.keyIds == ["a", "b"])
        #expect(cancelled.enableAgain == ["a"])
        #expect(cancelled.stayDisabled == ["b"])
    }

    @Test func fastForwardListsEveryStoreItDeletesFromAndTheMaterialItOrphans() {
        let mine = TF.store()
        let ledger = TF.store(.awsCloudHsm, .disconnected, id: "cks-11111111111111111", name: "ledger-hsm")
        let partner = TF.store(.externalKeyStore, .connected, id: "cks-22222222222222222", name: "partner-xks")
        let quiet = TF.store(.awsCloudHsm, .connected, id: "cks-33333333333333333", name: "quiet-hsm")
        let target = TF.now.addingTimeInterval(30 * TF.day + 1)
        let pending: [FastForwardPreview.PendingKey] = [
            .init(id: "m1", storeId: mine.id, deletionDate: TF.now.addingTimeInterval(30 * TF.day)),
            .init(id: "l1", storeId: ledger.id, deletionDate: TF.now.addingTimeInterval(3 * TF.day)),
            .init(id: "l2", storeId: ledger.id, deletionDate: TF.now.addingTimeInterval(9 * TF.day)),
            .init(id: "p1", storeId: partner.id, deletionDate: TF.now.addingTimeInterval(20 * TF.day), aliases: ["alias/p1"]),
            .init(id: "q1", storeId: quiet.id, deletionDate: TF.now.addingTimeInterval(31 * TF.day)),
            .init(id: "x1", storeId: nil, deletionDate: TF.now.addingTimeInterval(7 * TF.day)),
        ]
        let preview = FastForwardPreview(now: TF.now, target: target, focus: mine.id,
                                         stores: [partner, quiet, ledger, mine], pending: pending)
        #expect(preview.stores.map(\.store.name) == ["payments-hsm", "ledger-hsm", "partner-xks"],
                "the store torn down first, then by name; a store losing nothing is not listed")
        #expect(preview.stores.map(\.keyIds) == [["m1"], ["l1", "l2"], ["p1"]])
        #expect(preview.stores.map(\.orphansKeyMaterial) == [false, true, false])
        #expect(preview.keysOutsideStores == ["x1"])
        #expect(preview.totalKeys == 5)
        #expect(preview.seconds == 30 * 86_400 + 1)
        let lines = preview.lines
        #expect(lines[1].hasPrefix("ledger-hsm (CloudHSM, DISCONNECTED): 2 keys (l1, l2); the store is not connected, so their key material is orphaned in cluster cluster-1a23b4cdefg"))
        #expect(lines[2] == "partner-xks (external, CONNECTED): 1 key (alias/p1)")
        #expect(lines.last == "keys outside custom key stores: 1 key")
    }

    @Test func oneDurationFormat() {
        #expect(TeardownText.duration(14 * TF.day + 4 * 3600) == "14d 4h")
        #expect(TeardownText.duration(4 * 3600 + 5 * 60) == "4h 5m")
        #expect(TeardownText.duration(12 * 60 + 30) == "12m 30s")
        #expect(TeardownText.duration(44.2) == "45s", "rounded up: a countdown never says less than is left")
    }

    @Test func thePreviewOfAnotherWindowSaysWhenTheWaitEnds() throws {
        let o = TF.observe(TF.store(), [TF.key("k1"), TF.pending("p1", in: 25), TF.pending("p2", in: 3)], window: PendingWindow(days: 7)!)
        let preview = try #require(TF.plan(o).schedulePreview)
        #expect(preview.alreadyPending.count == 2)
        #expect(preview.pendingLater == [TF.now.addingTimeInterval(25 * TF.day)], "one key pending until after the 7-day date")
        #expect(preview.lastDeletionDate == TF.now.addingTimeInterval(25 * TF.day))
        let thirty = preview.with(window: .default, now: TF.now)
        #expect(thirty.pendingLater.isEmpty)
        #expect(thirty.lastDeletionDate == TF.now.addingTimeInterval(30 * TF.day))
    }
}
