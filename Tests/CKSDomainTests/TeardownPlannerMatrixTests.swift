import Foundation
import Testing
@testable import CKSDomain

/// Store type × connection state × key states × deletion dates vs now × what the teardown did:
/// every combination is planned and checked against the invariants that make the path safe.
@Suite struct TeardownPlannerMatrixTests {
    typealias Key = TeardownObservation.Key

    /// Key sets that matter: none, each non-pending state, pending before/after now, and mixtures.
    static let keySets: [[Key]] = [
        [],
        [TF.key("a")],
        [TF.key("a", .disabled)],
        [TF.key("a", .unavailable)],
        [TF.key("a", .creating)],
        [TF.pending("a", in: 12)],
        [TF.pending("a", in: -1)],
        [TF.pending("a", in: 0)],
        [TF.key("a"), TF.pending("b", in: 3)],
        [TF.pending("a", in: 3), TF.pending("b", in: -2), TF.pending("c", in: 30)],
        [TF.key("a", .disabled), TF.key("b", .unavailable), TF.pending("c", in: 7), TF.pending("d", in: -0.1)],
    ]

    /// What the teardown did before: nothing, scheduled everything that is pending, or scheduled keys now cancelled.
    static func scheduledVariants(_ keys: [Key]) -> [Set<String>] {
        [[], Set(keys.filter(\.isPendingDeletion).map(\.id)), Set(keys.map(\.id))]
    }

    /// Use: not checked, all never used, all used yesterday (flagged), all used yesterday and acknowledged.
    static func useVariants(_ keys: [Key]) -> [([String: KeyLastUse], Set<TeardownAcknowledgement>)] {
        let ids = keys.map(\.id)
        let recent = Dictionary(uniqueKeysWithValues: ids.map { ($0, KeyLastUse.used(at: TF.now - TF.day, operation: "Encrypt")) })
        let never = Dictionary(uniqueKeysWithValues: ids.map { ($0, KeyLastUse.neverUsed) })
        let acks = Set(ids.flatMap { [TeardownAcknowledgement(.keyInUse, $0), TeardownAcknowledgement(.rescheduleCancelledKey, $0)] })
        return [([:], []), (never, []), (recent, []), (recent, acks)]
    }

    static var observations: [TeardownObservation] {
        var all: [TeardownObservation] = []
        for type in CustomKeyStoreType.allCases {
            for state in ConnectionState.allCases {
                let store = TF.store(type, state)
                all.append(TF.observe(store, nil))
                for keys in keySets {
                    for scheduled in scheduledVariants(keys) {
                        for (uses, acks) in useVariants(keys) {
                            all.append(TF.observe(store, keys, lastUse: uses, scheduled: scheduled, acks: acks))
                            var orphanAck = acks
                            orphanAck.insert(.init(.orphanKeyMaterial, store.id))
                            all.append(TF.observe(store, keys, lastUse: uses, scheduled: scheduled, acks: orphanAck))
                        }
                    }
                }
            }
        }
        return all
    }

    @Test func theMatrixIsLarge() {
        #expect(Self.observations.count > 2_000)
    }

    @Test func neverDeletesAStoreWithKeysOrNotDisconnected() {
        for o in Self.observations {
            let plan = TeardownPlanner.plan(o)
            guard case .present(let store) = o.store else { continue }
            if case .deleteStore = plan.action {
                #expect(o.keys == [], "\(o)")
                #expect(store.connectionState == .disconnected)
            }
            if plan.currentStep == .deleteStore || plan.currentStep == .waitForDisconnected || plan.currentStep == .disconnect {
                #expect(o.keys == [])
            }
        }
    }

