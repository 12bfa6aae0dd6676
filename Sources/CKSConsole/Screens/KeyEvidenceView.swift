import CKSDomain
import CKSTeardown
import Foundation

/// The Key detail screen's evidence: who can use the key (grants, policy principals, tags, aliases) and who did (a
/// sparkline of calls per day over the look-back window, refusals marked, and a timeline of recent events).
@MainActor
enum KeyEvidenceView {
    /// Label, value and style of each line, after DescribeKey's fields.
    static func fields(_ e: KeyEvidence, aliases: [String], width: Int, ascii: Bool, formatting: Formatting, now: Date)
        -> [(String, String, Style)] {
        var out: [(String, String, Style)] = []
        switch e.grants {
        case nil: out.append(("Grants", "could not be listed: \(e.grantsProblem ?? "?")", Style(.warning)))
        case let grants? where grants.isEmpty: out.append(("Grants", "(none)", .normal))
        case let grants?:
            for (i, g) in grants.enumerated() {
                let who = g.service.map { "svc: \($0) (\(g.grantee))" } ?? g.grantee
                out.append((i == 0 ? "Grants (\(grants.count))" : "", "\(who): \(g.operations.joined(separator: ", "))"
                            + (g.retiringPrincipal.map { "; retiring \($0)" } ?? ""), Style(.warning)))
            }
        }
        switch e.policyPrincipals {
        case nil: out.append(("Policy principals", "could not be read: \(e.policyProblem ?? "?")", Style(.warning)))
        case let p? where p.isEmpty: out.append(("Policy principals", "the account's root only", .normal))
        case let p?: out.append(("Policy principals", p.joined(separator: ", "), Style(.warning)))
        }
        out.append(("Tags", e.tags.isEmpty ? "(none)" : e.tags.keys.sorted().map { "\($0)=\(e.tags[$0]!)" }.joined(separator: ", "), .normal))
        out.append(("Aliases (deleted with the key)", aliases.isEmpty ? "(none)" : aliases.joined(separator: ", "), .normal))
        switch e.trail {
        case .unknown(let why):
            out.append(("Use (CloudTrail)", "unknown: \(why)", Style(.warning)))
        case .known(let s):
            let room = max(10, min(90, width))
            let calls = Sparkline.fit(s.daily.map(\.calls), width: room)
            let refusals = Sparkline.fit(s.daily.map(\.refusals), width: room)
            out.append(("Use, \(s.lookbackDays) days", "\(s.uses) calls, \(s.refusals) refused"
                        + (s.lastUse.map { "; last \($0.operation) by \($0.caller), \(Formatting.ago($0.time, now: now))" } ?? ""),
                        Style(s.uses + s.refusals > 0 ? .warning : .ok)))
            out.append(("Calls per day", "|" + Sparkline.render(calls, ascii: ascii) + "|", .normal))
            if s.refusals > 0 {
                let marks = String(refusals.map { $0 > 0 ? (ascii ? "!" : "▲") : " " })
                out.append(("Refused", " " + marks, Style(.warning)))
            }
            for (i, call) in s.recent.enumerated() {
                let text = "\(formatting.dateTime(call.time)) \(call.operation) by \(call.caller)" + (call.errorCode.map { " — \($0)" } ?? "")
                out.append((i == 0 ? "Recent events" : "", text, Style(call.isRefused ? .warning : .normal)))
            }
        }
        return out
    }

    /// The evidence column of the Keys list: `refused 1h ago`, `used 3d ago`, `svc:ebs`, `2 grants`, `policy`, `unknown`.
    static func column(_ e: KeyEvidence?, now: Date) -> String {
        guard let e else { return "" }
        var parts: [String] = []
        if case .known(let s) = e.trail {
            if let r = s.lastRefusal { parts.append("refused \(Formatting.ago(r.time, now: now))") }
            if let u = s.lastUse { parts.append("used \(Formatting.ago(u.time, now: now))") }
        } else {
            parts.append("use unknown")
        }
        let services = e.services
        if !services.isEmpty { parts.append(services.map { "svc:\($0)" }.joined(separator: " ")) }
        let others = (e.grants ?? []).filter { $0.service == nil }.count
        if others > 0 { parts.append("\(others) grant\(others == 1 ? "" : "s")") }
        if !(e.policyPrincipals ?? []).filter({ !$0.hasSuffix(".amazonaws.com") }).isEmpty { parts.append("policy") }
        return parts.joined(separator: ", ")
    }

    /// Sort rank of the column: refused first, then used, then dependencies, then nothing.
    static func rank(_ e: KeyEvidence?) -> Int {
        guard let e else { return 5 }
        if case .unknown = e.trail { return 1 }
        if e.summary?.lastRefusal != nil { return 0 }
        if e.summary?.lastUse != nil { return 2 }
        if !(e.grants ?? []).isEmpty || !(e.policyPrincipals ?? []).isEmpty { return 3 }
        return 4
    }
}

extension ConsoleApp {
    /// Gathers the Key detail screen's evidence (after DescribeKey gave the ARN).
    func fetchDetailEvidence(_ keyId: String) async {
        guard let arn = detailRecord.flatMap({ $0.id == keyId ? $0.arn : nil }) else { return }
        let backend = self.backend
        let evidence = await ActionTag.$current.withValue(ActionTag(id: 0, label: "evidence of use of the key")) {
            await backend.keyEvidence(keyId, arn: arn, lookbackDays: TeardownObservation.defaultLookbackDays)
        }
        detailEvidence = (keyId, evidence)
        if let evidence { keyEvidence[keyId] = evidence }
    }

    /// One evidence pass over a store's keys, for the Keys list's evidence column (once per store and session; `r`
    /// on the Keys screen asks again).
    func fetchStoreEvidence(_ storeId: String, keyIds: [String], force: Bool = false) {
        guard force || !evidenceRequested.contains(storeId), !keyIds.isEmpty else { return }
        evidenceRequested.insert(storeId)
        let backend = self.backend
        launch(nil) { app in
            let found = await ActionTag.$current.withValue(ActionTag(id: 0, label: "evidence of use of the store's keys")) {
                await backend.storeEvidence(keyIds, lookbackDays: TeardownObservation.defaultLookbackDays)
            }
            app.keyEvidence.merge(found) { _, new in new }
            app.keysView(storeId).table.setRows(app.keysView(storeId).table.rows)
        }
    }
}
