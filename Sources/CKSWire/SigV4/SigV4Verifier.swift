import CKSDomain
import Foundation

/// A parsed `Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261129/us-east-1/kms/aws4_request, SignedHeaders=..., Signature=...`
public struct SigV4Authorization: Sendable, Hashable {
    public var accessKeyId: String
    public var scopeDate: String
    public var region: String
    public var service: String
    /// Lower-case names as listed by the client.
    public var signedHeaders: [String]
    public var signature: String
    /// The credential scope's last element; anything but `aws4_request` fails verification.
    public var terminator: String

    public init(accessKeyId: String, scopeDate: String, region: String, service: String, signedHeaders: [String],
                signature: String, terminator: String = "aws4_request") {
        self.accessKeyId = accessKeyId
        self.scopeDate = scopeDate
        self.region = region
        self.service = service
        self.signedHeaders = signedHeaders
        self.signature = signature
        self.terminator = terminator
    }

    /// nil/empty header → KMSError(.missingAuthenticationToken, "Missing Authentication Token")
    /// malformed → KMSError(.incompleteSignature, "<what is missing>")
    public static func parse(_ header: String?) throws -> SigV4Authorization {
        guard let header, !SigV4.trimWhitespace(header).isEmpty else {
            throw KMSError(.missingAuthenticationToken, "Missing Authentication Token")
        }
        let trimmed = SigV4.trimWhitespace(header)
        // Split on ASCII bytes, not Characters: this runs on every request, and Character-wise splitting (grapheme
        // breaking) with a dictionary of copied strings costs far more (docs/perf/decisions.md).
        let algorithmEnd = trimmed.utf8.firstIndex(of: UInt8(ascii: " ")) ?? trimmed.endIndex
        let algorithm = trimmed[..<algorithmEnd]
        guard algorithm == SigV4.algorithm else {
            throw KMSError(.incompleteSignature, "Unsupported AWS 'algorithm': '\(algorithm)'. Authorization=\(header)")
        }
        // A repeated parameter's last value wins; parameters other than these three are ignored.
        var credential: Substring = "", signedHeaders: Substring = "", signature: Substring = ""
        for part in SigV4.split(trimmed[algorithmEnd...], on: UInt8(ascii: ",")) {
            let item = SigV4.trimWhitespace(part)
            guard let eq = item.utf8.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let value = item[item.utf8.index(after: eq)...]
            switch item[..<eq] {
            case "Credential": credential = value
            case "SignedHeaders": signedHeaders = value
            case "Signature": signature = value
            default: continue
            }
        }
        if credential.isEmpty || signature.isEmpty || signedHeaders.isEmpty {
            var missing = ""
            for (name, value) in [("Credential", credential), ("Signature", signature), ("SignedHeaders", signedHeaders)]
            where value.isEmpty {
                missing += "Authorization header requires '\(name)' parameter. "
            }
            throw KMSError(.incompleteSignature, "\(missing)Authorization=\(header)")
        }
        let scope = SigV4.split(credential, on: UInt8(ascii: "/"), omittingEmpty: false)
        guard scope.count == 5, !scope[0].isEmpty else {
            throw KMSError(.incompleteSignature,
                           "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '\(credential)'")
        }
        return SigV4Authorization(accessKeyId: String(scope[0]), scopeDate: String(scope[1]), region: String(scope[2]),
                                  service: String(scope[3]),
                                  signedHeaders: SigV4.split(signedHeaders, on: UInt8(ascii: ";")).map { SigV4.lowercasedASCII($0) },
                                  signature: String(signature), terminator: String(scope[4]))
    }
}

public enum SigV4Verifier {
    public static let signatureMismatchMessage = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."

