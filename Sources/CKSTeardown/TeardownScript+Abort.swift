import CKSDomain
import Foundation

/// `cks teardown STORE --abort [--enable-again] [--yes] [--dry-run] [--output json]`: cancels the deletion of every key
/// the store's teardown in progress scheduled (KMS brings them back Disabled), and with `--enable-again` enables only the
/// keys that were Enabled before the teardown scheduled them. Run again after an abort, it finishes what is left (the
/// enabling), and changes nothing once everything is given back.
extension TeardownScript {
    /// One key of the abort's report.
    struct AbortedKey: Encodable {
        var keyId: String
        var aliases: [String]
        /// The key's state just before the teardown scheduled it; nil when not recorded.
        var stateBefore: String?
        /// The key's state now (observed after the abort); `Deleted` when the key no longer exists.
        var stateAfter: String
        /// `ok`, or the error of CancelKeyDeletion; nil when not called in this run.
        var cancelDeletion: String?
        /// `ok`, the error of EnableKey, or why it was not called.
        var enableKey: String?
    }

    struct AbortReport: Encodable {
        var operation = "abort"
        var store: String?
        var storeId: String?
        var teardown: String?
        var dryRun: Bool
        var enableAgain: Bool
        /// Where the states before come from (the journal today).
        var stateBeforeSource: String
        var keys: [AbortedKey]
        var notes: [String]
        var exitStatus: Int32
        var journal: String?
        var journalProblem: String?
    }

    func runAbort() async -> Int32 {
        let runner = TeardownRunner(service: service, journal: journal, store: store, sleep: sleep)
        var plan: TeardownPlan
        do { plan = try await runner.refresh() } catch { return fail(error, plan: nil, performed: []) }
        let record = await runner.record
        let storeName = plan.storeName ?? store
        var notes: [String] = []
        var cancelResults: [String: String] = [:]
        var given: AbortPreview

        if plan.abort == nil, let watched = plan.observation {
            // Abort during the observation: re-enable exactly the keys the teardown disabled (its mark), nothing else.
            let enable = watched.disabledByTeardown
            say("Abort the observation of \(storeName): enable again the \(TeardownText.count(enable.count, "key")) the teardown "
                + "disabled (EnableKey) and remove the marks of \(watched.keyIds.count) (UntagResource). No other key is touched.")
            let given = AbortPreview(keyIds: enable, stateBefore: Dictionary(enable.map { ($0, KeyState.enabled) }, uniquingKeysWith: { a, _ in a }))
            if options.dryRun {
                say("Dry run: nothing was changed.")
                return await abortFinish(runner: runner, given: given, cancel: [:], enable: [:], notes: notes, exit: .wouldAct)
            }
            guard confirmAbort(storeName, keys: enable.count, enabling: true) else {
                return await abortFinish(runner: runner, given: given, cancel: [:], enable: [:], notes: notes, exit: .blocked)
            }
            let outcome: TeardownAbortOutcome
            do { outcome = try await runner.abort() } catch { return fail(error, plan: plan, performed: []) }
            var enableResults: [String: String] = [:]
            for r in outcome.results where enable.contains(r.target) { enableResults[r.target] = r.error?.description ?? "ok" }
            say("  EnableKey+UntagResource: \(outcome.results.filter(\.succeeded).count) of \(outcome.results.count) succeeded")
            for r in outcome.failed { say("  failed \(r.target): \(r.error?.description ?? "?")") }
            notes.append("Observation ended: \(TeardownText.count(outcome.reEnabled.count, "key")) enabled again.")
            return await abortFinish(runner: runner, given: given, cancel: [:], enable: enableResults, notes: notes,
                                     exit: outcome.failed.isEmpty ? .done : .failure)
        }
        if let preview = plan.abort {
            given = preview
            say("Abort the teardown of \(storeName): cancel the deletion of \(TeardownText.count(preview.keyIds.count, "key")) it scheduled.")
            say(preview.consequence)
            if !options.enableAgain && !preview.enableAgain.isEmpty {
                say("Without --enable-again they stay Disabled; run again with --enable-again to enable the \(preview.enableAgain.count) that were Enabled.")
            }
            if options.dryRun {
                say("Dry run: nothing was changed.")
                return await abortFinish(runner: runner, given: preview, cancel: [:], enable: [:], notes: notes, exit: .wouldAct)
            }
            guard confirmAbort(storeName, keys: preview.keyIds.count) else {
                return await abortFinish(runner: runner, given: preview, cancel: [:], enable: [:], notes: notes, exit: .blocked)
            }
            let outcome: TeardownAbortOutcome
            do { outcome = try await runner.abort() } catch { return fail(error, plan: plan, performed: []) }
            for r in outcome.results { cancelResults[r.target] = r.error?.description ?? "ok" }
            let ok = outcome.results.filter(\.succeeded).count
            say("  CancelKeyDeletion: \(ok) of \(outcome.results.count) succeeded")
            for r in outcome.failed { say("  failed \(r.target): \(r.error?.description ?? "?")") }
            plan = outcome.plan
        } else if let record, record.state == .aborted, let previous = await runner.lastAbort {
            given = previous
            notes.append("The teardown \(record.id) of \(storeName) was aborted on \(TeardownText.date(record.updatedAt)); nothing left to cancel.")
            notes.forEach(say)
            if !options.enableAgain || previous.enableAgain.isEmpty {
                return await abortFinish(runner: runner, given: previous, cancel: [:], enable: [:], notes: notes, exit: .done)
            }
            if options.dryRun {
                say("Dry run: would enable \(TeardownText.count(previous.enableAgain.count, "key")) that \(previous.enableAgain.count == 1 ? "was" : "were") Enabled before the teardown; nothing was changed.")
                return await abortFinish(runner: runner, given: previous, cancel: [:], enable: [:], notes: notes, exit: .wouldAct)
            }
            guard confirmAbort(storeName, keys: previous.enableAgain.count, enabling: true) else {
                return await abortFinish(runner: runner, given: previous, cancel: [:], enable: [:], notes: notes, exit: .blocked)
            }
        } else if let record, record.state == .inProgress {
            warn("nothing to abort: none of the keys the teardown \(record.id) of \(storeName) scheduled is pending deletion any more")
            return await abortFinish(runner: runner, given: AbortPreview(keyIds: [], stateBefore: [:]), cancel: [:], enable: [:],
                               notes: notes, exit: .invalidState)
        } else {
            warn("no teardown of \(storeName) in progress in the journal \(journal.url?.path ?? "(in memory)"): nothing to abort")
            return await abortFinish(runner: runner, given: AbortPreview(keyIds: [], stateBefore: [:]), cancel: [:], enable: [:],
                               notes: notes, exit: .notFound)
        }

        var enableResults: [String: String] = [:]
        if options.enableAgain {
            let results = await runner.enableAgain()
            for r in results { enableResults[r.target] = r.error?.description ?? "ok" }
            if !results.isEmpty {
                say("  EnableKey: \(results.filter(\.succeeded).count) of \(results.count) succeeded (the keys Enabled before the teardown)")
            }
            for r in results where !r.succeeded { say("  failed \(r.target): \(r.error?.description ?? "?")") }
        }
        given.unchangedNotes.forEach(say)
        let failures = cancelResults.values.filter { $0 != "ok" }.count + enableResults.values.filter { $0 != "ok" }.count
        return await abortFinish(runner: runner, given: given, cancel: cancelResults, enable: enableResults, notes: notes,
                           exit: failures == 0 ? .done : .failure)
    }

