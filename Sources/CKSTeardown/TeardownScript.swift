import CKSClient
import CKSDomain
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Exit statuses of `cks teardown`: the one list of every verb (`ScriptedExit`), 10–12 saying where it stands.
public typealias TeardownExit = ScriptedExit

extension ScriptedExit {
    /// The status for a failed teardown call: `EndpointProblem`'s classification when the call came from the KMS
    /// client, else the mapping of AWS error types.
    public static func status(for error: TeardownCallError) -> ScriptedExit {
        if let exit = error.exit { return exit }
        if error.isTransport { return error.typeName == "NoCredentialsError" ? .configuration : .cannotReachEndpoint }
        return error.code.map(ScriptedExit.status(for:)) ?? .failure
    }
}

/// What `cks teardown` was asked, after argument parsing.
public struct TeardownScriptOptions: Sendable {
    public var window: PendingWindow?
    public var dryRun = false
    public var yes = false
    public var wait = false
    /// nil → table on a terminal, JSON otherwise.
    public var json: Bool?
    /// Keys the operator acknowledges by id, for every reason each is flagged.
    public var acknowledgeKeys: [String] = []
    /// Acknowledge every key flagged when the check runs (they are listed in the output), for the reasons this flag
    /// covered before evidence existed (`EvidenceReason.flaggedBeforeEvidence`: used, unknown, cancelled) and no other.
    public var acknowledgeFlagged = false
    /// `--acknowledge-reason`: the reasons accepted; a key is acknowledged only when every one of its reasons is named.
    public var acknowledgeReasons: Set<EvidenceReason> = []
    /// `--lookback-days`: days of CloudTrail the evidence covers (default 90).
    public var lookbackDays: Int?
    /// `--observe-days`: disable the keys and watch them this many days before scheduling (off by default).
    public var observeDays: Int?
    /// `--lookup-events-rate`: LookupEvents per second (default CloudTrail's 2; unpaced against a cks core).
    public var lookupEventsRate: Double?
    /// Let the wait run on a CloudHSM store that is not connected, orphaning key material.
    public var acceptOrphanedKeyMaterial = false
    /// `--abort`: cancel the deletion of every key this teardown scheduled (they come back Disabled).
    public var abort = false
    /// `--enable-again` (with `--abort`): then enable the keys that were Enabled before the teardown scheduled them.
    public var enableAgain = false
    /// Seconds between observations while waiting for deletions with `--wait`.
    public var pollInterval: TimeInterval = 5
    /// Extra attempts for keys whose call failed with a retryable error.
    public var retries = 2

    public init() {}
}

/// Where the scripted teardown reads and writes; injectable for tests.
public struct TeardownTerminal: Sendable {
    public var out: @Sendable (String) -> Void
    public var err: @Sendable (String) -> Void
    public var stdinIsTerminal: Bool
    public var stdoutIsTerminal: Bool
    public var readLine: @Sendable () -> String?

    public init(out: @escaping @Sendable (String) -> Void, err: @escaping @Sendable (String) -> Void,
                stdinIsTerminal: Bool, stdoutIsTerminal: Bool, readLine: @escaping @Sendable () -> String?) {
        self.out = out
        self.err = err
        self.stdinIsTerminal = stdinIsTerminal
        self.stdoutIsTerminal = stdoutIsTerminal
        self.readLine = readLine
    }

    public static var standard: TeardownTerminal {
        TeardownTerminal(out: { FileHandle.standardOutput.write(Data($0.utf8)) },
                         err: { FileHandle.standardError.write(Data($0.utf8)) },
                         stdinIsTerminal: isatty(STDIN_FILENO) == 1, stdoutIsTerminal: isatty(STDOUT_FILENO) == 1,
                         readLine: { Swift.readLine(strippingNewline: true) })
    }
}

