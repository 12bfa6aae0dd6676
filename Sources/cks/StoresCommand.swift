import ArgumentParser

// Placeholder until its issue lands; replace this whole file.
struct StoresCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stores", abstract: "List the custom key stores.")
    func run() async throws { throw ValidationError("`cks stores` is not built yet") }
}
