import CKSWire
import CKSDomain
import Foundation

/// A JSON document under the fuzzer's full control: numbers as raw text (`1e400`, `-0`), duplicate keys,
/// raw bytes spliced in (invalid UTF-8), unbalanced nesting.
indirect enum FuzzJSON {
    case string(String)
    case number(String)
    case bool(Bool)
    case null
    case array([FuzzJSON])
    case object([(String, FuzzJSON)])
    /// Bytes written as they are, inside quotes when `quoted`.
    case raw(Data, quoted: Bool)

    var bytes: Data {
        var out = Data()
        write(to: &out)
        return out
    }

    func write(to out: inout Data) {
        switch self {
        case .string(let s): out.append(Self.quote(s))
        case .number(let n): out.append(contentsOf: n.utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .null: out.append(contentsOf: "null".utf8)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out.append(Self.quote(key))
                out.append(UInt8(ascii: ":"))
                value.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        case .raw(let data, let quoted):
            if quoted { out.append(UInt8(ascii: "\"")) }
            out.append(data)
            if quoted { out.append(UInt8(ascii: "\"")) }
        }
    }

    static func quote(_ s: String) -> Data {
        var out = Data([UInt8(ascii: "\"")])
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out.append(contentsOf: "\\\"".utf8)
            case "\\": out.append(contentsOf: "\\\\".utf8)
            case _ where scalar.value < 0x20: out.append(contentsOf: String(format: "\\u%04x", scalar.value).utf8)
            default: out.append(contentsOf: String(scalar).utf8)
            }
        }
        out.append(UInt8(ascii: "\""))
        return out
    }
}

/// One generated HTTP request: method, path, headers choice and body, and what the fuzzer may accept back.
struct FuzzCase {
    var label: String
    var method = "POST"
    var path = "/"
    var target: String?
    var contentType: String? = WireCodec.contentType
    var body: Data
    /// Sign the body (so the request reaches validation and the engine) or not (auth errors).
    var signed = true
    /// A declared Content-Length different from the body (truncated bodies).
    var contentLength: Int?
    /// Not valid HTTP/1.1 (unknown method token, NUL in a header, CONNECT): refused by the HTTP parser itself.
    var malformedHTTP: Bool {
        !["POST", "GET", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"].contains(method)
            || (target?.unicodeScalars.contains { $0.value < 0x20 } ?? false)
    }
}

/// Generates requests from the KMS shapes (the project's generated copy of botocore's model, `WireOperation.all`)
/// and mutates them: wrong types, missing and extra members, boundary and out-of-range values, long strings,
/// invalid UTF-8, deep nesting, truncated bodies, wrong content types, methods, paths and targets.
struct FuzzGenerator {
    var rng: SplitMix64
    /// Ids that exist in the fuzzed core, so valid-looking requests reach the engine's deeper paths.
    var storeIds: [String]
    var keyIds: [String]
    var clusterIds: [String]
    let operations: [WireOperation] = WireOperation.all.values.sorted { $0.target < $1.target }

    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }

