import ArgumentParser
import CKSConsole
import CKSEmbedded
import CKSTeardown
import Foundation

/// `cks` / `cks console`: the console. Argument parsing only; CKSConsole does the rest.
struct ConsoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "Open the console (the default): browse custom key stores and keys, act on them safely.",
        discussion: """
        With no endpoint configured (flag, AWS_ENDPOINT_URL_KMS / AWS_ENDPOINT_URL, profile), the core runs \
        inside the process. When stdout is not a terminal, the stores table is printed instead.
        Themes: --theme NAME, CKS_THEME, or `theme = NAME` in $XDG_CONFIG_HOME/cks/config; NO_COLOR=1 for no colour.
        \(ScriptedExit.help(ScriptedExit.console))
        """)

    @Flag(help: "Run on a fresh temporary core seeded with a demo estate, with accelerated time.")
    var demo = false

    @Option(help: "Colour theme: default, light, high-contrast, colorblind, mono, or a user theme.")
    var theme: String?

    @Flag(help: "Draw with ASCII only (no box drawing or symbols).")
    var ascii = false

    @Flag(name: .customLong("read-only"), help: "Refuse every change (each refusal says why).")
    var readOnly = false

    @Flag(help: "With --demo: play a scenario (default teardown; --list lists them): Space pauses, → steps, q quits, any other key takes over.")
    var autopilot = false

    @Option(name: .customLong("scenario"), help: ArgumentHelp("The scenario --autopilot plays (`--autopilot NAME` also works): a name from --list or a path to a .scenario file.", valueName: "name-or-path"))
    var scenario: String?

    @Flag(help: "With --autopilot: list the scenarios and exit.")
    var list = false

    @Flag(name: .customLong("exit-at-end"), help: "With --autopilot: quit when the scenario ends (status 0; 1 when it stopped on a problem).")
    var exitAtEnd = false

    @Option(help: ArgumentHelp("With --autopilot: times the reading time of captions and the beat between keys (0 as fast as the screen allows).", valueName: "factor"))
    var pace: Double = 1

    @Option(help: ArgumentHelp("Record the session as an asciicast v2 file (play it with `cks replay` or asciinema). Refused on a real endpoint without --record-anyway.", valueName: "file.cast"))
    var record: String?

    @Flag(name: .customLong("record-anyway"), help: "Record a real endpoint's session (access key ids are masked; account ids, key ids and names are not).")
    var recordAnyway = false

    @OptionGroup var client: ClientOptions

    func run() async throws {
        AllocatorPolicy.limitForConsole()
        var flags = ConsoleFlags()
        flags.demo = demo
        flags.theme = theme
        flags.ascii = ascii
        flags.readOnly = readOnly
        flags.client = client.flags
        flags.autopilot = autopilot
        flags.scenario = scenario
        flags.listScenarios = list
        flags.exitAtEnd = exitAtEnd
        flags.pace = pace
        flags.record = record
        flags.recordAnyway = recordAnyway
        let status = await ConsoleSession.run(flags)
        if status != 0 { throw ExitCode(status) }
    }
}

/// `cks replay FILE.cast`: plays a recording back in the terminal.
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Play an asciicast v2 recording (cks --record, asciinema) back in the terminal.",
        discussion: "The output is written as recorded, at its pace (times --speed); the last frame stays on the screen. Exit status: 0 played, 1 unreadable, 130 interrupted.")

    @Argument(help: ArgumentHelp("The recording.", valueName: "file.cast"))
    var file: String

    @Option(help: "Play this many times faster (0.1 to 1000).")
    var speed: Double = 1

    @Option(name: .customLong("idle-limit"), help: ArgumentHelp("Cap every pause at this many seconds.", valueName: "seconds"))
    var idleLimit: Double?

    func validate() throws {
        guard speed >= 0.1, speed <= 1000 else { throw ValidationError("--speed takes 0.1 to 1000 (2 plays twice as fast)") }
        if let idleLimit, idleLimit <= 0 { throw ValidationError("--idle-limit takes a positive number of seconds") }
    }

    func run() async throws {
        let status = await Replay.run(URL(fileURLWithPath: file), speed: speed, idleLimit: idleLimit)
        if status != 0 { throw ExitCode(status) }
    }
}

/// `--autopilot NAME`: the scenario may follow the flag, as `--scenario NAME`; its name must not be taken for a
/// subcommand (`teardown` is both).
enum AutopilotArguments {
    static func rewrite(_ arguments: [String]) -> [String] {
        var out: [String] = []
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            out.append(a)
            if a == "--autopilot", i + 1 < arguments.count, !arguments[i + 1].hasPrefix("-") {
                out.append(contentsOf: ["--scenario", arguments[i + 1]])
                i += 1
            }
            i += 1
        }
        return out
    }
}
