import Foundation
import Testing
@testable import CKSDomain

/// The path step by step: which step is current and what its one action is.
@Suite struct TeardownPlannerStepTests {
    @Test func beforeInventoryTheOnlyActionIsTakingIt() {
        let plan = TF.plan(TF.observe(TF.store(), nil))
        #expect(plan.currentStep == .inventory)
        #expect(plan.action == .takeInventory)
        #expect(plan.status == .ready)
        #expect(TF.statuses(plan) == ["next", "upcoming", "upcoming", "upcoming", "upcoming", "upcoming", "upcoming"])
        #expect(plan.schedulePreview == nil)
        #expect(plan.disconnectOnly?.isAvailable == true)
    }

    @Test func uncheckedKeysAreCheckedFirstInIdOrder() {
        let plan = TF.plan(TF.observe(TF.store(), [TF.key("k2"), TF.key("k1"), TF.pending("k0")], lastUse: [:]))
        #expect(plan.currentStep == .checkUse)
        // Keys already pending are not going to be scheduled, so their use is not checked.
        #expect(plan.action == .checkUse(keyIds: ["k1", "k2"]))
        #expect(plan.status == .ready)
        #expect(plan.step(.inventory).status == .done)
        #expect(plan.step(.inventory).summary == "3 keys: 1 pending deletion, 2 to schedule")
    }

    @Test func partlyCheckedKeysOnlyNeedTheRest() {
        let plan = TF.plan(TF.observe(TF.store(), [TF.key("k1"), TF.key("k2")], lastUse: ["k1": .neverUsed]))
        #expect(plan.action == .checkUse(keyIds: ["k2"]))
    }

    @Test func checkedUnflaggedKeysGoStraightToScheduling() {
        let plan = TF.plan(TF.observe(TF.store(), [TF.key("k1"), TF.key("k2", .disabled)],
                                      lastUse: ["k1": .neverUsed, "k2": .used(at: TF.now - 31 * TF.day, operation: "Decrypt")]))
        #expect(plan.currentStep == .scheduleDeletion)
        let date = TF.now + 30 * TF.day
        #expect(plan.action == .scheduleDeletion(keyIds: ["k1", "k2"], window: .default, deletionDate: date))
        #expect(plan.schedulePreview?.deletionDate == date)
        #expect(plan.schedulePreview?.lastDeletionDate == date)
        #expect(plan.step(.checkUse).summary == "2 keys checked, 1 never used, 1 not used in the last 30 days")
        #expect(plan.step(.scheduleDeletion).summary.contains("deleted after 2027-02-14 08:00 UTC"))
    }

    @Test func oneWindowForAllWithResultingDates() {
        let window = PendingWindow(days: 7)!
        let plan = TF.plan(TF.observe(TF.store(), [TF.key("k1"), TF.pending("k0", in: 20)], window: window))
        #expect(plan.action == .scheduleDeletion(keyIds: ["k1"], window: window, deletionDate: TF.now + 7 * TF.day))
        // A key already pending ends later than the new window: the last deletion date is its date.
        #expect(plan.schedulePreview?.lastDeletionDate == TF.now + 20 * TF.day)
        #expect(plan.step(.waitForDeletion).summary.contains("2027-02-04 08:00 UTC"))
    }