/// `cks teardown STORE`: prints the plan, then (unless `--dry-run`) performs each ready step after the operator's
/// confirmation, until the teardown waits, is blocked or is done. Idempotent: it observes first, every time.
public struct TeardownScript: Sendable {
    public var store: String
    public var options: TeardownScriptOptions
    public var service: any TeardownService
    public var journal: TeardownJournal
    public var terminal: TeardownTerminal
    public var sleep: @Sendable (Duration) async throws -> Void
    /// Where calls go and as whom, for what error messages say to check.
    public var context: EndpointContext?
    /// The last evidence pass's figures, for the JSON report.
    let evidenceFigures = EvidenceFigures()

    public init(store: String, options: TeardownScriptOptions, service: any TeardownService, journal: TeardownJournal,
                terminal: TeardownTerminal = .standard,
                sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }) {
        self.store = store
        self.options = options
        self.service = service
        self.journal = journal
        self.terminal = terminal
        self.sleep = sleep
    }

    var json: Bool { options.json ?? !terminal.stdoutIsTerminal }
    func say(_ line: String) { if !json { terminal.out(line + "\n") } }
    func warn(_ line: String) { terminal.err("cks: \(line)\n") }

    /// Runs the teardown (or, with `--abort`, its abort); returns the exit status.
    public func run() async -> Int32 {
        if let report = TeardownJournal.report(journal.read().skipped, url: journal.url) { warn(report) }
        if options.abort { return await runAbort() }
        let runner = TeardownRunner(service: service, journal: journal, store: store, window: options.window, sleep: sleep)
        await runner.setEvidenceOptions(lookbackDays: options.lookbackDays, observeDays: options.observeDays)
        var performed: [TeardownReport.Performed] = []
        var plan: TeardownPlan
        do { plan = try await runner.refresh() } catch { return fail(error, plan: nil, performed: []) }
        var now = await runner.observation?.now ?? Date()
        if await runner.resumed { say("Resuming the teardown of \(plan.storeName ?? store) recorded in \(journal.url?.path ?? "the journal").") }
        // Reading is not changing: the use check runs even in a dry run, so the plan shows the flagged keys.
        while plan.status == .ready, !plan.action.changesState, plan.action != .none {
            do { plan = try await runner.perform(plan.action).plan } catch TeardownRunError.planChanged(let fresh) { plan = fresh } catch {
                return fail(error, plan: plan, performed: performed)
            }
            if let pass = await runner.lastEvidencePass { evidenceFigures.set(pass, keys: pass.evidence.count) }
        }
        // A dry run takes the acknowledgements given on the command line into account (in memory only), so it
        // shows, and exits with, what the same command without --dry-run would do next.
        if options.dryRun, case .blocked = plan.status, let acks = acknowledgementsFromOptions(plan), !acks.isEmpty {
            plan = await runner.acknowledge(acks, journaled: false) ?? plan
            say("Acknowledged for this dry run (not recorded): \(acks.map(\.journalTarget).joined(separator: ", "))")
        }
        TeardownPlanText.lines(plan, now: now).forEach(say)
        // What was printed: the final lines repeat only what changed since.
        let shown = plan

        if options.dryRun {
            say("Dry run: nothing was changed.")
            return finish(plan, now: now, performed: performed, exit: Self.exit(for: plan))
        }

        var confirmed = options.yes
        var failedAttempts = 0
        var lastWaitLine = ""
        for _ in 0..<100_000 {
            now = await runner.observation?.now ?? now
            switch plan.status {
            case .done:
                if plan != shown { say("Done: the store \(plan.storeName ?? store) is deleted.") }
                return finish(plan, now: now, performed: performed, exit: .done, showNotDeleted: plan != shown)

            case .blocked(let reason):
                if let acks = acknowledgementsFromOptions(plan), !acks.isEmpty {
                    plan = await runner.acknowledge(acks) ?? plan
                    say("Acknowledged: \(acks.map(\.journalTarget).joined(separator: ", "))")
                    continue
                }
                if case .acknowledge(let flags) = plan.action, terminal.stdinIsTerminal, !options.yes,
                   askAcknowledgement(flags, now: now) {
                    plan = await runner.acknowledge(flags.map(\.acknowledgement)) ?? plan
                    continue
                }
                if plan != shown {
                    if case .acknowledge(let flags) = plan.action {
                        for flag in flags { say("  needs acknowledgement: \(flag.keyId) \(flag.aliases.joined(separator: ",")): \(TeardownPlanText.reason(flag.reason, now: now))") }
                    }
                    say("Blocked: \(reason)")
                }
                if case .acknowledge(let flags) = plan.action {
                    let reasons = Set(flags.map(\.reason.name)).sorted().map(\.rawValue).joined(separator: ",")
                    if flags.contains(where: { $0.reason.name == .observed }) {
                        say("Calls were refused while the keys were disabled: something still uses them. Re-enable the keys "
                            + "the teardown disabled and stop with --abort, or go on with --acknowledge-reason observed "
                            + "(or --acknowledge KEY_ID), then run again.")
                    } else {
                        say("Acknowledge with --acknowledge KEY_ID (every reason shown for that key), --acknowledge-reason "
                            + "\(reasons) (a key only when all its reasons are named), or --acknowledge-flagged "
                            + "(used, unknown, cancelled only), then run again.")
                    }
                }
                return finish(plan, now: now, performed: performed, exit: .blocked)

            case .waiting:
                if case .waitForObservation = plan.action, !options.wait {
                    say("\(TeardownPlanText.action(plan.action, now: now)). Run this command again later, or with --wait, to continue.")
                    return finish(plan, now: now, performed: performed, exit: .waiting)
                }
                if case .waitForDeletion = plan.action, !options.wait {
                    say("\(TeardownPlanText.action(plan.action, now: now)). Run this command again later, or with --wait, to continue.")
                    return finish(plan, now: now, performed: performed, exit: .waiting)
                }
                if !options.wait {
                    say("\(TeardownPlanText.action(plan.action, now: now)). Run this command again shortly, or with --wait.")
                    return finish(plan, now: now, performed: performed, exit: .waiting)
                }
                let line = TeardownPlanText.action(plan.action)
                if line != lastWaitLine { say("\(line) ..."); lastWaitLine = line }
                let seconds: TimeInterval = {
                    switch plan.action {
                    case .waitForDeletion, .waitForObservation: return options.pollInterval
                    default: return 1
                    }
                }()
                do { try await sleep(.milliseconds(Int(max(0.01, seconds) * 1000))) } catch {
                    return finish(plan, now: now, performed: performed, exit: .waiting)
                }
                do { plan = try await runner.refresh(); failedAttempts = 0 } catch {
                    failedAttempts += 1
                    if failedAttempts > options.retries { return fail(error, plan: plan, performed: performed) }
                }

            case .ready:
                let action = plan.action
                if action.changesState && !confirmed {
                    if case .reconnect = action, options.acceptOrphanedKeyMaterial, let id = plan.storeId {
                        plan = await runner.acknowledge([TeardownAcknowledgement(.orphanKeyMaterial, id)]) ?? plan
                        continue
                    }
                    guard terminal.stdinIsTerminal else {
                        warn("refusing to change anything without --yes when stdin is not a terminal; nothing was changed")
                        return finish(plan, now: now, performed: performed, exit: .blocked)
                    }
                    guard let name = plan.storeName, askName(name, action: action, now: now) else {
                        say("Not confirmed: nothing was changed.")
                        return finish(plan, now: now, performed: performed, exit: .blocked)
                    }
                    confirmed = true
                }
                say("\(TeardownPlanText.action(action, now: now)) ...")
                do {
                    let outcome = try await runner.perform(action, confirmedName: plan.storeName)
                    if !outcome.results.isEmpty { performed.append(Self.performed(action, outcome.results)) }
                    report(action, outcome.results)
                    plan = outcome.plan
                    let failed = outcome.failed
                    if !failed.isEmpty {
                        failedAttempts += 1
                        let retryable = failed.allSatisfy { $0.error?.isTransport == true || $0.error?.code?.isRetryable == true }
                        if !retryable || failedAttempts > options.retries {
                            let status = failed.first?.error.map(TeardownExit.status(for:)) ?? .failure
                            return finish(plan, now: now, performed: performed, exit: status == .done ? .failure : status)
                        }
                        say("Retrying \(TeardownText.count(failed.count, "failed call")) ...")
                        try? await sleep(.milliseconds(500 << min(failedAttempts, 5)))
                    } else {
                        failedAttempts = 0
                    }
                } catch TeardownRunError.planChanged(let fresh) {
                    plan = fresh
                } catch {
                    return fail(error, plan: plan, performed: performed)
                }
            }
        }
        return finish(plan, now: now, performed: performed, exit: .failure)
    }

    static func exit(for plan: TeardownPlan) -> TeardownExit {
        switch plan.status {
        case .done: return .done
        case .waiting: return .waiting
        case .blocked: return .blocked
        case .ready: return plan.action.changesState ? .wouldAct : .waiting
        }
    }

    /// Acknowledgements the flags give for what the plan is blocked on, if any. `--acknowledge KEY_ID` covers every
    /// reason shown for that key; `--acknowledge-reason` and `--acknowledge-flagged` name reasons, and a key is
    /// acknowledged only when every one of its reasons in this decision is named (never a blanket yes).
    private func acknowledgementsFromOptions(_ plan: TeardownPlan) -> [TeardownAcknowledgement]? {
        guard case .acknowledge(let flags) = plan.action else { return nil }
        let keys = Set(options.acknowledgeKeys)
        let named = options.acknowledgeReasons.union(options.acknowledgeFlagged ? EvidenceReason.flaggedBeforeEvidence : [])
        let byKey = Dictionary(grouping: flags, by: \.keyId)
        return flags.filter { flag in
            keys.contains(flag.keyId) || (byKey[flag.keyId] ?? []).allSatisfy { named.contains($0.reason.name) }
        }.map(\.acknowledgement)
    }

    private func askAcknowledgement(_ flags: [FlaggedKey], now: Date) -> Bool {
        terminal.err("These keys need an acknowledgement before their deletion is scheduled:\n")
        for flag in flags { terminal.err("  \(flag.keyId) \(flag.aliases.joined(separator: ",")): \(TeardownPlanText.reason(flag.reason, now: now))\n") }
        terminal.err("AWS advises disabling a key and watching for failures before deleting it. Type 'acknowledge' to go on: ")
        return terminal.readLine()?.trimmingCharacters(in: .whitespaces) == "acknowledge"
    }

    func askName(_ name: String, action: TeardownAction, now: Date) -> Bool {
        terminal.err("Next: \(TeardownPlanText.action(action, now: now)).\n")
        terminal.err("This run will change the store and its keys step by step as planned above. Type the store's name (\(name)) to go ahead: ")
        return terminal.readLine()?.trimmingCharacters(in: .whitespaces) == name
    }

    private func report(_ action: TeardownAction, _ results: [TeardownCallResult]) {
        guard !results.isEmpty else { return }
        let ok = results.filter(\.succeeded).count
        let name = action.calls.map(\.rawValue).joined(separator: "+")
        say("  \(name): \(ok) of \(results.count) succeeded")
        for failure in results where !failure.succeeded {
            say("  failed \(failure.target): \(failure.error?.description ?? "?")")
        }
    }

    static func performed(_ action: TeardownAction, _ results: [TeardownCallResult]) -> TeardownReport.Performed {
        TeardownReport.Performed(
            operation: action.calls.map(\.rawValue).joined(separator: "+"), targets: results.count,
            succeeded: results.filter(\.succeeded).count,
            failures: Dictionary(results.compactMap { r in r.error.map { (r.target, $0.description) } }, uniquingKeysWith: { a, _ in a }),
            requestIds: results.compactMap(\.requestId))
    }

    func fail(_ error: any Error, plan: TeardownPlan?, performed: [TeardownReport.Performed]) -> Int32 {
        let status: TeardownExit
        switch error {
        case TeardownRunError.storeNotFound(let s):
            warn("CustomKeyStoreNotFoundException: no custom key store \(s), and no teardown of it in the journal")
            status = .notFound
        case TeardownRunError.call(let e):
            warn(e.description)
            if e.exit == .accessDenied, let context { warn("check \(context.checkList)") }
            status = TeardownExit.status(for: e)
        case TeardownRunError.confirmationMismatch, TeardownRunError.notAllowed:
            warn("\(error)")
            status = .blocked
        default:
            warn("\(error)")
            status = .failure
        }
        if let plan { return finish(plan, now: Date(), performed: performed, exit: status) }
        if json { terminal.out("{\"error\":\(Self.quoted("\(error)")),\"exitStatus\":\(status.rawValue)}\n") }
        return status.rawValue
    }

    private func finish(_ plan: TeardownPlan, now: Date, performed: [TeardownReport.Performed], exit: TeardownExit,
                        showNotDeleted: Bool = false) -> Int32 {
        if let problem = journal.problem { warn(problem) }
        if json {
            var report = TeardownReport(plan: plan, now: now, performed: performed, dryRun: options.dryRun,
                                        exitStatus: exit.rawValue, journal: journal.url?.path,
                                        journalProblem: journal.problem)
            report.evidencePass = evidenceFigures.get()
            terminal.out(report.json())
        } else if plan.status == .done && showNotDeleted {
            say("Not deleted:")
            plan.notDeleted.forEach { say("  - \($0)") }
        }
        return exit.rawValue
    }

    static func quoted(_ s: String) -> String {
        (try? String(decoding: JSONEncoder().encode(s), as: UTF8.self)) ?? "\"\""
    }
}

