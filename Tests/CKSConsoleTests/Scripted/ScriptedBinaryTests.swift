import CKSClient
import CKSDomain
@testable import CKSTeardown
import CKSWire
import Foundation
import Testing
@testable import CKSConsole

/// Runs the built `cks` executable (it sits next to the test bundle) and captures its output.
enum CKSBinary {
    static var url: URL? {
        var candidates: [URL] = []
        let exe = URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).resolvingSymlinksInPath()
        candidates.append(exe.deletingLastPathComponent().appendingPathComponent("cks"))
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("cks"))
        if let root = repositoryRoot { candidates.append(root.appendingPathComponent(".build/debug/cks")) }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    static var repositoryRoot: URL? {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/" {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { return dir }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    struct Result { var status: Int32; var out: String; var err: String }

    /// Runs `cks args` with exactly `environment` (nothing inherited but PATH), stdin closed, with a deadline.
    static func run(_ args: [String], environment: [String: String], timeout: Duration = .seconds(60)) async throws -> Result {
        let binary = try #require(url, "the cks executable was not found next to the test bundle")
        let process = Process()
        process.executableURL = binary
        process.arguments = args
        var env = environment
        env["PATH"] = env["PATH"] ?? ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        process.environment = env
        let outFile = FileManager.default.temporaryDirectory.appendingPathComponent("cks-out-\(UUID().uuidString)")
        let errFile = FileManager.default.temporaryDirectory.appendingPathComponent("cks-err-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: outFile.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outFile)
            try? FileManager.default.removeItem(at: errFile)
        }
        process.standardOutput = try FileHandle(forWritingTo: outFile)
        process.standardError = try FileHandle(forWritingTo: errFile)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            Issue.record("cks \(args.joined(separator: " ")) did not finish within \(timeout)")
            while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        }
        return Result(status: process.terminationStatus,
                      out: (try? String(contentsOf: outFile, encoding: .utf8)) ?? "",
                      err: (try? String(contentsOf: errFile, encoding: .utf8)) ?? "")
    }
}

@Suite(.serialized) struct ScriptedBinaryTests {
    @Test func completionScriptsForEveryShell() async throws {
        let home = FileManager.default.temporaryDirectory.path
        for shell in ["bash", "zsh", "fish"] {
            let r = try await CKSBinary.run(["--generate-completion-script", shell], environment: ["HOME": home])
            #expect(r.status == 0, "\(shell): \(r.err)")
            for word in ["stores", "keys", "output", "endpoint", "profile", "region"] {   // fish spells options `-l output`
                #expect(r.out.contains(word), "\(shell) script lacks \(word)")
            }
        }
        #expect(try await CKSBinary.run(["--generate-completion-script", "zsh"], environment: ["HOME": home]).out.hasPrefix("#compdef cks"))
        #expect(try await CKSBinary.run(["--generate-completion-script", "tcsh"], environment: ["HOME": home]).status != 0)
    }

