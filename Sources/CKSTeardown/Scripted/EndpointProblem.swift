import CKSClient
import CKSDomain
import Foundation

/// Where calls go and as whom: what an error message tells the operator to check.
public struct EndpointContext: Sendable, Hashable {
    public var endpoint: String
    public var region: String
    /// Where the credentials came from: `AWS_ACCESS_KEY_ID`, `~/.aws/credentials [dev]`, `--profile`, the embedded core.
    public var credentialSource: String?
    public var accessKeyId: String?
    /// An embedded core (no endpoint configured anywhere): the verbs say so.
    public var embedded: Bool

    public init(endpoint: String, region: String, credentialSource: String? = nil, accessKeyId: String? = nil,
                embedded: Bool = false) {
        self.endpoint = endpoint
        self.region = region
        self.credentialSource = credentialSource
        self.accessKeyId = accessKeyId
        self.embedded = embedded
    }

    /// "credentials from AWS_ACCESS_KEY_ID (access key AKIA…), endpoint http://127.0.0.1:7911, region us-east-1".
    public var checkList: String {
        var parts: [String] = []
        if let source = credentialSource {
            parts.append("credentials from \(source)" + (accessKeyId.map { " (access key \(Self.masked($0)))" } ?? ""))
        } else if let key = accessKeyId {
            parts.append("access key \(Self.masked(key))")
        }
        parts.append("endpoint \(endpoint)")
        parts.append("region \(region)")
        return parts.joined(separator: ", ")
    }

    /// `****************ONG0`, as `aws configure list` shows an access key id.
    static func masked(_ accessKeyId: String) -> String {
        String(repeating: "*", count: max(0, accessKeyId.count - 4)) + accessKeyId.suffix(4)
    }
}

