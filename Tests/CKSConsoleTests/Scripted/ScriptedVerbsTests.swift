import CKSClient
import CKSDomain
import CKSEmbedded
@testable import CKSTeardown
import CKSWire
import Foundation
import Synchronization
import Testing
@testable import CKSConsole

/// Captured stdout/stderr of a verb run.
final class VerbOutput: Sendable {
    private let state = Mutex<(out: String, err: String)>(("", ""))
    var out: String { state.withLock { $0.out } }
    var err: String { state.withLock { $0.err } }
    func streams(terminal: Bool = false) -> ScriptedVerbs.Streams {
        ScriptedVerbs.Streams(out: { text in self.state.withLock { $0.out += text } },
                              err: { text in self.state.withLock { $0.err += text } }, stdoutIsTerminal: terminal)
    }
}

/// An embedded core over a temporary directory, with a few stores and keys, and the environment a verb needs to
/// reach it as a remote endpoint (`--endpoint` + AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY).
final class VerbFixture: Sendable {
    let core: EmbeddedCore
    let directory: URL
    let client: KMSClient

    init() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("cks-verbs-\(UUID().uuidString)")
        core = try await EmbeddedCore.start(dataDirectory: directory.appendingPathComponent("data"))
        client = KMSClient(endpoint: core.endpoint, region: "us-east-1", credentials: core.credentials)
    }

    var environment: [String: String] {
        ["HOME": directory.path, "AWS_ACCESS_KEY_ID": core.credentials.accessKeyId,
         "AWS_SECRET_ACCESS_KEY": core.credentials.secretAccessKey]
    }

    func connect(environment extra: [String: String] = [:]) -> ScriptedVerbs.Connect {
        let env = environment.merging(extra) { _, new in new }
        let home = directory
        return { flags in try await ClientConnection.open(flags, environment: env, homeDirectory: home) }
    }

    var flags: ClientFlags { ClientFlags(endpoint: core.endpoint.absoluteString) }

    /// Two CloudHSM stores: "alpha" CONNECTED with `keys` keys (one aliased, one pending deletion), "beta" FAILED.
    func seed(keys: Int = 3) async throws -> (alpha: String, beta: String, keyIds: [String]) {
        let alpha = try await store("alpha")
        try await client.connectCustomKeyStore(id: alpha)
        try await advance(until: alpha, .connected)
        var ids: [String] = []
        for i in 0..<keys {
            let key = try await client.createKey(CreateKeyRequest(description: "k\(i)", origin: .awsCloudHsm, customKeyStoreId: alpha))
            ids.append(try #require(key.keyMetadata?.keyId))
        }
        _ = try await client.createKey()   // a key outside any store is not counted
        try await client.createAlias(aliasName: "alias/first", targetKeyId: ids[0])
        try await client.createAlias(aliasName: "alias/also-first", targetKeyId: ids[0])
        _ = try await client.scheduleKeyDeletion(keyId: ids[keys - 1], pendingWindowInDays: 7)
        let beta = try await store("beta")
        try await client.setConnectionFault(customKeyStoreId: beta, code: .networkErrors)
        try await client.connectCustomKeyStore(id: beta)
        try await advance(until: beta, .failed)
        return (alpha, beta, ids)
    }

    private func store(_ name: String) async throws -> String {
        let cluster = try await client.createCloudHsmCluster(kmsUserPassword: "kmsPswd-\(name)")
        let created = try await client.createCustomKeyStore(CreateCustomKeyStoreRequest(
            customKeyStoreName: name, cloudHsmClusterId: cluster.clusterId,
            trustAnchorCertificate: cluster.trustAnchorCertificate, keyStorePassword: "kmsPswd-\(name)"))
        return try #require(created.customKeyStoreId)
    }

    private func advance(until id: String, _ state: ConnectionState) async throws {
        for _ in 0..<40 {
            if try await client.customKeyStore(idOrName: id).connectionState == state { return }
            try await client.advanceClock(seconds: 300)
        }
        Issue.record("store \(id) never reached \(state)")
    }

    func stop() async {
        client.shutdown()
        await core.shutdown()
        try? FileManager.default.removeItem(at: directory)
    }

    static func with(_ body: (VerbFixture) async throws -> Void) async throws {
        let fixture = try await VerbFixture()
        do { try await body(fixture) } catch {
            await fixture.stop()
            throw error
        }
        await fixture.stop()
    }
}

private func jsonArray(_ text: String) throws -> [[String: Any]] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
}

