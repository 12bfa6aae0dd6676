import ArgumentParser
import CKSClient
import CKSEmbedded
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

    @Flag(name: .customLong("all-contexts"),
          help: "List the stores of every context (~/.aws/config profiles, the embedded core, --endpoint) concurrently, with CONTEXT, ACCOUNT and REGION columns; a context that fails gets an error row. Exit status 0 when every context answered, else the status of the first failure.")
    var allContexts = false

    @Option(help: "With --all-contexts: the regions to list in each context, comma-separated (else each context's own).")
    var regions: String?

    func validate() throws {
        if regions != nil && !allContexts { throw ValidationError("--regions goes with --all-contexts") }
        if let regions, regions.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
            throw ValidationError("--regions takes names separated by commas, such as us-east-1,eu-west-1")
        }
    }

    func run() async throws {
        if allContexts {
            let resolver = ClientConfigurationResolver()
            var contexts = ClientContextCatalog(resolver: resolver, commandLine: client.flags).contexts
            if let only = client.context { contexts = contexts.filter { $0.name == only } }
            let list = (regions ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let status = await ScriptedVerbs.storesAllContexts(ScriptedOptions(flags: client.flags, output: output?.format),
                                                               regions: list, contexts: contexts,
                                                               open: { context in try await ClientConnection.open(context.flags) })
            if status != 0 { throw ExitCode(status) }
            return
        }
        let status = await ScriptedVerbs.stores(ScriptedOptions(flags: client.flags, output: output?.format),
                                                connect: ClientOptions.connect)
        if status != 0 { throw ExitCode(status) }
    }
}
