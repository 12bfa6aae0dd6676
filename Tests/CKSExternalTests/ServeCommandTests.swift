import Foundation
import Testing

/// The `cks serve` command line as scripts see it.
@Suite("cks serve, the process")
struct ServeCommandTests {
    @Test("announces its endpoint, creates a 0600 principals file, prints the key id but never the secret")
    func announcesEndpointAndCreatesPrincipals() async throws {
        try await withServe { core in
            #expect(core.listeningLine.contains("listening on http://127.0.0.1:\(core.port)"))
            #expect(core.port > 0)
            let attributes = try FileManager.default.attributesOfItem(atPath: core.principalsFile.path)
            let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
            #expect(mode & 0o777 == 0o600, "principals.json mode is \(String(mode, radix: 8)), expected 600")
            #expect(core.principals.count == 1, "one admin principal in a created file")
            #expect(core.admin.allow.contains("kms:*") && core.admin.allow.contains("cks:*"))
            #expect(core.admin.account.count == 12 && core.admin.account.allSatisfy(\.isNumber))
            #expect(core.admin.secretAccessKey.count >= 20)
            let log = core.log
            #expect(log.contains(core.principalsFile.path), "stdout names the principals file")
            #expect(log.contains(core.admin.accessKeyId), "stdout names the access key id")
            #expect(!log.contains(core.admin.secretAccessKey), "the secret must never be printed")
        }
    }

    @Test("two data dirs get different random credentials")
    func freshCredentialsPerDataDirectory() async throws {
        let a = try await withServe { $0.admin }
        let b = try await withServe { $0.admin }
        #expect(a.accessKeyId != b.accessKeyId)
        #expect(a.secretAccessKey != b.secretAccessKey)
    }

    @Test("a principals file readable by group or others is refused with a fix")
    func groupReadablePrincipalsRefused() async throws {
        let binary = try Locations.requireCksBinary()
        let dir = try TemporaryDirectory(prefix: "cks-qa-perm")
        defer { dir.remove() }
        let file = dir.url.appendingPathComponent("principals.json")
        try ServeProcess.writePrincipals([.admin], to: file, mode: 0o644)
        let result = try await ProcessRunner.run(
            [binary.path, "serve", "--listen", "127.0.0.1:0", "--data-dir", dir.url.appendingPathComponent("data").path,
             "--principals", file.path], timeout: .seconds(30))
        #expect(!result.timedOut, "cks serve started with a group-readable principals file: \(result)")
        #expect(result.status != 0, "\(result)")
        let text = result.stdout + result.stderr
        #expect(text.contains(file.path) || text.contains("principals"), "the message names the file: \(result)")
        #expect(text.contains("chmod") || text.contains("600"), "the message says how to fix it: \(result)")
    }

    @Test("a non-loopback address is refused without --allow-remote")
    func nonLoopbackRefused() async throws {
        let binary = try Locations.requireCksBinary()
        let dir = try TemporaryDirectory(prefix: "cks-qa-remote")
        defer { dir.remove() }
        let result = try await ProcessRunner.run(
            [binary.path, "serve", "--listen", "0.0.0.0:0", "--data-dir", dir.url.path], timeout: .seconds(30))
        #expect(!result.timedOut, "cks serve listened on 0.0.0.0 without --allow-remote: \(result)")
        #expect(result.status != 0, "\(result)")
        #expect((result.stdout + result.stderr).contains("--allow-remote"), "the refusal names the flag: \(result)")
    }

    @Test("SIGTERM shuts down cleanly (exit 0) and the data survives")
    func sigtermIsClean() async throws {
        let core = try await ServeProcess.start()
        await core.kill(signal: SIGTERM)
        #expect(!core.isRunning, "still running 10 s after SIGTERM")
        #expect(core.terminatingSignal == nil && core.exitCode == 0,
                "exit after SIGTERM: status \(core.exitCode ?? -1)\n\(core.log)")
        let again = try await ServeProcess.start(dataDirectory: core.dataDirectory)
        #expect(again.admin == core.admin)
        await again.stop()
        again.removeFiles()
        core.removeFiles()
    }
}