@Suite(.serialized) struct ScriptedVerbsTests {
    @Test func storesAsJSONAndTable() async throws {
        try await VerbFixture.with { f in
            let (alpha, beta, _) = try await f.seed()
            let json = VerbOutput()
            let status = await ScriptedVerbs.stores(ScriptedOptions(flags: f.flags), streams: json.streams(), connect: f.connect())
            #expect(status == 0)
            #expect(json.err.isEmpty)
            let rows = try jsonArray(json.out)   // not a terminal → JSON by default
            #expect(rows.map { $0["CustomKeyStoreName"] as? String } == ["alpha", "beta"])
            #expect(rows[0]["CustomKeyStoreId"] as? String == alpha)
            #expect(rows[0]["CustomKeyStoreType"] as? String == "AWS_CLOUDHSM")
            #expect(rows[0]["ConnectionState"] as? String == "CONNECTED")
            #expect(rows[0]["KeyCount"] as? Int == 3)
            #expect((rows[0]["CreationDate"] as? String)?.hasSuffix("Z") == true)
            #expect(rows[1]["CustomKeyStoreId"] as? String == beta)
            #expect(rows[1]["ConnectionState"] as? String == "FAILED")
            #expect(rows[1]["ConnectionErrorCode"] as? String == "NETWORK_ERRORS")
            #expect(rows[1]["KeyCount"] as? Int == 0)

            let table = VerbOutput()
            #expect(await ScriptedVerbs.stores(ScriptedOptions(flags: f.flags), streams: table.streams(terminal: true),
                                               connect: f.connect()) == 0)
            let lines = table.out.split(separator: "\n").map(String.init)
            #expect(lines.count == 3)
            #expect(lines[0].hasPrefix("NAME "))
            #expect(lines[0].contains("STATE") && lines[0].contains("KEYS") && lines[0].contains("CREATED"))
            #expect(lines[1].hasPrefix("alpha ") && lines[1].contains(alpha) && lines[1].contains("CONNECTED"))
            #expect(lines[2].contains("FAILED (NETWORK_ERRORS)"))
            // Columns line up: the ID column starts at the same offset on every line.
            let offsets = lines.dropFirst().map { $0.range(of: "cks-")!.lowerBound.utf16Offset(in: $0) }
            #expect(offsets == [lines[0].range(of: "ID")!.lowerBound.utf16Offset(in: lines[0])] * 2)

