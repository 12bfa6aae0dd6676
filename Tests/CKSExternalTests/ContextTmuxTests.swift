import CKSClient
import CKSTestSupport
import CKSWire
import Foundation
import Testing

/// Contexts and regions end to end under tmux (issue 20): `cks` over ~/.aws/config profiles reaching two `cks serve`
/// (two accounts, two regions) and one endpoint nobody listens on. Switch region and context, the all-stores view
/// with the failing context in its own row, open a store from it, yank through OSC 52, export; the header always
/// names the context.
@Suite("contexts under tmux", .serialized)
struct ContextTmuxTests {
    @Test("switch context and region, all stores with a failing context, yank (OSC 52), export",
          .enabled(if: ExternalTools.usable(.tmux), "needs tmux (CKS_REQUIRE_EXTERNAL=1 turns this skip into a failure)"))
    func contextsRegionsAllStoresYankExport() async throws {
        try ExternalTools.require(.tmux)
        let binary = try Locations.requireCksBinary()
        let one = try await ServeProcess.start(principals: [.admin])
        let two = try await ServeProcess.start(principals: [.otherAccount])
        let scratch = try TemporaryDirectory(prefix: "cks-qa-contexts")
        defer { scratch.remove() }
        do {
            try await principalCreatesCloudHsmStore("store-one", on: one.endpoint, as: .admin, region: "us-east-1")
            try await principalCreatesCloudHsmStore("store-one-eu", on: one.endpoint, as: .admin, region: "eu-west-1")
            try await principalCreatesCloudHsmStore("store-two", on: two.endpoint, as: .otherAccount, region: "eu-west-1")
            try SharedConfigFile.write([
                .init("one", region: "us-east-1", endpoint: one.endpoint, as: .admin),
                .init("two", region: "eu-west-1", endpoint: two.endpoint, as: .otherAccount),
                .unreachable("down"),
            ], home: scratch.url)
            let exported = scratch.url.appendingPathComponent("stores.csv")
            let environment = [
                "HOME": scratch.url.path, "CKS_CONTEXT": "one", "ESCDELAY": "25",
                "XDG_DATA_HOME": scratch.url.appendingPathComponent("data").path,
                "XDG_STATE_HOME": scratch.url.appendingPathComponent("state").path,
                "XDG_CONFIG_HOME": scratch.url.appendingPathComponent("config").path,
            ]
            try await withTmux([binary.path], width: 140, height: 40, environment: environment) { tmux in
                try await tmux.tmux(["set-option", "-s", "set-clipboard", "on"])
                try await tmux.waitFor("ctx one", "store-one", timeout: .seconds(90))

                // Region: the same context in eu-west-1 shows that region's store only.
                try await tmux.send(":")
                try await tmux.send("region eu-west-1", literal: true)
                try await tmux.send("Enter")
                let west = try await tmux.waitFor("one in eu-west-1", timeout: .seconds(60)) {
                    $0.contains("store-one-eu") && $0.contains("ctx one") && $0.contains("eu-west-1")
                }
                #expect(!west.contains("store-one "), "\(west)")

                // The region picker lists the regions known (each context's own, those visited).
                try await tmux.send("R")
                try await tmux.waitFor("Regions of one", "us-east-1", "eu-west-1")
                try await tmux.send("Escape")

                // Contexts: the list, then Enter on `two` opens it in its own region.
                try await tmux.send(":")
                try await tmux.send("ctx", literal: true)
                try await tmux.send("Enter")
                try await tmux.waitFor("Contexts (", "down", "embedded", "http://127.0.0.1:9")
                try await tmux.send("/")
                try await tmux.send("two", literal: true)
                try await tmux.send("Enter")
                try await tmux.send("Enter")
                try await tmux.waitFor("ctx two", "store-two", timeout: .seconds(60))

                // Every store everywhere: the unreachable context has its error row, the others load.
                try await tmux.send(":")
                try await tmux.send("stores all", literal: true)
                try await tmux.send("Enter")
                let all = try await tmux.waitFor("every context answered", timeout: .seconds(120)) { screen in
                    screen.contains("All stores") && !screen.contains("loading") && screen.contains("store-one-eu")
                        && screen.contains("store-two") && screen.contains("store-one ")
                }
                let downRows = all.split(separator: "\n").filter { $0.contains("down") && $0.contains("ERROR") }
                #expect(downRows.contains { $0.contains("us-east-1") }, "\(all)")
                #expect(all.contains("111122223333") && all.contains("444455556666"), "\(all)")
                #expect(all.contains("ctx two"), "the header names the context:\n\(all)")

                // Export the table on screen.
                try await tmux.send(":")
                try await tmux.send("export csv \(exported.path)", literal: true)
                try await tmux.send("Enter")
                try await tmux.waitFor("Wrote")
                let csv = try String(contentsOf: exported, encoding: .utf8)
                #expect(csv.hasPrefix("CONTEXT,ACCOUNT,REGION,NAME,ID,STATE,KEYS"), "\(csv)")
                #expect(csv.contains("store-two") && csv.contains("down"), "\(csv)")

                // Open store-one-eu from the view: its context and region are opened, then its keys.
                try await tmux.send("/")
                try await tmux.send("store-one-eu", literal: true)
                try await tmux.send("Enter")
                try await tmux.send("Enter")
                try await tmux.waitFor("store-one-eu's keys in context one", timeout: .seconds(60)) { screen in
                    screen.contains("ctx one") && screen.contains("eu-west-1") && screen.contains("store-one-eu")
                        && screen.contains("Keys (")
                }

                // Yank: back on the stores, `y` copies the store id through OSC 52 (tmux keeps it as a buffer).
                try await tmux.send("Escape")
                try await tmux.waitFor("Stores (1)")
                try await tmux.send("y")
                let copied = try await tmux.waitFor("Copied")
                let id = try #require(copied.firstMatch(of: #/cks-[0-9a-f]{17}/#).map { String($0.0) }, "\(copied)")
                let buffer = try await tmux.tmux(["show-buffer"])
                #expect(buffer.stdout.contains(id), "OSC 52 reached tmux's buffer: \(buffer)")
                try await tmux.send("q")
            }
            // The context used last is remembered.
            let remembered = try String(contentsOf: scratch.url.appendingPathComponent("state/cks/context"), encoding: .utf8)
            #expect(remembered.hasPrefix("one\neu-west-1"), "\(remembered)")
        } catch {
            await one.stop()
            await two.stop()
            throw error
        }
        await one.stop()
        await two.stop()
    }

}
