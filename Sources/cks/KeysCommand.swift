import ArgumentParser

// Placeholder until its issue lands; replace this whole file.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "keys", abstract: "List the keys of one custom key store.")
    func run() async throws { throw ValidationError("`cks keys` is not built yet") }
}
