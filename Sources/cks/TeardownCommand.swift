import ArgumentParser
import CKSTeardown
import CKSDomain
import Foundation

/// `cks teardown STORE`: the guided teardown, scripted. Argument parsing only; CKSTeardown does the work.
struct TeardownCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "teardown",
        abstract: "Plan and run the safe teardown of a custom key store: schedule deletion of every key, wait, disconnect, delete.",
        discussion: """
        Prints the plan computed from what the endpoint shows now, then performs each step that is ready, after \
        confirmation (type the store's name on a terminal; --yes otherwise), until it has to wait, is blocked, or \
        the store is deleted. Run it again at any point: it continues where things stand. Each key's evidence is \
        gathered first (GetKeyLastUsage; grants, key policy and tags per key; one CloudTrail LookupEvents pass over \
        --lookback-days, 90 by default), and a key is flagged per reason: used, refused, grants, policy, unknown \
        (CloudTrail unreachable or denied), cancelled. Each reason must be acknowledged (--acknowledge KEY_ID for all \
        of a key's reasons, --acknowledge-reason REASON[,…], or --acknowledge-flagged for used, unknown and cancelled \
        only). --observe-days N first disables the keys (tagged cks:teardown=<id> and cks:observe on the endpoint) and \
        watches them N days: a refused call blocks (exit 11, reason observed) with the caller named; --abort then \
        re-enables exactly the keys it disabled. \
        Actions are journalled in $XDG_STATE_HOME/cks/teardowns.jsonl (else ~/.local/state/cks); a run obeys no \
        decision from it (its window is --window-days or 30, its acknowledgements are its own), and a refused or dry \
        run writes nothing. --abort cancels the deletion of every key the teardown scheduled (they come back \
        Disabled); --enable-again then enables those that were Enabled before it scheduled them.
        \(ScriptedExit.teardownHelp)
        """)

    @Argument(help: "The custom key store, by id (cks-…) or by name.")
    var store: String

    @Option(name: .customLong("window-days"), help: "Waiting period for the keys this teardown schedules, 7 to 30 days (default 30).")
    var windowDays: Int?

    @Flag(name: .customLong("dry-run"), help: "Print the plan (after the read-only use check) and change nothing.")
    var dryRun = false

    @Flag(help: "Do not ask for the store's name before changing anything (needed when stdin is not a terminal).")
    var yes = false

    @Flag(help: "Keep going through the waiting period, the disconnect and the delete, polling gently.")
    var wait = false

    @Option(help: "Output format: table (default on a terminal) or json (default otherwise).")
    var output: OutputChoice?

    @Option(name: .customLong("acknowledge"), help: ArgumentHelp("Acknowledge a flagged key for every reason it is flagged (used, refused, grants, policy, unknown, cancelled elsewhere); repeatable.", valueName: "KEY_ID"))
    var acknowledge: [String] = []

    @Flag(name: .customLong("acknowledge-flagged"), help: "Acknowledge every key flagged by the use check (they are listed in the output).")
    var acknowledgeFlagged = false

    @Option(name: .customLong("acknowledge-reason"), help: ArgumentHelp("Acknowledge flagged keys for these reasons (used, refused, grants, policy, unknown, cancelled, observed); repeatable. A key is acknowledged only when every one of its reasons is named.", valueName: "REASON[,REASON…]"))
    var acknowledgeReason: [String] = []

    @Option(name: .customLong("lookback-days"), help: "Days of CloudTrail events the evidence looks at (default 90, 1 to 90).")
    var lookbackDays: Int?

    @Option(name: .customLong("observe-days"), help: "Before scheduling, disable the keys (tagged cks:teardown=<id>) and watch this many days for refused calls (1 to 30; off by default).")
    var observeDays: Int?

    @Option(name: .customLong("lookup-events-rate"), help: "LookupEvents requests per second (default CloudTrail's quota, 2; unpaced against a cks core).")
    var lookupEventsRate: Double?

    @Flag(name: .customLong("accept-orphaned-key-material"), help: "Let the wait run while a CloudHSM store is not connected instead of reconnecting it (orphans key material).")
    var acceptOrphanedKeyMaterial = false

    @Option(name: .customLong("poll-seconds"), help: "Seconds between observations while waiting with --wait (default 5).")
    var pollSeconds: Double = 5

    @Flag(help: "Abort the teardown: cancel the deletion of every key it scheduled (they come back Disabled, as KMS does).")
    var abort = false

    @Flag(name: .customLong("enable-again"), help: "With --abort: enable the keys that were Enabled before the teardown scheduled them (the others stay Disabled).")
    var enableAgain = false

    @OptionGroup var client: ClientOptions

    func validate() throws {
        if store.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("STORE must not be empty") }
        if let days = windowDays, PendingWindow(days: days) == nil {
            throw ValidationError("--window-days must be between 7 and 30 (got \(days))")
        }
        if !(pollSeconds > 0) { throw ValidationError("--poll-seconds must be positive") }
        if let days = lookbackDays, !(1...90).contains(days) { throw ValidationError("--lookback-days must be between 1 and 90 (CloudTrail keeps 90 days of events; got \(days))") }
        if let days = observeDays, !(1...30).contains(days) { throw ValidationError("--observe-days must be between 1 and 30 (got \(days))") }
        if let rate = lookupEventsRate, !(rate > 0) { throw ValidationError("--lookup-events-rate must be positive") }
        for list in acknowledgeReason {
            if case .failure(let bad) = EvidenceReason.parseList(list) { throw ValidationError("--acknowledge-reason: \(bad)") }
        }
        if enableAgain && !abort { throw ValidationError("--enable-again goes with --abort") }
        if abort {
            let others = [("--window-days", windowDays != nil), ("--wait", wait), ("--acknowledge", !acknowledge.isEmpty),
                          ("--acknowledge-flagged", acknowledgeFlagged), ("--acknowledge-reason", !acknowledgeReason.isEmpty),
                          ("--observe-days", observeDays != nil), ("--accept-orphaned-key-material", acceptOrphanedKeyMaterial)]
            if let clash = others.first(where: { $0.1 }) { throw ValidationError("\(clash.0) does not go with --abort") }
        }
    }

    func run() async throws {
        var options = TeardownScriptOptions()
        options.window = windowDays.flatMap(PendingWindow.init(days:))
        options.dryRun = dryRun
        options.yes = yes
        options.wait = wait
        options.json = output.map { $0 == .json }
        options.acknowledgeKeys = acknowledge
        options.acknowledgeFlagged = acknowledgeFlagged
        options.acknowledgeReasons = Set(acknowledgeReason.flatMap { (try? EvidenceReason.parseList($0).get()) ?? [] })
        options.lookbackDays = lookbackDays
        options.observeDays = observeDays
        options.lookupEventsRate = lookupEventsRate
        options.acceptOrphanedKeyMaterial = acceptOrphanedKeyMaterial
        options.pollInterval = pollSeconds
        options.abort = abort
        options.enableAgain = enableAgain
        let status = await TeardownScript.main(store: store, options: options, flags: client.flags,
                                                connect: ClientOptions.connect)
        if status != 0 { throw ExitCode(status) }
    }
}
