import CKSTestSupport
import CKSWire
import CKSDomain
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A signed XKS request on the wire, as KMS sends it (host;x-amz-date).
private func xksRequest(port: Int, path: String, body: Data, method: String = "POST", sign: Bool = true,
                        credentials: AWSCredentials = AWSCredentials(accessKeyId: XksTestCredentials.first.accessKeyId,
                                                                     secretAccessKey: XksTestCredentials.first.secretAccessKey),
                        extraHeaders: [(String, String)] = []) -> Data {
    let host = "127.0.0.1:\(port)"
    var text = "\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\nContent-Type: application/json\r\n"
    if sign {
        for (name, value) in XKSRequestSigning.sign(path: path, host: host, body: body, credentials: credentials, region: "us-east-1") {
            text += "\(name): \(value)\r\n"
        }
    }
    for (name, value) in extraHeaders { text += "\(name): \(value)\r\n" }
    text += "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n"
    return Data(text.utf8) + body
}

private let prefixPath = "/example/uri/path/prefix/kms/xks/v1"

private func metadata(_ operation: String) -> XKSRequestMetadata {
    XKSRequestMetadata(awsPrincipalArn: "arn:aws:iam::123456789012:user/Alice", kmsKeyArn: "arn:aws:kms:us-east-1:123456789012:key/k",
                       kmsOperation: operation, kmsRequestId: UUID().uuidString)
}

extension Reliability {
    @Suite struct XksProxy {
        /// kill -9 while requests are in flight, and right after a reload that generated new keys: every key is
        /// still there after a restart and decrypts what it encrypted before the kill.
        @Test func killMinusNineMidTrafficLosesNoKey() async throws {
            let directory = try TemporaryDirectory(prefix: "xks-kill")
            defer { directory.remove() }
            let configURL = directory.url.appendingPathComponent("proxy.json")
            var file = XksProxyConfigFile()
            file.keys = (0..<8).map { ("key-\($0)", ["ENCRYPT", "DECRYPT"], "ENABLED") }
            let config = try file.write(to: configURL)
            let data = directory.url.appendingPathComponent("data").path
            var proxy = try await XksProxyProcess.start(config: config, dataDirectory: data)
            var sealed: [(String, Data, XKSEncryptResponse)] = []
            func encrypt(_ key: String, port: Int) async throws -> (Data, XKSEncryptResponse) {
                let plaintext = Data(UUID().uuidString.utf8)
                let body = Data(XKSEncryptRequest(requestMetadata: metadata("Encrypt"), plaintext: plaintext).json.serialized.utf8)
                let response = try await onThread { try exchange(port: port, xksRequest(port: port, path: "\(prefixPath)/keys/\(key)/encrypt", body: body)) }
                let parsed = try #require(XKSEncryptResponse(json: try JSONValue.parse(response.body)), "\(response)")
                return (plaintext, parsed)
            }
            for i in 0..<8 {
                let (plaintext, response) = try await encrypt("key-\(i)", port: proxy.port)
                sealed.append(("key-\(i)", plaintext, response))
            }
            // Two new keys by reload (SIGHUP), used at once, then traffic and kill -9.
            file.keys += [("late-0", ["ENCRYPT", "DECRYPT"], "ENABLED"), ("late-1", ["ENCRYPT", "DECRYPT"], "ENABLED")]
            try file.write(to: configURL)
            sendSignal(proxy.process.pid, SIGHUP)
            let running = proxy
            #expect(await poll(timeout: .seconds(20)) { running.process.capturedError.contains("config reloaded") },
                    "\(proxy.process.capturedError)")
            for key in ["late-0", "late-1"] {
                let (plaintext, response) = try await encrypt(key, port: proxy.port)
                sealed.append((key, plaintext, response))
            }
            let port = proxy.port
            // Traffic until the proxy is gone (at most a minute's worth), killed while it flows.
            let traffic = Task.detached {
                var answered = 0
                for i in 0..<100_000 {
                    let body = Data(XKSEncryptRequest(requestMetadata: metadata("Encrypt"), plaintext: Data("x".utf8)).json.serialized.utf8)
                    guard let answer = try? exchange(port: port, xksRequest(port: port, path: "\(prefixPath)/keys/key-\(i % 8)/encrypt", body: body),
                                                     timeout: 2), answer.status == 200 else { return answered }
                    answered += 1
                }
                return answered
            }
            try await Task.sleep(for: .milliseconds(400))
            sendSignal(proxy.process.pid, SIGKILL)
            let answered = await traffic.value
            #expect(await poll(timeout: .seconds(10)) { !running.process.process.isRunning })
            // The lock died with the process: a new proxy takes the directory and serves every key.
            proxy = try await XksProxyProcess.start(config: config, dataDirectory: data)
            for (key, plaintext, response) in sealed {
                let body = Data(XKSDecryptRequest(requestMetadata: metadata("Decrypt"), ciphertext: response.ciphertext,
                                                  ciphertextMetadata: response.ciphertextMetadata,
                                                  initializationVector: response.initializationVector,
                                                  authenticationTag: response.authenticationTag).json.serialized.utf8)
                let answer = try await onThread { [port = proxy.port] in
                    try exchange(port: port, xksRequest(port: port, path: "\(prefixPath)/keys/\(key)/decrypt", body: body))
                }
                #expect(XKSDecryptResponse(json: try JSONValue.parse(answer.body))?.plaintext == plaintext, "\(key): \(answer)")
            }
            #expect(!proxy.process.capturedError.contains("generated software key"), "keys were made again: \(proxy.process.capturedError)")
            await proxy.stop()
            Swift.print("xks kill -9: \(answered) requests answered before the kill; \(sealed.count) keys checked after restart")
        }

