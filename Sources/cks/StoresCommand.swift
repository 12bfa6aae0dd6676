import ArgumentParser
import CKSTeardown

/// `cks stores`: the custom key stores. Argument parsing only; CKSTeardown does the work.
struct StoresCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stores",
        abstract: "List the custom key stores: name, id, type, connection state, key and pending counts, created.",
        discussion: scriptedHelp(ScriptedExit.stores))

    @OptionGroup var client: ClientOptions

    @Option(help: "Output format: table (default on a terminal) or json (default otherwise).")
    var output: OutputChoice?

    func run() async throws {
        let status = await ScriptedVerbs.stores(ScriptedOptions(flags: client.flags, output: output?.format),
                                                connect: ClientOptions.connect)
        if status != 0 { throw ExitCode(status) }
    }
}
