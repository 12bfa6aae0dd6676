import Foundation
import Testing
@testable import CKSDomain

/// Flags, acknowledgements, warnings and the things that happen behind the teardown's back.
@Suite struct TeardownPlannerSafetyTests {
    let keys = [TF.key("k1"), TF.key("k2"), TF.key("k3"), TF.key("k4")]
    var uses: [String: KeyLastUse] {
        ["k1": .used(at: TF.now - 2 * TF.day, operation: "Encrypt"),          // recent: flagged
         "k2": .unknown(reason: "created before tracking started"),             // unknown: flagged
         "k3": .neverUsed,
         "k4": .used(at: TF.now - 30 * TF.day - 1, operation: "Decrypt")]      // just over 30 days: not flagged
    }

    @Test func recentAndUnknownUseBlockUntilAcknowledged() {
        let plan = TF.plan(TF.observe(TF.store(), keys, lastUse: uses))
        #expect(plan.currentStep == .checkUse)
        #expect(plan.flaggedKeys.map(\.keyId) == ["k1", "k2"])
        #expect(plan.flaggedKeys[0].reason == .usedRecently(at: TF.now - 2 * TF.day, operation: "Encrypt"))
        #expect(plan.flaggedKeys[1].reason == .useUnknown(reason: "created before tracking started"))
        guard case .blocked(let reason) = plan.status else { Issue.record("not blocked: \(plan.status)"); return }
        #expect(reason == "2 keys to acknowledge before scheduling deletion: 1 used within the last 30 days, 1 with unknown use")
        #expect(plan.step(.checkUse).status == .blocked(reason: reason))
        guard case .acknowledge(let flags) = plan.action else { Issue.record("\(plan.action)"); return }
        #expect(flags.map(\.acknowledgement) == [.init(.keyInUse, "k1"), .init(.keyUseUnknown, "k2")])
        #expect(!plan.action.changesState)
    }

    @Test func acknowledgingOneOfTwoStillBlocksOnTheOther() {
        let plan = TF.plan(TF.observe(TF.store(), keys, lastUse: uses, acks: [.init(.keyInUse, "k1")]))
        guard case .acknowledge(let flags) = plan.action else { Issue.record("\(plan.action)"); return }
        #expect(flags.map(\.keyId) == ["k2"])
        #expect(plan.flaggedKeys.map(\.isAcknowledged) == [true, false])
    }

    @Test func acknowledgingTheMarkedSetUnblocks() {
        let acks: Set<TeardownAcknowledgement> = [.init(.keyInUse, "k1"), .init(.keyUseUnknown, "k2")]
        let plan = TF.plan(TF.observe(TF.store(), keys, lastUse: uses, acks: acks))
        #expect(plan.currentStep == .scheduleDeletion)
        #expect(plan.status == .ready)
        #expect(plan.step(.checkUse).summary == "4 keys checked, 2 flagged and acknowledged, 1 never used, 1 not used in the last 30 days")
    }

    @Test func anAcknowledgementForAnotherReasonDoesNotCount() {
        // "used" does not cover "unknown": each reason has its own acknowledgement.
        let plan = TF.plan(TF.observe(TF.store(), keys, lastUse: uses, acks: [.init(.keyInUse, "k1"), .init(.keyInUse, "k2")]))
        guard case .acknowledge(let flags) = plan.action else { Issue.record("\(plan.action)"); return }
        #expect(flags.map(\.acknowledgement) == [.init(.keyUseUnknown, "k2")])
    }

    @Test func anAcknowledgementForAnotherKeyOrKindDoesNotCount() {
        let acks: Set<TeardownAcknowledgement> = [.init(.keyInUse, "k9"), .init(.rescheduleCancelledKey, "k1"),
                                                  .init(.keyUseUnknown, "k2")]
        let plan = TF.plan(TF.observe(TF.store(), keys, lastUse: uses, acks: acks))
        guard case .acknowledge(let flags) = plan.action else { Issue.record("\(plan.action)"); return }
        #expect(flags.map(\.keyId) == ["k1"])
    }

    @Test func useExactlyThirtyDaysAgoIsNotRecentButAFutureDateIs() {
        let atEdge = TF.plan(TF.observe(TF.store(), [TF.key("k1")], lastUse: ["k1": .used(at: TF.now - 30 * TF.day, operation: nil)]))
        #expect(atEdge.flaggedKeys.isEmpty)
        let future = TF.plan(TF.observe(TF.store(), [TF.key("k1")], lastUse: ["k1": .used(at: TF.now + 60, operation: nil)]))
        #expect(future.flaggedKeys.map(\.keyId) == ["k1"])
    }

