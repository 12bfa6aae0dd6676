import CKSDomain
import Foundation
import Synchronization

/// Checks a parsed request against a `WireStructure` the way AWS's Coral front end does, in two passes:
///
/// 1. **Types** (`SerializationException`): every known member must have the JSON type its shape needs; the first
///    mismatch stops the request with Coral's wording ("Start of structure or map found where not expected.",
///    "class java.lang.String can not be converted to an Integer", ...). Unknown members and `null`s are dropped.
/// 2. **Constraints** (`ValidationException`): required, length, value range, pattern and enum, collected over the
///    whole request (at most 10, like AWS) as "N validation error(s) detected: a; b".
///
/// Member paths are camelCase (`customKeyStoreName`, `tags.1.member.tagKey`, `xksProxyAuthenticationCredential.accessKeyId`).
/// Sensitive values never appear in a message: AWS writes "Value at 'plaintext' failed to satisfy constraint: ..."
/// without the value, and so does this. Non-sensitive blobs print as Java's `java.nio.HeapByteBuffer[pos=0 lim=N cap=N]`.
public enum WireValidator {
    /// AWS reports at most this many constraint violations in one message.
    public static let maxReportedErrors = 10

    /// Type-checks and validates `value` (a request body) against `schema`. Returns the normalized body: only
    /// known members, no nulls, integers as plain integer literals, so that typed decoding cannot fail.
    public static func validate(_ value: JSONValue, against schema: WireStructure) throws(KMSError) -> JSONValue {
        guard case .object = value else {
            throw KMSError(.serialization, message(forUnexpected: value, expecting: "structure"))
        }
        let normalized = try normalize(value, .structure(schema))
        var errors: [String] = []
        check(normalized, schema, path: "", errors: &errors)
        if !errors.isEmpty {
            let shown = errors.prefix(maxReportedErrors)
            let noun = shown.count == 1 ? "error" : "errors"
            throw KMSError(.validation, "\(shown.count) validation \(noun) detected: " + shown.joined(separator: "; "))
        }
        return normalized
    }

    // MARK: Pass 1: JSON types

    private static func normalize(_ value: JSONValue, _ shape: WireShape) throws(KMSError) -> JSONValue {
        switch shape {
        case .structure(let structure):
            guard case .object(let members) = value else {
                throw KMSError(.serialization, message(forUnexpected: value, expecting: "structure"))
            }
            var out: [(String, JSONValue)] = []
            for member in structure.members {
                // The last occurrence wins, as in every JSON reader AWS uses.
                guard let found = members.last(where: { $0.0 == member.name })?.1 else { continue }
                if case .null = found { continue }
                out.append((member.name, try normalize(found, member.shape)))
            }
            return .object(out)
        case .list(let memberShape, _, _):
            guard case .array(let items) = value else {
                throw KMSError(.serialization, message(forUnexpected: value, expecting: "list"))
            }
            var out: [JSONValue] = []
            for item in items {
                if case .null = item { out.append(.null); continue } // reported as "must not be null" in pass 2
                out.append(try normalize(item, memberShape))
            }
            return .array(out)
        case .map(_, let valueShape, _, _):
            guard case .object(let members) = value else {
                throw KMSError(.serialization, message(forUnexpected: value, expecting: "map"))
            }
            var out: [(String, JSONValue)] = []
            for (key, item) in members {
                out.removeAll { $0.0 == key }
                if case .null = item { out.append((key, .null)); continue }
                out.append((key, try normalize(item, valueShape)))
            }
            return .object(out)
        case .string(let rules):
            guard case .string = value else {
                throw KMSError(.serialization, message(forUnexpected: value, expecting: "String", sensitive: rules.sensitive))
            }
            return value
        case .integer(_, _, let bits):
            let javaType = bits == 32 ? "Integer" : "Long"
            guard case .number(let literal) = value else {
                throw KMSError(.serialization, message(forUnexpected: value, expecting: javaType))
            }
            // Jackson truncates a fractional number given for an integer; out-of-range values are refused.
            guard let number = Double(literal), number.isFinite else {
                throw KMSError(.serialization, "Numeric value (\(literal)) out of range of \(bits == 32 ? "int" : "long")")
            }
            let truncated = number.rounded(.towardZero)
            let limit = bits == 32 ? Double(Int32.max) : 9.2e18
            let lower = bits == 32 ? Double(Int32.min) : -9.2e18
            guard truncated <= limit, truncated >= lower else {
                throw KMSError(.serialization, "Numeric value (\(literal)) out of range of \(bits == 32 ? "int" : "long")")
            }
            if let exact = Int64(literal) { return .number(String(exact)) }
            return .number(String(Int64(truncated)))
        case .double:
            guard case .number = value else {
                throw KMSError(.serialization, message(forUnexpected: value, expecting: "Double"))
            }
            return value
        case .boolean:
            switch value {
            case .bool: return value
            case .string(let s):
                switch s.lowercased() {
                case "true": return .bool(true)
                case "false": return .bool(false)
                default: throw KMSError(.serialization, "'\(s.uppercased())' can not be converted to an Boolean")
                }
            default: throw KMSError(.serialization, message(forUnexpected: value, expecting: "Boolean"))
            }
        case .timestamp:
            guard case .number = value else {
                throw KMSError(.serialization, message(forUnexpected: value, expecting: "Date"))
            }
            return value
        case .blob(_, _, let sensitive):
            guard case .string(let text) = value else {
                throw KMSError(.serialization, message(forUnexpected: value, expecting: "Blob"))
            }
            if let problem = base64Problem(text) {
                let shown = sensitive ? "Value" : "'\(text)'"
                throw KMSError(.serialization, "\(shown) can not be converted to a Blob: \(problem)")
            }
            return value
        }
    }