/// A failure classified once, the way every front end reports it: the scripted verbs (message and exit status),
/// `cks teardown`, and the console (banner or status line). Messages are one line: whatever an endpoint answered
/// (an HTML error page, a message with line breaks) never reaches a terminal as is.
public struct EndpointProblem: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// No credentials, an unknown profile, a malformed endpoint.
        case configuration
        /// The endpoint does not accept the credentials (unknown access key, bad signature, expired token).
        case credentialsRejected
        /// The credentials are valid but not allowed to make the call.
        case accessDenied
        /// No answer: refused, unresolvable, timed out, connection lost.
        case unreachable
        /// The endpoint answered, but not as a KMS endpoint with custom key stores does (an unknown operation, an HTTP
        /// error without an AWS error body, as moto and LocalStack answer DescribeCustomKeyStores).
        case notImplemented(operation: String)
        /// The core answered with a server error its retries did not clear.
        case serverFailing
        /// Any other AWS error: the call was refused (not found, invalid state, validation, ...).
        case refused
    }

    public var kind: Kind
    /// The AWS error type, or a descriptive name for failures without one (`EndpointConnectionError`).
    public var code: String
    /// One line: what happened.
    public var summary: String
    /// One line: what to check, or nil when the summary says it all.
    public var advice: String?
    /// The exit status of every scripted verb for it.
    public var exit: ScriptedExit

    /// Whether the console shows it as a banner over the last data (the endpoint as a whole is not usable as
    /// configured) rather than on the status line (one call was refused).
    public var isEndpointWide: Bool {
        switch kind {
        case .configuration, .credentialsRejected, .unreachable, .notImplemented, .serverFailing: return true
        case .accessDenied, .refused: return false
        }
    }

    /// `code: summary` on one line (the summary alone when it says what happened without the code).
    public var line: String {
        if case .notImplemented = kind { return summary }
        return summary.hasPrefix(code) ? summary : "\(code): \(summary)"
    }

    public static func classify(_ error: any Error, context: EndpointContext? = nil) -> EndpointProblem {
        switch error {
        case let e as KMSClientError: return classify(e, context: context)
        case let e as ClientConfigurationError:
            return EndpointProblem(kind: .configuration, code: "ConfigurationError", summary: oneLine(e.message),
                                   advice: nil, exit: .configuration)
        case let e as KMSError:
            return classify(KMSClientError(kind: .service(e.code), message: e.message), context: context)
        case BackendError.unreachable(let message):
            return EndpointProblem(kind: .unreachable, code: "Unreachable", summary: oneLine(message),
                                   advice: context.map { "Is the core running at \($0.endpoint)?" }, exit: .cannotReachEndpoint)
        case let e as URLError:
            return EndpointProblem(kind: .unreachable, code: "EndpointConnectionError", summary: oneLine(e.localizedDescription),
                                   advice: context.map { "Is the core running at \($0.endpoint)?" }, exit: .cannotReachEndpoint)
        case BackendError.other(let message):
            return EndpointProblem(kind: .refused, code: "Error", summary: oneLine(message), advice: nil, exit: .failure)
        default:
            return EndpointProblem(kind: .refused, code: "Error", summary: oneLine("\(error)"), advice: nil, exit: .failure)
        }
    }

    static let rejectedCredentials: Set<String> = [
        KMSErrorCode.unrecognizedClient.rawValue, KMSErrorCode.invalidSignature.rawValue,
        KMSErrorCode.incompleteSignature.rawValue, KMSErrorCode.missingAuthenticationToken.rawValue,
        "ExpiredTokenException", "InvalidClientTokenId", "SignatureDoesNotMatch",
    ]

    static func classify(_ e: KMSClientError, context: EndpointContext?) -> EndpointProblem {
        let check = context.map { "Check \($0.checkList)." }
        let message = oneLine(e.message)
        switch e.kind {
        case .noCredentials:
            return EndpointProblem(kind: .configuration, code: e.typeName, summary: message, advice: nil, exit: .configuration)
        case .cannotReachEndpoint, .connectionLost, .timedOut:
            return EndpointProblem(kind: .unreachable, code: e.typeName, summary: message,
                                   advice: context.map { "Is the core running at \($0.endpoint)?" }, exit: .cannotReachEndpoint)
        case .cancelled:
            return EndpointProblem(kind: .refused, code: e.typeName, summary: message, advice: nil, exit: .failure)
        case .service(.unknownOperation), .unknownService("UnknownOperationException"), .invalidResponse:
            guard e.kind != .invalidResponse || e.httpStatus != nil else {
                return EndpointProblem(kind: .serverFailing, code: e.typeName, summary: message, advice: nil, exit: .failure)
            }
            let operation = e.operation ?? "this operation"
            let answer = e.httpStatus.map { status in
                e.kind == .invalidResponse ? "HTTP \(status), not an AWS error body" : "\(e.typeName) (HTTP \(status))"
            } ?? e.typeName
            return EndpointProblem(
                kind: .notImplemented(operation: operation), code: e.typeName,
                summary: "this endpoint does not implement \(operation): \(answer) "
                    + "(cks needs a KMS endpoint with custom key stores: cks serve, or AWS KMS)",
                advice: nil, exit: .configuration)
        case .service(let code):
            if rejectedCredentials.contains(code.rawValue) {
                return EndpointProblem(kind: .credentialsRejected, code: e.typeName, summary: message, advice: check,
                                       exit: .accessDenied)
            }
            if code == .accessDenied {
                return EndpointProblem(kind: .accessDenied, code: e.typeName, summary: message, advice: check, exit: .accessDenied)
            }
            if code.isRetryable && code != .throttling {
                return EndpointProblem(kind: .serverFailing, code: e.typeName, summary: message, advice: nil,
                                       exit: ScriptedExit.status(for: code))
            }
            return EndpointProblem(kind: .refused, code: e.typeName, summary: message, advice: nil, exit: ScriptedExit.status(for: code))
        case .unknownService(let type):
            if rejectedCredentials.contains(type) {
                return EndpointProblem(kind: .credentialsRejected, code: type, summary: message, advice: check, exit: .accessDenied)
            }
            return EndpointProblem(kind: .refused, code: type, summary: message, advice: nil, exit: .failure)
        }
    }

    /// Control characters (line breaks, tabs, escapes) become spaces, runs of spaces one, and the text is cut at
    /// 400 characters: an answer's text is shown on one line, never as it came.
    public static func oneLine(_ text: String, limit: Int = 400) -> String {
        var out = ""
        var lastSpace = false
        for scalar in text.unicodeScalars {
            let isControl = scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
            if isControl || scalar == " " {
                if !lastSpace && !out.isEmpty { out.append(" ") }
                lastSpace = true
            } else {
                out.unicodeScalars.append(scalar)
                lastSpace = false
            }
        }
        while out.hasSuffix(" ") { out.removeLast() }
        return out.count > limit ? String(out.prefix(limit - 1)) + "…" : out
    }
}

/// Errors a console backend may throw besides `KMSError` and the client's errors.
public enum BackendError: Error, Sendable, CustomStringConvertible {
    /// The endpoint could not be reached (connection refused, reset, timed out).
    case unreachable(String)
    case other(String)

    public var description: String {
        switch self {
        case .unreachable(let m): return "cannot reach the core: \(m)"
        case .other(let m): return m
        }
    }
}
