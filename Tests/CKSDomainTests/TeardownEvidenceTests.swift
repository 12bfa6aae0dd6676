import Foundation
import Testing
@testable import CKSDomain

/// Evidence flags (one per reason, each acknowledged on its own) and the disable-and-observe phase.
@Suite struct TeardownEvidenceTests {
    static let app = "arn:aws:iam::111122223333:role/payments-app"

    static func call(_ daysAgo: Double, _ op: String = "Decrypt", refused: String? = nil, caller: String = app) -> TrailCall {
        TrailCall(time: TF.now - daysAgo * TF.day, operation: op, caller: caller, errorCode: refused)
    }

    static func evidence(calls: [TrailCall] = [], grants: [KeyEvidence.Grant]? = [], policy: [String]? = [],
                         trailUnknown: String? = nil) -> KeyEvidence {
        KeyEvidence(grants: grants, policyPrincipals: policy, tags: ["owner": "payments"],
                    trail: trailUnknown.map { .unknown(reason: $0) } ?? .known(TrailSummary.of(calls, lookbackDays: 90, now: TF.now)))
    }

    static let ebsGrant = KeyEvidence.Grant(id: "g1", grantee: "ebs.amazonaws.com", operations: ["Decrypt"])

    func observe(_ keys: [TeardownObservation.Key], evidence: [String: KeyEvidence], acks: Set<TeardownAcknowledgement> = [],
                 observeDays: Int? = nil, refusals: [RefusedAttempt] = [], now: Date = TF.now) -> TeardownObservation {
        var o = TF.observe(TF.store(), keys, acks: acks, now: now)
        o.evidence = evidence
        o.observeDays = observeDays
        o.observedRefusals = refusals
        return o
    }

    @Test func eachReasonIsItsOwnFlagAndNeedsItsOwnAcknowledgement() {
        let ev = ["k1": Self.evidence(calls: [Self.call(3)], grants: [Self.ebsGrant]),
                  "k2": Self.evidence(calls: [Self.call(1, refused: "DisabledException")], policy: [Self.app])]
        let plan = TF.plan(observe([TF.key("k1"), TF.key("k2")], evidence: ev))
        #expect(plan.flaggedKeys.map { "\($0.keyId):\($0.reason.name)" } == ["k1:used", "k1:grants", "k2:refused", "k2:policy"])
        #expect(Set(plan.flaggedKeys.map(\.acknowledgement)).count == 4, "one acknowledgement per reason")
        guard case .blocked(let reason) = plan.status else { Issue.record("\(plan.status)"); return }
        #expect(reason.contains("1 with grants") && reason.contains("1 with refused calls"))

        // Acknowledging "used" for k1 does not cover its grants.
        let partial = TF.plan(observe([TF.key("k1"), TF.key("k2")], evidence: ev,
                                      acks: [.init(.keyInUse, "k1"), .init(.keyRefused, "k2"), .init(.keyPolicy, "k2")]))
        guard case .acknowledge(let left) = partial.action else { Issue.record("\(partial.action)"); return }
        #expect(left.map(\.acknowledgement) == [.init(.keyGrants, "k1")])

        let all = TF.plan(observe([TF.key("k1"), TF.key("k2")], evidence: ev,
                                  acks: Set(plan.flaggedKeys.map(\.acknowledgement))))
        #expect(all.currentStep == .scheduleDeletion)
    }

    @Test func cloudTrailUnreachableIsUnknownUseNeverUnused() {
        let ev = ["k1": Self.evidence(trailUnknown: "CloudTrail LookupEvents failed (UnknownOperationException)")]
        let plan = TF.plan(observe([TF.key("k1")], evidence: ev))
        #expect(plan.flaggedKeys.map(\.reason.name) == [.unknown])
        #expect(plan.flaggedKeys.first?.acknowledgement == .init(.keyUseUnknown, "k1"))
        #expect(plan.status != .ready)
        // Grants that could not be listed are unknown too, never "none".
        let noGrants = TF.plan(observe([TF.key("k1")], evidence: ["k1": Self.evidence(grants: nil)]))
        #expect(noGrants.flaggedKeys.map(\.reason.name) == [.unknown])
    }

    @Test func theLatestCallerAndOperationAreShown() {
        let calls = [Self.call(10, "Encrypt", caller: "arn:aws:iam::111122223333:role/old"), Self.call(2, "Decrypt")]
        let plan = TF.plan(observe([TF.key("k1")], evidence: ["k1": Self.evidence(calls: calls)]))
        guard case .usedInWindow(let uses, let last, let days)? = plan.flaggedKeys.first?.reason else {
            Issue.record("\(plan.flaggedKeys)"); return
        }
        #expect(uses == 2 && days == 90)
        #expect(last.caller == Self.app && last.operation == "Decrypt")
    }

