import ArgumentParser
import CKSConsole
import CKSDomain
import Foundation

/// `cks teardown STORE`: the guided teardown, scripted. Argument parsing only; CKSConsole does the work.
struct TeardownCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "teardown",
        abstract: "Plan and run the safe teardown of a custom key store: schedule deletion of every key, wait, disconnect, delete.",
        discussion: """
        Prints the plan computed from what the endpoint shows now, then performs each step that is ready, after \
        confirmation (type the store's name on a terminal; --yes otherwise), until it has to wait, is blocked, or \
        the store is deleted. Run it again at any point: it continues where things stand. Keys used in the last \
        30 days, or whose use is unknown, must be acknowledged (--acknowledge KEY_ID or --acknowledge-flagged). \
        Actions are journalled in $XDG_STATE_HOME/cks/teardowns.jsonl (else ~/.local/state/cks).
        Exit status: 0 done (the store is deleted), 10 waiting (run again later, or use --wait), 11 blocked (a \
        decision is needed: see the output), 12 --dry-run with a change to make, 1 a call failed, 2 not found, \
        3 access denied, 4 invalid state, 5 cannot reach the endpoint, 6 configuration error, 64 usage error.
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

    @Option(name: .customLong("acknowledge"), help: ArgumentHelp("Acknowledge a flagged key (recent or unknown use, or deletion cancelled by someone else); repeatable.", valueName: "KEY_ID"))
    var acknowledge: [String] = []

    @Flag(name: .customLong("acknowledge-flagged"), help: "Acknowledge every key flagged by the use check (they are listed in the output).")
    var acknowledgeFlagged = false

    @Flag(name: .customLong("accept-orphaned-key-material"), help: "Let the wait run while a CloudHSM store is not connected instead of reconnecting it (orphans key material).")
    var acceptOrphanedKeyMaterial = false

    @Option(name: .customLong("poll-seconds"), help: "Seconds between observations while waiting with --wait (default 5).")
    var pollSeconds: Double = 5

    @OptionGroup var client: ClientOptions

    func validate() throws {
        if store.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("STORE must not be empty") }
        if let days = windowDays, PendingWindow(days: days) == nil {
            throw ValidationError("--window-days must be between 7 and 30 (got \(days))")
        }
        if !(pollSeconds > 0) { throw ValidationError("--poll-seconds must be positive") }
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
        options.acceptOrphanedKeyMaterial = acceptOrphanedKeyMaterial
        options.pollInterval = pollSeconds
        let status = await TeardownScript.main(store: store, options: options, flags: client.flags)
        if status != 0 { throw ExitCode(status) }
    }
}