    mutating func next(_ index: Int) -> FuzzCase {
        let operation = pick(operations)
        var body = structure(operation.requestSchema, depth: 0)
        var fuzz = FuzzCase(label: "valid \(operation.name)", target: operation.target, body: Data())
        let roll = int(0...99)
        switch roll {
        case 0..<20:
            break // a well-formed request
        case 20..<35:
            // Drop a member (often a required one).
            if case .object(var members) = body, !members.isEmpty {
                let i = int(0...(members.count - 1))
                fuzz.label = "missing \(members[i].0) in \(operation.name)"
                members.remove(at: i)
                body = .object(members)
            }
        case 35..<45:
            if case .object(var members) = body {
                let name = chance(0.5) ? "Unknown\(int(0...99))" : (operation.requestSchema.members.first?.name ?? "X")
                members.append((name, wildValue(depth: 0)))
                fuzz.label = "extra/duplicate member \(name) in \(operation.name)"
                body = .object(members)
            }
        case 45..<65:
            // A member of the wrong type or with an edge value.
            let members = operation.requestSchema.members
            if !members.isEmpty, case .object(var present) = body {
                let member = pick(members)
                let value = chance(0.5) ? wildValue(depth: 0) : edgeValue(member.shape)
                present.removeAll { $0.0 == member.name }
                present.append((member.name, value))
                fuzz.label = "edge/wrong-type \(member.name) in \(operation.name)"
                body = .object(present)
            }
        case 65..<72:
            fuzz.label = "deep nesting in \(operation.name)"
            let depth = pick([64, 200, 513, 1000, 5000, 100_000])
            let open = String(repeating: chance(0.5) ? "[" : "{\"a\":", count: depth)
            body = .raw(Data(("{\"\(operation.requestSchema.members.first?.name ?? "A")\":" + open).utf8), quoted: false)
        case 72..<80:
            fuzz.label = "truncated body of \(operation.name)"
            let full = body.bytes
            fuzz.body = full.prefix(int(0...max(0, full.count - 1)))
            if chance(0.3) { fuzz.contentLength = full.count } // declared longer than sent
            return fuzz
        case 80..<85:
            fuzz.label = "invalid UTF-8 in \(operation.name)"
            let bad: [[UInt8]] = [[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82]]
            var bytes = body.bytes
            let at = int(0...max(0, bytes.count - 1))
            bytes.insert(contentsOf: pick(bad), at: min(at, bytes.count))
            fuzz.body = bytes
            return fuzz
        case 85..<89:
            fuzz.label = "non-object body for \(operation.name)"
            fuzz.body = Data(pick(["null", "[]", "1", "\"x\"", "true", "{", "}", "{}{}", "{\"a\":}", "\u{FEFF}{}",
                                   "{\"a\":1,}", "[1,2", "{'a':1}", "NaN", "{\"a\":1e999999}"]).utf8)
            return fuzz
        case 89..<93:
            fuzz.label = "wrong content type"
            fuzz.contentType = pick([nil, "text/plain", "application/xml", "", "application/x-www-form-urlencoded",
                                     "application/json; charset=utf-8", "application/x-amz-json-1.0",
                                     String(repeating: "j", count: 5000)])
        case 93..<96:
            fuzz.method = pick(["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "FOO"])
            fuzz.label = "method \(fuzz.method)"
            if fuzz.method == "CONNECT" { fuzz.path = "127.0.0.1:1" }
        case 96..<98:
            fuzz.path = pick(["/x", "//", "/../", "/%00", "/?Action=ListKeys", "/" + String(repeating: "a", count: 4000),
                              "*", "/TrentService.ListKeys"])
            fuzz.label = "path \(fuzz.path.prefix(40))"
        default:
            fuzz.target = pick([nil, "", "TrentService.", "TrentService.Nope", "CksAdmin.Nope", "trentservice.listkeys",
                                "TrentService.ListKeys.Extra", "Kinesis_20131202.ListStreams",
                                "TrentService." + String(repeating: "X", count: 10_000), "TrentService.ListKeys\u{0}"])
            fuzz.label = "target \(String(describing: fuzz.target).prefix(40))"
        }
        fuzz.body = body.bytes
        if int(0...99) < 3 { fuzz.signed = false; fuzz.label += " (unsigned)" }
        return fuzz
    }

    // MARK: Values

    mutating func structure(_ schema: WireStructure, depth: Int) -> FuzzJSON {
        var members: [(String, FuzzJSON)] = []
        for member in schema.members where member.required || chance(0.5) {
            members.append((member.name, value(for: member, depth: depth)))
        }
        return .object(members)
    }

    mutating func value(for member: WireMember, depth: Int) -> FuzzJSON {
        if case .string = member.shape, let known = knownValue(member.name) { return .string(known) }
        return value(member.shape, depth: depth)
    }

    /// A value that satisfies the shape's constraints (as far as a pattern-less generator can).
    mutating func value(_ shape: WireShape, depth: Int) -> FuzzJSON {
        switch shape {
        case .string(let rules):
            if let values = rules.enumValues, !values.isEmpty { return .string(pick(values)) }
            let low = rules.min ?? 1, high = min(rules.max ?? 64, 64)
            return .string(randomText(length: int(low...max(low, high))))
        case .integer(let min, let max, _):
            let low = min ?? 0, high = Swift.max(low, Swift.min(max ?? 1000, low + 1000))
            return .number(String(int(low...high)))
        case .boolean: return .bool(chance(0.5))
        case .double: return .number(String(Double(int(0...10_000)) / 7))
        case .blob(let min, let max, _):
            let count = int((min ?? 1)...Swift.max(min ?? 1, Swift.min(max ?? 64, 64)))
            return .string(Data((0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }).base64EncodedString())
        case .timestamp: return .number(String(1_700_000_000 + int(0...100_000_000)))
        case .structure(let s):
            return depth > 4 ? .object([]) : structure(s, depth: depth + 1)
        case .list(let member, let min, _):
            let count = int((min ?? 0)...Swift.max(min ?? 0, 3))
            return .array((0..<count).map { _ in value(member, depth: depth + 1) })
        case .map(_, let valueShape, _, _):
            var members: [(String, FuzzJSON)] = []
            for _ in 0..<int(0...2) { members.append((randomText(length: 5), value(valueShape, depth: depth + 1))) }
            return .object(members)
        }
    }

    /// Boundary and out-of-range values for a shape.
    mutating func edgeValue(_ shape: WireShape) -> FuzzJSON {
        switch shape {
        case .string(let rules):
            let lengths = [0, 1, (rules.min ?? 1) - 1, rules.min ?? 1, rules.max ?? 256, (rules.max ?? 256) + 1,
                           100_000, 900_000].filter { $0 >= 0 }
            let length = pick(lengths)
            switch int(0...4) {
            case 0: return .string(String(repeating: "a", count: length))
            case 1: return .string(String(repeating: "é漢😀", count: max(1, length / 3)))
            case 2: return .raw(Data("\\ud800\\udc00\\ud800x\\u0000".utf8), quoted: true)
            case 3: return .string(pick(["\u{0}", "\u{202E}rtl", "%s%n%x", "'; DROP TABLE kms_key; --", "../../etc/passwd",
                                         "arn:aws:kms:us-east-1:111122223333:key/../../x", "alias/", "alias/aws/x",
                                         "cks-", "cks-zzzzzzzzzzzzzzzzz", " ", "\n"]))
            default: return .string(randomText(length: min(length, 300)))
            }
        case .integer(let min, let max, _):
            return .number(pick([String((min ?? 0) - 1), String(min ?? 0), String(max ?? 0), String((max ?? 0) + 1),
                                 "0", "-1", "2147483648", "-2147483649", "9223372036854775807", "9223372036854775808",
                                 "-9223372036854775809", "1e30", "1e400", "-0", "1.5", "0.0000001", "1E2",
                                 "99999999999999999999999999999999"]))
        case .double: return .number(pick(["1e400", "-1e400", "1e-400", "-0", "123456789012345678901234567890"]))
        case .timestamp: return .number(pick(["-1", "0", "1e20", "253402300800", "-62135596801", "1e400", "1.7e308"]))
        case .blob: return .string(pick(["", "=", "not base64!", "QQ", "QQ==QQ==", String(repeating: "A", count: 200_000)]))
        case .boolean: return pick([.string("true"), .number("1"), .null])
        case .structure, .list, .map: return wildValue(depth: 0)
        }
    }

    /// Any JSON value at all, of any type.
    mutating func wildValue(depth: Int) -> FuzzJSON {
        switch int(0...8) {
        case 0: return .null
        case 1: return .bool(chance(0.5))
        case 2: return .number(pick(["0", "-1", "1e999", "3.14", "18446744073709551616"]))
        case 3: return .string(randomText(length: int(0...40)))
        case 4: return depth > 3 ? .array([]) : .array((0..<int(0...3)).map { _ in wildValue(depth: depth + 1) })
        case 5: return depth > 3 ? .object([]) : .object((0..<int(0...3)).map { _ in (randomText(length: 4), wildValue(depth: depth + 1)) })
        case 6: return .string(String(repeating: "Z", count: pick([1024, 65_536, 300_000])))
        case 7: return .object([("CustomKeyStoreId", .string("cks-0123456789abcdef0"))])
        default: return .raw(Data([0x22, 0xFF, 0xFE, 0x22]), quoted: false)
        }
    }

    mutating func randomText(length: Int) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_/.:")
        return String((0..<max(0, length)).map { _ in alphabet[int(0...(alphabet.count - 1))] })
    }

    /// Values that satisfy the patterns of well-known members, often naming things that exist.
    mutating func knownValue(_ member: String) -> String? {
        switch member {
        case "CustomKeyStoreId": return chance(0.8) && !storeIds.isEmpty ? pick(storeIds) : "cks-0123456789abcdef0"
        case "KeyId", "TargetKeyId", "SourceKeyId", "DestinationKeyId":
            guard !keyIds.isEmpty, chance(0.8) else { return pick(["alias/fuzz", "1234abcd-12ab-34cd-56ef-1234567890ab"]) }
            let key = pick(keyIds)
            return chance(0.2) ? "arn:aws:kms:us-east-1:111122223333:key/\(key)" : key
        case "CloudHsmClusterId": return chance(0.7) && !clusterIds.isEmpty ? pick(clusterIds) : "cluster-234567abcdefg"
        case "ClusterId": return clusterIds.isEmpty ? "cluster-234567abcdefg" : pick(clusterIds)
        case "AliasName": return "alias/fuzz-\(int(0...50))"
        case "KeyStorePassword", "KmsUserPassword": return "kmsuser-Pa55word"
        case "XksProxyUriEndpoint", "UriEndpoint": return "https://xks\(int(0...3)).example.com"
        case "XksProxyUriPath", "UriPath": return "/kms/xks/v1"
        case "XksProxyVpcEndpointServiceName": return "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"
        case "AccessKeyId": return "ABCDEFGHIJKLMNOPQRST"
        case "RawSecretAccessKey": return "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"
        case "XksKeyId": return "fuzz-key-\(int(0...3))"
        case "CustomKeyStoreName", "NewCustomKeyStoreName": return "fuzz-store-\(int(0...30))"
        default: return nil
        }
    }
}
