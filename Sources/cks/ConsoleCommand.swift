import ArgumentParser
import CKSConsole
import CKSServer
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
        """)

    @Flag(help: "Run on a fresh temporary core seeded with a demo estate, with accelerated time.")
    var demo = false

    @Option(help: "Colour theme: default, light, high-contrast, colorblind, mono, or a user theme.")
    var theme: String?

    @Flag(help: "Draw with ASCII only (no box drawing or symbols).")
    var ascii = false

    @Flag(name: .customLong("read-only"), help: "Refuse every change (each refusal says why).")
    var readOnly = false

    @Option(help: "KMS endpoint URL of the core (else AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL, the profile, or the embedded core).")
    var endpoint: String?

    @Option(help: "AWS profile for credentials, region and endpoint.")
    var profile: String?

    @Option(help: "AWS region.")
    var region: String?

    func run() async throws {
        MallocArenas.limitForConsole()
        var flags = ConsoleFlags()
        flags.demo = demo
        flags.theme = theme
        flags.ascii = ascii
        flags.readOnly = readOnly
        flags.endpoint = endpoint
        flags.profile = profile
        flags.region = region
        let status = await ConsoleSession.run(flags)
        if status != 0 { throw ExitCode(status) }
    }
}
