import CKSClient
import CKSTestSupport
import CKSWire
import Foundation
import Testing

/// `cks stores --all-contexts --output json` against two `cks serve` (two accounts, two regions) and one endpoint
/// nobody listens on: every store comes with its context, account and region; the unreachable context gets its
/// error row; the exit status is the failure's (5), and the others still load.
@Suite(.serialized) struct AllContextsBinaryTests {
    @Test func twoCoresAndAnUnreachableEndpoint() async throws {
        let one = try await ServeProcess.start(principals: [.admin])
        let two = try await ServeProcess.start(principals: [.otherAccount])
        do {
            try await principalCreatesCloudHsmStore("store-one", on: one.endpoint, as: .admin, region: "us-east-1")
            try await principalCreatesCloudHsmStore("store-two", on: two.endpoint, as: .otherAccount, region: "eu-west-1")
            let home = try TemporaryDirectory(prefix: "cks-ctx-home").url
            try SharedConfigFile.write([
                .init("one", region: "us-east-1", endpoint: one.endpoint, as: .admin),
                .init("two", region: "eu-west-1", endpoint: two.endpoint, as: .otherAccount),
                .unreachable("down"),
            ], home: home)
            let env = ["HOME": home.path, "XDG_DATA_HOME": home.appendingPathComponent("data").path,
                       "XDG_STATE_HOME": home.appendingPathComponent("state").path]

            let r = try await CKSBinary.run(["stores", "--all-contexts", "--output", "json"], environment: env,
                                            timeout: .seconds(180))
            #expect(r.status == 5, "stderr: \(r.err)")
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [[String: Any]], "\(r.out)")
            let byContext = Dictionary(grouping: rows) { $0["Context"] as? String ?? "" }
            let first = try #require(byContext["one"]?.first)
            #expect(first["CustomKeyStoreName"] as? String == "store-one")
            #expect(first["Account"] as? String == "111122223333")
            #expect(first["Region"] as? String == "us-east-1")
            #expect(first["Error"] is NSNull)
            let second = try #require(byContext["two"]?.first)
            #expect(second["CustomKeyStoreName"] as? String == "store-two")
            #expect(second["Account"] as? String == "444455556666")
            #expect(second["Region"] as? String == "eu-west-1")
            let down = try #require(byContext["down"]?.first)
            let error = try #require(down["Error"] as? [String: Any])
            #expect(error["ExitStatus"] as? Int == 5)
            #expect((error["Code"] as? String)?.isEmpty == false)
            #expect(down["CustomKeyStoreName"] == nil)
            #expect(r.err.contains("down us-east-1"))

            // Both regions in every context: each region's stores are its own; the unreachable one fails in each.
            let both = try await CKSBinary.run(["stores", "--all-contexts", "--regions", "us-east-1,eu-west-1",
                                                "--output", "json"], environment: env, timeout: .seconds(180))
            #expect(both.status == 5)
            let all = try #require(try JSONSerialization.jsonObject(with: Data(both.out.utf8)) as? [[String: Any]])
            let stores = all.filter { $0["Error"] is NSNull }.map { "\($0["Context"]!)/\($0["Region"]!)/\($0["CustomKeyStoreName"]!)" }
            #expect(Set(stores) == ["one/us-east-1/store-one", "two/eu-west-1/store-two"])
            #expect(all.filter { $0["Context"] as? String == "down" && !($0["Error"] is NSNull) }.count == 2)

            // Without the unreachable context, everything answered: exit 0.
            let fine = try await CKSBinary.run(["stores", "--all-contexts", "--context", "one", "--output", "json"],
                                               environment: env, timeout: .seconds(120))
            #expect(fine.status == 0, "stderr: \(fine.err)")
        } catch {
            await one.stop()
            await two.stop()
            throw error
        }
        await one.stop()
        await two.stop()
    }

}