    @Test func neverDisconnectsWhileKeysExist() {
        for o in Self.observations {
            let plan = TeardownPlanner.plan(o)
            if plan.action == .disconnect { #expect(o.keys == []) }
            if plan.action.calls.contains(.disconnectCustomKeyStore), !(o.keys ?? []).isEmpty {
                // Only the FAILED → DISCONNECTED → connect recovery may disconnect, and it only happens from FAILED.
                guard case .present(let store) = o.store else { continue }
                #expect(store.connectionState == .failed)
                #expect(plan.action.calls == [.disconnectCustomKeyStore, .connectCustomKeyStore])
            }
        }
    }

    @Test func cloudHsmKeysPendingWhileNotConnectedAreAlwaysWarnedAbout() {
        for o in Self.observations {
            guard case .present(let store) = o.store, let keys = o.keys else { continue }
            let plan = TeardownPlanner.plan(o)
            let warned = plan.warnings.contains { $0.kind == .keyMaterialWillBeOrphaned }
            let atRisk = store.type == .awsCloudHsm && store.connectionState != .connected && !keys.isEmpty
            #expect(warned == atRisk, "\(store.type) \(store.connectionState) \(keys.map(\.state))")
            // The wait never just runs on a disconnected CloudHSM store without the specific acknowledgement.
            if atRisk, plan.currentStep == .waitForDeletion, !o.acknowledgements.contains(.init(.orphanKeyMaterial, store.id)) {
                switch plan.action {
                case .reconnect, .waitForConnectionState: break
                default: Issue.record("waits on a \(store.connectionState) CloudHSM store: \(plan.action)")
                }
            }
            if case .reconnect(let calls) = plan.action {
                #expect(store.type == .awsCloudHsm)
                #expect(calls == (store.connectionState == .failed ? [.disconnectCustomKeyStore, .connectCustomKeyStore]
                                                                    : [.connectCustomKeyStore]))
            }
        }
    }

    @Test func schedulingCoversExactlyTheKeysNotPendingAndOnlyOnceAcknowledged() {
        for o in Self.observations {
            let plan = TeardownPlanner.plan(o)
            guard case .scheduleDeletion(let ids, let window, let date) = plan.action else { continue }
            let expected = (o.keys ?? []).filter { !$0.isPendingDeletion }.map(\.id).sorted()
            #expect(ids == expected)
            #expect(window == o.window)
            #expect(date == o.now + TimeInterval(o.window.days) * TF.day)
            #expect(plan.flaggedKeys.allSatisfy { $0.isAcknowledged })
            #expect(ids.allSatisfy { o.lastUse[$0] != nil }, "every key's use was checked")
        }
    }

    @Test func exactlyOneCurrentStepAndConsistentStatus() {
        for o in Self.observations {
            let plan = TeardownPlanner.plan(o)
            #expect(plan.steps.map(\.kind) == TeardownStep.Kind.allCases)
            #expect(plan.steps.allSatisfy { !$0.summary.isEmpty })
            let current = plan.steps.filter { ![.done, .upcoming].contains($0.status) }
            guard let step = plan.currentStep else {
                #expect(current.isEmpty)
                #expect(plan.status == .done)
                continue
            }
            #expect(current.map(\.kind) == [step])
            let index = TeardownStep.Kind.allCases.firstIndex(of: step)!
            #expect(plan.steps[..<index].allSatisfy { $0.status == .done })
            #expect(plan.steps[(index + 1)...].allSatisfy { $0.status == .upcoming })
            switch (current[0].status, plan.status) {
            case (.next, .ready), (.waiting, .waiting): break
            case (.blocked(let a), .blocked(let b)): #expect(a == b)
            default: Issue.record("step \(current[0].status) vs plan \(plan.status)")
            }
            // Waiting and blocked plans never claim to change state; ready ones name their calls.
            if plan.status == .waiting { #expect(plan.action.calls.isEmpty) }
            if plan.status == .ready { #expect(!plan.action.calls.isEmpty) }
        }
    }

    @Test func abortGivesBackOnlyWhatThisTeardownScheduledAndIsStillPending() {
        for o in Self.observations {
            let plan = TeardownPlanner.plan(o)
            let pending = Set((o.keys ?? []).filter(\.isPendingDeletion).map(\.id))
            #expect(Set(plan.abortableKeyIds) == pending.intersection(o.scheduledByTeardown))
            #expect(plan.abortableKeyIds == plan.abortableKeyIds.sorted())
        }
    }

    @Test func disconnectOnlyNeedsTheSpecificAcknowledgementWhenCloudHsmKeysArePending() {
        for o in Self.observations {
            let plan = TeardownPlanner.plan(o)
            guard case .present(let store) = o.store, let option = plan.disconnectOnly else { continue }
            let pending = (o.keys ?? []).contains(where: \.isPendingDeletion)
            #expect((option.requiredAcknowledgement != nil) == (store.type == .awsCloudHsm && pending))
            #expect(option.isAvailable == [.connected, .connecting, .failed].contains(store.connectionState))
        }
    }

    @Test func theSameObservationGivesTheSamePlanWhateverTheKeyOrder() {
        for o in Self.observations where (o.keys?.count ?? 0) > 1 {
            var reversed = o
            reversed.keys = o.keys?.reversed()
            #expect(TeardownPlanner.plan(o) == TeardownPlanner.plan(reversed))
            #expect(TeardownPlanner.plan(o) == TeardownPlanner.plan(o))
        }
    }

    @Test func failedStoresAlwaysExplainTheirCode() {
        for code in ConnectionErrorCode.allCases {
            for type in CustomKeyStoreType.allCases {
                let plan = TF.plan(TF.observe(TF.store(type, .failed, code: code), [TF.key("a")]))
                let message = plan.warnings.first { $0.kind == .storeFailed }?.message ?? ""
                #expect(message.contains("(\(code.rawValue)): "))
                #expect(message.contains("DisconnectCustomKeyStore"))
            }
        }
    }
}
