import CKSDomain
import CKSWire
import Foundation

/// Everything a client call can fail with: an AWS error the server answered with (typed by its `__type`),
/// or a transport failure (the endpoint could not be reached, the connection was lost, the call timed out).
public struct KMSClientError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The server answered with an error whose `__type` this build knows.
        case service(KMSErrorCode)
        /// The server answered with an error `__type` this build does not know (kept verbatim).
        case unknownService(String)
        /// No connection could be made (refused, no route, unknown host): the request never reached the server.
        case cannotReachEndpoint
        /// The connection broke after the request may have been sent (reset, closed early).
        case connectionLost
        /// No complete answer within the call's timeout; the request may have reached the server.
        case timedOut
        /// The server answered with something that is not a KMS response (not JSON, wrong shape).
        case invalidResponse
        /// No credentials were found for a remote endpoint.
        case noCredentials
        /// The calling task was cancelled before an answer arrived.
        case cancelled
    }

    public var kind: Kind
    public var message: String
    /// `x-amzn-RequestId` of the answer, when there was one.
    public var requestId: String?
    /// HTTP status of the answer, when there was one.
    public var httpStatus: Int?
    /// The endpoint the call went to.
    public var endpoint: URL?
    /// The `X-Amz-Target` of the call (`TrentService.DescribeKey`), when the error came from one.
    public var target: String?

    public init(kind: Kind, message: String, requestId: String? = nil, httpStatus: Int? = nil, endpoint: URL? = nil,
                target: String? = nil) {
        self.kind = kind
        self.message = message
        self.requestId = requestId
        self.httpStatus = httpStatus
        self.endpoint = endpoint
        self.target = target
    }

    /// The operation name of the call (`DescribeKey`), when known.
    public var operation: String? {
        guard let target else { return nil }
        guard let dot = target.firstIndex(of: ".") else { return target }
        return String(target[target.index(after: dot)...])
    }

    /// The KMS error code, when the server answered with a known `__type`.
    public var code: KMSErrorCode? {
        if case .service(let code) = kind { return code }
        return nil
    }

    /// The AWS error type as printed to operators: the `__type` for server errors, a descriptive name otherwise.
    public var typeName: String {
        switch kind {
        case .service(let code): return code.rawValue
        case .unknownService(let type): return type
        case .cannotReachEndpoint: return "EndpointConnectionError"
        case .connectionLost: return "ConnectionClosedError"
        case .timedOut: return "ReadTimeoutError"
        case .invalidResponse: return "InvalidResponse"
        case .noCredentials: return "NoCredentialsError"
        case .cancelled: return "Cancelled"
        }
    }

    /// True for answers from the server (known or unknown `__type`), false for transport and local failures.
    public var isServiceError: Bool {
        switch kind {
        case .service, .unknownService: return true
        default: return false
        }
    }

    /// Whether the request may have reached the server (and so may have taken effect).
    public var requestMayHaveReachedServer: Bool {
        switch kind {
        case .cannotReachEndpoint, .noCredentials: return false
        default: return true
        }
    }

    public var description: String {
        var text = "\(typeName): \(message)"
        if let requestId { text += " (request id \(requestId))" }
        return text
    }

    /// Decodes an AWS JSON error answer with the shared wire rules (`WireCodec.decodeErrorBody`: `__type` or the
    /// `X-Amzn-ErrorType` header, cleaned of `ns#` and `:suffix`; `message` or `Message`). A body with no type at all
    /// is `.invalidResponse` (status kept, so a 5xx is still retried).
    public static func decode(status: Int, headers: [String: String], body: Data, endpoint: URL? = nil) -> KMSClientError {
        let requestId = headers["x-amzn-requestid"] ?? headers["x-amz-request-id"]
        let parsed = WireCodec.decodeErrorBody(status: status, errorTypeHeader: headers["x-amzn-errortype"], body: body)
        guard !parsed.type.isEmpty else {
            // What such an answer holds (an HTML error page, a proxy's text) is not shown: it is not a message for
            // an operator and would bring its markup and line breaks to the terminal.
            let kind = headers["content-type"].map { " (\($0.split(separator: ";").first.map(String.init) ?? $0))" } ?? ""
            return KMSClientError(kind: .invalidResponse,
                                  message: parsed.message.isEmpty ? "HTTP \(status), not an AWS error body\(kind)" : parsed.message,
                                  requestId: requestId, httpStatus: status, endpoint: endpoint)
        }
        let kind: Kind = parsed.code.map { .service($0) } ?? .unknownService(parsed.type)
        return KMSClientError(kind: kind, message: parsed.message, requestId: requestId, httpStatus: status, endpoint: endpoint)
    }
}
