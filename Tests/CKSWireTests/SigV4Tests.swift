import CKSDomain
import Foundation
import Testing
@testable import CKSWire

/// Vectors live next to this file; found from #filePath so the tests need neither Python nor a bundle lookup.
private func vectorFile(_ name: String) throws -> Data {
    let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Vectors")
    return try Data(contentsOf: dir.appendingPathComponent(name))
}

struct BotocoreFile: Decodable {
    var accessKeyId: String
    var secretAccessKey: String
    var vectors: [Vector]
    struct Vector: Decodable {
        var name, region, service, date, method, path, query, bodyBase64: String
        var sessionToken: String?
        var headers: [[String]]
        var expected: Expected
    }
    struct Expected: Decodable {
        var authorization, xAmzDate, canonicalRequest, stringToSign: String
        var xAmzSecurityToken: String?
    }
}

struct SuiteFile: Decodable {
    var accessKeyId, secretAccessKey, sessionToken, region, service, date: String
    var cases: [Case]
    struct Case: Decodable {
        var name, method, path, query, body, canonicalRequest, stringToSignHash, authorization: String
        var headers: [[String]]
        var signToken: Bool?
    }
}

private func pairs(_ headers: [[String]]) -> [(String, String)] { headers.map { ($0[0], $0[1]) } }

@Suite struct SigV4BotocoreVectors {
    static let file: BotocoreFile = try! JSONDecoder().decode(BotocoreFile.self, from: vectorFile("botocore-sigv4.json"))

    @Test func vectorsArePresent() {
        #expect(Self.file.vectors.count >= 8)
        #expect(Self.file.vectors.contains { $0.sessionToken != nil })
    }

    @Test(arguments: file.vectors.map(\.name))
    func signMatchesBotocore(name: String) throws {
        let v = try #require(Self.file.vectors.first { $0.name == name })
        let body = try #require(Data(base64Encoded: v.bodyBase64))
        let date = try #require(SigV4.parseAmzDate(v.date))
        let credentials = AWSCredentials(accessKeyId: Self.file.accessKeyId, secretAccessKey: Self.file.secretAccessKey,
                                         sessionToken: v.sessionToken)
        let added = SigV4.sign(method: v.method, path: v.path, query: v.query, headers: pairs(v.headers), body: body,
                               credentials: credentials, region: v.region, service: v.service, date: date)
        let dict = Dictionary(added, uniquingKeysWith: { a, _ in a })
        #expect(dict["Authorization"] == v.expected.authorization)
        #expect(dict["X-Amz-Date"] == v.expected.xAmzDate)
        #expect(dict["X-Amz-Security-Token"] == v.expected.xAmzSecurityToken)
        #expect(added.map(\.0) == (v.sessionToken == nil ? ["Authorization", "X-Amz-Date"]
                                                         : ["Authorization", "X-Amz-Date", "X-Amz-Security-Token"]))

        // Each intermediate step too, so a regression points at the step that broke.
        var all = pairs(v.headers) + [("X-Amz-Date", v.expected.xAmzDate)]
        if let token = v.sessionToken { all.append(("X-Amz-Security-Token", token)) }
        let names = all.map { $0.0.lowercased() }
        let creq = SigV4.canonicalRequest(method: v.method, path: v.path, query: v.query, headers: all,
                                          signedHeaders: names, payloadHash: SigV4.hexSHA256(body))
        #expect(creq == v.expected.canonicalRequest)
        let scope = SigV4.credentialScope(scopeDate: String(v.date.prefix(8)), region: v.region, service: v.service)
        #expect(SigV4.stringToSign(amzDate: v.date, scope: scope, canonicalRequest: creq) == v.expected.stringToSign)
    }

    @Test(arguments: file.vectors.map(\.name))
    func verifierAcceptsBotocoreRequests(name: String) throws {
        let v = try #require(Self.file.vectors.first { $0.name == name })
        let body = try #require(Data(base64Encoded: v.bodyBase64))
        var headers = pairs(v.headers) + [("X-Amz-Date", v.expected.xAmzDate), ("Authorization", v.expected.authorization),
                                          ("User-Agent", "Boto3/1.43.11"), ("Content-Length", "\(body.count)")]
        if let token = v.expected.xAmzSecurityToken { headers.append(("X-Amz-Security-Token", token)) }
        let auth = try SigV4Authorization.parse(v.expected.authorization)
        #expect(auth.accessKeyId == Self.file.accessKeyId)
        #expect(auth.region == v.region)
        let now = try #require(SigV4.parseAmzDate(v.date)).addingTimeInterval(42)
        try SigV4Verifier.verify(auth, method: v.method, path: v.path, query: v.query, headers: headers, body: body,
                                 secretAccessKey: Self.file.secretAccessKey, now: now)
    }
}

@Suite struct SigV4AWSTestSuite {
    static let file: SuiteFile = try! JSONDecoder().decode(SuiteFile.self, from: vectorFile("aws-sigv4-test-suite.json"))

    @Test(arguments: file.cases.map(\.name))
    func suiteCase(name: String) throws {
        let f = Self.file
        let c = try #require(f.cases.first { $0.name == name })
        let headers = pairs(c.headers)
        let names = headers.map { $0.0.lowercased() }
        let creq = SigV4.canonicalRequest(method: c.method, path: c.path, query: c.query, headers: headers,
                                          signedHeaders: names, payloadHash: SigV4.hexSHA256(Data(c.body.utf8)))
        #expect(creq == c.canonicalRequest)
        #expect(SigV4.hexSHA256(Data(creq.utf8)) == c.stringToSignHash)
        let credentials = AWSCredentials(accessKeyId: f.accessKeyId, secretAccessKey: f.secretAccessKey,
                                         sessionToken: c.signToken == true ? f.sessionToken : nil)
        let authz = SigV4.authorizationHeader(method: c.method, path: c.path, query: c.query, headers: headers,
                                              signedHeaders: names, payloadHash: SigV4.hexSHA256(Data(c.body.utf8)),
                                              credentials: credentials, region: f.region, service: f.service,
                                              amzDate: f.date)
        #expect(authz == c.authorization)
        // And the verifier accepts it (service "service" here, not kms).
        let parsed = try SigV4Authorization.parse(c.authorization)
        try SigV4Verifier.verify(parsed, method: c.method, path: c.path, query: c.query, headers: headers,
                                 body: Data(c.body.utf8), secretAccessKey: f.secretAccessKey, expectedService: f.service,
                                 now: try #require(SigV4.parseAmzDate(f.date)))
    }
}