    /// `--yes`, or the store's name typed on a terminal; refuses (nothing changed) when stdin is not a terminal.
    private func confirmAbort(_ name: String, keys: Int, enabling: Bool = false) -> Bool {
        if options.yes { return true }
        guard terminal.stdinIsTerminal else {
            warn("refusing to change anything without --yes when stdin is not a terminal; nothing was changed")
            return false
        }
        let what = enabling ? "enable \(TeardownText.count(keys, "key")) again" : "cancel the deletion of \(TeardownText.count(keys, "key"))"
        terminal.err("Type the store's name (\(name)) to \(what): ")
        guard terminal.readLine()?.trimmingCharacters(in: .whitespaces) == name else {
            say("Not confirmed: nothing was changed.")
            return false
        }
        return true
    }

    /// Observes the keys again and prints (or writes as JSON) each key with its state before and after.
    private func abortFinish(runner: TeardownRunner, given: AbortPreview, cancel: [String: String], enable: [String: String],
                             notes: [String], exit: TeardownExit) async -> Int32 {
        if let problem = journal.problem { warn(problem) }
        var plan: TeardownPlan? = try? await runner.refresh()
        if plan == nil { plan = await runner.plan }
        let observed = Dictionary(((await runner.observation)?.keys ?? []).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let ids = given.keyIds
        let enableAgain = Set(given.enableAgain)
        let keys = ids.map { id -> AbortedKey in
            let key = observed[id]
            var enableNote: String? = enable[id]
            if enableNote == nil {
                if given.stateBefore[id] == .disabled { enableNote = "not called: Disabled before the teardown" }
                else if given.stateBefore[id] != .enabled { enableNote = "not called: state before the teardown not known" }
                else if !options.enableAgain && enableAgain.contains(id) { enableNote = "not called: no --enable-again" }
            }
            return AbortedKey(keyId: id, aliases: key?.aliases ?? [], stateBefore: given.stateBefore[id]?.rawValue,
                              stateAfter: key?.state.rawValue ?? "Deleted", cancelDeletion: cancel[id], enableKey: enableNote)
        }
        if json {
            let report = AbortReport(store: plan?.storeName, storeId: plan?.storeId, teardown: await runner.record?.id,
                                     dryRun: options.dryRun, enableAgain: options.enableAgain,
                                     stateBeforeSource: runner.priorStates.source, keys: keys, notes: notes,
                                     exitStatus: exit.rawValue, journal: journal.url?.path, journalProblem: journal.problem)
            terminal.out(ScriptedJSON.encode(report))
        } else if !keys.isEmpty {
            say("Keys (state before the teardown -> now):")
            for k in keys {
                let alias = k.aliases.first.map { " \($0)" } ?? ""
                say("  \(k.keyId)\(alias): \(k.stateBefore ?? "unknown") -> \(k.stateAfter)")
            }
        }
        return exit.rawValue
    }
}
