import CKSClient
import CKSDomain
import Foundation

/// Exit statuses of `cks`: the scripted verbs (`cks stores`, `cks keys`, `cks teardown`) and the console. One list,
/// the same meaning everywhere; every help text is generated from it (`help(_:)`), and the README says which a verb
/// can return.
///
/// | status | meaning |
/// |---|---|
/// | 0 | success (`cks teardown`: done, the store is deleted; with `--abort`, everything given back) |
/// | 1 | any other failure (another AWS error, an unreadable answer) |
/// | 2 | not found: `NotFoundException`, `CustomKeyStoreNotFoundException` |
/// | 3 | access denied: the credentials are refused (`UnrecognizedClientException`, signature errors) or not allowed (`AccessDeniedException`) |
/// | 4 | invalid state: `KMSInvalidStateException`, `CustomKeyStoreInvalidStateException`, `CustomKeyStoreHasCMKsException`, `DisabledException` |
/// | 5 | cannot reach the endpoint: refused, unresolvable, connection lost, timed out |
/// | 6 | configuration: no credentials, unknown profile, malformed endpoint, an endpoint without custom key stores |
/// | 10 | `cks teardown`: waiting, keys are pending deletion (or the store is settling); run again later, or use `--wait` |
/// | 11 | `cks teardown`: blocked, an operator decision is needed (flagged keys, confirmation refused or impossible) |
/// | 12 | `cks teardown --dry-run` only: the next step would change something (nothing was changed) |
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
    case waiting = 10
    case blocked = 11
    case wouldAct = 12
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
        case .waiting: return "waiting (run again later, or use --wait)"
        case .blocked: return "blocked (a decision is needed, or a confirmation was refused: see the output)"
        case .wouldAct: return "--dry-run with a change to make"
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
    /// The statuses `cks teardown` can return, in the order its help gives them.
    public static let teardown: [ScriptedExit] = [.done, .waiting, .blocked, .wouldAct, .failure, .notFound, .accessDenied,
                                                  .invalidState, .cannotReachEndpoint, .configuration, .usage, .interrupted]

    /// `cks teardown`'s name for 0: the store is deleted.
    public static let done = ScriptedExit.success

    /// "Exit status: 0 ok, 1 other error, …" for a verb's help.
    /// - Parameter success: what 0 means for this verb.
    public static func help(_ statuses: [ScriptedExit], success: String = ScriptedExit.success.meaning) -> String {
        "Exit status: " + statuses.map { "\($0.rawValue) \($0 == .success ? success : $0.meaning)" }.joined(separator: ", ") + "."
    }

    /// `cks teardown --help`'s list.
    public static var teardownHelp: String {
        help(teardown, success: "done (the store is deleted; with --abort, everything given back)")
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