    /// Coral's wording for a JSON value of the wrong kind.
    private static func message(forUnexpected value: JSONValue, expecting expected: String,
                                sensitive: Bool = false) -> String {
        let article = expected == "Blob" ? "a" : "an"
        switch value {
        case .object:
            return expected == "map" || expected == "structure"
                ? "Unexpected JSON value" : "Start of structure or map found where not expected."
        case .array: return "Start of list found where not expected"
        case .null: return "Unexpected null"
        case .bool, .number, .string:
            switch expected {
            case "list": return "Expected list or null"
            case "map": return "Expected map or null"
            case "structure": return "Expected null"
            default: break
            }
            let javaClass: String
            switch value {
            case .bool: javaClass = "java.lang.Boolean"
            case .number: javaClass = "java.math.BigDecimal"
            default: javaClass = "java.lang.String"
            }
            _ = sensitive // the class name, never the value, is reported
            return "class \(javaClass) can not be converted to \(article) \(expected)"
        }
    }

    /// Standard base64 with padding, as the AWS JSON protocols send blobs.
    private static func base64Problem(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        if bytes.count % 4 != 0 {
            return "Base64 encoded length is expected a multiple of 4 bytes but found: \(bytes.count)"
        }
        if Data(base64Encoded: text) == nil {
            let bad = text.first { !($0.isASCII && ($0.isLetter || $0.isNumber || $0 == "+" || $0 == "/" || $0 == "=")) }
            return bad.map { "Invalid Base64 character: '\($0)'" } ?? "Invalid last non-pad Base64 character dectected"
        }
        return nil
    }

    // MARK: Pass 2: constraints

    private static func check(_ object: JSONValue, _ structure: WireStructure, path: String, errors: inout [String]) {
        for member in structure.members {
            let memberPath = path.isEmpty ? member.pathName : "\(path).\(member.pathName)"
            let value = object[member.name]
            if value == nil {
                if member.required {
                    errors.append("Value null at '\(memberPath)' failed to satisfy constraint: Member must not be null")
                }
                continue
            }
            check(value!, member.shape, path: memberPath, errors: &errors)
        }
    }

