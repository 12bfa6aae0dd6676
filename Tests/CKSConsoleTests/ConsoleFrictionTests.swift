import CKSClient
import CKSDomain
@testable import CKSTeardown
import CKSWire
import Foundation
import Testing
@testable import CKSConsole

/// What a new operator tripped over, on a real core: keys created elsewhere show within one refresh, the header
/// names the account and principal at once, long messages are not cut before what they say to do.
@Suite("friction on a real core", .serialized)
@MainActor
struct ConsoleFrictionTests {
    @Test func aKeyCreatedElsewhereShowsWithinOneRefresh() async throws {
        try await CoreHarness.with { (h: CoreHarness) async throws in
            let store = try #require(h.seeded.storeIds["payments-hsm"])
            let before = h.app.census[store]?.total ?? 0
            #expect(before > 0)
            _ = try await h.admin.createKey(CreateKeyRequest(origin: .awsCloudHsm, customKeyStoreId: store))
            await h.advance(6)   // one refresh of the stores (every 5 s)
            #expect(h.app.census[store]?.total == before + 1, "the new key is counted within one refresh")
        }
    }

    @Test func theHeaderNamesTheAccountAndThePrincipalAtOnce() async throws {
        try await CoreHarness.with { (h: CoreHarness) async throws in
            // Against a remote endpoint the console starts knowing neither; a cks core says both in one call.
            let remote = KMSClientBackend(client: h.admin, info: EndpointInfo(
                endpoint: h.admin.endpoint.absoluteString, account: "?", region: "us-east-1",
                principal: h.admin.credentials.accessKeyId, mode: .remote))
            let info = await remote.endpointInfo()
            #expect(info.account == "111122223333")
            #expect(info.principal.hasPrefix("arn:aws:iam::111122223333:user/"), "the principal by ARN: \(info.principal)")
        }
    }

    @Test func aLongMessageTakesTwoRows() async {
        let h = await Harness()
        h.app.say("The first part of a long message that does not fit on one row of eighty columns, and then what to do about it.", .warning)
        h.app.render(on: h.surface)
        let rows = h.surface.lines
        #expect(rows[21].contains("The first part") && rows[22].contains("what to do about it."), "\(h.screen)")
    }
}
