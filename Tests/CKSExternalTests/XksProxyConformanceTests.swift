import CKSTestSupport
import CKSWire
import Foundation
import Testing

// This suite's own ExternalTool (enum of the aws/boto3/tmux tools) shadows the shared one.
private typealias Tool = CKSTestSupport.ExternalTool

/// `cks xks-proxy` judged from outside, with curl's own SigV4 (`--aws-sigv4 "aws:amz:REGION:kms-xks-proxy"`) as
/// the signer: every API, every error name the proxy can give and its status, AAD and CDIV round trips, both
/// credential sets, GET → 405, clock skew, over HTTP and HTTPS, mTLS, and both key backends.
@Suite(.serialized) struct XksProxyConformanceTests {
    static let prefix = "example/uri/path/prefix"

    /// The AWS test client's cases (default run and `-a`), expressed against `curl`; returns what failed.
    static func conformance(_ curl: XksCurl, keyId: String = "foo", extended: Bool = true) throws -> [String] {
        var failures: [String] = []
        func expect(_ label: String, _ answer: XksCurl.Answer, status: Int, contains: String) {
            if answer.status != status || (!contains.isEmpty && !answer.body.contains(contains)) {
                failures.append("\(label): HTTP \(answer.status) \(answer.body.prefix(300)) \(answer.curlError.prefix(200))")
            }
        }
        let md = { (op: String) in XksCurl.requestMetadata(op) }
        func encryptBody(_ plaintext: String?, aad: String? = nil, cdiv: Bool = false) -> String {
            var members = [md("Encrypt")]
            if let aad { members.append(#""additionalAuthenticatedData":"\#(aad)""#) }
            if let plaintext { members.append(#""plaintext":"\#(plaintext)""#) }
            if cdiv { members.append(#""ciphertextDataIntegrityValueAlgorithm":"SHA_256""#) }
            members.append(#""encryptionAlgorithm":"AES_GCM""#)
            return "{" + members.joined(separator: ",") + "}"
        }
        func decryptBody(_ sealed: [String: Any], aad: String? = nil) -> String {
            var members = [md("Decrypt")]
            if let aad { members.append(#""additionalAuthenticatedData":"\#(aad)""#) }
            for name in ["ciphertext", "initializationVector", "authenticationTag", "ciphertextMetadata"] {
                if let value = sealed[name] as? String { members.append(#""\#(name)":"\#(value)""#) }
            }
            members.append(#""encryptionAlgorithm":"AES_GCM""#)
            return "{" + members.joined(separator: ",") + "}"
        }
        let plaintext = "cGxhaW50ZXh0Cg==", hello = "SGVsbG8gV29ybGQh"
        let aad = "cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n", aad2 = "cHJvamVjdD1ibHVlLGRlcGFydG1lbnQ9ZmluYW5jZQ=="
        var wrongId = curl
        wrongId.accessKeyId = "Invalid" + curl.accessKeyId
        var wrongSecret = curl
        wrongSecret.secretAccessKey = "Invalid" + curl.secretAccessKey
        var wrongPrefix = curl
        wrongPrefix.prefix = curl.prefix + "/invalid"

        // GetHealthStatus
        expect("health", try curl.call("health", XksCurl.healthBody), status: 200, contains: #""healthStatus":"ACTIVE""#)
        expect("health without requestMetadata", try curl.call("health", "{}"), status: 400, contains: "ValidationException")
        expect("health with empty requestMetadata", try curl.call("health", #"{"requestMetadata":{}}"#), status: 400, contains: "ValidationException")
        expect("health, invalid access key id", try wrongId.call("health", XksCurl.healthBody), status: 401, contains: "AuthenticationFailedException")
        expect("health, invalid secret", try wrongSecret.call("health", XksCurl.healthBody), status: 401, contains: "AuthenticationFailedException")
        expect("health, invalid URI prefix", try wrongPrefix.call("health", XksCurl.healthBody), status: 404, contains: "InvalidUriPathException")
        // GetKeyMetadata
        let metadataBody = "{\(md("DescribeKey"))}"
        expect("metadata for DescribeKey", try curl.call("keys/\(keyId)/metadata", metadataBody), status: 200, contains: #""keyStatus":"ENABLED""#)
        expect("metadata for CreateKey", try curl.call("keys/\(keyId)/metadata", "{\(XksCurl.requestMetadata("CreateKey", keyArn: false))}"),
               status: 200, contains: #""keyUsage":["ENCRYPT","DECRYPT"]"#)
        expect("metadata without requestMetadata", try curl.call("keys/\(keyId)/metadata", "{}"), status: 400, contains: "ValidationException")
        expect("metadata with empty requestMetadata", try curl.call("keys/\(keyId)/metadata", #"{"requestMetadata":{}}"#), status: 400, contains: "ValidationException")
        expect("metadata, non-existent key", try curl.call("keys/non_existing_key/metadata", metadataBody), status: 404, contains: "KeyNotFoundException")
        expect("metadata, invalid access key id", try wrongId.call("keys/\(keyId)/metadata", metadataBody), status: 401, contains: "AuthenticationFailedException")
        expect("metadata, invalid secret", try wrongSecret.call("keys/\(keyId)/metadata", metadataBody), status: 401, contains: "AuthenticationFailedException")
        expect("metadata, invalid URI prefix", try wrongPrefix.call("keys/\(keyId)/metadata", metadataBody), status: 404, contains: "InvalidUriPathException")
        // Encrypt and Decrypt
        expect("encrypt, non-existent key", try curl.call("keys/non_existing_key/encrypt", encryptBody(plaintext)), status: 404, contains: "KeyNotFoundException")
        expect("encrypt, missing plaintext", try curl.call("keys/\(keyId)/encrypt", encryptBody(nil)), status: 400, contains: "ValidationException")
        expect("encrypt, invalid access key id", try wrongId.call("keys/\(keyId)/encrypt", encryptBody(plaintext)), status: 401, contains: "AuthenticationFailedException")
        expect("encrypt, invalid secret", try wrongSecret.call("keys/\(keyId)/encrypt", encryptBody(plaintext)), status: 401, contains: "AuthenticationFailedException")
        expect("encrypt, invalid URI path", try wrongPrefix.call("keys/\(keyId)/encrypt", encryptBody(plaintext)), status: 404, contains: "InvalidUriPathException")
        func sealed(_ body: String, _ label: String) throws -> [String: Any]? {
            let answer = try curl.call("keys/\(keyId)/encrypt", body)
            expect(label, answer, status: 200, contains: #""ciphertext":"#)
            return answer.json
        }
        if let s = try sealed(encryptBody(plaintext, aad: aad), "encrypt with AAD") {
            expect("decrypt with missing AAD", try curl.call("keys/\(keyId)/decrypt", decryptBody(s)), status: 400, contains: "InvalidCiphertextException")
            expect("decrypt with a different AAD", try curl.call("keys/\(keyId)/decrypt", decryptBody(s, aad: aad2)), status: 400, contains: "InvalidCiphertextException")
            expect("decrypt with the same AAD", try curl.call("keys/\(keyId)/decrypt", decryptBody(s, aad: aad)), status: 200, contains: #""plaintext":"\#(plaintext)""#)
        }
        if let s = try sealed(encryptBody(hello), "encrypt without AAD") {
            expect("decrypt without AAD", try curl.call("keys/\(keyId)/decrypt", decryptBody(s)), status: 200, contains: #""plaintext":"\#(hello)""#)
        }
        for withAAD in [true, false] {
            let requestAAD = withAAD ? aad : nil
            guard let s = try sealed(encryptBody(hello, aad: requestAAD, cdiv: true), "encrypt with CDIV (AAD: \(withAAD))") else { continue }
            let field = { (name: String) in (s[name] as? String).flatMap { Data(base64Encoded: $0) } }
            let computed = XKSIntegrity.ciphertextDataIntegrityValue(
                additionalAuthenticatedData: requestAAD.flatMap { Data(base64Encoded: $0) }, ciphertextMetadata: field("ciphertextMetadata"),
                initializationVector: field("initializationVector") ?? Data(), ciphertext: field("ciphertext") ?? Data(),
                authenticationTag: field("authenticationTag") ?? Data())
            if field("ciphertextDataIntegrityValue") != computed { failures.append("CDIV mismatch (AAD: \(withAAD))") }
            expect("decrypt after CDIV (AAD: \(withAAD))", try curl.call("keys/\(keyId)/decrypt", decryptBody(s, aad: requestAAD)),
                   status: 200, contains: #""plaintext":"\#(hello)""#)
        }
        let largeAAD = Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 * 7) }).base64EncodedString()
        let largePlaintext = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 * 13) }).base64EncodedString()
        if let s = try sealed(encryptBody(largePlaintext, aad: largeAAD), "encrypt large plaintext and AAD") {
            expect("decrypt large", try curl.call("keys/\(keyId)/decrypt", decryptBody(s, aad: largeAAD)), status: 200, contains: largePlaintext)
        }
        // Beyond the AWS client: methods, the second credential, and the -a keys.
        for target in ["health", "keys/\(keyId)/metadata", "keys/\(keyId)/encrypt", "keys/\(keyId)/decrypt"] {
            expect("GET \(target)", try curl.call(target, "", method: "GET"), status: 405, contains: "")
        }
        expect("unknown path", try curl.call("keys/\(keyId)/sign", metadataBody), status: 404, contains: "InvalidUriPathException")
        var second = curl
        second.accessKeyId = XksTestCredentials.second.accessKeyId
        second.secretAccessKey = XksTestCredentials.second.secretAccessKey
        expect("second credential set", try second.call("keys/\(keyId)/encrypt", encryptBody(plaintext)), status: 200, contains: #""ciphertext":"#)
        if extended {
            expect("encrypt-only key encrypts", try curl.call("keys/encrypt-only/encrypt", encryptBody(plaintext)), status: 200, contains: #""ciphertext""#)
            if let s = try curl.call("keys/encrypt-only/encrypt", encryptBody(plaintext, aad: aad)).json {
                expect("encrypt-only key cannot decrypt", try curl.call("keys/encrypt-only/decrypt", decryptBody(s, aad: aad)),
                       status: 400, contains: "InvalidKeyUsageException")
            }
            for key in ["decrypt-only", "unusable"] {
                expect("\(key) key cannot encrypt", try curl.call("keys/\(key)/encrypt", encryptBody(plaintext, aad: aad, cdiv: true)),
                       status: 400, contains: "InvalidKeyUsageException")
            }
            expect("disabled key", try curl.call("keys/disabled/encrypt", encryptBody(plaintext)), status: 400, contains: "InvalidStateException")
            expect("disabled key metadata", try curl.call("keys/disabled/metadata", metadataBody), status: 200, contains: #""keyStatus":"DISABLED""#)
        }
        return failures
    }

    /// A request signed by the project's signer `offset` seconds away from now, sent by curl as is.
    static func skewed(_ curl: XksCurl, offset: TimeInterval) throws -> XksCurl.Answer {
        let host = curl.endpoint.split(separator: "/").last.map(String.init) ?? ""
        let signed = XKSRequestSigning.sign(path: curl.path("health"), host: host, body: Data(XksCurl.healthBody.utf8),
                                            credentials: AWSCredentials(accessKeyId: curl.accessKeyId, secretAccessKey: curl.secretAccessKey),
                                            region: "us-east-1", date: Date().addingTimeInterval(offset))
        return try curl.call("health", XksCurl.healthBody, extra: signed.flatMap { ["-H", "\($0.0): \($0.1)"] }, curlSigns: false)
    }

    @Test(.enabled(if: Tool.shouldRun("curl"), Tool.skipNote("curl")))
    func softwareKeysOverHTTP() async throws {
        _ = try Tool.require("curl")
        let directory = try TemporaryDirectory(prefix: "xks-http")
        defer { directory.remove() }
        let config = try XksProxyConfigFile().write(to: directory.url.appendingPathComponent("proxy.json"))
        let proxy = try await XksProxyProcess.start(config: config, dataDirectory: directory.url.appendingPathComponent("data").path)
        defer { Task { await proxy.stop() } }
        #expect(proxy.endpoint.hasPrefix("http://127.0.0.1:"))
        #expect(proxy.process.capturedOutput.hasPrefix("xks proxy listening on http://127.0.0.1:"))
        let curl = XksCurl(endpoint: proxy.endpoint, prefix: Self.prefix)
        let failures = try Self.conformance(curl)
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        #expect(try Self.skewed(curl, offset: -60).status == 200)
        for offset in [-400.0, 400] {
            let answer = try Self.skewed(curl, offset: offset)
            #expect(answer.status == 401 && answer.errorName == "AuthenticationFailedException", "skew \(offset): \(answer.body)")
        }
        // One log line per request, with KMS's request id and never the plaintext.
        let log = proxy.process.capturedError
        #expect(log.contains("kmsRequestId=4112f4d6-db54-4af4-ae30-c55a22a8dfae"))
        #expect(!log.contains("cGxhaW50ZXh0Cg=="))
        await proxy.stop()
    }

    @Test(.enabled(if: Tool.shouldRun("curl"), Tool.skipNote("curl")))
    func softwareKeysOverHTTPSWithAGeneratedCertificate() async throws {
        _ = try Tool.require("curl")
        let directory = try TemporaryDirectory(prefix: "xks-https")
        defer { directory.remove() }
        var file = XksProxyConfigFile()
        file.tls = ["enabled": true]
        let config = try file.write(to: directory.url.appendingPathComponent("proxy.json"))
        let data = directory.url.appendingPathComponent("data").path
        var proxy = try await XksProxyProcess.start(config: config, dataDirectory: data)
        let certificate = try #require(proxy.certificate)
        #expect(proxy.endpoint.hasPrefix("https://127.0.0.1:"))
        #expect(certificate.hasPrefix(data) && FileManager.default.fileExists(atPath: certificate))
        var curl = XksCurl(endpoint: proxy.endpoint, prefix: Self.prefix)
        curl.tlsArguments = ["--cacert", certificate]
        let failures = try Self.conformance(curl, extended: false)
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        #expect(try Self.skewed(curl, offset: 400).errorName == "AuthenticationFailedException")
        // By the name in the certificate too, and never in the clear.
        var byName = curl
        byName.endpoint = "https://localhost:\(proxy.port)"
        #expect(try byName.call("health", XksCurl.healthBody).status == 200)
        var plain = curl
        plain.endpoint = proxy.endpoint.replacingOccurrences(of: "https://", with: "http://")
        plain.tlsArguments = []
        #expect(try plain.call("health", XksCurl.healthBody).status != 200)
        // The certificate is kept: a restart serves the same one.
        let before = try String(contentsOfFile: certificate, encoding: .utf8)
        await proxy.stop()
        proxy = try await XksProxyProcess.start(config: config, dataDirectory: data)
        #expect(proxy.certificate == certificate)
        #expect(try String(contentsOfFile: certificate, encoding: .utf8) == before)
        await proxy.stop()
    }

    @Test(.enabled(if: Tool.shouldRun("openssl"), Tool.skipNote("openssl")))
    func mutualTLSChecksTheChainAndTheCommonName() async throws {
        let openssl = try Tool.require("openssl")
        _ = try Tool.require("curl")
        let directory = try TemporaryDirectory(prefix: "xks-mtls")
        defer { directory.remove() }
        let d = directory.url.path
        func run(_ arguments: [String]) throws {
            let result = try ProgramRun.run(openssl, arguments)
            if result.status != 0 { throw ManagedProcess.ProcessFailure(description: "openssl \(arguments): \(result.error)") }
        }
        try run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                 "-subj", "/CN=test client CA", "-keyout", "\(d)/ca.key", "-out", "\(d)/ca.pem",
                 "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"])
        func client(_ name: String, cn: String, signer: String?) throws {
            try run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=\(cn)",
                     "-keyout", "\(d)/\(name).key", "-out", "\(d)/\(name).csr"])
            if let signer {
                try run(["x509", "-req", "-in", "\(d)/\(name).csr", "-CA", "\(d)/\(signer).pem", "-CAkey", "\(d)/\(signer).key",
                         "-CAcreateserial", "-days", "2", "-out", "\(d)/\(name).pem"])
            } else {
                try run(["x509", "-req", "-in", "\(d)/\(name).csr", "-signkey", "\(d)/\(name).key", "-days", "2", "-out", "\(d)/\(name).pem"])
            }
        }
        try client("kms", cn: "cks.kms.us-east-1.amazonaws.com", signer: "ca")
        try client("other", cn: "someone.example.com", signer: "ca")
        try client("selfsigned", cn: "cks.kms.us-east-1.amazonaws.com", signer: nil)
        // Expired: the right CA and name, valid for one day in 2020 (openssl ca sets dates in the past; x509 cannot).
        try run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=cks.kms.us-east-1.amazonaws.com",
                 "-keyout", "\(d)/expired.key", "-out", "\(d)/expired.csr"])
        try Data("[ca]\ndefault_ca=test\n[test]\ndatabase=\(d)/index.txt\nnew_certs_dir=\(d)\nserial=\(d)/serial\ndefault_md=sha256\npolicy=any\n[any]\ncommonName=supplied\n".utf8)
            .write(to: directory.url.appendingPathComponent("ca.cnf"))
        try Data().write(to: directory.url.appendingPathComponent("index.txt"))
        try Data("01\n".utf8).write(to: directory.url.appendingPathComponent("serial"))
        try run(["ca", "-batch", "-config", "\(d)/ca.cnf", "-cert", "\(d)/ca.pem", "-keyfile", "\(d)/ca.key", "-in", "\(d)/expired.csr",
                 "-out", "\(d)/expired.pem", "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", "-notext"])
        var file = XksProxyConfigFile()
        file.tls = ["enabled": true, "clientCaFile": "\(d)/ca.pem"]
        let config = try file.write(to: directory.url.appendingPathComponent("proxy.json"))
        let proxy = try await XksProxyProcess.start(config: config, dataDirectory: "\(d)/data")
        defer { Task { await proxy.stop() } }
        var curl = XksCurl(endpoint: proxy.endpoint, prefix: Self.prefix)
        let cacert = ["--cacert", try #require(proxy.certificate)]
        curl.tlsArguments = cacert + ["--cert", "\(d)/kms.pem", "--key", "\(d)/kms.key"]
        let failures = try Self.conformance(curl, extended: false)
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        for (label, extra) in [("no client certificate", [String]()), ("another common name", ["--cert", "\(d)/other.pem", "--key", "\(d)/other.key"]),
                               ("a self-signed certificate", ["--cert", "\(d)/selfsigned.pem", "--key", "\(d)/selfsigned.key"]),
                               ("an expired certificate", ["--cert", "\(d)/expired.pem", "--key", "\(d)/expired.key"])] {
            var rejected = curl
            rejected.tlsArguments = cacert + extra
            let answer = try rejected.call("health", XksCurl.healthBody)
            #expect(answer.status == 0 && answer.curlExit != 0, "\(label) was served: \(answer.status) \(answer.body)")
        }
        await proxy.stop()
    }
}
