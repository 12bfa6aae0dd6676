import CKSDomain
import CKSServer
import CKSWire
import CKSTestSupport
import Foundation
import Synchronization
import Testing

/// Starting and stopping the core: principals file rules, loopback-only listening, graceful shutdown.
@Suite struct CoreServerTests {
    private func mode(_ url: URL) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
        return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    @Test func createsAPrivatePrincipalsFileWhenAbsent() async throws {
        let directory = try TemporaryDirectory(prefix: "cks-tests")
        defer { directory.remove() }
        let data = directory.url.appendingPathComponent("nested/data")
        var configuration = CoreConfiguration(dataDirectory: data)
        configuration.port = 0
        let server = try await CoreServer.start(configuration, handler: FakeHandler())
        let file = data.appendingPathComponent("principals.json")
        #expect(server.createdPrincipalsFile)
        #expect(server.principalsFile.path == file.path)
        #expect(try mode(file) == 0o600)
        #expect(try mode(data) == 0o700)
        let admin = server.adminPrincipal
        #expect(admin.accessKeyId.hasPrefix("AKIA") && admin.accessKeyId.count == 20)
        #expect(admin.secretAccessKey.count == 40)
        #expect(admin.allow == ["kms:*", "cks:*", "cloudtrail:LookupEvents"])
        #expect(!"\(admin)".contains(admin.secretAccessKey))

        // The created credentials work.
        let core = FrontHarness(server: server, directory: directory)
        let response = try await core.call("TrentService.ListKeys", principal: admin)
        #expect(response.status == 200)
        await server.shutdown()

        // A second start reuses the file.
        let again = try await CoreServer.start(configuration, handler: FakeHandler())
        #expect(!again.createdPrincipalsFile)
        #expect(again.adminPrincipal == admin)
        await again.shutdown()
    }

    @Test func refusesAPrincipalsFileOthersCanRead() async throws {
        let directory = try TemporaryDirectory(prefix: "cks-tests")
        defer { directory.remove() }
        let file = directory.url.appendingPathComponent("principals.json")
        try TestPrincipals.write(to: file, mode: 0o644)
        var configuration = CoreConfiguration(dataDirectory: directory.url)
        configuration.port = 0
        configuration.principalsFile = file
        do {
            _ = try await CoreServer.start(configuration, handler: FakeHandler())
            Issue.record("a group/other-readable principals file must be refused")
        } catch let error as CoreStartError {
            #expect(error.message.contains("chmod 600 \(file.path)"))
        }
    }

    @Test func refusesAMissingExplicitPrincipalsFileAndABrokenOne() async throws {
        let directory = try TemporaryDirectory(prefix: "cks-tests")
        defer { directory.remove() }
        var configuration = CoreConfiguration(dataDirectory: directory.url)
        configuration.port = 0
        configuration.principalsFile = directory.url.appendingPathComponent("absent.json")
        await #expect(throws: CoreStartError.self) { _ = try await CoreServer.start(configuration, handler: FakeHandler()) }

        let broken = directory.url.appendingPathComponent("broken.json")
        try Data("{\"principals\": 3}".utf8).write(to: broken)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: broken.path)
        configuration.principalsFile = broken
        await #expect(throws: CoreStartError.self) { _ = try await CoreServer.start(configuration, handler: FakeHandler()) }
    }

    @Test func refusesNonLoopbackWithoutAllowRemote() async throws {
        let directory = try TemporaryDirectory(prefix: "cks-tests")
        defer { directory.remove() }
        var configuration = CoreConfiguration(dataDirectory: directory.url)
        configuration.host = "0.0.0.0"
        configuration.port = 0
        do {
            _ = try await CoreServer.start(configuration, handler: FakeHandler())
            Issue.record("0.0.0.0 must be refused without allowRemote")
        } catch let error as CoreStartError {
            #expect(error.message.contains("--allow-remote"))
        }
        #expect(CoreServer.isLoopback("127.0.0.1") && CoreServer.isLoopback("localhost") && CoreServer.isLoopback("::1"))
        #expect(!CoreServer.isLoopback("192.168.1.4") && !CoreServer.isLoopback("::"))
    }

    @Test func aBusyPortIsAnErrorNotAHang() async throws {
        let core = try await FrontHarness.start()
        let directory = try TemporaryDirectory(prefix: "cks-tests")
        defer { directory.remove() }
        var configuration = CoreConfiguration(dataDirectory: directory.url)
        configuration.port = core.port
        await #expect(throws: CoreStartError.self) { _ = try await CoreServer.start(configuration, handler: FakeHandler()) }
        await core.stop()
    }

    @Test func shutdownLetsInFlightRequestsFinishThenCloses() async throws {
        let gate = Gate()
        let events = Mutex<[String]>([])
        let handler = FakeHandler { _, _, _ in
            events.withLock { $0.append("handling") }
            await gate.wait()
            events.withLock { $0.append("handled") }
            return Data("{}".utf8)
        }
        let core = try await FrontHarness.start(handler: handler, onClose: { events.withLock { $0.append("closed") } })
        let inFlight = Task { try await core.call("TrentService.ListKeys") }
        try await poll { events.withLock { $0.contains("handling") } }
        let stopping = Task { await core.server.shutdown() }
        gate.open()
        let response = try await inFlight.value
        await stopping.value
        #expect(response.status == 200)
        #expect(events.withLock { $0 } == ["handling", "handled", "closed"])
        // Shutting down twice is harmless and closes once.
        await core.server.shutdown()
        #expect(events.withLock { $0.filter { $0 == "closed" }.count } == 1)
        core.directory.remove()
    }
}
