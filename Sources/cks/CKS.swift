import ArgumentParser
import CKSTeardown

/// `cks`: with no subcommand, the console; `serve` runs the core; the rest are scriptable verbs.
@main
struct CKS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cks",
        abstract: "The custom key store console: list AWS KMS custom key stores and tear them down safely.",
        discussion: """
        Shell completion: cks --generate-completion-script bash|zsh|fish (see the README for where to put it).
        """,
        version: "cks \(CKSVersion.current)",
        subcommands: [ConsoleCommand.self, ServeCommand.self, StoresCommand.self, KeysCommand.self, TeardownCommand.self,
                      XksProxyCommand.self, ReplayCommand.self],
        defaultSubcommand: ConsoleCommand.self
    )

    static func main() async {
        await main(AutopilotArguments.rewrite(Array(CommandLine.arguments.dropFirst())))
    }
}
