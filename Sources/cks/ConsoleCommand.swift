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

    @OptionGroup var client: ClientOptions

    func run() async throws {
        AllocatorPolicy.limitForConsole()
        var flags = ConsoleFlags()
        flags.demo = demo
        flags.theme = theme
        flags.ascii = ascii
        flags.readOnly = readOnly
        flags.client = client.flags
        let status = await ConsoleSession.run(flags)
        if status != 0 { throw ExitCode(status) }
    }
}