/// The figures of the last evidence pass, kept across the script's steps.
final class EvidenceFigures: Sendable {
    private let value = Mutex<TeardownReport.EvidencePassFigures?>(nil)
    func set(_ pass: EvidencePass, keys: Int) {
        value.withLock { $0 = .init(lookupEventsRequests: pass.lookupRequests, eventsRead: pass.eventsRead, keys: keys) }
    }
    func get() -> TeardownReport.EvidencePassFigures? { value.withLock { $0 } }
}

extension TeardownScript {
    /// `cks teardown STORE` end to end: connect the AWS way (the embedded core when nothing names an endpoint),
    /// run the teardown over the project's KMS client, journal under the state directory, close. Returns the exit status.
    public static func main(store: String, options: TeardownScriptOptions, flags: ClientFlags,
                            environment: [String: String] = ProcessInfo.processInfo.environment,
                            terminal: TeardownTerminal = .standard,
                            connect: ScriptedVerbs.Connect) async -> Int32 {
        let connection: any ClientSession
        do {
            connection = try await connect(flags)
        } catch {
            for line in ScriptedExit.message(for: error) { terminal.err("cks: \(line)\n") }
            return ScriptedExit.status(for: error).rawValue
        }
        if let note = connection.embeddedNote { terminal.err("cks: \(note)\n") }
        let service: KMSClientTeardownService
        if let embedded = connection.embeddedIdentity {
            service = KMSClientTeardownService(client: connection.client, account: embedded.account,
                                               principal: embedded.principal,
                                               endpointIdentity: TeardownJournal.endpointIdentity(embeddedDataDirectory: embedded.dataDirectory),
                                               lookupRequestsPerSecond: options.lookupEventsRate)
        } else {
            // CloudTrail's own endpoint when one is configured apart from KMS's (AWS_ENDPOINT_URL_CLOUDTRAIL, ...).
            let trail = try? ClientConfigurationResolver(environment: environment).resolve(flags, service: "cloudtrail")
            var trailEndpoint: URL?
            if case .remote(let url)? = trail?.endpoint, url != connection.client.endpoint { trailEndpoint = url }
            service = KMSClientTeardownService(client: connection.client, cloudTrailEndpoint: trailEndpoint,
                                               lookupRequestsPerSecond: options.lookupEventsRate)
        }
        let journal = TeardownJournal(url: TeardownJournal.defaultURL(environment: environment))
        var script = TeardownScript(store: store, options: options, service: service, journal: journal, terminal: terminal)
        script.context = connection.context
        let status = await script.run()
        await connection.close()
        return status
    }
}