    @Test func policyPrincipalsBeyondTheRootAreNamed() {
        let policy = """
        {"Version":"2012-10-17","Statement":[
          {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
          {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/app","111122223333"],"Service":"rds.amazonaws.com"},"Action":"kms:Decrypt","Resource":"*"},
          {"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*"}]}
        """
        #expect(KeyEvidence.policyPrincipals(policy, account: "111122223333")
                == ["arn:aws:iam::111122223333:role/app", "rds.amazonaws.com"])
        #expect(KeyEvidence.policyPrincipals("not json", account: nil) == nil)
        let ev = KeyEvidence(grants: [Self.ebsGrant], policyPrincipals: ["rds.amazonaws.com"], trail: .unknown(reason: "x"))
        #expect(ev.services == ["ebs", "rds"])
    }

    @Test func reasonListsParseAndRejectUnknownWords() throws {
        #expect(try EvidenceReason.parseList("used, grants").get() == [.used, .grants])
        guard case .failure(let bad) = EvidenceReason.parseList("used,yes") else { Issue.record("accepted"); return }
        #expect(bad.word == "yes")
    }

    @Test func trailSummaryCountsDaysRefusalsAndRecentNewestFirst() {
        let calls = [Self.call(0.5), Self.call(0.2, refused: "DisabledException"), Self.call(89.5, "Encrypt")]
        let s = TrailSummary.of(calls, lookbackDays: 90, now: TF.now)
        #expect(s.uses == 2 && s.refusals == 1)
        #expect(s.daily.count == 90)
        #expect(s.daily.last == .init(calls: 2, refusals: 1))
        #expect(s.daily.first == .init(calls: 1, refusals: 0))
        #expect(s.recent.map(\.time) == s.recent.map(\.time).sorted(by: >))
        #expect(s.lastRefusal?.errorCode == "DisabledException")
    }

    // MARK: Disable and observe

    static let until = TF.now + 7 * TF.day

    static func marked(_ id: String, disabledBy: String? = "t1", from: Date = TF.now, until: Date = until) -> TeardownObservation.Key {
        TeardownObservation.Key(id: id, state: .disabled, aliases: ["alias/\(id)"],
                                observation: ObservationMark(from: from, until: until, disabledBy: disabledBy))
    }

    @Test func observationAskedDisablesTheEnabledKeysAndMarksAll() {
        let plan = TF.plan(observe([TF.key("k1"), TF.key("k2", .disabled)], evidence: [:], observeDays: 7))
        #expect(plan.currentStep == .checkUse)
        #expect(plan.action == .observe(keyIds: ["k1", "k2"], disable: ["k1"], from: TF.now, until: Self.until))
        #expect(plan.action.changesState)
        #expect(plan.action.calls == [.disableKey, .tagResource])
        #expect(plan.schedulePreview != nil, "the preview is shown, but scheduling waits for the observation")
    }

    @Test func aRunningObservationIsWaitedForEvenWhenThisRunDidNotAskForOne() {
        let o = observe([Self.marked("k1"), Self.marked("k2", disabledBy: nil)], evidence: [:], now: TF.now + TF.day)
        let plan = TF.plan(o)
        #expect(plan.status == .waiting)
        #expect(plan.action == .waitForObservation(until: Self.until, keysObserved: 2))
        #expect(plan.observation?.disabledByTeardown == ["k1"], "abort re-enables only what the teardown disabled")
        #expect(plan.observation?.remaining == 6 * TF.day)
        var done = o
        done.now = Self.until
        #expect(TF.plan(done).action == .scheduleDeletion(keyIds: ["k1", "k2"], window: .default,
                                                          deletionDate: Self.until + 30 * TF.day))
    }

    @Test func aRefusedCallBlocksWithTheCallerUntilAcknowledged() {
        let refusal = RefusedAttempt(keyId: "k2", call: TrailCall(time: TF.now + 3600, operation: "Decrypt", caller: Self.app,
                                                                  errorCode: "DisabledException"))
        let o = observe([Self.marked("k1"), Self.marked("k2")], evidence: [:], refusals: [refusal], now: Self.until + 1)
        let plan = TF.plan(o)
        guard case .blocked(let reason) = plan.status, case .acknowledge(let flags) = plan.action else {
            Issue.record("\(plan.status) \(plan.action)"); return
        }
        #expect(reason.contains(Self.app) && reason.contains("Decrypt"))
        #expect(flags.map(\.acknowledgement) == [.init(.refusedWhileObserved, "k2")])
        #expect(plan.observation?.refusals == [refusal])
        var acked = o
        acked.acknowledgements = [.init(.refusedWhileObserved, "k2")]
        #expect(TF.plan(acked).currentStep == .scheduleDeletion)
        // A refusal from before the observation began is not the observation's.
        var old = o
        old.observedRefusals = [RefusedAttempt(keyId: "k2", call: Self.call(1, refused: "DisabledException"))]
        #expect(TF.plan(old).currentStep == .scheduleDeletion)
    }

    @Test func aKeyThatAppearsDuringTheObservationJoinsItUntilTheSameEnd() {
        let o = observe([Self.marked("k1"), TF.key("k3")], evidence: [:], now: TF.now + TF.day)
        #expect(TF.plan(o).action == .observe(keyIds: ["k3"], disable: ["k3"], from: TF.now, until: Self.until))
    }

    // MARK: Generated situations

    static var situations: [TeardownObservation] {
        let keySets: [[TeardownObservation.Key]] = [
            [TF.key("a")], [TF.key("a"), TF.key("b", .disabled)], [marked("a"), TF.key("b")],
            [marked("a"), marked("b", disabledBy: nil)], [marked("a", from: TF.now - 8 * TF.day, until: TF.now - 1), TF.pending("b")],
        ]
        let evidences: [[String: KeyEvidence]] = [
            [:],
            ["a": evidence(calls: [call(2)]), "b": evidence(grants: [ebsGrant])],
            ["a": evidence(trailUnknown: "denied"), "b": evidence(calls: [call(5, refused: "AccessDeniedException")], policy: [app])],
            ["a": evidence(grants: nil, policy: nil)],
        ]
        let refusals: [[RefusedAttempt]] = [
            [], [RefusedAttempt(keyId: "a", call: TrailCall(time: TF.now + 60, operation: "Encrypt", caller: app, errorCode: "DisabledException"))],
        ]
        let allAcks = Set(["a", "b"].flatMap { id in EvidenceReason.allCases.map { TeardownAcknowledgement($0.acknowledgementKind, id) } })
        let ackVariants: [Set<TeardownAcknowledgement>] = [
            [], allAcks, allAcks.filter { $0.kind != .refusedWhileObserved }, allAcks.filter { $0.kind != .keyGrants },
            [.init(.keyInUse, "a"), .init(.keyInUse, "b")],
        ]
        var all: [TeardownObservation] = []
        for keys in keySets {
            for ev in evidences {
                for r in refusals {
                    for acks in ackVariants {
                        for days in [nil, 7] as [Int?] {
                            for now in [TF.now, TF.now + 3 * TF.day, TF.now + 8 * TF.day] {
                                var o = TF.observe(TF.store(), keys, acks: acks, now: now)
                                o.evidence = ev
                                o.observedRefusals = r
                                o.observeDays = days
                                all.append(o)
                            }
                        }
                    }
                }
            }
        }
        return all
    }

    @Test func neverSchedulesAFlaggedKeyWithoutEachOfItsAcknowledgements() {
        #expect(Self.situations.count > 1_000)
        for o in Self.situations {
            let plan = TeardownPlanner.plan(o)
            guard case .scheduleDeletion(let ids, _, _) = plan.action else { continue }
            for flag in plan.flaggedKeys where ids.contains(flag.keyId) {
                #expect(o.acknowledgements.contains(flag.acknowledgement), "\(flag.keyId) \(flag.reason.name)")
            }
            // Every reason the evidence gives is among the flags.
            for id in ids {
                guard let ev = o.evidence[id] else { continue }
                let reasons = Set(plan.flaggedKeys.filter { $0.keyId == id }.map(\.reason.name))
                if ev.summary?.lastUse != nil { #expect(reasons.contains(.used)) }
                if ev.summary?.lastRefusal != nil { #expect(reasons.contains(.refused)) }
                if ev.summary == nil || ev.grants == nil || ev.policyPrincipals == nil { #expect(reasons.contains(.unknown)) }
                if !(ev.grants ?? []).isEmpty { #expect(reasons.contains(.grants)) }
                if !(ev.policyPrincipals ?? []).isEmpty { #expect(reasons.contains(.policy)) }
            }
        }
    }

    @Test func neverSchedulesWhileAnObservationRunsOrARefusalIsUnacknowledged() {
        for o in Self.situations {
            let plan = TeardownPlanner.plan(o)
            guard case .scheduleDeletion(let ids, _, _) = plan.action else { continue }
            let marked = (o.keys ?? []).filter { ids.contains($0.id) && $0.observation != nil }
            if let until = marked.compactMap(\.observation?.until).max() { #expect(o.now >= until) }
            if o.observeDays != nil { #expect(!marked.isEmpty && marked.count == ids.count, "asked to observe: every key was") }
            for r in o.observedRefusals where marked.contains(where: { $0.id == r.keyId }) {
                #expect(o.acknowledgements.contains(.init(.refusedWhileObserved, r.keyId)))
            }
        }
    }

    @Test func observingNeverTouchesPendingKeysAndOnlyDisablesEnabledOnes() {
        for o in Self.situations {
            let plan = TeardownPlanner.plan(o)
            if case .observe(let ids, let disable, let from, let until) = plan.action {
                let byId = Dictionary(uniqueKeysWithValues: (o.keys ?? []).map { ($0.id, $0) })
                #expect(ids.allSatisfy { byId[$0]?.isPendingDeletion == false && byId[$0]?.observation == nil })
                #expect(disable.allSatisfy { byId[$0]?.state == .enabled })
                #expect(from <= until)
            }
            if let watched = plan.observation {
                let disabledBy = Set((o.keys ?? []).filter { $0.observation?.disabledBy != nil && !$0.isPendingDeletion }.map(\.id))
                #expect(Set(watched.disabledByTeardown) == disabledBy)
            }
            if plan.status == .waiting { #expect(plan.action.calls.isEmpty) }
        }
    }
}