        /// Mutated requests (paths, methods, headers, bodies, signatures) get only the spec's answers: 200, 405, or an
        /// XKS error whose name matches its status; never another 5xx, and the proxy keeps running.
        @Test func fuzzedRequestsGetOnlyTheSpecsErrors() async throws {
            let directory = try TemporaryDirectory(prefix: "xks-fuzz")
            defer { directory.remove() }
            let config = try XksProxyConfigFile().write(to: directory.url.appendingPathComponent("proxy.json"))
            let proxy = try await XksProxyProcess.start(config: config, dataDirectory: directory.url.appendingPathComponent("data").path)
            defer { Task { await proxy.stop() } }
            let port = proxy.port
            let count = ProcessInfo.processInfo.environment["CKS_LONG"] == "1" ? 30_000 : 3_000
            let seed = UInt64(ProcessInfo.processInfo.environment["CKS_FUZZ_SEED"] ?? "") ?? UInt64.random(in: 0...UInt64.max)
            let (violations, statuses, slowest) = try await onThread { () -> ([String], [Int: Int], (Double, String)) in
                var rng = SplitMix64(seed: seed)
                var violations: [String] = []
                var statuses: [Int: Int] = [:]
                var slowest = (0.0, "")
                for i in 0..<count {
                    let (request, label) = XksFuzz.next(&rng, port: port, index: i)
                    let started = Date()
                    let response = try? exchange(port: port, request, timeout: 10)
                    let seconds = Date().timeIntervalSince(started)
                    if seconds > slowest.0 { slowest = (seconds, label) }
                    // A request malformed at the HTTP level may be dropped by the HTTP parser; the proxy must live on.
                    guard let response else { continue }
                    statuses[response.status, default: 0] += 1
                    if let problem = XksFuzz.judge(response) { violations.append("\(label): \(problem)") }
                }
                return (violations, statuses, slowest)
            }
            #expect(violations.isEmpty, "seed \(seed): \(violations.prefix(20).joined(separator: "\n"))")
            #expect(proxy.process.process.isRunning, "the proxy died: \(proxy.process.capturedError.suffix(2000))")
            let health = try await onThread {
                try exchange(port: port, xksRequest(port: port, path: "\(prefixPath)/health", body: Data(XksCurl.healthBody.utf8)))
            }
            #expect(health.status == 200)
            Swift.print("xks fuzz: \(count) requests, seed \(seed), statuses \(statuses.sorted { $0.key < $1.key }); "
                + String(format: "slowest %.3f s: ", slowest.0) + slowest.1.prefix(200))
            await proxy.stop()
        }