    private static func check(_ value: JSONValue, _ shape: WireShape, path: String, errors: inout [String]) {
        func fail(_ constraint: String, sensitive: Bool = false) {
            let shown = sensitive ? "Value" : "Value \(render(value, shape))"
            errors.append("\(shown) at '\(path)' failed to satisfy constraint: \(constraint)")
        }
        if case .null = value {
            errors.append("Value null at '\(path)' failed to satisfy constraint: Member must not be null")
            return
        }
        switch shape {
        case .string(let rules):
            guard case .string(let s) = value else { return }
            if let allowed = rules.enumValues, !allowed.contains(s) {
                fail("Member must satisfy enum value set: [\(allowed.joined(separator: ", "))]", sensitive: rules.sensitive)
            }
            if let pattern = rules.pattern, !WirePatterns.matches(s, pattern) {
                fail("Member must satisfy regular expression pattern: \(pattern)", sensitive: rules.sensitive)
            }
            checkLength(s.utf16.count, rules.min, rules.max, fail: { fail($0, sensitive: rules.sensitive) })
        case .integer(let min, let max, _):
            guard case .number(let literal) = value, let n = Int64(literal) else { return }
            if let min, n < min { fail("Member must have value greater than or equal to \(min)") }
            if let max, n > max { fail("Member must have value less than or equal to \(max)") }
        case .blob(let min, let max, let sensitive):
            guard case .string(let text) = value, let data = Data(base64Encoded: text) else { return }
            checkLength(data.count, min, max, fail: { fail($0, sensitive: sensitive) })
        case .list(let memberShape, let min, let max):
            guard case .array(let items) = value else { return }
            checkLength(items.count, min, max, fail: { fail($0) })
            for (i, item) in items.enumerated() {
                check(item, memberShape, path: "\(path).\(i + 1).member", errors: &errors)
            }
        case .map(_, let valueShape, let min, let max):
            guard case .object(let members) = value else { return }
            checkLength(members.count, min, max, fail: { fail($0) })
            for (key, item) in members {
                check(item, valueShape, path: "\(path).\(key).member", errors: &errors)
            }
        case .structure(let structure):
            check(value, structure, path: path, errors: &errors)
        case .boolean, .double, .timestamp:
            break
        }
    }

    private static func checkLength(_ length: Int, _ min: Int?, _ max: Int?, fail: (String) -> Void) {
        if let min, length < min { fail("Member must have length greater than or equal to \(min)") }
        if let max, length > max { fail("Member must have length less than or equal to \(max)") }
    }

    /// How Java's `toString` shows a value in a validation message (quoted by the caller).
    private static func render(_ value: JSONValue, _ shape: WireShape) -> String {
        switch (value, shape) {
        case (.null, _): return "null"
        case let (.string(text), .blob):
            let length = Data(base64Encoded: text)?.count ?? 0
            return "'java.nio.HeapByteBuffer[pos=0 lim=\(length) cap=\(length)]'"
        default: return "'\(plain(value))'"
        }
    }

    private static func plain(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case let .bool(b): return b ? "true" : "false"
        case let .number(n): return n
        case let .string(s): return s
        case let .array(items): return "[" + items.map(plain).joined(separator: ", ") + "]"
        case let .object(members): return "{" + members.map { "\($0.0)=\(plain($0.1))" }.joined(separator: ", ") + "}"
        }
    }
}

/// Compiled model patterns, matched against the whole value as Java's `String.matches` does.
enum WirePatterns {
    private static let cache = Mutex<[String: NSRegularExpression]>([:])

    static func matches(_ value: String, _ pattern: String) -> Bool {
        let regex: NSRegularExpression? = cache.withLock { cache in
            if let found = cache[pattern] { return found }
            let compiled = try? NSRegularExpression(pattern: "^(?:" + pattern + ")$", options: [])
            cache[pattern] = compiled
            return compiled
        }
        // A pattern ICU cannot compile would be a bug in the model or the admin shapes; accept rather than refuse.
        guard let regex else { return true }
        let range = NSRange(value.startIndex..<value.endIndex, in: value)
        return regex.firstMatch(in: value, options: [.anchored], range: range) != nil
    }
}
