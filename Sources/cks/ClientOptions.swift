import ArgumentParser
import CKSClient
import CKSEmbedded
import CKSTeardown

/// `--endpoint`, `--profile`, `--region`: where the client goes and as whom. Each wins over the environment and
/// the ~/.aws files; with no endpoint anywhere, the core runs inside the process.
struct ClientOptions: ParsableArguments {
    @Option(help: "KMS endpoint URL (else AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL, the profile's endpoint_url, or an embedded core).")
    var endpoint: String?

    @Option(help: "AWS profile in ~/.aws/config and ~/.aws/credentials (else AWS_PROFILE, else default).")
    var profile: String?

    @Option(help: "AWS region (else AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else us-east-1).")
    var region: String?

    @Option(help: "Context: a profile's name, embedded, or endpoint (--endpoint); else CKS_CONTEXT. `:ctx` in the console lists them.")
    var context: String?

    var flags: ClientFlags { ClientFlags(endpoint: endpoint, profile: profile, region: region, context: context) }

    /// The scripted verbs' connection: resolved the AWS way, the embedded core when nothing names an endpoint.
    static let connect: ScriptedVerbs.Connect = { flags in try await ClientConnection.open(flags) }
}

/// `--output table|json` of the scripted verbs.
enum OutputChoice: String, ExpressibleByArgument, CaseIterable {
    case table, json

    var format: ScriptedOutputFormat { self == .table ? .table : .json }
}

/// A verb's help: what it says on errors, and the exit statuses it can return (from the one list, `ScriptedExit`).
func scriptedHelp(_ statuses: [ScriptedExit]) -> String {
    "Errors print the AWS error type and message on stderr, in one line. With no endpoint configured, the verb says "
        + "so on stderr and uses a core started inside the process. " + ScriptedExit.help(statuses)
}
