import CKSClient
import CKSDomain
import Foundation

/// Exit statuses of the scripted verbs (`cks stores`, `cks keys`), one per failure a script may want to branch on.
///
/// | status | meaning |
/// |---|---|
/// | 0 | success |
/// | 1 | any other failure (another AWS error, an unreadable answer) |
/// | 2 | not found: `NotFoundException`, `CustomKeyStoreNotFoundException` |
/// | 3 | access denied: `AccessDeniedException`, `UnrecognizedClientException`, signature errors, no credentials |
/// | 4 | invalid state: `KMSInvalidStateException`, `CustomKeyStoreInvalidStateException`, `CustomKeyStoreHasCMKsException`, `DisabledException` |
/// | 5 | cannot reach the endpoint: refused, unresolvable, connection lost, timed out |
/// | 6 | configuration: unknown profile, malformed endpoint |
/// | 64 | usage: bad arguments (swift-argument-parser's own status) |
public enum ScriptedExit: Int32, Sendable, CaseIterable {
    case success = 0
    case failure = 1
    case notFound = 2
    case accessDenied = 3
    case invalidState = 4
    case cannotReachEndpoint = 5
    case configuration = 6

    /// The status for an error from the client, the configuration or the embedded core.
    public static func status(for error: any Error) -> ScriptedExit {
        if error is ClientConfigurationError { return .configuration }
        guard let error = error as? KMSClientError else { return .failure }
        switch error.kind {
        case .service(let code):
            return status(for: code)
        case .noCredentials:
            return .accessDenied
        case .cannotReachEndpoint, .connectionLost, .timedOut:
            return .cannotReachEndpoint
        case .unknownService, .invalidResponse, .cancelled:
            return .failure
        }
    }

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

    /// The line printed on stderr: the AWS error type and message, like the AWS CLI
    /// (`An error occurred (NotFoundException) when calling the DescribeKey operation: …`).
    public static func message(for error: any Error) -> String {
        switch error {
        case let error as KMSClientError:
            if error.isServiceError {
                let operation = error.operation.map { " when calling the \($0) operation" } ?? ""
                return "An error occurred (\(error.typeName))\(operation): \(error.message)"
            }
            return "\(error.typeName): \(error.message)"
        case let error as ClientConfigurationError:
            return "ConfigurationError: \(error.message)"
        default:
            return "Error: \(error)"
        }
    }
}
