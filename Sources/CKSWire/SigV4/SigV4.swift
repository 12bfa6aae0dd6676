import Crypto
import Foundation

/// An AWS access key pair, with the session token of temporary credentials.
public struct AWSCredentials: Sendable, Hashable {
    public var accessKeyId: String
    public var secretAccessKey: String
    public var sessionToken: String?

    public init(accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }
}

/// AWS Signature Version 4, byte-identical to botocore's `SigV4Auth` (checked against vectors it generated,
/// see `Scripts/sigv4_vectors.py`, and against the public AWS SigV4 test suite).
public enum SigV4 {
    public static let algorithm = "AWS4-HMAC-SHA256"
    /// What a KMS JSON request signs, exactly as botocore does for KMS (it signs every header present at
    /// signing time, and for KMS those are these four; the security token joins them when present).
    public static let kmsSignedHeaders = ["content-type", "host", "x-amz-date", "x-amz-target"]

    /// Which headers a request signs and a verifier insists on.
    public enum SignedHeaderPolicy: Sendable, Hashable {
        /// KMS JSON 1.1 (botocore): content-type, host, x-amz-date, x-amz-target (and the security token); the
        /// verifier requires host, and content-type and every `x-amz-*` header the request carries.
        case kmsJSON
        /// The XKS Proxy API (spec appendix A): KMS signs exactly `host;x-amz-date`; the verifier requires those
        /// two and accepts any further signed header (curl's `--aws-sigv4` also signs the headers it was given).
        case hostAndDate
    }

    /// Returns the headers to add: "Authorization", "X-Amz-Date", and "X-Amz-Security-Token" when a token is present.
    /// `headers` must contain host, content-type and x-amz-target (names case-insensitive); signed headers are
    /// content-type;host;x-amz-date;x-amz-target (+ x-amz-security-token), byte-identical to botocore's SigV4Auth.
    /// Any other header in `headers` is left unsigned; stale date, token or authorization headers are ignored.
    /// With `.hostAndDate` (the XKS Proxy API) only host and x-amz-date are signed, as KMS signs its proxy calls.
    public static func sign(method: String, path: String, query: String, headers: [(String, String)], body: Data,
                            credentials: AWSCredentials, region: String, service: String, date: Date,
                            policy: SignedHeaderPolicy = .kmsJSON) -> [(String, String)] {
        let amzDate = amzDate(date)
        var signed: [(String, String)] = headers.filter { name, _ in
            let lower = name.lowercased()
            switch policy {
            case .kmsJSON: return lower == "content-type" || lower == "host" || lower == "x-amz-target"
            case .hostAndDate: return lower == "host"
            }
        }
        signed.append(("x-amz-date", amzDate))
        if let token = credentials.sessionToken { signed.append(("x-amz-security-token", token)) }
        let names = signed.map { $0.0.lowercased() }
        let authorization = authorizationHeader(method: method, path: path, query: query, headers: signed,
                                                signedHeaders: names, payloadHash: hexSHA256(body),
                                                credentials: credentials, region: region, service: service,
                                                amzDate: amzDate)
        var result = [("Authorization", authorization), ("X-Amz-Date", amzDate)]
        if let token = credentials.sessionToken { result.append(("X-Amz-Security-Token", token)) }
        return result
    }

    /// The full `Authorization` value for a request whose headers already carry `x-amz-date` (and the token),
    /// signing exactly `signedHeaders` (lower-case names; order and duplicates do not matter).
    public static func authorizationHeader(method: String, path: String, query: String, headers: [(String, String)],
                                           signedHeaders: [String], payloadHash: String, credentials: AWSCredentials,
                                           region: String, service: String, amzDate: String) -> String {
        let names = canonicalSignedHeaderNames(signedHeaders)
        let creq = canonicalRequest(method: method, path: path, query: query, headers: headers,
                                    signedHeaders: names, payloadHash: payloadHash)
        let scopeDate = String(amzDate.prefix(8))
        let scope = credentialScope(scopeDate: scopeDate, region: region, service: service)
        let sts = stringToSign(amzDate: amzDate, scope: scope, canonicalRequest: creq)
        let sig = signature(secretAccessKey: credentials.secretAccessKey, scopeDate: scopeDate, region: region,
                            service: service, stringToSign: sts)
        return "\(algorithm) Credential=\(credentials.accessKeyId)/\(scope), SignedHeaders=\(names.joined(separator: ";")), Signature=\(sig)"
    }

    // MARK: - The steps, public so tests and the verifier can check each one