    @Test func everyKeyPendingMeansWaitingWithACountdown() {
        let plan = TF.plan(TF.observe(TF.store(), [TF.pending("k1", in: 3), TF.pending("k2", in: 10)],
                                      scheduled: ["k1", "k2"]))
        #expect(plan.currentStep == .waitForDeletion)
        #expect(plan.status == .waiting)
        #expect(plan.action == .waitForDeletion(keysLeft: 2, lastDeletionDate: TF.now + 10 * TF.day))
        #expect(plan.waitProgress == WaitProgress(keysLeft: 2, lastDeletionDate: TF.now + 10 * TF.day,
                                                  remaining: 10 * TF.day, overdueKeys: 0,
                                                  deletionDates: [TF.now + 3 * TF.day, TF.now + 10 * TF.day]))
        #expect(plan.step(.waitForDeletion).summary == "2 keys left, last after 2027-01-25 08:00 UTC (in 10d 0h)")
        #expect(TF.statuses(plan) == ["done", "done", "done", "waiting", "upcoming", "upcoming", "upcoming"])
        #expect(plan.abortableKeyIds == ["k1", "k2"])
    }

    @Test func keysPastTheirDateAreOverdueButStillAwaited() {
        let plan = TF.plan(TF.observe(TF.store(), [TF.pending("k1", in: -0.5), TF.pending("k2", in: -1)]))
        #expect(plan.status == .waiting)
        #expect(plan.waitProgress?.overdueKeys == 2)
        #expect(plan.waitProgress?.remaining == 0)
        #expect(plan.notes.contains { $0.contains("past the deletion date") })
    }

    @Test func noKeysLeftMeansDisconnectFromEveryConnectedishState() {
        for state in [ConnectionState.connected, .connecting, .failed] {
            for type in CustomKeyStoreType.allCases {
                let plan = TF.plan(TF.observe(TF.store(type, state), []))
                #expect(plan.currentStep == .disconnect, "\(type) \(state)")
                #expect(plan.action == .disconnect)
                #expect(plan.status == .ready)
                #expect(plan.step(.waitForDeletion).summary == "every key is deleted")
            }
        }
    }

    @Test func disconnectingMeansWaitingForDisconnected() {
        let plan = TF.plan(TF.observe(TF.store(.awsCloudHsm, .disconnecting), []))
        #expect(plan.currentStep == .waitForDisconnected)
        #expect(plan.action == .waitForDisconnected)
        #expect(plan.status == .waiting)
        #expect(plan.step(.disconnect).status == .done)
    }

    @Test func disconnectedAndEmptyMeansDeleteWithTypedName() {
        let plan = TF.plan(TF.observe(TF.store(.externalKeyStore, .disconnected, name: "xks-prod"), []))
        #expect(plan.currentStep == .deleteStore)
        #expect(plan.action == .deleteStore(confirmName: "xks-prod"))
        #expect(plan.action.changesState)
        #expect(TF.statuses(plan) == ["done", "done", "done", "done", "done", "done", "next"])
        #expect(plan.step(.inventory).summary == "the store has no KMS keys")
    }

    @Test func aGoneStoreIsDone() {
        let last = TF.store(.awsCloudHsm, .disconnected)
        let o = TeardownObservation(store: .gone(idOrName: last.id, lastKnown: last), keys: nil,
                                    orphanedKeyMaterial: [TeardownObservation.OrphanedKeyMaterial(clusterId: "cluster-1a23b4cdefg", keyId: "k9")],
                                    now: TF.now)
        let plan = TF.plan(o)
        #expect(plan.status == .done)
        #expect(plan.action == .none)
        #expect(plan.currentStep == nil)
        #expect(plan.steps.allSatisfy { $0.status == .done })
        #expect(plan.storeName == "payments-hsm")
        #expect(plan.notDeleted.contains { $0.contains("cluster-1a23b4cdefg") && $0.contains("HSMs") })
        #expect(plan.notDeleted.contains { $0.contains("backups") })
        #expect(plan.notDeleted.contains { $0.contains("key k9") && $0.contains("key_mgmt_util") })
        #expect(plan.warnings.map(\.kind) == [.orphanedKeyMaterial])
    }

    @Test func aGoneStoreWithoutHistoryStillNamesWhatIsLeft() {
        let plan = TF.plan(TeardownObservation(store: .gone(idOrName: "old", lastKnown: nil), keys: nil, now: TF.now))
        #expect(plan.status == .done)
        #expect(plan.storeName == "old")
        #expect(plan.notDeleted.contains { $0.contains("CloudHSM cluster") })
        #expect(plan.notDeleted.contains { $0.contains("external key store proxy") })
    }

    @Test func whatIsNotDeletedIsStatedFromTheStart() {
        let hsm = TF.plan(TF.observe(TF.store(.awsCloudHsm), nil))
        #expect(hsm.notDeleted.count == 2)
        #expect(hsm.notDeleted[0].contains("cluster-1a23b4cdefg"))
        let xks = TF.plan(TF.observe(TF.store(.externalKeyStore), [TF.key("k1", xks: true)]))
        #expect(xks.notDeleted == [
            "the external key store proxy at https://xks.example.com",
            "the external key manager and its external keys (ext-k1): KMS never touches them",
        ])
    }

    @Test func stepsBeforeTheCurrentAreDoneAndAfterAreUpcoming() {
        let plan = TF.plan(TF.observe(TF.store(), [TF.key("k1")], lastUse: [:]))
        #expect(TF.statuses(plan) == ["done", "next", "upcoming", "upcoming", "upcoming", "upcoming", "upcoming"])
        #expect(plan.steps.map(\.kind) == TeardownStep.Kind.allCases)
        #expect(plan.steps.map(\.kind.number) == [1, 2, 3, 4, 5, 6, 7])
    }

    @Test func pendingWindowIsSevenToThirtyDays() {
        #expect(PendingWindow(days: 6) == nil)
        #expect(PendingWindow(days: 31) == nil)
        #expect(PendingWindow(days: 7)?.days == 7)
        #expect(PendingWindow(days: 30)?.days == 30)
        #expect(PendingWindow.default.days == 30)
        let decoded = try? JSONDecoder().decode([PendingWindow].self, from: Data("[12]".utf8))
        #expect(decoded?.first?.days == 12)
        #expect((try? JSONDecoder().decode([PendingWindow].self, from: Data("[365]".utf8))) == nil)
    }

    @Test func textHelpersAreLocaleFree() {
        #expect(TeardownText.date(TF.now) == "2027-01-15 08:00 UTC")
        #expect(TeardownText.duration(29 * TF.day + 23 * 3600 + 5) == "29d 23h")
        #expect(TeardownText.duration(4 * 3600 + 5 * 60) == "4h 5m")
        #expect(TeardownText.duration(12 * 60 + 30) == "12m 30s")
        #expect(TeardownText.duration(45) == "45s")
        #expect(TeardownText.duration(-5) == "0s")
        #expect(TeardownText.duration(.infinity) == "0s")
        #expect(TeardownText.list(["a", "b", "c"], limit: 2) == "a, b and 1 more")
        #expect(TeardownText.count(1, "key") == "1 key")
    }
}