        /// A bad config, data directory or listen address: exit status 1 and one line naming the problem.
        @Test func badStartsNameTheProblem() throws {
            let directory = try TemporaryDirectory(prefix: "xks-bad")
            defer { directory.remove() }
            let data = directory.url.appendingPathComponent("data").path
            func start(_ text: String, mode: Int = 0o600, extra: [String] = []) throws -> (Int32, String, String) {
                let path = directory.url.appendingPathComponent("c-\(UUID().uuidString.prefix(6)).json").path
                guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode]) else {
                    throw HarnessError("cannot write the config \(path)")
                }
                let r = try XksProxyProcess.run(["--config", path, "--data-dir", data, "--listen", "127.0.0.1:0"] + extra)
                return (r.status, r.output, r.error)
            }
            let good = String(decoding: XksProxyConfigFile().json, as: UTF8.self)
            let cases: [(String, Int, [String], String)] = [
                ("{not json", 0o600, [], "is not valid: it is not JSON"),
                (good, 0o644, [], "chmod 600"),
                (good.replacingOccurrences(of: "\"keyStores\"", with: "\"keystores\""), 0o600, [], "unknown member 'keystores'"),
                (good.replacingOccurrences(of: "\"enabled\":false", with: "\"enabled\":\"no\""), 0o600, [], "tls.enabled must be true or false"),
                (good, 0o600, ["--listen", "0.0.0.0:0"], "without TLS"),
            ]
            for (text, mode, extra, expected) in cases {
                let (status, output, error) = try start(text, mode: mode, extra: extra)
                #expect(status == 1 && error.contains(expected) && output.isEmpty, "\(expected): \(status) \(error)")
                #expect(error.split(separator: "\n").count == 1, "\(error)")
            }
            let missing = try XksProxyProcess.run(["--config", data + "/none.json", "--data-dir", data])
            #expect(missing.status == 1 && missing.error.contains("cannot read the config file"))
            let usage = try XksProxyProcess.run(["--config", "x", "--data-dir", data, "--pkcs11-module", "m"])
            #expect(usage.status != 0 && usage.error.contains("go together"))
        }

        /// Two proxies never share a data directory.
        @Test func aSecondProxyOnTheSameDataDirectoryIsRefused() async throws {
            let directory = try TemporaryDirectory(prefix: "xks-lock")
            defer { directory.remove() }
            let config = try XksProxyConfigFile().write(to: directory.url.appendingPathComponent("proxy.json"))
            let data = directory.url.appendingPathComponent("data").path
            let proxy = try await XksProxyProcess.start(config: config, dataDirectory: data)
            defer { Task { await proxy.stop() } }
            let second = try XksProxyProcess.run(["--config", config, "--data-dir", data, "--listen", "127.0.0.1:0"])
            #expect(second.status == 1 && second.error.contains("another cks xks-proxy (pid \(proxy.process.pid))"), "\(second.error)")
            let create = try XksProxyProcess.run(["keys", "create", "--data-dir", data, "k1"])
            #expect(create.status == 1 && create.error.contains("another cks xks-proxy"))
            var info = stat()
            stat(data + "/keys.sqlite", &info)
            #expect(info.st_mode & 0o777 == 0o600)
            stat(data, &info)
            #expect(info.st_mode & 0o777 == 0o700)
            await proxy.stop()
            let created = try XksProxyProcess.run(["keys", "create", "--data-dir", data, "k1", "foo"])
            #expect(created.status == 0 && created.output.contains("created k1") && created.output.contains("exists foo"))
        }
    }
}


enum XksFuzz {
    static let statuses: Set<Int> = [200, 400, 401, 403, 404, 405, 429, 500, 501, 503]

    /// The verdict on one answer: nil when it is one the spec allows.
    static func judge(_ response: RawResponse) -> String? {
        guard statuses.contains(response.status) else { return "status \(response.status): \(response.bodyText)" }
        if response.status == 200 || response.status == 405 { return nil }
        guard let error = XKSError.decode(body: response.body) else { return "not an XKS error body: \(response)" }
        guard error.name.httpStatus == response.status else { return "\(error.name.rawValue) with status \(response.status)" }
        // 500 is the spec's InternalException for a failing key manager; software keys never fail.
        if response.status >= 500 && error.name != .unsupportedOperation { return "server error \(response)" }
        return nil
    }