    /// Task 1: the canonical request. Header values are trimmed and inner whitespace runs collapsed; repeated
    /// headers are joined with "," in arrival order; the path has dot segments and empty segments removed and
    /// is percent-encoded (botocore's `quote(path, safe='/~')`); query pairs are sorted but not re-encoded.
    public static func canonicalRequest(method: String, path: String, query: String, headers: [(String, String)],
                                        signedHeaders: [String], payloadHash: String) -> String {
        // Built in one string: this runs on every request the core verifies.
        let names = canonicalSignedHeaderNames(signedHeaders)
        var text = ""
        text.reserveCapacity(256 + payloadHash.utf8.count)
        text += method.uppercased()
        text += "\n"
        text += canonicalPath(path)
        text += "\n"
        text += canonicalQuery(query)
        text += "\n"
        for name in names {
            text += name
            text += ":"
            var first = true
            for (headerName, value) in headers where equalsIgnoringASCIICase(headerName, lowercased: name) {
                if !first { text += "," }
                text += trimAll(value)
                first = false
            }
            text += "\n"
        }
        text += "\n"
        for (i, name) in names.enumerated() {
            if i > 0 { text += ";" }
            text += name
        }
        text += "\n"
        text += payloadHash
        return text
    }

    /// Task 2: the string to sign.
    public static func stringToSign(amzDate: String, scope: String, canonicalRequest: String) -> String {
        var text = algorithm
        text.reserveCapacity(algorithm.utf8.count + amzDate.utf8.count + scope.utf8.count + 67)
        text += "\n"
        text += amzDate
        text += "\n"
        text += scope
        text += "\n"
        text += hexSHA256(canonicalRequest)
        return text
    }

    /// Task 3: the hex signature, from the derived key kSigning = HMAC chain over date, region, service, "aws4_request".
    public static func signature(secretAccessKey: String, scopeDate: String, region: String, service: String,
                                 stringToSign: String) -> String {
        // kSigning comes from a cache: it changes once a day per credential and region.
        var mac = SigningKeyCache.shared.keyedHMAC(secretAccessKey: secretAccessKey, scopeDate: scopeDate,
                                                   region: region, service: service)
        var message = stringToSign
        message.withUTF8 { mac.update(data: UnsafeRawBufferPointer($0)) }
        return hex(mac.finalize())
    }

    public static func credentialScope(scopeDate: String, region: String, service: String) -> String {
        "\(scopeDate)/\(region)/\(service)/aws4_request"
    }

    /// `yyyyMMdd'T'HHmmss'Z'` in UTC, the X-Amz-Date format.
    public static func amzDate(_ date: Date) -> String {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (y, m, d) = civil(fromDays: days)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let year = String(y).count < 4 ? String(repeating: "0", count: 4 - String(y).count) + String(y) : String(y)
        return "\(year)\(two(m))\(two(d))T\(two(secondOfDay / 3600))\(two(secondOfDay % 3600 / 60))\(two(secondOfDay % 60))Z"
    }

