import CKSClient
import CKSTestSupport
import CKSTeardown
import CKSWire
import Foundation
import Testing
@testable import CKSConsole

/// Contexts in the console's own driver over one core holding two accounts, used in two regions, plus a context
/// whose endpoint nobody listens on: `:ctx` and Enter, `:region`, `R`, `:stores all` (the failing context in its
/// own row), opening a store from it, `y` (OSC 52) and `:export`. The header always names the context.
@MainActor
@Suite(.serialized) struct ContextSwitchTests {
    static func context(_ name: String, _ endpoint: URL, _ principal: TestPrincipal, region: String) -> ClientContext {
        let configuration = ClientConfiguration(endpoint: .remote(endpoint), region: region, profile: name,
                                                credentials: principal.credentials, account: principal.account)
        return ClientContext(name: name, kind: .profile, configuration: configuration, problem: nil,
                             flags: ClientFlags(profile: name, region: region, context: name))
    }

    static func switching(_ contexts: [ClientContext], regions: [String]) -> ContextSwitching {
        ContextSwitching(
            catalog: ClientContextCatalog(contexts: contexts),
            open: { context, region, inbox in
                let c = try #require(context.configuration)
                guard case .remote(let url) = c.endpoint, let credentials = c.credentials else { throw BackendError.other("no endpoint") }
                let client = KMSClient(endpoint: url, region: region, credentials: credentials,
                                       transport: ObservingTransport(wrapping: NIOTransport(), recorder: inbox.recorder),
                                       retryPolicy: RetryPolicy(maxAttempts: 1))
                let info = EndpointInfo(endpoint: url.absoluteString, account: c.account ?? "?", region: region,
                                        principal: credentials.accessKeyId, mode: .remote, contextName: context.name)
                return PreparedBackend(backend: KMSClientBackend(client: client, info: info), inbox: inbox,
                                       stop: { client.shutdown() })
            },
            session: { context in
                let c = try #require(context.configuration)
                guard case .remote(let url) = c.endpoint, let credentials = c.credentials else { throw BackendError.other("no endpoint") }
                return FixedClientSession(client: KMSClient(endpoint: url, region: c.region, credentials: credentials,
                                                            retryPolicy: RetryPolicy(maxAttempts: 1)),
                                          configuration: c)
            },
            allStoresRegions: regions)
    }


