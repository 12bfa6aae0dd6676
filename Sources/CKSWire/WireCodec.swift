import CKSDomain
import Foundation

/// Encoding and decoding of the KMS JSON 1.1 protocol (`application/x-amz-json-1.1`), for both sides:
///
/// - server: `decodeRequest` (strict: serialization, then validation errors, as AWS) and `encodeResponse`;
/// - client: `encodeRequest` and `decodeResponse` (lenient: unknown members ignored, empty body = `{}`,
///   unknown enum values read as nil, timestamps as numbers or ISO-8601 strings);
/// - both: error bodies `{"__type","message"}` (`encodeError`, `decodeError`).
///
/// Timestamps are epoch seconds as JSON numbers (fractional allowed); blobs are standard base64.
/// Every failure is a `KMSError`; nothing here traps on bad input.
public enum WireCodec {
    /// The content type of requests and responses.
    public static let contentType = "application/x-amz-json-1.1"

    // MARK: Server side

    /// Parses a request body: empty = `{}`; anything else must be one JSON object.
    /// Not JSON, invalid UTF-8 or not an object → `SerializationException`.
    public static func parseBody(_ body: Data) throws(KMSError) -> JSONValue {
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) { return .object([]) }
        let value: JSONValue
        do {
            value = try JSONValue.parse(body)
        } catch {
            throw KMSError(.serialization, "Could not parse the request body as JSON: \(error.description)")
        }
        guard case .object = value else {
            throw KMSError(.serialization, "Start of structure expected: the request body must be a JSON object")
        }
        return value
    }

    /// Decodes and validates a request the way the KMS front end does: serialization errors first, then every
    /// constraint of the model (`ValidationException` listing them). Unknown members are ignored.
    public static func decodeRequest<R: WireRequest>(_ type: R.Type, from body: Data) throws(KMSError) -> R {
        let parsed = try parseBody(body)
        return try decodeRequest(type, from: parsed)
    }

    /// As `decodeRequest(_:from:)` for an already parsed body.
    public static func decodeRequest<R: WireRequest>(_ type: R.Type, from parsed: JSONValue) throws(KMSError) -> R {
        let normalized = try WireValidator.validate(parsed, against: R.wireSchema)
        do {
            return try JSONValueDecoder.decode(R.self, from: normalized)
        } catch let error as KMSError {
            // A shape's own check (the admin API's whole seconds).
            throw error
        } catch {
            // Validation guarantees types and required members; reaching here means a schema/struct mismatch.
            throw KMSError(.serialization, "Could not read the request: \(describe(error))")
        }
    }

    /// Validates a body against an operation's schema without decoding it into a type.
    public static func validate(_ body: Data, against schema: WireStructure) throws(KMSError) {
        _ = try WireValidator.validate(try parseBody(body), against: schema)
    }

    /// JSON for a response: nil members omitted, dates as epoch seconds, blobs base64.
    public static func encodeResponse<T: Encodable>(_ value: T) -> Data {
        // The streaming encoder writes the same JSON several times faster; Foundation's stays
        // the reference and the fallback.
        if let data = try? StreamingJSONEncoder.encode(value) { return data }
        do {
            return try makeEncoder().encode(value)
        } catch {
            // Our shapes contain only strings, numbers, dates and data; a non-finite Double is the one way here.
            return Data("{}".utf8)
        }
    }

    // MARK: Client side

    /// JSON for a request body (nil members omitted).
    public static func encodeRequest<T: Encodable>(_ value: T) throws -> Data {
        try makeEncoder().encode(value)
    }

    /// Decodes a successful response leniently: an empty body reads as `{}`, unknown members are ignored.
    /// A body that does not fit the type → `KMSError(.serialization, ...)` naming the problem.
    public static func decodeResponse<T: Decodable>(_ type: T.Type, from body: Data) throws(KMSError) -> T {
        let text = body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) ? Data("{}".utf8) : body
        do {
            return try makeDecoder(lenientDates: true).decode(T.self, from: text)
        } catch {
            throw KMSError(.serialization, "Could not read the \(T.self) response: \(describe(error))")
        }
    }

    // MARK: Errors

    /// `{"__type":"<Code>","message":"<text>"}`; the message is left out when empty (as AWS does for
    /// `UnknownOperationException`).
    public static func encodeError(_ error: KMSError) -> Data {
        var out = "{\"__type\":"
        JSONValue.writeString(error.code.rawValue, into: &out)
        if !error.message.isEmpty {
            out += ",\"message\":"
            JSONValue.writeString(error.message, into: &out)
        }
        out += "}"
        return Data(out.utf8)
    }

    /// Reads an error response as botocore does: the type from `__type` (or `code`), else the `X-Amzn-ErrorType`
    /// header; anything before `#` and after `:` is dropped; the message from `message` or `Message`.
    public static func decodeErrorBody(status: Int, errorTypeHeader: String?, body: Data) -> WireErrorBody {
        var type: String?
        var message = ""
        if let parsed = try? JSONValue.parse(body), case .object = parsed {
            for key in ["__type", "code", "Code"] {
                if case let .string(s)? = parsed[key], !s.isEmpty { type = s; break }
            }
            for key in ["message", "Message", "errorMessage"] {
                if case let .string(s)? = parsed[key] { message = s; break }
            }
        }
        if type == nil, let header = errorTypeHeader, !header.isEmpty { type = header }
        let cleaned = type.map(cleanErrorType) ?? ""
        return WireErrorBody(status: status, type: cleaned, message: message, code: KMSErrorCode(rawValue: cleaned))
    }

    /// The error as a `KMSError`. A type this build does not know keeps its name in the message and maps to
    /// `KMSInternalException` for 5xx statuses, else `ValidationException`, so callers still see a 4xx/5xx split.
    public static func decodeError(status: Int, errorTypeHeader: String?, body: Data) -> KMSError {
        decodeErrorBody(status: status, errorTypeHeader: errorTypeHeader, body: body).kmsError
    }

    /// `com.amazon.coral.service#SerializationException` → `SerializationException`;
    /// `ValidationException:http://internal.amazon.com/...` → `ValidationException`.
    public static func cleanErrorType(_ raw: String) -> String {
        var type = Substring(raw)
        if let colon = type.firstIndex(of: ":") { type = type[..<colon] }
        if let hash = type.lastIndex(of: "#") { type = type[type.index(after: hash)...] }
        return type.trimmingCharacters(in: .whitespaces)
    }

    // MARK: Coders

    static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.dataEncodingStrategy = .base64
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }

    static func makeDecoder(lenientDates: Bool = false) -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dataDecodingStrategy = .base64
        if lenientDates {
            decoder.dateDecodingStrategy = .custom { decoder in
                let c = try decoder.singleValueContainer()
                if let seconds = try? c.decode(Double.self) { return Date(timeIntervalSince1970: seconds) }
                let text = try c.decode(String.self)
                if let seconds = Double(text) { return Date(timeIntervalSince1970: seconds) }
                if let date = try? Date(text, strategy: .iso8601) { return date }
                let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
                if let date = try? Date(text, strategy: withFraction) { return date }
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a timestamp: \(text)")
            }
        } else {
            decoder.dateDecodingStrategy = .secondsSince1970
        }
        return decoder
    }

    private static func describe(_ error: any Error) -> String {
        guard let decoding = error as? DecodingError else { return "\(error)" }
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch decoding {
        case let .typeMismatch(_, context), let .valueNotFound(_, context), let .dataCorrupted(context):
            return "\(context.debugDescription) at '\(path(context))'"
        case let .keyNotFound(key, context):
            let prefix = path(context)
            return "missing member '\(prefix.isEmpty ? key.stringValue : prefix + "." + key.stringValue)'"
        @unknown default:
            return "\(error)"
        }
    }
}

/// An error response as read off the wire, before mapping to `KMSError`.
public struct WireErrorBody: Sendable, Hashable {
    public var status: Int
    /// The cleaned `__type` (`CustomKeyStoreHasCMKsException`), empty if none was given.
    public var type: String
    public var message: String
    /// The type as a known code, nil if this build does not know it.
    public var code: KMSErrorCode?

    public var kmsError: KMSError {
        if let code { return KMSError(code, message) }
        let fallback: KMSErrorCode = status >= 500 ? .kmsInternal : .validation
        let name = type.isEmpty ? "HTTP \(status)" : type
        return KMSError(fallback, message.isEmpty ? name : "\(name): \(message)")
    }
}