    /// Parses an X-Amz-Date value; nil unless it is exactly `yyyyMMdd'T'HHmmss'Z'` with valid fields.
    public static func parseAmzDate(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 16, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int64? {
            var value: Int64 = 0
            for b in bytes[range] {
                guard b >= 48, b <= 57 else { return nil }
                value = value * 10 + Int64(b - 48)
            }
            return value
        }
        guard let y = number(0..<4), let mo = number(4..<6), let d = number(6..<8),
              let h = number(9..<11), let mi = number(11..<13), let s = number(13..<15),
              (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 60 else { return nil }
        let days = daysFromCivil(y, mo, d)
        guard civil(fromDays: days) == (y, mo, d) else { return nil }  // rejects 20250231
        return Date(timeIntervalSince1970: TimeInterval(days * 86_400 + h * 3600 + mi * 60 + s))
    }

    public static func hexSHA256(_ data: Data) -> String { hex(SHA256.hash(data: data)) }

    /// The hex SHA-256 of a string's UTF-8, without copying it into `Data` first.
    public static func hexSHA256(_ text: String) -> String {
        var text = text
        return text.withUTF8 { hex(SHA256.hash(data: UnsafeRawBufferPointer($0))) }
    }

    /// Whether `text` equals `name` (given in lower case) ignoring ASCII case, without lowering a copy of it:
    /// header names are compared several times per request.
    public static func equalsIgnoringASCIICase<S: StringProtocol>(_ text: S, lowercased name: String) -> Bool {
        equalsIgnoringASCIICase(bytes: text.utf8, lowercased: name)
    }

    public static func equalsIgnoringASCIICase<Bytes: Sequence<UInt8>>(bytes: Bytes, lowercased name: String) -> Bool {
        var a = bytes.makeIterator(), b = name.utf8.makeIterator()
        while true {
            switch (a.next(), b.next()) {
            case (nil, nil): return true
            case let (x?, y?):
                let folded = x >= 0x41 && x <= 0x5A ? x | 0x20 : x
                if folded != y { return false }
            default: return false
            }
        }
    }

    // MARK: - Canonicalisation details (botocore's behaviour)

    static func canonicalSignedHeaderNames(_ names: [String]) -> [String] {
        // Sorted by code point (UTF-8 byte order), as Python sorts str. What clients send (and what `parse`
        // returns) is nearly always already canonical: then the list itself is the answer.
        func canonical(_ name: String) -> Bool {
            !name.utf8.contains { ($0 >= 0x41 && $0 <= 0x5A) || $0 == 0x20 || $0 == 0x09 || $0 >= 0x80 }
        }
        if names.allSatisfy(canonical),
           zip(names, names.dropFirst()).allSatisfy({ $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            return names
        }
        return Set(names.map { String(trimWhitespace($0.lowercased())) })
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    static func canonicalPath(_ path: String) -> String {
        percentEncode(removeDotSegments(path.isEmpty ? "/" : path), safe: "/~")
    }

    /// RFC 3986 §5.2.4 plus the removal of empty segments, exactly like botocore's `remove_dot_segments`.
    static func removeDotSegments(_ path: String) -> String {
        guard !path.isEmpty else { return "" }
        var output: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) where segment != "." {
            if segment == ".." { if !output.isEmpty { output.removeLast() } } else { output.append(segment) }
        }
        let first = path.hasPrefix("/") ? "/" : ""
        let last = path.hasSuffix("/") && !output.isEmpty ? "/" : ""
        return first + output.joined(separator: "/") + last
    }

    static func canonicalQuery(_ query: String) -> String {
        guard !query.isEmpty else { return "" }
        let pairs: [(String, String)] = query.split(separator: "&", omittingEmptySubsequences: false).map { pair in
            if let eq = pair.firstIndex(of: "=") {
                return (String(pair[..<eq]), String(pair[pair.index(after: eq)...]))
            }
            return (String(pair), "")
        }
        let sorted = pairs.sorted { a, b in
            let ak = Array(a.0.utf8), bk = Array(b.0.utf8)
            if ak != bk { return ak.lexicographicallyPrecedes(bk) }
            return Array(a.1.utf8).lexicographicallyPrecedes(Array(b.1.utf8))
        }
        return sorted.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// Python's `' '.join(value.split())`: trims and collapses runs of whitespace (str.isspace set).
    /// What `trimmingCharacters(in: .whitespaces)` removes (tab and Unicode space separators) from both ends,
    /// without Foundation's NSString bridge, which is costly on the core's hot path (docs/perf/decisions.md).
    public static func trimWhitespace<S: StringProtocol>(_ text: S) -> Substring {
        let scalars = Substring(text).unicodeScalars
        func isSpace(_ u: Unicode.Scalar) -> Bool {
            u == " " || u == "\t" || (u.value >= 0x80 && u.properties.generalCategory == .spaceSeparator)
        }
        var start = scalars.startIndex, end = scalars.endIndex
        while start < end, isSpace(scalars[start]) { start = scalars.index(after: start) }
        while end > start, isSpace(scalars[scalars.index(before: end)]) { end = scalars.index(before: end) }
        return Substring(scalars[start..<end])
    }

    /// `text` split at every `separator` byte (an ASCII character, so never inside a multi-byte scalar), as
    /// slices of it; empty pieces are dropped unless `omittingEmpty` is false.
    static func split(_ text: Substring, on separator: UInt8, omittingEmpty: Bool = true) -> [Substring] {
        var pieces: [Substring] = []
        let utf8 = text.utf8
        var start = utf8.startIndex
        var i = start
        while i < utf8.endIndex {
            if utf8[i] == separator {
                if !omittingEmpty || i > start { pieces.append(text[start..<i]) }
                start = utf8.index(after: i)
            }
            i = utf8.index(after: i)
        }
        if !omittingEmpty || start < utf8.endIndex { pieces.append(text[start...]) }
        return pieces
    }

    /// ASCII lower case, without a new string when there is nothing to lower (header names usually are).
    static func lowercasedASCII<S: StringProtocol>(_ text: S) -> String {
        if !text.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) { return String(text) }
        return text.lowercased()
    }

    static func trimAll(_ value: String) -> String {
        // Fast path, nearly every real header value: printable ASCII, no leading, trailing or doubled spaces.
        var previousWasSpace = true
        var simple = true
        for byte in value.utf8 {
            if byte == 0x20 {
                if previousWasSpace { simple = false; break }
                previousWasSpace = true
            } else if byte < 0x21 || byte > 0x7E {
                simple = false
                break
            } else {
                previousWasSpace = false
            }
        }
        if simple, !previousWasSpace { return value }
        return value.split(whereSeparator: { ch in
            ch.isWhitespace || ch.unicodeScalars.allSatisfy { (0x1C...0x1F).contains($0.value) }
        }).joined(separator: " ")
    }

    /// Percent-encodes every byte except RFC 3986 unreserved characters and `safe`.
    static func percentEncode(_ text: String, safe: String) -> String {
        let safeBytes = Set(safe.utf8)
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                 UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                if safeBytes.contains(byte) {
                    out.unicodeScalars.append(Unicode.Scalar(byte))
                } else {
                    out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
                }
            }
        }
        return out
    }

    static func hex<Bytes: Sequence<UInt8>>(_ data: Bytes) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(data.underestimatedCount * 2)
        for b in data {
            bytes.append(digits[Int(b >> 4)])
            bytes.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    // Howard Hinnant's civil-date algorithms: proleptic Gregorian, no locale or calendar objects involved.
    static func daysFromCivil(_ year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