    /// The bash script really completes: source it and ask bash what `cks st<TAB>` and `--output <TAB>` offer.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/bin/bash"), "bash is not installed"))
    func bashCompletionCompletes() async throws {
        let script = try await CKSBinary.run(["--generate-completion-script", "bash"], environment: ["HOME": "/tmp"]).out
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cks-completion-\(UUID().uuidString).bash")
        try Data(script.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let probe = """
        source '\(file.path)'
        c() { COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
              _cks cks "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"; echo "${COMPREPLY[*]}"; }
        c cks st; c cks keys --out; c cks stores --output ""
        """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", probe]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(output.split(separator: "\n").map(String.init) == ["stores", "--output", "table json"])
    }

    @Test func storesAndKeysThroughTheExecutable() async throws {
        try await VerbFixture.with { f in
            let (alpha, _, ids) = try await f.seed(keys: 2)
            let endpoint = f.core.endpoint.absoluteString
            let stores = try await CKSBinary.run(["stores", "--endpoint", endpoint], environment: f.environment)
            #expect(stores.status == 0, "\(stores.err)")
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(stores.out.utf8)) as? [[String: Any]])
            #expect(rows.map { $0["CustomKeyStoreName"] as? String } == ["alpha", "beta"])

            let keys = try await CKSBinary.run(["keys", "alpha", "--endpoint", endpoint, "--output", "table"], environment: f.environment)
            #expect(keys.status == 0, "\(keys.err)")
            #expect(keys.out.hasPrefix("KEY ID"))
            #expect(ids.allSatisfy { keys.out.contains($0) })

            // Endpoint from the environment instead of the flag; region flag.
            var env = f.environment
            env["AWS_ENDPOINT_URL_KMS"] = endpoint
            let byEnv = try await CKSBinary.run(["keys", alpha, "--region", "us-east-1"], environment: env)
            #expect(byEnv.status == 0, "\(byEnv.err)")

            // Distinct exit statuses, error type on stderr.
            let missing = try await CKSBinary.run(["keys", "nope", "--endpoint", endpoint], environment: f.environment)
            #expect(missing.status == 2)
            #expect(missing.err.contains("CustomKeyStoreNotFoundException"))
            var wrong = f.environment
            wrong["AWS_SECRET_ACCESS_KEY"] = "wrong"
            let denied = try await CKSBinary.run(["stores", "--endpoint", endpoint], environment: wrong)
            #expect(denied.status == 3)
            #expect(denied.err.contains("InvalidSignatureException"))
            let unreachable = try await CKSBinary.run(["stores", "--endpoint", "http://127.0.0.1:1"], environment: f.environment)
            #expect(unreachable.status == 5)
            let usage = try await CKSBinary.run(["stores", "--output", "yaml"], environment: f.environment)
            #expect(usage.status == 64)
        }
    }

    @Test func embeddedDefaultThroughTheExecutable() async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("cks-bin-home-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        let r = try await CKSBinary.run(["stores"], environment: ["HOME": home.path])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out == "[]\n")
        #expect(r.err.hasPrefix("cks: no endpoint configured") && r.err.contains("using an embedded core over"),
                "the verb says it talks to an embedded core: \(r.err)")
        let k = try await CKSBinary.run(["keys", "cks-1234567890abcdef0"], environment: ["HOME": home.path])
        #expect(k.status == 2)
        #expect(k.err.contains("CustomKeyStoreNotFoundException"))
    }

    /// `cks keys` against moto, a third-party KMS without custom key stores: the store lookup is not implemented
    /// there (HTTP 500), so the id is used as given and the keys are listed the AWS way (ListKeys + DescribeKey).
    @Test(.enabled(if: ExternalTool.shouldRun("moto_server"), ExternalTool.skipNote("moto_server")))
    func keysAgainstMoto() async throws {
        let moto = try await ExternalTool.startMoto()
        do {
            let env = ["HOME": FileManager.default.temporaryDirectory.path, "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_ENDPOINT_URL": moto.endpoint]
            let client = KMSClient(endpoint: URL(string: moto.endpoint)!, region: "us-east-1",
                                   credentials: AWSCredentials(accessKeyId: "testing", secretAccessKey: "testing"))
            _ = try await client.createKey(CreateKeyRequest(description: "on moto"))
            let r = try await CKSBinary.run(["keys", "cks-1234567890abcdef0", "--output", "json"], environment: env)
            #expect(r.status == 0, "\(r.err)")
            #expect(r.out == "[]\n")   // moto keeps no CustomKeyStoreId on its keys
            #expect(r.err.contains("does not implement DescribeCustomKeyStores"))
            let table = try await CKSBinary.run(["keys", "cks-1234567890abcdef0", "--output", "table"], environment: env)
            #expect(table.out.hasPrefix("KEY ID"))
            let missing = try await CKSBinary.run(["keys", "a-name"], environment: env)
            #expect(missing.status != 0)   // a name cannot be resolved without DescribeCustomKeyStores
        } catch {
            await moto.process.stop()
            throw error
        }
        await moto.process.stop()
    }
}

