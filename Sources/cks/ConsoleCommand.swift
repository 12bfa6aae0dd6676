import ArgumentParser

// Placeholder until its issue lands; replace this whole file.
struct ConsoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "console", abstract: "Open the console (the default).")
    func run() async throws { throw ValidationError("`cks console` is not built yet") }
}