    static func next(_ rng: inout SplitMix64, port: Int, index: Int) -> (Data, String) {
        func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &rng)] }
        let keys = ["foo", "encrypt-only", "decrypt-only", "unusable", "disabled", "missing", "", "a/b", String(repeating: "k", count: 200), "%00", ".."]
        let operations = ["health", "metadata", "encrypt", "decrypt", "sign", ""]
        let op = pick(operations)
        var path: String
        switch Int.random(in: 0..<10, using: &rng) {
        case 0: path = pick(["/", "/kms", "/kms/xks/v1/health", "/example/uri/path/prefix/kms/xks/v1/", "/ping", "/\u{00e9}", "//x"])
        case 1: path = "/example/uri/path/prefix/kms/xks/v1/keys/\(pick(keys))/\(op)?a=b"
        default: path = op == "health" ? "\(prefixPath)/health" : "\(prefixPath)/keys/\(pick(keys))/\(op)"
        }
        path = path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.union(CharacterSet(charactersIn: "?=%"))) ?? "/"
        let method = Int.random(in: 0..<12, using: &rng) == 0 ? pick(["GET", "PUT", "DELETE", "PATCH", "OPTIONS"]) : "POST"
        let body = fuzzBody(&rng)
        var credentials = AWSCredentials(accessKeyId: XksTestCredentials.first.accessKeyId, secretAccessKey: XksTestCredentials.first.secretAccessKey)
        let sign = Int.random(in: 0..<10, using: &rng) != 0
        if Int.random(in: 0..<10, using: &rng) == 0 { credentials.secretAccessKey = "wrong" }
        var extra: [(String, String)] = []
        if Int.random(in: 0..<15, using: &rng) == 0 { extra.append(("Authorization", pick(["", "AWS4-HMAC-SHA256", "Bearer x", "AWS4-HMAC-SHA256 Credential=/////"]))) }
        let request = xksRequest(port: port, path: path, body: body, method: method, sign: sign, credentials: credentials, extraHeaders: extra)
        return (request, "#\(index) \(method) \(path) \(String(decoding: body.prefix(120), as: UTF8.self))")
    }

    /// A Base64 value over the proxy's plaintext limit.
    static let hugeValue = "\"" + Data(count: 70_000).base64EncodedString() + "\""

    static func fuzzBody(_ rng: inout SplitMix64) -> Data {
        func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &rng)] }
        // Content does not matter to the proxy's checks, only sizes: a repeated byte pattern is enough (and cheap).
        let b64 = { (n: Int) in Data((0..<n).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ n) }).base64EncodedString() }
        let wild: [String] = ["null", "true", "1e999", "-0", "\"\"", "[]", "{}", "\"%%%\"", "\"\(b64(12))\"", "\"\(b64(16))\"",
                              "\"\(b64(21))\"", Self.hugeValue, "\"AES_GCM\"", "\"SHA_256\"", "[\"x\"]", "{\"a\":{\"b\":[]}}"]
        var members: [String] = []
        if Int.random(in: 0..<8, using: &rng) != 0 {
            var md: [String] = []
            for name in ["awsPrincipalArn", "kmsKeyArn", "kmsOperation", "kmsRequestId", "kmsViaService", "awsSourceVpc"]
            where Int.random(in: 0..<5, using: &rng) != 0 {
                md.append("\"\(name)\":" + (Int.random(in: 0..<6, using: &rng) == 0 ? pick(wild) : "\"v-\(name)\""))
            }
            members.append("\"requestMetadata\":" + (Int.random(in: 0..<10, using: &rng) == 0 ? pick(wild) : "{" + md.joined(separator: ",") + "}"))
        }
        for name in ["plaintext", "ciphertext", "additionalAuthenticatedData", "initializationVector", "authenticationTag",
                     "ciphertextMetadata", "encryptionAlgorithm", "ciphertextDataIntegrityValueAlgorithm", "extra"]
        where Int.random(in: 0..<3, using: &rng) != 0 {
            let value: String
            switch name {
            case "encryptionAlgorithm": value = Int.random(in: 0..<4, using: &rng) == 0 ? pick(wild) : "\"AES_GCM\""
            case "initializationVector": value = Int.random(in: 0..<4, using: &rng) == 0 ? pick(wild) : "\"\(b64(12))\""
            case "authenticationTag": value = Int.random(in: 0..<4, using: &rng) == 0 ? pick(wild) : "\"\(b64(16))\""
            default: value = Int.random(in: 0..<3, using: &rng) == 0 ? pick(wild) : "\"\(b64(Int.random(in: 1...64, using: &rng)))\""
            }
            members.append("\"\(name)\":\(value)")
        }
        var text = "{" + members.joined(separator: ",") + "}"
        switch Int.random(in: 0..<12, using: &rng) {
        case 0: text = String(text.prefix(Int.random(in: 0...max(0, text.count), using: &rng)))
        case 1: text = "[" + text + "]"
        case 2: text += "garbage"
        case 3: text = String(repeating: "[", count: 200)
        default: break
        }
        return Data(text.utf8)
    }
}
