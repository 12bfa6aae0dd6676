import CKSClient
import CKSDomain
import Foundation

/// Exit statuses of `cks`: the scripted verbs (`cks stores`, `cks keys`, `cks teardown`, whose own 10–12 are in
/// `TeardownExit`) and the console. One list; the help texts and the README say which a verb can return.
///
/// | status | meaning |
/// |---|---|
/// | 0 | success |
/// | 1 | any other failure (another AWS error, an unreadable answer) |
/// | 2 | not found: `NotFoundException`, `CustomKeyStoreNotFoundException` |
/// | 3 | access denied: the credentials are refused (`UnrecognizedClientException`, signature errors) or not allowed (`AccessDeniedException`) |
/// | 4 | invalid state: `KMSInvalidStateException`, `CustomKeyStoreInvalidStateException`, `CustomKeyStoreHasCMKsException`, `DisabledException` |
/// | 5 | cannot reach the endpoint: refused, unresolvable, connection lost, timed out |
/// | 6 | configuration: no credentials, unknown profile, malformed endpoint, an endpoint without custom key stores |
/// | 64 | usage: bad arguments (swift-argument-parser's own status) |
/// | 130 | interrupted (Ctrl-C, SIGINT) |
public enum ScriptedExit: Int32, Sendable, CaseIterable {
    case success = 0
    case failure = 1
    case notFound = 2
    case accessDenied = 3
    case invalidState = 4
    case cannotReachEndpoint = 5
    case configuration = 6
    case usage = 64
    case interrupted = 130

    /// Its meaning in a few words, for help texts.
    public var meaning: String {
        switch self {
        case .success: return "ok"
        case .failure: return "other error"
        case .notFound: return "not found"
        case .accessDenied: return "access denied"
        case .invalidState: return "invalid state"
        case .cannotReachEndpoint: return "cannot reach the endpoint"
        case .configuration: return "configuration error (no credentials, unknown profile, malformed endpoint, an endpoint without custom key stores)"
        case .usage: return "usage error"
        case .interrupted: return "interrupted (Ctrl-C)"
        }
    }

    /// The statuses `cks stores` can return.
    public static let stores: [ScriptedExit] = [.success, .failure, .accessDenied, .cannotReachEndpoint, .configuration, .usage]
    /// The statuses `cks keys` can return.
    public static let keys: [ScriptedExit] = [.success, .failure, .notFound, .accessDenied, .cannotReachEndpoint, .configuration, .usage]
    /// The statuses of the console itself.
    public static let console: [ScriptedExit] = [.success, .failure, .configuration, .usage, .interrupted]

    /// "Exit status: 0 ok, 1 other error, …" for a verb's help.
    public static func help(_ statuses: [ScriptedExit]) -> String {
        "Exit status: " + statuses.map { "\($0.rawValue) \($0.meaning)" }.joined(separator: ", ") + "."
    }

    /// The status for any error from the client, the configuration or the embedded core (`EndpointProblem`'s).
    public static func status(for error: any Error) -> ScriptedExit { EndpointProblem.classify(error).exit }

    /// The status for an AWS error type (shared by every scripted verb, `cks teardown` included).
    public static func status(for code: KMSErrorCode) -> ScriptedExit {
        switch code {
        case .notFound, .customKeyStoreNotFound:
            return .notFound
        case .accessDenied, .unrecognizedClient, .invalidSignature, .incompleteSignature, .missingAuthenticationToken:
            return .accessDenied
        case .kmsInvalidState, .customKeyStoreInvalidState, .customKeyStoreHasCMKs, .disabled:
            return .invalidState
        default:
            return .failure
        }
    }

    /// What is printed on stderr (without the `cks: ` prefix): one line saying what happened, like the AWS CLI for an
    /// AWS error (`An error occurred (NotFoundException) when calling the DescribeKey operation: …`), then, for refused
    /// credentials or access, a line saying what to check.
    public static func message(for error: any Error, context: EndpointContext? = nil) -> [String] {
        let problem = EndpointProblem.classify(error, context: context)
        var first = problem.line
        if let e = error as? KMSClientError, e.isServiceError {
            switch problem.kind {
            case .notImplemented: break
            default:
                let operation = e.operation.map { " when calling the \($0) operation" } ?? ""
                first = "An error occurred (\(e.typeName))\(operation): \(problem.summary)"
            }
        }
        return [first] + (problem.advice.map { [$0] } ?? [])
    }
}
