import ArgumentParser

// Placeholder until its issue lands; replace this whole file.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the core: the local KMS custom key store service.")
    func run() async throws { throw ValidationError("`cks serve` is not built yet") }
}
