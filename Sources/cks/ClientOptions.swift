import ArgumentParser
import CKSClient
import CKSConsole

/// `--endpoint`, `--profile`, `--region`: where the client goes and as whom. Each wins over the environment and
/// the ~/.aws files; with no endpoint anywhere, the core runs inside the process.
struct ClientOptions: ParsableArguments {
    @Option(help: "KMS endpoint URL (else AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL, the profile's endpoint_url, or an embedded core).")
    var endpoint: String?

    @Option(help: "AWS profile in ~/.aws/config and ~/.aws/credentials (else AWS_PROFILE, else default).")
    var profile: String?

    @Option(help: "AWS region (else AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else us-east-1).")
    var region: String?

    var flags: ClientFlags { ClientFlags(endpoint: endpoint, profile: profile, region: region) }
}

/// `--output table|json` of the scripted verbs.
enum OutputChoice: String, ExpressibleByArgument, CaseIterable {
    case table, json

    var format: ScriptedOutputFormat { self == .table ? .table : .json }
}

/// The exit statuses, for the verbs' help text.
let scriptedExitHelp = """
Exit status: 0 ok, 1 other error, 2 not found, 3 access denied, 4 invalid state, \
5 cannot reach the endpoint, 6 configuration error, 64 usage error. \
Errors print the AWS error type and message on stderr.
"""
