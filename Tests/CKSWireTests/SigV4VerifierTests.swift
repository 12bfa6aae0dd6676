import CKSDomain
import Foundation
import Testing
@testable import CKSWire

/// A signed KMS request built with our signer, then presented to the verifier with one thing changed at a time.
private struct Signed {
    static let credentials = AWSCredentials(accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    var date: Date
    var body = Data(#"{"KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab","PendingWindowInDays":7}"#.utf8)
    var headers: [(String, String)]
    var authorization: String

    init(date: Date = SigV4.parseAmzDate("20240820T230143Z")!, credentials: AWSCredentials = Signed.credentials,
         service: String = "kms") {
        self.date = date
        let base = [("Host", "127.0.0.1:7911"), ("Content-Type", "application/x-amz-json-1.1"),
                    ("X-Amz-Target", "TrentService.ScheduleKeyDeletion")]
        let added = SigV4.sign(method: "POST", path: "/", query: "", headers: base, body: body, credentials: credentials,
                               region: "us-east-1", service: service, date: date)
        authorization = added[0].1
        headers = base + added.dropFirst() + [("Authorization", authorization), ("Content-Length", "73")]
    }

    func verify(body: Data? = nil, headers: [(String, String)]? = nil, secret: String = Signed.credentials.secretAccessKey,
                now: Date? = nil, authorization: String? = nil) throws {
        let auth = try SigV4Authorization.parse(authorization ?? self.authorization)
        try SigV4Verifier.verify(auth, method: "POST", path: "/", query: "", headers: headers ?? self.headers,
                                 body: body ?? self.body, secretAccessKey: secret, now: now ?? date)
    }
}

private func expectKMSError(_ code: KMSErrorCode, _ message: String? = nil, _ body: () throws -> Void,
                            sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        try body()
        Issue.record("expected \(code.rawValue), got success", sourceLocation: sourceLocation)
    } catch let error as KMSError {
        #expect(error.code == code, sourceLocation: sourceLocation)
        if let message { #expect(error.message == message, sourceLocation: sourceLocation) }
    } catch {
        Issue.record("expected KMSError, got \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct SigV4VerifierTests {
    let mismatch = SigV4Verifier.signatureMismatchMessage

    @Test func acceptsUntouchedRequest() throws {
        try Signed().verify()
    }

    @Test func unsignedHeadersMayChange() throws {
        let s = Signed()
        try s.verify(headers: s.headers + [("User-Agent", "aws-cli/1.45.11"), ("amz-sdk-request", "attempt=2")])
    }

    @Test func headerNamesAreCaseInsensitive() throws {
        let s = Signed()
        try s.verify(headers: s.headers.map { ($0.0.uppercased(), $0.1) })
    }

    @Test func tamperedBodyIsRejected() {
        let s = Signed()
        expectKMSError(.invalidSignature, mismatch) {
            try s.verify(body: Data(#"{"KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab","PendingWindowInDays":8}"#.utf8))
        }
        expectKMSError(.invalidSignature, mismatch) { try s.verify(body: s.body + Data(" ".utf8)) }
        expectKMSError(.invalidSignature, mismatch) { try s.verify(body: Data()) }
    }

    @Test func tamperedSignedHeaderIsRejected() {
        let s = Signed()
        let changed = s.headers.map { $0.0 == "X-Amz-Target" ? ($0.0, "TrentService.DeleteCustomKeyStore") : $0 }
        expectKMSError(.invalidSignature, mismatch) { try s.verify(headers: changed) }
        let otherHost = s.headers.map { $0.0 == "Host" ? ($0.0, "127.0.0.1:7912") : $0 }
        expectKMSError(.invalidSignature, mismatch) { try s.verify(headers: otherHost) }
        let noContentType = s.headers.filter { $0.0 != "Content-Type" }
        expectKMSError(.invalidSignature, mismatch) { try s.verify(headers: noContentType) }
    }

    @Test func wrongSecretIsRejected() {
        expectKMSError(.invalidSignature, mismatch) { try Signed().verify(secret: "not-the-secret") }
    }

    @Test func tamperedSignatureIsRejected() {
        let s = Signed()
        var flipped = s.authorization
        let last = flipped.removeLast()
        flipped.append(last == "0" ? "1" : "0")
        expectKMSError(.invalidSignature, mismatch) { try s.verify(authorization: flipped) }
        expectKMSError(.invalidSignature, mismatch) { try s.verify(authorization: String(s.authorization.dropLast())) }
    }

    @Test func sessionTokenIsSignedWhenPresent() throws {
        let creds = AWSCredentials(accessKeyId: "ASIAEXAMPLE", secretAccessKey: "s3cr3t", sessionToken: "token/with+chars==")
        let s = Signed(credentials: creds)
        #expect(s.authorization.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target"))
        try s.verify(secret: "s3cr3t")
        let swapped = s.headers.map { $0.0 == "X-Amz-Security-Token" ? ($0.0, "other-token") : $0 }
        expectKMSError(.invalidSignature, mismatch) { try s.verify(headers: swapped, secret: "s3cr3t") }
    }

    // Clock skew: the exact texts KMS sends (kms-semantics §3.3).
    @Test func expiredSignatureUsesAWSWording() {
        let s = Signed(date: SigV4.parseAmzDate("20240820T230143Z")!)
        expectKMSError(.invalidSignature,
                       "Signature expired: 20240820T230143Z is now earlier than 20240820T230302Z (20240820T230802Z - 5 min.)") {
            try s.verify(now: SigV4.parseAmzDate("20240820T230802Z")!)
        }
    }

    @Test func futureSignatureUsesAWSWording() {
        let s = Signed(date: SigV4.parseAmzDate("20240820T231302Z")!)
        expectKMSError(.invalidSignature,
                       "Signature not yet current: 20240820T231302Z is still later than 20240820T231301Z (20240820T230801Z + 5 min.)") {
            try s.verify(now: SigV4.parseAmzDate("20240820T230801Z")!)
        }
    }

    @Test func skewOfExactlyFiveMinutesIsAccepted() throws {
        let s = Signed()
        try s.verify(now: s.date.addingTimeInterval(300))
        try s.verify(now: s.date.addingTimeInterval(-300))
        expectKMSError(.invalidSignature) { try s.verify(now: s.date.addingTimeInterval(301)) }
        expectKMSError(.invalidSignature) { try s.verify(now: s.date.addingTimeInterval(-301)) }
    }

    @Test func wrongServiceScopeIsRejected() {
        let s = Signed(service: "s3")
        expectKMSError(.invalidSignature, "Credential should be scoped to correct service: 'kms'. ") { try s.verify() }
    }

    @Test func scopeDateMustMatchXAmzDate() {
        let s = Signed()
        let other = s.authorization.replacingOccurrences(of: "/20240820/", with: "/20240821/")
        expectKMSError(.invalidSignature) { try s.verify(authorization: other) }
    }

    @Test func missingOrMalformedXAmzDate() {
        let s = Signed()
        expectKMSError(.incompleteSignature) { try s.verify(headers: s.headers.filter { $0.0 != "X-Amz-Date" }) }
        let bad = s.headers.map { $0.0 == "X-Amz-Date" ? ($0.0, "2024-08-20T23:01:43Z") : $0 }
        expectKMSError(.incompleteSignature) { try s.verify(headers: bad) }
        let impossible = s.headers.map { $0.0 == "X-Amz-Date" ? ($0.0, "20240231T230143Z") : $0 }
        expectKMSError(.incompleteSignature) { try s.verify(headers: impossible) }
    }

    @Test func missingAuthorizationHeader() {
        expectKMSError(.missingAuthenticationToken, "Missing Authentication Token") { _ = try SigV4Authorization.parse(nil) }
        expectKMSError(.missingAuthenticationToken, "Missing Authentication Token") { _ = try SigV4Authorization.parse("  ") }
    }

    @Test func malformedAuthorizationHeaders() throws {
        expectKMSError(.incompleteSignature) { _ = try SigV4Authorization.parse("Basic dXNlcjpwYXNz") }
        expectKMSError(.incompleteSignature) { _ = try SigV4Authorization.parse("AWS4-HMAC-SHA256") }
        let noCredential = "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=abc"
        expectKMSError(.incompleteSignature,
                       "Authorization header requires 'Credential' parameter. Authorization=\(noCredential)") {
            _ = try SigV4Authorization.parse(noCredential)
        }
        let onlyCredential = "AWS4-HMAC-SHA256 Credential=AKID/20240820/us-east-1/kms/aws4_request"
        expectKMSError(.incompleteSignature,
                       "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=\(onlyCredential)") {
            _ = try SigV4Authorization.parse(onlyCredential)
        }
        expectKMSError(.incompleteSignature) {
            _ = try SigV4Authorization.parse("AWS4-HMAC-SHA256 Credential=AKID/20240820/kms, SignedHeaders=host, Signature=abc")
        }
        let parsed = try SigV4Authorization.parse(
            "AWS4-HMAC-SHA256 Credential=AKID/20240820/eu-west-1/kms/aws4_request,SignedHeaders=Content-Type;host,Signature=abc")
        #expect(parsed == SigV4Authorization(accessKeyId: "AKID", scopeDate: "20240820", region: "eu-west-1", service: "kms",
                                             signedHeaders: ["content-type", "host"], signature: "abc"))
    }

    /// The parser keeps slices of the header and the canonical request skips sorting names already in order;
    /// what those fast paths see must give what the general path gives.
    @Test func parameterAndSignedHeaderCorners() throws {
        // A repeated parameter's last value wins; unknown ones are ignored; an empty one counts as missing.
        let repeated = try SigV4Authorization.parse(
            "AWS4-HMAC-SHA256 Signature=old, Credential=AKID/20240820/eu-west-1/kms/aws4_request, Extra=1, "
                + "SignedHeaders=host, Signature=new, Junk")
        #expect(repeated.signature == "new" && repeated.region == "eu-west-1" && repeated.signedHeaders == ["host"])
        let empty = "AWS4-HMAC-SHA256 Credential=AKID/20240820/us-east-1/kms/aws4_request, SignedHeaders=host, Signature="
        expectKMSError(.incompleteSignature, "Authorization header requires 'Signature' parameter. Authorization=\(empty)") {
            _ = try SigV4Authorization.parse(empty)
        }
        let sixParts = "AWS4-HMAC-SHA256 Credential=AKID/20240820/us-east-1/kms/aws4_request/x, SignedHeaders=host, Signature=a"
        expectKMSError(.incompleteSignature) { _ = try SigV4Authorization.parse(sixParts) }
        // Names signed out of order, in upper case or twice canonicalize as the sorted lower-case set.
        #expect(SigV4.canonicalSignedHeaderNames(["x-amz-target", "Host", "content-type", "host"])
                == ["content-type", "host", "x-amz-target"])
        #expect(SigV4.canonicalSignedHeaderNames(["content-type", "host"]) == ["content-type", "host"])
        // A request whose client listed its signed headers unsorted and in mixed case still verifies.
        let s = Signed()
        let shuffled = s.authorization.replacingOccurrences(of: "SignedHeaders=content-type;host;x-amz-date;x-amz-target",
                                                             with: "SignedHeaders=X-Amz-Target;host;Content-Type;x-amz-date")
        #expect(shuffled != s.authorization)
        try s.verify(authorization: shuffled)
        // Header names in any case are recognised as ones that must be signed.
        var t = Signed()
        t.headers.append(("X-AMZ-META-NOTE", "unsigned"))
        expectKMSError(.invalidSignature, "'x-amz-meta-note' must be a 'SignedHeader' in the AWS Authorization.") {
            try t.verify()
        }
    }

    @Test func hostMustBeSigned() {
        let s = Signed()
        let noHost = s.authorization.replacingOccurrences(of: "content-type;host;", with: "content-type;")
        expectKMSError(.invalidSignature, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.") {
            try s.verify(authorization: noHost)
        }
    }

    /// A signature that is correct over fewer headers still fails when it leaves out the target, the date, the
    /// content type or the session token: else a captured request could be replayed as another operation.
    @Test(arguments: [("x-amz-target", "X-Amz-Target"), ("x-amz-date", "X-Amz-Date"), ("content-type", "Content-Type"),
                      ("x-amz-security-token", "X-Amz-Security-Token")])
    func kmsHeadersMustBeSigned(_ left: String, _ shown: String) {
        var s = Signed()
        s.headers.append(("X-Amz-Security-Token", "FwoGZXIvYXdzEXAMPLETOKEN"))
        let names = ["content-type", "host", "x-amz-date", "x-amz-security-token", "x-amz-target"].filter { $0 != left }
        let authorization = SigV4.authorizationHeader(
            method: "POST", path: "/", query: "", headers: s.headers, signedHeaders: names,
            payloadHash: SigV4.hexSHA256(s.body), credentials: Signed.credentials, region: "us-east-1", service: "kms",
            amzDate: SigV4.amzDate(s.date))
        expectKMSError(.invalidSignature, "'\(shown)' must be a 'SignedHeader' in the AWS Authorization.") {
            try s.verify(authorization: authorization)
        }
        // The same request with every header signed passes: the refusal is about coverage alone.
        let full = SigV4.authorizationHeader(
            method: "POST", path: "/", query: "", headers: s.headers, signedHeaders: names + [left],
            payloadHash: SigV4.hexSHA256(s.body), credentials: Signed.credentials, region: "us-east-1", service: "kms",
            amzDate: SigV4.amzDate(s.date))
        #expect(throws: Never.self) { try s.verify(authorization: full) }
    }

    @Test func otherUnsignedAmzHeaderIsRefusedButTraceIdIsNot() throws {
        var s = Signed()
        s.headers.append(("X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793"))
        try s.verify()
        s.headers.append(("X-Amz-Meta-Note", "unsigned"))
        expectKMSError(.invalidSignature, "'x-amz-meta-note' must be a 'SignedHeader' in the AWS Authorization.") {
            try s.verify()
        }
    }

    @Test func wrongTerminatorIsRejected() {
        let s = Signed()
        let bad = s.authorization.replacingOccurrences(of: "/aws4_request", with: "/aws5_request")
        expectKMSError(.invalidSignature) { try s.verify(authorization: bad) }
    }

    @Test func amzDateRoundTrips() throws {
        for text in ["19700101T000000Z", "20000229T235959Z", "20261129T195205Z", "21000301T120000Z"] {
            let date = try #require(SigV4.parseAmzDate(text))
            #expect(SigV4.amzDate(date) == text)
        }
        #expect(SigV4.amzDate(Date(timeIntervalSince1970: 1_537_582_718.931)) == "20180922T021838Z")
        #expect(SigV4.parseAmzDate("20240820T230143") == nil)
        #expect(SigV4.parseAmzDate("2024082XT230143Z") == nil)
        #expect(SigV4.parseAmzDate("20241320T230143Z") == nil)
    }
}
