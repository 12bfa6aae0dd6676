import Foundation
import Testing
@testable import CKSDomain

/// A whole teardown driven only by the plan, over a small model of KMS, with someone else
/// interfering (adding keys, cancelling deletions, disconnecting the store) along the way.
@Suite struct TeardownPlannerWalkthroughTests {
    /// KMS as far as a teardown can see it, with the rules of semantics §1.2 and §2.4.
    struct World {
        var store: TeardownObservation.Store
        var keys: [String: TeardownObservation.Key] = [:]
        var uses: [String: KeyLastUse] = [:]
        var now = TF.now
        var storeDeleted = false
        var orphaned: [String] = []
        var disconnectingUntil: Date?

        /// Time passes: deletion dates fall due, DISCONNECTING settles.
        mutating func advance(to date: Date) {
            now = max(now, date)
            for (id, key) in keys where key.isPendingDeletion && key.deletionDate! <= now {
                if store.isCloudHsm && store.connectionState != .connected { orphaned.append(id) }
                keys[id] = nil
            }
            if let until = disconnectingUntil, until <= now {
                store.connectionState = .disconnected
                disconnectingUntil = nil
            }
        }
    }

    /// The operator: does what the plan says, acknowledges flagged keys, never acknowledges orphaning.
    struct Operator {
        var scheduled: Set<String> = []
        var acks: Set<TeardownAcknowledgement> = []
        var observedUse: [String: KeyLastUse] = [:]
        var inventoried = false
        var deleteCalls = 0

        mutating func observe(_ w: World) -> TeardownObservation {
            TeardownObservation(
                store: w.storeDeleted ? .gone(idOrName: w.store.id, lastKnown: w.store) : .present(w.store),
                keys: inventoried ? w.keys.values.map { $0 } : nil,
                lastUse: observedUse, scheduledByTeardown: scheduled, acknowledgements: acks,
                orphanedKeyMaterial: w.orphaned.map { TeardownObservation.OrphanedKeyMaterial(clusterId: "cluster-1a23b4cdefg", keyId: $0) },
                window: PendingWindow(days: 7)!, now: w.now)
        }

        mutating func act(_ plan: TeardownPlan, _ w: inout World) {
            switch plan.action {
            case .takeInventory: inventoried = true
            case .checkUse(let ids): for id in ids { observedUse[id] = w.uses[id] ?? .neverUsed }
            case .acknowledge(let flags): acks.formUnion(flags.map(\.acknowledgement))
            case .scheduleDeletion(let ids, let window, _):
                for id in ids {
                    w.keys[id]?.state = .pendingDeletion
                    w.keys[id]?.deletionDate = window.deletionDate(from: w.now)
                    scheduled.insert(id)
                }
            case .reconnect: w.store.connectionState = .connected
            case .waitForDeletion(_, let last): w.advance(to: (last ?? w.now) + 1)
            case .waitForConnectionState, .waitForDisconnected: w.advance(to: w.now + 120)
            case .observe, .waitForObservation: Issue.record("no observation was asked for: \(plan.action)")
            case .disconnect:
                w.store.connectionState = .disconnecting
                w.disconnectingUntil = w.now + 60
            case .deleteStore(let name):
                #expect(name == w.store.name)
                #expect(w.keys.isEmpty, "DeleteCustomKeyStore with keys")
                #expect(w.store.connectionState == .disconnected)
                deleteCalls += 1
                w.storeDeleted = true
            case .none: break
            }
        }
    }

    func run(_ world: World, interfere: (Int, inout World) -> Void = { _, _ in }) -> (World, Operator, [TeardownStep.Kind]) {
        var w = world, op = Operator(), trail: [TeardownStep.Kind] = []
        for round in 0..<200 {
            interfere(round, &w)
            let plan = TeardownPlanner.plan(op.observe(w))
            if plan.status == .done { return (w, op, trail) }
            if let step = plan.currentStep, trail.last != step { trail.append(step) }
            op.act(plan, &w)
        }
        Issue.record("the teardown did not finish in 200 rounds")
        return (w, op, trail)
    }

    func world(_ type: CustomKeyStoreType, _ state: ConnectionState, keys: Int) -> World {
        var w = World(store: TF.store(type, state))
        for i in 0..<keys { w.keys["k\(100 + i)"] = TF.key("k\(100 + i)", state == .connected ? .enabled : .unavailable) }
        w.uses["k100"] = .used(at: TF.now - TF.day, operation: "Decrypt")
        return w
    }

    @Test func theSafePathEndToEnd() {
        let (w, op, trail) = run(world(.awsCloudHsm, .connected, keys: 300))
        #expect(w.storeDeleted)
        #expect(w.orphaned.isEmpty)
        #expect(op.deleteCalls == 1)
        #expect(op.acks == [.init(.keyInUse, "k100")])
        #expect(trail == TeardownStep.Kind.allCases)
    }

    @Test func aDisconnectedCloudHsmStoreIsReconnectedBeforeTheWaitEnds() {
        let (w, _, _) = run(world(.awsCloudHsm, .disconnected, keys: 5))
        #expect(w.storeDeleted)
        #expect(w.orphaned.isEmpty, "no key material orphaned")
    }

    @Test func aFailedStoreIsRecoveredAndTornDown() {
        for type in CustomKeyStoreType.allCases {
            let (w, _, _) = run(world(type, .failed, keys: 3))
            #expect(w.storeDeleted)
            #expect(w.orphaned.isEmpty)
        }
    }

    @Test func anEmptyStoreGoesStraightToDisconnectAndDelete() {
        let (w, _, trail) = run(world(.externalKeyStore, .connected, keys: 0))
        #expect(w.storeDeleted)
        #expect(trail == [.inventory, .disconnect, .waitForDisconnected, .deleteStore])
    }

    @Test func interferenceDoesNotDerailIt() {
        // Once deletion is scheduled, someone adds a key; once that one is pending too, someone cancels
        // another key's deletion; then someone disconnects the store while keys are pending.
        var events = 0
        let (w, op, _) = run(world(.awsCloudHsm, .connected, keys: 4)) { _, w in
            let pending = w.keys.values.filter(\.isPendingDeletion).map(\.id).sorted()
            switch events {
            case 0 where !pending.isEmpty:
                w.keys["late"] = TF.key("late")
                w.uses["late"] = .used(at: w.now - 3600, operation: "Encrypt")
                events += 1
            case 1 where pending.contains("late"):
                w.keys["k101"]?.state = .disabled
                w.keys["k101"]?.deletionDate = nil
                events += 1
            case 2 where pending.contains("k101"):
                w.store.connectionState = .disconnected
                events += 1
            default: break
            }
        }
        #expect(events == 3)
        #expect(w.storeDeleted)
        #expect(w.orphaned.isEmpty)
        #expect(op.acks.contains(.init(.keyInUse, "late")))
        #expect(op.acks.contains(.init(.rescheduleCancelledKey, "k101")))
    }

    @Test func stoppingAnywhereAndResumingGivesTheSamePlan() {
        // A "restart" is a fresh operator that only keeps what the journal records (scheduled, acks);
        // the plan it computes from the same world equals the one the old operator would compute.
        var w = world(.awsCloudHsm, .connected, keys: 6), op = Operator()
        for _ in 0..<12 {
            let plan = TeardownPlanner.plan(op.observe(w))
            if plan.status == .done { break }
            var resumed = Operator(scheduled: op.scheduled, acks: op.acks, observedUse: op.observedUse, inventoried: op.inventoried)
            #expect(TeardownPlanner.plan(resumed.observe(w)) == plan)
            op.act(plan, &w)
        }
    }
}
