import ArgumentParser

// Placeholder until its issue lands; replace this whole file.
struct TeardownCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "teardown", abstract: "Plan and run the safe teardown of a custom key store.")
    func run() async throws { throw ValidationError("`cks teardown` is not built yet") }
}
