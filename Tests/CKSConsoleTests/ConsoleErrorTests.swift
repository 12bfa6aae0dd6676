import CKSClient
import CKSDomain
@testable import CKSTeardown
import Foundation
import Testing
@testable import CKSConsole

/// The errors a user must see, and how: one line, classified once, the endpoint-wide ones as a banner with what to
/// check; nothing an endpoint answers reaches the screen as is.
@Suite("errors a user must see")
@MainActor
struct ConsoleErrorTests {
    static let unrecognized = KMSClientError(kind: .service(.unrecognizedClient),
                                             message: "The security token included in the request is invalid.",
                                             httpStatus: 400, target: "TrentService.DescribeCustomKeyStores")
    static let html = KMSClientError(kind: .invalidResponse, message: "HTTP 500, not an AWS error body (text/html)",
                                     httpStatus: 500, target: "TrentService.DescribeCustomKeyStores")

    @Test func refusedCredentialsShowABannerWithWhatToCheck() async {
        let h = await Harness()
        await h.backend.setFailure(Self.unrecognized)
        await h.press(.char("r"))
        await h.advance(6)
        let text = h.screen.replacingOccurrences(of: "\n", with: " ")
        #expect(h.app.banner?.contains("UnrecognizedClientException: The security token included in the request is invalid.") == true,
                "\(h.app.banner ?? "")")
        #expect(h.app.banner?.contains("endpoint http://127.0.0.1:7911, region us-east-1") == true)
        #expect(!text.contains("Loading"))
        #expect(text.contains("UnrecognizedClientException"))
    }

    @Test func aStartWithRefusedCredentialsNeverSaysLoading() async {
        let h = await Harness()
        await h.backend.setFailure(Self.unrecognized)
        let fresh = ConsoleApp(backend: h.backend, inbox: h.inbox, options: h.app.options, now: { h.time.now() })
        let surface = MemorySurface(width: 80, height: 24)
        fresh.start()
        await fresh.settle(on: surface)
        #expect(!surface.text.contains("Loading"), "\(surface.text)")
        #expect(surface.text.contains("UnrecognizedClientException"), "\(surface.text)")
        #expect(surface.text.contains("No data: the endpoint cannot be used as configured"))
    }

    @Test func anEndpointWithoutCustomKeyStoresIsSaidInOneLine() async {
        let h = await Harness()
        await h.backend.setFailure(Self.html)
        await h.press(.char("r"))
        #expect(h.app.banner?.contains("This endpoint does not implement DescribeCustomKeyStores: HTTP 500, not an AWS error body") == true,
                "\(h.app.banner ?? "")")
        #expect(!h.screen.contains("The core is not answering"))
        #expect(EndpointProblem.classify(Self.html).exit == .configuration)
        #expect(ScriptedExit.message(for: Self.html) == [
            "this endpoint does not implement DescribeCustomKeyStores: HTTP 500, not an AWS error body (cks needs a KMS endpoint with custom key stores: cks serve, or AWS KMS)",
        ])
    }

    @Test func noLineBreakEverReachesTheScreen() async {
        let surface = MemorySurface(width: 20, height: 3)
        surface.put(0, 0, "<html>\n<title>x</title>\r\tend\u{1B}[2J", .normal)
        #expect(surface.lines[0] == "<html> <title>x</tit")
        #expect(surface.lines[1].trimmingCharacters(in: .whitespaces).isEmpty, "nothing written on the next row")
        let h = await Harness()
        h.app.say("line one\nline two", .warning)
        h.app.render(on: h.surface)
        #expect(h.surface.lines[22].contains("line one line two"))
        #expect(EndpointProblem.oneLine("a\n\n  b\tc\r") == "a b c")
    }

    @Test func aPrincipalAllowedOnlyToDescribeSeesTheStoresWithoutCounts() async {
        let h = await Harness()
        await h.backend.setListKeysFailure(KMSClientError(
            kind: .service(.accessDenied), message: "User: arn:aws:iam::111122223333:user/reader is not authorized to perform: kms:ListKeys",
            httpStatus: 400, target: "TrentService.ListKeys"))
        await h.press(.char("r"))
        await h.advance(31)
        #expect(h.app.banner == nil, "the stores are there: no banner")
        #expect(h.screen.contains("payments-hsm"))
        #expect(h.screen.contains("Key counts not shown"), "\(h.screen)")
        #expect(h.app.storesTable.visible.allSatisfy { $0.uncounted || $0.census != nil })
        #expect(!h.screen.contains("counting"), "\(h.screen)")
    }

    @Test func aNewCommandClearsTheLastMessage() async {
        let h = await Harness()
        h.app.run("keys pa")
        #expect(h.app.statusText == "No store named pa.")
        h.app.run("keys partner-xks")
        #expect(h.app.statusText == nil)
        h.app.run("keys pa")
        await h.press(.escape)
        #expect(h.app.statusText == nil, "a new action clears it too")
    }

    @Test func commandsTakeUniquePrefixesAndErrorsListEveryCommand() throws {
        #expect(try CommandLineState.parse("act").get() == .activity)
        #expect(try CommandLineState.parse("tea payments-hsm").get() == .teardown("payments-hsm"))
        #expect(try CommandLineState.parse("sto").get() == .stores)
        let ambiguous = CommandLineState.parse("t")
        guard case .failure(let error) = ambiguous else { Issue.record("`t` is teardown or theme"); return }
        #expect(error.message.contains(":teardown or :theme"))
        guard case .failure(let unknown) = CommandLineState.parse("zap") else { Issue.record("zap"); return }
        for command in [":stores", ":keys STORE", ":teardown STORE", ":theme NAME", ":activity", ":help", ":q"] {
            #expect(unknown.message.contains(command), "\(unknown.message)")
        }
    }

    @Test func tabCompletionSurvivesTheSpaceAfterTheVerb() {
        var line = CommandLineState()
        for ch in "keys " { line.type(ch) }
        line.complete(stores: ["partner-xks", "payments-hsm"], themes: [])
        #expect(line.text == "keys pa")
        line.type("r")
        line.complete(stores: ["partner-xks", "payments-hsm"], themes: [])
        #expect(line.text == "keys partner-xks")
        var spaced = CommandLineState()
        for ch in "k  led" { spaced.type(ch) }
        spaced.complete(stores: ["ledger-hsm"], themes: [])
        #expect(spaced.text == "keys ledger-hsm")
    }

    @Test func ctrlCExits130() async {
        let h = await Harness()
        await h.press(.ctrl("c"))
        #expect(!h.app.running)
        #expect(h.app.exitStatus == 130)
        let q = await Harness()
        await q.press(.char("q"))
        #expect(q.app.exitStatus == 0)
    }

    @Test func asciiDrawsNoEllipsis() async {
        let h = await Harness(ascii: true)
        for screen in [h.screen] {
            #expect(!screen.contains("…") && screen.unicodeScalars.allSatisfy { $0.isASCII }, "\(screen)")
        }
        await h.press(.char("?"))
        #expect(h.screen.unicodeScalars.allSatisfy { $0.isASCII })
    }
}
