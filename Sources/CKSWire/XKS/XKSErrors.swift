import Foundation

/// The error names of the XKS Proxy API (spec v1.0.3, "Error codes") and the HTTP status each travels with.
/// Shared by the proxy (`cks xks-proxy`) and by any client of a proxy (the core, when it calls one).
public enum XKSErrorName: String, Sendable, CaseIterable, Codable {
    case validation = "ValidationException"
    case invalidState = "InvalidStateException"
    case invalidCiphertext = "InvalidCiphertextException"
    case invalidKeyUsage = "InvalidKeyUsageException"
    case authenticationFailed = "AuthenticationFailedException"
    case accessDenied = "AccessDeniedException"
    case keyNotFound = "KeyNotFoundException"
    case invalidUriPath = "InvalidUriPathException"
    case throttling = "ThrottlingException"
    case unsupportedOperation = "UnsupportedOperationException"
    case dependencyTimeout = "DependencyTimeoutException"
    case internalFailure = "InternalException"

    public var httpStatus: Int {
        switch self {
        case .validation, .invalidState, .invalidCiphertext, .invalidKeyUsage: 400
        case .authenticationFailed: 401
        case .accessDenied: 403
        case .keyNotFound, .invalidUriPath: 404
        case .throttling: 429
        case .unsupportedOperation: 501
        case .dependencyTimeout: 503
        case .internalFailure: 500
        }
    }
}

/// An XKS error: `{"errorName": "...", "errorMessage": "..."}` on the wire, with `name.httpStatus`.
public struct XKSError: Error, Sendable, Hashable, CustomStringConvertible {
    public var name: XKSErrorName
    /// At most 511 printable ASCII characters once encoded (the spec's bound); `encodedBody` enforces it.
    public var message: String?

    public init(_ name: XKSErrorName, _ message: String? = nil) {
        self.name = name
        self.message = message
    }

    public var description: String { message.map { "\(name.rawValue): \($0)" } ?? name.rawValue }

    /// The error body. The message is cut to printable ASCII (0x20-0x7E, others become `?`) of under 512 characters.
    public var encodedBody: Data {
        var members: [(String, JSONValue)] = [("errorName", .string(name.rawValue))]
        if let message { members.append(("errorMessage", .string(Self.printableASCII(message)))) }
        return Data(JSONValue.object(members).serialized.utf8)
    }

    /// `text` as printable ASCII of at most 511 characters.
    public static func printableASCII(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            if out.utf8.count == 511 { break }
            out.unicodeScalars.append(Unicode.Scalar(byte >= 0x20 && byte <= 0x7E ? byte : UInt8(ascii: "?")))
        }
        return out
    }

    /// Reads an error answer of a proxy: nil when the body is not an XKS error body with a known name
    /// (a client then treats the answer as malformed).
    public static func decode(body: Data) -> XKSError? {
        guard let parsed = try? JSONValue.parse(body), case let .string(name)? = parsed["errorName"],
              let known = XKSErrorName(rawValue: name) else { return nil }
        if case let .string(message)? = parsed["errorMessage"] { return XKSError(known, message) }
        return XKSError(known)
    }
}
