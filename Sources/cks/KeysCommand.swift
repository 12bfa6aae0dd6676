import ArgumentParser
import CKSTeardown
import Foundation

/// `cks keys STORE`: the keys of one custom key store. Argument parsing only; CKSTeardown does the work.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "List the keys of one custom key store: id, aliases, state, deletion date, created.",
        discussion: scriptedHelp(ScriptedExit.keys))

    @Argument(help: "The custom key store, by id (cks-…) or by name.")
    var store: String

    @OptionGroup var client: ClientOptions

    @Option(help: "Output format: table (default on a terminal) or json (default otherwise).")
    var output: OutputChoice?

    func validate() throws {
        if store.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("STORE must not be empty") }
    }

    func run() async throws {
        let status = await ScriptedVerbs.keys(store: store, ScriptedOptions(flags: client.flags, output: output?.format),
                                              connect: ClientOptions.connect)
        if status != 0 { throw ExitCode(status) }
    }
}