    /// Recomputes the signature over the exact body bytes and the listed signed headers.
    /// Mismatch → KMSError(.invalidSignature, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
    /// |now - X-Amz-Date| > maxSkew → KMSError(.invalidSignature, "Signature expired: 20240820T230143Z is now earlier than 20240820T230302Z (20240820T230802Z - 5 min.)")
    ///   or "Signature not yet current: X is still later than Y (Z + 5 min.)"; missing X-Amz-Date → .incompleteSignature.
    /// Wrong service in scope (not "kms") → KMSError(.invalidSignature, "Credential should be scoped to correct service: 'kms'. ").
    public static func verify(_ authorization: SigV4Authorization, method: String, path: String, query: String,
                              headers: [(String, String)], body: Data, secretAccessKey: String,
                              expectedService: String = "kms", now: Date, maxSkew: TimeInterval = 300,
                              policy: SigV4.SignedHeaderPolicy = .kmsJSON) throws {
        guard authorization.service == expectedService else {
            throw KMSError(.invalidSignature, "Credential should be scoped to correct service: '\(expectedService)'. ")
        }
        guard authorization.terminator == "aws4_request" else {
            throw KMSError(.invalidSignature,
                           "Credential should be scoped with a valid terminator: 'aws4_request', not '\(authorization.terminator)'. ")
        }
        switch policy {
        case .kmsJSON: try checkRequiredSignedHeaders(authorization.signedHeaders, headers: headers)
        case .hostAndDate: try checkHostAndDateSigned(authorization.signedHeaders)
        }
        guard let amzDate = headers.last(where: { SigV4.equalsIgnoringASCIICase($0.0, lowercased: "x-amz-date") })
            .map({ String(SigV4.trimWhitespace($0.1)) }),
              !amzDate.isEmpty else {
            throw KMSError(.incompleteSignature, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
        }
        guard let requestDate = SigV4.parseAmzDate(amzDate) else {
            throw KMSError(.incompleteSignature,
                           "Date must be in ISO-8601 'basic format'. Got '\(amzDate)'. See http://en.wikipedia.org/wiki/ISO_8601")
        }
        try checkSkew(requestDate: requestDate, now: now, maxSkew: maxSkew)
        guard amzDate.hasPrefix(authorization.scopeDate), authorization.scopeDate.count == 8 else {
            throw KMSError(.invalidSignature,
                           "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '\(authorization.scopeDate)' != '\(amzDate.prefix(8))', from '\(amzDate)'.")
        }
        let scope = SigV4.credentialScope(scopeDate: authorization.scopeDate, region: authorization.region,
                                          service: authorization.service)
        let creq = SigV4.canonicalRequest(method: method, path: path, query: query, headers: headers,
                                          signedHeaders: authorization.signedHeaders,
                                          payloadHash: SigV4.hexSHA256(body))
        let sts = SigV4.stringToSign(amzDate: amzDate, scope: scope, canonicalRequest: creq)
        let expected = SigV4.signature(secretAccessKey: secretAccessKey, scopeDate: authorization.scopeDate,
                                       region: authorization.region, service: authorization.service, stringToSign: sts)
        guard constantTimeEqual(expected, authorization.signature) else {
            throw KMSError(.invalidSignature, signatureMismatchMessage)
        }
    }

    /// The headers a signature must cover, or a captured request could be replayed with them changed (another
    /// `X-Amz-Target` turns a DescribeKey into a DeleteCustomKeyStore): `host`, and — when the request carries
    /// them — `content-type` and every `x-amz-*` header (`x-amz-date`, `x-amz-target`, `x-amz-security-token`).
    /// botocore and the aws CLI sign all of these; `x-amzn-trace-id`, `user-agent` and `amz-sdk-*` stay unsigned.
    /// AWS answers `InvalidSignatureException` "'<Name>' must be a 'SignedHeader' in the AWS Authorization."
    static func checkRequiredSignedHeaders(_ signed: [String], headers: [(String, String)]) throws(KMSError) {
        func refuse(_ name: String) -> KMSError {
            KMSError(.invalidSignature, "'\(name)' must be a 'SignedHeader' in the AWS Authorization.")
        }
        guard signed.contains("host") || signed.contains(":authority") else { throw refuse("Host' or ':authority") }
        // Nearly every request signs all of them: checked without lowering or collecting the names.
        let covered = headers.allSatisfy { name, _ in
            let mustSign = SigV4.equalsIgnoringASCIICase(name, lowercased: "content-type")
                || SigV4.equalsIgnoringASCIICase(bytes: name.utf8.prefix(6), lowercased: "x-amz-")
            return !mustSign || signed.contains { SigV4.equalsIgnoringASCIICase(name, lowercased: $0) }
        }
        if covered { return }
        let present = Set(headers.map { $0.0.lowercased() })
        if present.contains("content-type"), !signed.contains("content-type") { throw refuse("Content-Type") }
        for name in present.sorted() where name.hasPrefix("x-amz-") && !signed.contains(name) {
            switch name {
            case "x-amz-date": throw refuse("X-Amz-Date")
            case "x-amz-target": throw refuse("X-Amz-Target")
            case "x-amz-security-token": throw refuse("X-Amz-Security-Token")
            default: throw refuse(name)
            }
        }
    }

    /// The XKS Proxy API's rule: the signature covers the host (the endpoint KMS meant) and the date (so a
    /// captured request cannot be replayed outside the skew window).
    static func checkHostAndDateSigned(_ signed: [String]) throws(KMSError) {
        guard signed.contains("host") || signed.contains(":authority") else {
            throw KMSError(.invalidSignature, "'Host' must be a 'SignedHeader' in the AWS Authorization.")
        }
        guard signed.contains("x-amz-date") else {
            throw KMSError(.invalidSignature, "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.")
        }
    }

    /// AWS's own wording for clock skew, e.g. "Signature expired: 20240820T230143Z is now earlier than
    /// 20240820T230302Z (20240820T230802Z - 5 min.)".
    static func checkSkew(requestDate: Date, now: Date, maxSkew: TimeInterval) throws {
        let minutes = maxSkew.truncatingRemainder(dividingBy: 60) == 0 ? "\(Int(maxSkew / 60)) min." : "\(Int(maxSkew)) sec."
        if requestDate < now.addingTimeInterval(-maxSkew) {
            throw KMSError(.invalidSignature,
                           "Signature expired: \(SigV4.amzDate(requestDate)) is now earlier than \(SigV4.amzDate(now.addingTimeInterval(-maxSkew))) (\(SigV4.amzDate(now)) - \(minutes))")
        }
        if requestDate > now.addingTimeInterval(maxSkew) {
            throw KMSError(.invalidSignature,
                           "Signature not yet current: \(SigV4.amzDate(requestDate)) is still later than \(SigV4.amzDate(now.addingTimeInterval(maxSkew))) (\(SigV4.amzDate(now)) + \(minutes))")
        }
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<x.count { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}