    @Test func switchContextRegionAllStoresYankExport() async throws {
        let directory = try TemporaryDirectory(prefix: "cks-ctx-core").url
        try ServeProcess.writePrincipals([.admin, .otherAccount], to: directory.appendingPathComponent("principals.json"))
        let core = try await InProcessCore.start(directory: directory)
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            try await principalCreatesCloudHsmStore("a-east", on: core.endpoint, as: .admin, region: "us-east-1")
            try await principalCreatesCloudHsmStore("a-west", on: core.endpoint, as: .admin, region: "eu-west-1")
            try await principalCreatesCloudHsmStore("b-west", on: core.endpoint, as: .otherAccount, region: "eu-west-1")
            let a = Self.context("a", core.endpoint, .admin, region: "us-east-1")
            let b = Self.context("b", core.endpoint, .otherAccount, region: "eu-west-1")
            let down = Self.context("down", URL(string: "http://127.0.0.1:9")!, .admin, region: "us-east-1")
            let switching = Self.switching([a, b, down], regions: ["us-east-1", "eu-west-1"])
            let inbox = ActivityInbox()
            let first = try await switching.open(a, "us-east-1", inbox)
            let app = ConsoleApp(backend: first.backend, inbox: inbox)
            app.contexts = switching
            app.stopBackend = first.stop
            var copied: [String] = []
            app.clipboardHandler = { copied.append($0); return true }
            let surface = MemorySurface(width: 140, height: 40)
            app.start()
            await app.settle(on: surface)
            #expect(surface.text.contains("ctx a"), "\(surface.text)")
            #expect(app.stores.map(\.name) == ["a-east"])

            // :region eu-west-1: the same account's other region.
            app.run("region eu-west-1")
            await app.settle(on: surface)
            #expect(app.stores.map(\.name) == ["a-west"], "\(surface.text)")
            #expect(surface.text.contains("ctx a") && surface.text.contains("eu-west-1"), "\(surface.text)")
            // A malformed region is refused with a message, nothing switched.
            app.run("region nowhere")
            #expect(app.statusText?.contains("not a region name") == true)

            // R: the regions known; Enter on us-east-1 goes back there.
            app.handle(.char("R"))
            await app.settle(on: surface)
            #expect(app.screen == .regions)
            #expect(surface.text.contains("us-east-1") && surface.text.contains("eu-west-1"), "\(surface.text)")
            app.regionsTable?.select("us-east-1")
            app.handle(.enter)
            await app.settle(on: surface)
            #expect(app.stores.map(\.name) == ["a-east"], "\(surface.text)")

            // :ctx and Enter on b: the other account, in its own region.
            app.run("ctx")
            await app.settle(on: surface)
            #expect(app.screen == .contexts)
            #expect(surface.text.contains("down") && surface.text.contains("http://127.0.0.1:9"), "\(surface.text)")
            app.contextsTable?.select("b")
            app.handle(.enter)
            await app.settle(on: surface)
            #expect(app.contextName == "b")
            #expect(app.stores.map(\.name) == ["b-west"], "\(surface.text)")
            #expect(surface.text.contains("ctx b"), "\(surface.text)")

            // :stores all: every context in both regions; the unreachable one has its error rows.
            app.run("stores all")
            await app.settle(on: surface)
            let view = try #require(app.allStores)
            #expect(view.pending == 0)
            let stores = Set(view.table.rows.compactMap { r in r.row.store.map { "\(r.row.context)/\(r.row.region)/\($0.name)" } })
            #expect(stores == ["a/us-east-1/a-east", "a/eu-west-1/a-west", "b/eu-west-1/b-west"])
            let failed = view.table.rows.filter { $0.row.failure != nil }
            #expect(failed.map(\.row.context) == ["down", "down"])
            #expect(failed.allSatisfy { $0.row.failure?.exit == .cannotReachEndpoint })
            #expect(view.table.rows.first { $0.row.store?.name == "b-west" }?.row.account == "444455556666")
            #expect(surface.text.contains("ERROR"), "\(surface.text)")

            // :export json, then csv: the table as shown.
            let json = directory.appendingPathComponent("all.json")
            app.run("export json \(json.path)")
            let exported = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [[String: String]])
            #expect(exported.count == view.table.visible.count)
            #expect(exported.contains { $0["CONTEXT"] == "down" && $0["STATE"]?.hasPrefix("ERROR") == true })
            let csv = directory.appendingPathComponent("all.csv")
            app.run("export csv \(csv.path)")
            #expect(try String(contentsOf: csv, encoding: .utf8).hasPrefix("CONTEXT,ACCOUNT,REGION,NAME,ID,STATE,KEYS\r\n"))
            app.run("export xml \(csv.path)")
            #expect(app.statusText?.contains(":export needs") == true)

            // y on a store row copies its id (OSC 52) and shows it.
            let aWest = try #require(view.table.rows.first { $0.row.store?.name == "a-west" })
            view.table.select(aWest.id)
            app.handle(.char("y"))
            #expect(copied.last == aWest.row.store?.id)
            #expect(app.statusText?.contains(aWest.row.store?.id ?? "?") == true)

            // Enter opens the store in its own context and region, then its keys.
            app.handle(.enter)
            await app.settle(on: surface)
            #expect(app.contextName == "a")
            #expect(app.screen == .keys(storeId: aWest.row.store?.id ?? ""), "\(surface.text)")
            #expect(surface.text.contains("ctx a") && surface.text.contains("eu-west-1"), "\(surface.text)")
            await app.stopBackend?()
        } catch {
            await core.stop()
            throw error
        }
        await core.stop()
    }

    @Test func osc52SequenceAndExportFormats() {
        #expect(OSC52.sequence(for: "cks-0123") == "\u{1B}]52;c;Y2tzLTAxMjM=\u{07}")
        #expect(TableExport.csv(header: ["A", "B"], rows: [["x,y", "say \"hi\""]]) == "A,B\r\n\"x,y\",\"say \"\"hi\"\"\"\r\n")
        #expect(CommandLineState.parse("stores all") == .success(.allStores))
        #expect(CommandLineState.parse("ctx prod") == .success(.context("prod")))
        #expect(CommandLineState.parse("region") == .success(.region(nil)))
        #expect(CommandLineState.parse("export csv /tmp/x") == .success(.export(format: "csv", path: "/tmp/x")))
    }
}