extension ScriptedBinaryTests {
    /// An endpoint without custom key stores (moto answers DescribeCustomKeyStores with an HTML 500): every verb says so
    /// in one line, with one exit status (6, configuration), and no markup reaches the terminal; so does the console
    /// when its output is not a terminal.
    @Test(.enabled(if: ExternalTool.shouldRun("moto_server"), ExternalTool.skipNote("moto_server")))
    func everyVerbAgainstAnEndpointWithoutCustomKeyStores() async throws {
        let moto = try await ExternalTool.startMoto()
        do {
            let env = ["HOME": FileManager.default.temporaryDirectory.path, "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_ENDPOINT_URL": moto.endpoint, "TERM": "dumb"]
            for args in [["stores"], ["teardown", "payments-hsm", "--dry-run"], ["teardown", "payments-hsm", "--yes"], [] as [String]] {
                let r = try await CKSBinary.run(args, environment: env)
                #expect(r.status == 6, "cks \(args.joined(separator: " ")): \(r.status)\n\(r.err)")
                let lines = r.err.split(separator: "\n")
                #expect(lines.count == 1, "one line: \(r.err)")
                #expect(r.err.contains("this endpoint does not implement DescribeCustomKeyStores: HTTP 500, not an AWS error body"),
                        "\(r.err)")
                #expect(!r.err.contains("<") && !r.out.contains("<"), "no markup: \(r.err)\(r.out)")
            }
        } catch {
            await moto.process.stop()
            throw error
        }
        await moto.process.stop()
    }

    /// Missing credentials for a configured endpoint are a configuration error (6), for the verbs and the console.
    @Test func missingCredentialsAreAConfigurationError() async throws {
        let env = ["HOME": FileManager.default.temporaryDirectory.appendingPathComponent("cks-nocreds-\(UUID().uuidString)").path,
                   "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "TERM": "dumb"]
        for args in [["stores", "--endpoint", "http://127.0.0.1:9"], ["keys", "x", "--endpoint", "http://127.0.0.1:9"],
                     ["teardown", "x", "--endpoint", "http://127.0.0.1:9"], ["--endpoint", "http://127.0.0.1:9"]] {
            let r = try await CKSBinary.run(args, environment: env)
            #expect(r.status == 6, "cks \(args.joined(separator: " ")): \(r.status) \(r.err)")
            #expect(r.err.contains("NoCredentialsError: Unable to locate credentials"), "\(r.err)")
        }
    }

    @Test func versionAndCompletionAreInTheHelp() async throws {
        let version = try await CKSBinary.run(["--version"], environment: [:])
        #expect(version.status == 0)
        #expect(version.out == "cks \(CKSVersion.current)\n")
        let help = try await CKSBinary.run(["--help"], environment: [:])
        #expect(help.out.contains("--generate-completion-script") && help.out.contains("--version"), "\(help.out)")
        let teardown = try await CKSBinary.run(["teardown", "--help"], environment: [:])
        #expect(teardown.out.contains("--abort") && teardown.out.contains("--enable-again"))
        #expect(teardown.out.contains("11 blocked"))
        let stores = try await CKSBinary.run(["stores", "--help"], environment: [:])
        #expect(!stores.out.contains("4 invalid state"), "cks stores cannot return 4: \(stores.out)")
    }
}

/// The verbs against the real `cks serve` (started as a child process on a free port, stopped by its PID).
@Suite(.serialized) struct ScriptedAgainstServeTests {
    static let admin = AWSCredentials(accessKeyId: "AKIAADMINADMINADMIN2", secretAccessKey: "admin-secret-admin-secret")
    static let reader = AWSCredentials(accessKeyId: "AKIAREADERREADERREA2", secretAccessKey: "reader-secret-reader-secret")