            // --output json on a terminal wins over the default.
            let forced = VerbOutput()
            _ = await ScriptedVerbs.stores(ScriptedOptions(flags: f.flags, output: .json), streams: forced.streams(terminal: true),
                                           connect: f.connect())
            #expect(try jsonArray(forced.out).count == 2)
        }
    }

    @Test func keysOfAStoreByIdAndByName() async throws {
        try await VerbFixture.with { f in
            let (alpha, _, ids) = try await f.seed(keys: 3)
            for selector in [alpha, "alpha"] {
                let out = VerbOutput()
                let status = await ScriptedVerbs.keys(store: selector, ScriptedOptions(flags: f.flags), streams: out.streams(),
                                                      connect: f.connect())
                #expect(status == 0)
                let rows = try jsonArray(out.out)
                #expect(rows.map { $0["KeyId"] as? String } == ids)   // oldest first
                #expect(rows[0]["Aliases"] as? [String] == ["alias/also-first", "alias/first"])
                #expect(rows[0]["KeyState"] as? String == "Enabled")
                #expect(rows[0]["DeletionDate"] is NSNull)
                #expect(rows[2]["KeyState"] as? String == "PendingDeletion")
                #expect((rows[2]["DeletionDate"] as? String)?.hasSuffix("Z") == true)
            }
            let table = VerbOutput()
            _ = await ScriptedVerbs.keys(store: "alpha", ScriptedOptions(flags: f.flags, output: .table), streams: table.streams(),
                                         connect: f.connect())
            let lines = table.out.split(separator: "\n").map(String.init)
            #expect(lines[0].hasPrefix("KEY ID"))
            #expect(lines[0].contains("ALIASES") && lines[0].contains("DELETION DATE"))
            #expect(lines[1].contains("alias/also-first,alias/first"))
            #expect(lines[3].contains("PendingDeletion"))
            #expect(lines.count == 4)
        }
    }

    @Test func failuresPrintTheAWSErrorAndExitDistinctly() async throws {
        try await VerbFixture.with { f in
            // Not found (2).
            let missing = VerbOutput()
            #expect(await ScriptedVerbs.keys(store: "no-such-store", ScriptedOptions(flags: f.flags), streams: missing.streams(),
                                             connect: f.connect()) == ScriptedExit.notFound.rawValue)
            #expect(missing.err.contains("CustomKeyStoreNotFoundException"))
            #expect(missing.err.contains("DescribeCustomKeyStores"))
            #expect(missing.out.isEmpty)
            // Access denied (3): a wrong secret.
            let denied = VerbOutput()
            #expect(await ScriptedVerbs.stores(ScriptedOptions(flags: f.flags), streams: denied.streams(),
                                               connect: f.connect(environment: ["AWS_SECRET_ACCESS_KEY": "wrong"]))
                    == ScriptedExit.accessDenied.rawValue)
            #expect(denied.err.contains("InvalidSignatureException"))
            // Cannot reach the endpoint (5).
            let unreachable = VerbOutput()
            let closed = ClientFlags(endpoint: "http://127.0.0.1:1")
            #expect(await ScriptedVerbs.stores(ScriptedOptions(flags: closed), streams: unreachable.streams(), connect: f.connect())
                    == ScriptedExit.cannotReachEndpoint.rawValue)
            #expect(unreachable.err.contains("EndpointConnectionError"))
            // Configuration (6): an unknown profile.
            let config = VerbOutput()
            #expect(await ScriptedVerbs.stores(ScriptedOptions(flags: ClientFlags(profile: "nope")), streams: config.streams(),
                                               connect: f.connect()) == ScriptedExit.configuration.rawValue)
            #expect(config.err.contains("nope"))
        }
    }

    @Test func embeddedDefaultWithNoConfigurationAtAll() async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("cks-embedded-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        let env = ["HOME": home.path]
        let connect: ScriptedVerbs.Connect = { flags in try await ClientConnection.open(flags, environment: env, homeDirectory: home) }
        let out = VerbOutput()
        #expect(await ScriptedVerbs.stores(ScriptedOptions(), streams: out.streams(), connect: connect) == 0)
        #expect(out.out == "[]\n")
        // The embedded core logs nothing; the verb says, on stderr, that it talks to one.
        #expect(out.err == "cks: no endpoint configured (--endpoint, AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL or a profile's endpoint_url): using an embedded core over \(home.appendingPathComponent(".local/share/cks").path)\n")
        // It ran over the default data directory under that HOME.
        #expect(FileManager.default.fileExists(atPath: home.appendingPathComponent(".local/share/cks/principals.json").path))

        let connection = try await ClientConnection.open(ClientFlags(), environment: env, homeDirectory: home)
        #expect(connection.embedded != nil)
        #expect(connection.configuration.sources["endpoint"] == "embedded")
        #expect(connection.client.endpoint.host == "127.0.0.1")
        _ = try await connection.client.listKeys()
        await connection.close()
        // XDG_DATA_HOME moves it.
        #expect(EmbeddedCore.defaultDataDirectory(environment: ["XDG_DATA_HOME": "/x/y", "HOME": "/h"]).path == "/x/y/cks")
        #expect(EmbeddedCore.defaultDataDirectory(environment: ["HOME": "/h"]).path == "/h/.local/share/cks")
    }

    @Test func exitStatusMapping() {
        func status(_ kind: KMSClientError.Kind) -> ScriptedExit { ScriptedExit.status(for: KMSClientError(kind: kind, message: "")) }
        #expect(status(.service(.notFound)) == .notFound)
        #expect(status(.service(.customKeyStoreNotFound)) == .notFound)
        #expect(status(.service(.accessDenied)) == .accessDenied)
        #expect(status(.service(.unrecognizedClient)) == .accessDenied)
        #expect(status(.noCredentials) == .configuration)
        #expect(status(.service(.kmsInvalidState)) == .invalidState)
        #expect(status(.service(.customKeyStoreInvalidState)) == .invalidState)
        #expect(status(.service(.customKeyStoreHasCMKs)) == .invalidState)
        #expect(status(.cannotReachEndpoint) == .cannotReachEndpoint)
        #expect(status(.timedOut) == .cannotReachEndpoint)
        #expect(status(.connectionLost) == .cannotReachEndpoint)
        #expect(status(.service(.validation)) == .failure)
        #expect(status(.unknownService("Whatever")) == .failure)
        #expect(ScriptedExit.status(for: ClientConfigurationError("x")) == .configuration)
        #expect(Set(ScriptedExit.allCases.map(\.rawValue)).count == ScriptedExit.allCases.count)
        let message = ScriptedExit.message(for: KMSClientError(kind: .service(.notFound), message: "Key 'k' does not exist",
                                                               target: "TrentService.DescribeKey"))
        #expect(message == ["An error occurred (NotFoundException) when calling the DescribeKey operation: Key 'k' does not exist"])
    }

    @Test func renderingEdgeCases() {
        #expect(ScriptedReports.render([ScriptedStoreRow](), as: .json) == "[]\n")
        #expect(ScriptedReports.render([ScriptedKeyRow](), as: .table) == "KEY ID  ALIASES  STATE  DELETION DATE  CREATED\n")
        #expect(ScriptedReports.isoDate(Date(timeIntervalSince1970: 1_537_582_718.9)) == "2018-09-22T02:18:38Z")
        let wide = ScriptedStoreRow(name: "漢字ストア", id: "cks-1", type: "AWS_CLOUDHSM", connectionState: "CONNECTED",
                                    connectionErrorCode: nil, keyCount: 12, pendingDeletionCount: 0, creationDate: nil)
        let narrow = ScriptedStoreRow(name: "ab", id: "cks-2", type: "EXTERNAL_KEY_STORE", connectionState: "DISCONNECTED",
                                      connectionErrorCode: nil, keyCount: 3, pendingDeletionCount: 1, creationDate: nil)
        let lines = ScriptedReports.render([wide, narrow], as: .table).split(separator: "\n").map(String.init)
        // Display width, not character count: the id column starts at the same terminal column.
        #expect(TextWidth.of(String(lines[1].prefix { $0 != "c" })) == TextWidth.of(String(lines[2].prefix { $0 != "c" })))
        #expect(lines.allSatisfy { $0.last != " " })
    }
}

private func * (lhs: [Int], rhs: Int) -> [Int] { Array(repeating: lhs, count: rhs).flatMap { $0 } }