    @Test func keysAddedMidTeardownNeedACheckAndScheduling() {
        // The teardown scheduled k1 and k2; k3 appeared in the store afterwards.
        let o = TF.observe(TF.store(), [TF.pending("k1"), TF.pending("k2"), TF.key("k3")], lastUse: [:], scheduled: ["k1", "k2"])
        let plan = TF.plan(o)
        #expect(plan.currentStep == .checkUse)
        #expect(plan.action == .checkUse(keyIds: ["k3"]))
        #expect(plan.notes.contains { $0.contains("1 key appeared in the store after this teardown scheduled deletion (k3)") })
        #expect(plan.abortableKeyIds == ["k1", "k2"])
        #expect(plan.disconnectOnly == nil, "the teardown has changed the store: no longer 'before the first step'")

        var checked = o
        checked.lastUse["k3"] = .neverUsed
        let next = TF.plan(checked)
        #expect(next.action == .scheduleDeletion(keyIds: ["k3"], window: .default, deletionDate: TF.now + 30 * TF.day))
    }

    @Test func aKeyCancelledBySomeoneElseNeedsItsOwnAcknowledgement() {
        // The teardown scheduled k1 and k2; someone cancelled k2, which is Disabled again (as AWS does).
        let o = TF.observe(TF.store(), [TF.pending("k1"), TF.key("k2", .disabled)], scheduled: ["k1", "k2"],
                           acks: [.init(.keyInUse, "k2")])
        let plan = TF.plan(o)
        #expect(plan.currentStep == .checkUse)
        #expect(plan.flaggedKeys.map(\.reason) == [.deletionCancelledElsewhere])
        #expect(plan.flaggedKeys.first?.acknowledgement == .init(.rescheduleCancelledKey, "k2"))
        #expect(plan.notes.contains { $0.contains("cancelled outside it (k2)") })
        #expect(plan.abortableKeyIds == ["k1"])
        guard case .blocked(let reason) = plan.status else { Issue.record("not blocked"); return }
        #expect(reason.contains("1 whose deletion someone else cancelled"))

        var acknowledged = o
        acknowledged.acknowledgements.insert(.init(.rescheduleCancelledKey, "k2"))
        #expect(TF.plan(acknowledged).action == .scheduleDeletion(keyIds: ["k2"], window: .default,
                                                                  deletionDate: TF.now + 30 * TF.day))
    }

    @Test func keysAlreadyPendingFromElsewhereKeepTheirDatesAndAreNotAborted() {
        let plan = TF.plan(TF.observe(TF.store(), [TF.pending("k1", in: 5), TF.pending("k2", in: 9)], scheduled: ["k2"]))
        #expect(plan.status == .waiting)
        #expect(plan.abortableKeyIds == ["k2"])
        #expect(plan.notes.contains { $0.contains("1 key was already pending deletion, not scheduled by this teardown (k1)") })
    }

    @Test func cloudHsmNotConnectedWithPendingKeysOffersReconnect() {
        let plan = TF.plan(TF.observe(TF.store(.awsCloudHsm, .disconnected), [TF.pending("k1", in: 5)], scheduled: ["k1"]))
        #expect(plan.currentStep == .waitForDeletion)
        #expect(plan.action == .reconnect(calls: [.connectCustomKeyStore]))
        #expect(plan.status == .ready)
        let warning = plan.warnings.first { $0.kind == .keyMaterialWillBeOrphaned }
        #expect(warning?.message.contains("orphaned") == true)
        #expect(warning?.message.contains("cluster-1a23b4cdefg") == true)
        #expect(warning?.offer == .reconnect(calls: [.connectCustomKeyStore]))
        #expect(warning?.acknowledgement == .init(.orphanKeyMaterial, "cks-0123456789abcdef0"))
        #expect(plan.step(.waitForDeletion).summary.contains("reconnect it first"))
    }

    @Test func reconnectFromFailedGoesThroughDisconnect() {
        let plan = TF.plan(TF.observe(TF.store(.awsCloudHsm, .failed, code: .userLoggedIn), [TF.pending("k1")]))
        #expect(plan.action == .reconnect(calls: [.disconnectCustomKeyStore, .connectCustomKeyStore]))
        let failed = plan.warnings.first { $0.kind == .storeFailed }
        #expect(failed?.message.contains("FAILED (USER_LOGGED_IN): kmsuser is logged into the cluster") == true)
    }

    @Test func acknowledgingOrphanedMaterialLetsTheWaitRun() {
        let store = TF.store(.awsCloudHsm, .disconnected)
        let plan = TF.plan(TF.observe(store, [TF.pending("k1", in: 5)], acks: [.init(.orphanKeyMaterial, store.id)]))
        #expect(plan.status == .waiting)
        #expect(plan.action == .waitForDeletion(keysLeft: 1, lastDeletionDate: TF.now + 5 * TF.day))
        #expect(plan.warnings.first { $0.kind == .keyMaterialWillBeOrphaned }?.isAcknowledged == true)
    }

    @Test func transientStatesWithPendingCloudHsmKeysAreWaitedOut() {
        for state in [ConnectionState.connecting, .disconnecting] {
            let plan = TF.plan(TF.observe(TF.store(.awsCloudHsm, state), [TF.pending("k1")]))
            #expect(plan.status == .waiting)
            #expect(plan.action == .waitForConnectionState(state))
            #expect(plan.warnings.first { $0.kind == .keyMaterialWillBeOrphaned }?.offer == nil)
        }
    }

    @Test func schedulingOnADisconnectedCloudHsmStoreWarnsAhead() {
        let plan = TF.plan(TF.observe(TF.store(.awsCloudHsm, .disconnected), [TF.key("k1", .unavailable)]))
        #expect(plan.currentStep == .scheduleDeletion)
        #expect(plan.warnings.first { $0.kind == .keyMaterialWillBeOrphaned }?.message.contains("1 key will be pending deletion") == true)
        #expect(plan.notes.contains { $0.contains("Unavailable") })
    }

    @Test func externalKeyStoresNeverWarnAboutOrphansAndSayExternalKeysStay() {
        for state in ConnectionState.allCases {
            let plan = TF.plan(TF.observe(TF.store(.externalKeyStore, state), [TF.pending("k1", in: 2)]))
            #expect(!plan.warnings.contains { $0.kind == .keyMaterialWillBeOrphaned })
            #expect(plan.warnings.contains { $0.kind == .externalKeysUntouched && $0.message.contains("never") })
            #expect(plan.status == .waiting)
            #expect(plan.disconnectOnly?.requiredAcknowledgement == nil)
        }
    }

    @Test func theExternalKeysLeftInTheKeyManagerAreNamedEvenOnceTheStoreIsGone() {
        let present = TF.plan(TF.observe(TF.store(.externalKeyStore, .connected), [TF.key("k1", xks: true)]))
        #expect(present.notDeleted.contains { $0.contains("external keys (ext-k1)") })
        var known = TF.store(.externalKeyStore, .disconnected)
        known.externalKeyIds = ["ext-k1", "ext-k2"]
        let gone = TeardownPlanner.plan(TeardownObservation(store: .gone(idOrName: known.id, lastKnown: known), keys: nil, now: TF.now))
        #expect(gone.status == .done)
        #expect(gone.notDeleted.contains { $0.contains("external keys (ext-k1, ext-k2)") }, "\(gone.notDeleted)")
    }

    @Test func disconnectOnlyIsOfferedBeforeTheTeardownChangesAnything() {
        let fresh = TF.plan(TF.observe(TF.store(), [TF.key("k1")]))
        #expect(fresh.disconnectOnly?.isAvailable == true)
        #expect(fresh.disconnectOnly?.requiredAcknowledgement == nil)
        #expect(fresh.disconnectOnly?.explanation.contains("reversible") == true)

        let disconnected = TF.plan(TF.observe(TF.store(.awsCloudHsm, .disconnected), [TF.key("k1", .unavailable)]))
        #expect(disconnected.disconnectOnly?.isAvailable == false)
        #expect(disconnected.disconnectOnly?.unavailableReason == "the store is already DISCONNECTED")

        let store = TF.store()
        let withPending = TF.plan(TF.observe(store, [TF.key("k1"), TF.pending("k0")]))
        #expect(withPending.disconnectOnly?.requiredAcknowledgement == .init(.disconnectWithPendingKeys, store.id))
        #expect(withPending.disconnectOnly?.isAcknowledged == false)
        #expect(withPending.disconnectOnly?.explanation.contains("orphaned") == true)

        let acknowledged = TF.plan(TF.observe(store, [TF.key("k1"), TF.pending("k0")],
                                              acks: [.init(.disconnectWithPendingKeys, store.id)]))
        #expect(acknowledged.disconnectOnly?.isAcknowledged == true)

        let waiting = TF.plan(TF.observe(store, [TF.pending("k1")], scheduled: ["k1"]))
        #expect(waiting.disconnectOnly == nil)
    }

    @Test func orphanedMaterialReportedByTheCoreIsNamedForThisClusterOnly() {
        let orphaned = [TeardownObservation.OrphanedKeyMaterial(clusterId: "cluster-1a23b4cdefg", keyId: "k7"),
                        TeardownObservation.OrphanedKeyMaterial(clusterId: "cluster-other", keyId: "k8")]
        let plan = TF.plan(TF.observe(TF.store(.awsCloudHsm, .disconnected), [], orphaned: orphaned))
        #expect(plan.currentStep == .deleteStore)
        #expect(plan.warnings.first { $0.kind == .orphanedKeyMaterial }?.message.contains("(k7)") == true)
        #expect(plan.notDeleted.contains { $0.contains("key k7") })
        #expect(!plan.notDeleted.contains { $0.contains("k8") })
    }
}