    @Test func storesAndKeysAgainstCksServe() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cks-serve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // A principals file with the admin and a reader that may only describe stores.
        let principals = dir.appendingPathComponent("principals.json")
        let json = """
        {"principals":[
          {"name":"admin","account":"111122223333","accessKeyId":"\(Self.admin.accessKeyId)","secretAccessKey":"\(Self.admin.secretAccessKey)","allow":["kms:*","cks:*"]},
          {"name":"reader","account":"111122223333","accessKeyId":"\(Self.reader.accessKeyId)","secretAccessKey":"\(Self.reader.secretAccessKey)","allow":["kms:DescribeCustomKeyStores"]}
        ]}
        """
        _ = FileManager.default.createFile(atPath: principals.path, contents: Data(json.utf8), attributes: [.posixPermissions: 0o600])
        let binary = try #require(CKSBinary.url)
        let serve = try ManagedProcess(binary, ["serve", "--listen", "127.0.0.1:0", "--data-dir", dir.appendingPathComponent("data").path,
                                                "--principals", principals.path])
        do {
            let endpoint: String = try await serve.waitFor(timeout: .seconds(60)) { output in
                guard let r = output.range(of: #"listening on http://127\.0\.0\.1:\d+"#, options: .regularExpression) else { return nil }
                return String(output[r].dropFirst("listening on ".count))
            }
            try await exercise(endpoint: endpoint, home: dir)
        } catch {
            await serve.stop()
            throw error
        }
        await serve.stop()
        #expect(!serve.process.isRunning)
    }

    private func exercise(endpoint: String, home: URL) async throws {
        let client = KMSClient(endpoint: URL(string: endpoint)!, region: "us-east-1", credentials: Self.admin)
        defer { client.shutdown() }
        let cluster = try await client.createCloudHsmCluster(kmsUserPassword: "kmsPswd-serve")
        let store = try #require(try await client.createCustomKeyStore(CreateCustomKeyStoreRequest(
            customKeyStoreName: "served", cloudHsmClusterId: cluster.clusterId,
            trustAnchorCertificate: cluster.trustAnchorCertificate, keyStorePassword: "kmsPswd-serve")).customKeyStoreId)
        try await client.connectCustomKeyStore(id: store)
        for _ in 0..<20 where try await client.customKeyStore(idOrName: store).connectionState != .connected {
            try await client.advanceClock(seconds: 600)
        }
        let key = try #require(try await client.createKey(CreateKeyRequest(origin: .awsCloudHsm, customKeyStoreId: store)).keyMetadata)

        let adminEnv = ["HOME": home.path, "AWS_ACCESS_KEY_ID": Self.admin.accessKeyId,
                        "AWS_SECRET_ACCESS_KEY": Self.admin.secretAccessKey, "AWS_ENDPOINT_URL": endpoint]
        let stores = try await CKSBinary.run(["stores", "--output", "table"], environment: adminEnv)
        #expect(stores.status == 0, "\(stores.err)")
        let line = try #require(stores.out.split(separator: "\n").dropFirst().first.map(String.init))
        #expect(line.hasPrefix("served") && line.contains(store) && line.contains("AWS_CLOUDHSM") && line.contains("CONNECTED"))
        let keys = try await CKSBinary.run(["keys", "served"], environment: adminEnv)
        #expect(keys.status == 0, "\(keys.err)")
        #expect(keys.out.contains(key.keyId))

        // The reader may describe stores but not list keys: the stores without counts and why (exit 0); the keys of a
        // store: AccessDeniedException, exit status 3, with what to check.
        let readerEnv = ["HOME": home.path, "AWS_ACCESS_KEY_ID": Self.reader.accessKeyId,
                         "AWS_SECRET_ACCESS_KEY": Self.reader.secretAccessKey]
        let readerStores = try await CKSBinary.run(["stores", "--endpoint", endpoint, "--output", "table"], environment: readerEnv)
        #expect(readerStores.status == 0, "\(readerStores.err)")
        #expect(readerStores.out.contains("served") && readerStores.out.contains(" - "), "\(readerStores.out)")
        #expect(readerStores.err.contains("key counts not shown") && readerStores.err.contains("kms:ListKeys"), "\(readerStores.err)")
        let readerJSON = try await CKSBinary.run(["stores", "--endpoint", endpoint, "--output", "json"], environment: readerEnv)
        #expect(readerJSON.out.contains("\"KeyCount\" : null"), "\(readerJSON.out)")
        let denied = try await CKSBinary.run(["keys", "served", "--endpoint", endpoint], environment: readerEnv)
        #expect(denied.status == 3)
        #expect(denied.err.contains("AccessDeniedException"))
        #expect(denied.err.contains("ListKeys"))
        #expect(denied.err.contains("credentials from AWS_ACCESS_KEY_ID"), "\(denied.err)")
    }
}
