import CKSTestSupport
import Foundation
import Testing
@testable import CKSConsole

/// The demo's autopilot: scenario files (shipped and a user's, malformed ones named by line), the caption line,
/// the player's keys (pause, step, hand over) on the in-memory console, and the asciicast recording and its parser.
@Suite("Demo autopilot")
@MainActor
struct DemoAutopilotTests {
    // MARK: scenario files

    @Test("every shipped scenario parses, is listed with its title, and plays only keys the console knows")
    func shippedScenarios() throws {
        let catalog = ScenarioCatalog(environment: ["XDG_CONFIG_HOME": "/nonexistent-cks-test"])
        let listed = catalog.list()
        #expect(listed.map(\.name) == ScenarioCatalog.shippedOrder, "the four shipped scenarios, in order: \(listed.map(\.name))")
        for entry in listed {
            let scenario = try #require(entry.scenario, "\(entry.name): \(entry.problem ?? "")")
            #expect(scenario.title != scenario.name, "\(entry.name) has a title for --list")
            #expect(scenario.steps.contains { if case .caption = $0.directive { true } else { false } }, "\(entry.name) has captions")
            #expect(scenario.steps.contains { if case .wait = $0.directive { true } else { false } }, "\(entry.name) waits on the screen")
        }
        let listing = ConsolePresentation.listing(catalog)
        for name in ScenarioCatalog.shippedOrder { #expect(listing.contains("  \(name) "), "\(listing)") }
    }

    @Test("a scenario's directives: keys by name, alternatives, regular expressions, conditions, timeouts")
    func parsesDirectives() throws {
        let text = """
        # a comment
        title   A walk
        caption Hello there
        key     enter esc Y ctrl-r space
        type    payments
        command teardown payments-hsm
        wait    Waiting: || Nothing to wait
        wait-gone counting
        press-until F Fast-forward
        confirm
        if      to acknowledge => key Y
        timeout 90
        wait    /\\bCONNECTED\\b/
        """
        let s = try Scenario.parse(text, name: "walk", source: "walk.scenario")
        #expect(s.title == "A walk")
        #expect(s.steps.map(\.line) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13])
        #expect(s.steps[1].directive == .keys([.enter, .escape, .char("Y"), .ctrl("r"), .char(" ")]))
        #expect(s.steps[4].directive == .wait(anyOf: ["Waiting:", "Nothing to wait"]))
        #expect(s.steps[6].directive == .pressUntil(.char("F"), "Fast-forward"))
        #expect(s.steps[8].directive == .when("to acknowledge", .keys([.char("Y")])))
        #expect(s.steps[9].directive == .timeout(90))
        #expect(Scenario.shows("/\\bCONNECTED\\b/", on: "  live-xks   CONNECTED  4"))
        #expect(!Scenario.shows("/\\bCONNECTED\\b/", on: "  live-xks   DISCONNECTED  4"))
        #expect(Scenario.shows("CONNECTED", on: "DISCONNECTED"), "literal text is a plain substring")
    }

    @Test("a malformed scenario is refused with its file, its line and what the line should be")
    func malformedScenarios() {
        let cases: [(String, Int?, String)] = [
            ("caption ok\nwiat Stores", 2, "unknown directive 'wiat'"),
            ("key entr", 1, "unknown key 'entr'"),
            ("\n\nkey", 3, "'key' needs one or more key names"),
            ("wait A ||", 1, "'wait' needs the text"),
            ("wait /[unclosed/", 1, "not a valid regular expression"),
            ("if to acknowledge key Y", 1, "'if' needs 'TEXT => DIRECTIVE'"),
            ("if x => title y", 1, "cannot follow it"),
            ("timeout 0", 1, "'timeout' needs the seconds"),
            ("timeout soon", 1, "got 'soon'"),
            ("confirm now", 1, "'confirm' takes nothing"),
            ("press-until enter", 1, "'press-until' needs a key and a text"),
            ("# only a comment\ntitle Nothing", nil, "no steps"),
        ]
        for (text, line, problem) in cases {
            do {
                _ = try Scenario.parse(text, name: "bad", source: "bad.scenario")
                Issue.record("accepted: \(text)")
            } catch {
                #expect(error.line == line, "\(text): \(error)")
                #expect(error.description.contains(problem), "\(text): \(error)")
                #expect(error.description.hasPrefix("bad.scenario\(line.map { ":\($0)" } ?? ""): "), "\(error)")
            }
        }
    }

    @Test("a user's scenario: by path, or by name from the config directory (overriding a shipped one)")
    func userScenarios() throws {
        let dir = try TemporaryDirectory(prefix: "cks-scenarios")
        defer { dir.remove() }
        let scenarios = dir.url.appendingPathComponent("cks/scenarios")
        try FileManager.default.createDirectory(at: scenarios, withIntermediateDirectories: true)
        try "title Mine\ncaption hi\nkey q\n".write(to: scenarios.appendingPathComponent("mine.scenario"), atomically: true, encoding: .utf8)
        try "title My teardown\nkey q\n".write(to: scenarios.appendingPathComponent("teardown.scenario"), atomically: true, encoding: .utf8)
        try "key nope\n".write(to: scenarios.appendingPathComponent("broken.scenario"), atomically: true, encoding: .utf8)
        let catalog = ScenarioCatalog(environment: ["XDG_CONFIG_HOME": dir.url.path])
        #expect(try catalog.load("mine").title == "Mine")
        #expect(try catalog.load("teardown").title == "My teardown", "the user's file overrides the shipped one")
        #expect(try catalog.load(scenarios.appendingPathComponent("mine.scenario").path).name == "mine")
        #expect(throws: ScenarioError.self) { try catalog.load("no-such-scenario") }
        let listing = ConsolePresentation.listing(catalog)
        #expect(listing.contains("broken") && listing.contains("cannot be used") && listing.contains("broken.scenario:1: unknown key 'nope'"),
                "a broken file is listed with its problem:\n\(listing)")
        do {
            _ = try catalog.load("/nonexistent/x.scenario")
            Issue.record("a missing file was accepted")
        } catch {
            #expect(error.description.contains("cannot be read"), "\(error)")
        }
    }

    @Test("the demo flags: autopilot only on the demo, recording a real endpoint refused without --record-anyway")
    func presentationRefusals() throws {
        let dir = try TemporaryDirectory(prefix: "cks-presentation")
        defer { dir.remove() }
        let env = ["XDG_CONFIG_HOME": dir.url.path]
        var flags = ConsoleFlags()
        flags.autopilot = true
        if case .exit(let status) = ConsolePresentation.resolve(flags, environment: env) { #expect(status == 64) } else { Issue.record("autopilot without --demo ran") }
        flags.demo = true
        flags.scenario = "outage"
        guard case .run(let p) = ConsolePresentation.resolve(flags, environment: env) else { Issue.record("the demo's autopilot refused"); return }
        #expect(p.scenario?.name == "outage")
        var real = ConsoleFlags()
        real.record = dir.url.appendingPathComponent("real.cast").path
        if case .exit(let status) = ConsolePresentation.resolve(real, environment: env) { #expect(status == 64) } else { Issue.record("recorded a real endpoint") }
        real.recordAnyway = true
        guard case .run(let anyway) = ConsolePresentation.resolve(real, environment: env) else { Issue.record("--record-anyway refused"); return }
        #expect(anyway.recordURL != nil)
        var notCast = ConsoleFlags()
        notCast.demo = true
        notCast.record = dir.url.appendingPathComponent("x.txt").path
        if case .exit(let status) = ConsolePresentation.resolve(notCast, environment: env) { #expect(status == 64) } else { Issue.record("a .txt recording ran") }
        var exitAlone = ConsoleFlags()
        exitAlone.demo = true
        exitAlone.exitAtEnd = true
        if case .exit(let status) = ConsolePresentation.resolve(exitAlone, environment: env) { #expect(status == 64) } else { Issue.record("--exit-at-end without --autopilot ran") }
    }

    // MARK: caption and player

    @Test("the caption line sits above the footer in the theme's accent; ASCII when --ascii")
    func captionLine() async {
        for ascii in [false, true] {
            let h = await Harness(width: 80, height: 24, ascii: ascii)
            h.app.caption = DemoCaption(text: "The guided teardown starts with the use check.", hint: "space pause · → step · q quit")
            h.app.render(on: h.surface)
            let lines = h.surface.lines
            let caption = lines[22]
            #expect(caption.contains("The guided teardown starts with the use check."), "\(h.screen)")
            #expect(caption.contains(ascii ? "> The guided" : "▶ The guided"), "\(caption)")
            #expect(h.surface.cells[22][3].style.role == .headerAccent)
            #expect(lines[23].contains("help"), "the footer stays on the last row:\n\(h.screen)")
            #expect(h.app.captionRows == 22..<23)
            let onlyASCII = h.screen.unicodeScalars.allSatisfy { $0.isASCII }
            if ascii { #expect(onlyASCII, "ASCII only:\n\(h.screen)") }
        }
    }

    /// Runs the autopilot over the in-memory console, drawing as the terminal loop does, until it ends or `until`.
    func play(_ pilot: Autopilot, on h: Harness, mirror: MirrorSurface, limit: Duration = .seconds(60),
              until: (() -> Bool)? = nil) async {
        let deadline = ContinuousClock.now + limit
        pilot.start()
        while pilot.outcome == .running, ContinuousClock.now < deadline, h.app.running {
            if let until, until() { return }
            h.app.tick()
            h.app.render(on: mirror)
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    static func mirrored(_ h: Harness) -> (MirrorSurface, () -> (text: String, frame: Int)) {
        let m = MirrorSurface(inner: MemorySurface(width: 80, height: 24), asciiOnly: false)
        let app = h.app
        return (m, { (m.lastLines.enumerated().filter { !app.captionRows.contains($0.offset) }.map(\.element).joined(separator: "\n"), m.frame) })
    }

    @Test("the autopilot plays keys and waits on the screen to the end; a wait that never holds stops it with its line")
    func playsToTheEnd() async throws {
        let h = await Harness(width: 80, height: 24)
        let (mirror, screen) = Self.mirrored(h)
        let scenario = try Scenario.parse("""
        wait Stores (
        caption Opening a store's keys.
        key enter
        wait Keys (
        caption Back.
        key esc
        wait /Stores \\(\\d+\\)/
        """, name: "walk", source: "walk")
        let pilot = Autopilot(scenario: scenario, app: h.app, pace: AutopilotPace(0), screen: screen)
        await play(pilot, on: h, mirror: mirror)
        #expect(pilot.outcome == .finished)
        #expect(h.app.caption?.text.contains("End of the walk scenario") == true)
        #expect(h.app.stack == [.stores])

        let h2 = await Harness(width: 80, height: 24)
        let (mirror2, screen2) = Self.mirrored(h2)
        let stuck = try Scenario.parse("timeout 1\ncaption Waiting for nothing.\nwait This never shows", name: "stuck", source: "stuck")
        let pilot2 = Autopilot(scenario: stuck, app: h2.app, pace: AutopilotPace(0), exitAtEnd: true, screen: screen2)
        await play(pilot2, on: h2, mirror: mirror2)
        guard case .stopped(let why) = pilot2.outcome else { Issue.record("\(pilot2.outcome)"); return }
        #expect(why.contains("line 3") && why.contains("This never shows"), "\(why)")
        #expect(h2.app.caption?.role == .warning)
        #expect(h2.app.exitStatus == 1, "--exit-at-end after a stop exits 1")
    }

    @Test("Space pauses and resumes, → steps one directive, any other key hands the console over (and acts)")
    func presenterKeys() async throws {
        let h = await Harness(width: 80, height: 24)
        let (mirror, screen) = Self.mirrored(h)
        let scenario = try Scenario.parse("""
        wait Stores (
        caption First.
        caption Second.
        key enter
        wait Keys (
        caption Third.
        """, name: "keys", source: "keys")
        let pilot = Autopilot(scenario: scenario, app: h.app, pace: AutopilotPace(1), screen: screen)
        // Waits on conditions end as soon as they hold; the limits are wide because in the full suite the main actor
        // is shared with every console suite.
        await play(pilot, on: h, mirror: mirror, limit: .seconds(300), until: { h.app.caption?.text == "First." })
        #expect(pilot.intercept(.char(" ")), "Space is the autopilot's")
        #expect(pilot.paused && h.app.caption?.paused == true)
        // Paused: the caption does not move on, however long.
        await play(pilot, on: h, mirror: mirror, limit: .seconds(3))
        #expect(h.app.caption?.text == "First.")
        // → steps to the next directive (the next caption), still paused.
        #expect(pilot.intercept(.right))
        await play(pilot, on: h, mirror: mirror, limit: .seconds(120), until: { h.app.caption?.text == "Second." })
        #expect(h.app.caption?.text == "Second." && pilot.paused)
        #expect(pilot.intercept(.char(" ")) && !pilot.paused)
        // Another key: the autopilot ends and the key does what it does (j moves the cursor).
        let before = h.app.storesTable.current?.id
        #expect(!pilot.intercept(.char("j")))
        h.app.handle(.char("j"))
        #expect(pilot.outcome == .handedOver && h.app.caption == nil)
        #expect(h.app.storesTable.current?.id != before)
        #expect(h.app.statusText?.contains("Autopilot off") == true)
        #expect(!pilot.intercept(.char(" ")), "after the hand-over every key is the console's")
    }

    @Test("q quits the console from the autopilot")
    func quitKey() async throws {
        let h = await Harness(width: 80, height: 24)
        let (_, screen) = Self.mirrored(h)
        let pilot = Autopilot(scenario: try Scenario.parse("caption Hi.", name: "q", source: "q"), app: h.app, screen: screen)
        pilot.start()
        #expect(pilot.intercept(.char("q")))
        #expect(!h.app.running && h.app.exitStatus == 0)
    }

    // MARK: recording

    @Test("a recording is asciicast v2: the header with the size, then [time, \"o\", data] lines that redraw changed rows")
    func recordingRoundTrip() async throws {
        let dir = try TemporaryDirectory(prefix: "cks-cast")
        defer { dir.remove() }
        let url = dir.url.appendingPathComponent("demo.cast")
        let h = await Harness(width: 80, height: 24)
        let mirror = MirrorSurface(inner: MemorySurface(width: 80, height: 24), asciiOnly: false)
        mirror.styleSequence = { style in AsciicastRecorder.sgr(ThemeCatalog.builtInDefault.resolve(style.role, depth: .full256, extra: style.extra)) }
        mirror.recorder = try AsciicastRecorder(url: url, width: 80, height: 24, title: "test", environment: ["TERM": "xterm-256color"],
                                                secrets: ["AKIDEXAMPLE12345"])
        h.app.render(on: mirror)
        await h.press(.enter)
        h.app.render(on: mirror)
        h.app.render(on: mirror) // nothing changed: no event
        mirror.recorder?.close()
        let text = try String(contentsOf: url, encoding: .utf8)
        let cast = try Asciicast.parse(text)
        #expect(cast.width == 80 && cast.height == 24 && cast.title == "test")
        #expect(cast.events.count == 3, "first frame, the keys screen's changed rows, the close: \(cast.events.count)")
        #expect(cast.events.allSatisfy { $0.type == "o" })
        #expect(cast.events[0].data.contains("\u{1B}[2J") && cast.events[0].data.contains("Stores ("))
        #expect(!cast.events[1].data.contains("\u{1B}[2J") && cast.events[1].data.contains("Keys ("))
        let header = try #require(try JSONSerialization.jsonObject(with: Data(text.split(separator: "\n")[0].utf8)) as? [String: Any])
        #expect(header["version"] as? Int == 2 && header["timestamp"] != nil)
    }

    @Test("access key ids are masked in a recording: the configured one and anything shaped like one")
    func masking() throws {
        let dir = try TemporaryDirectory(prefix: "cks-cast-mask")
        defer { dir.remove() }
        let recorder = try AsciicastRecorder(url: dir.url.appendingPathComponent("m.cast"), width: 80, height: 1, title: "m",
                                             environment: [:], secrets: ["AKIDEXAMPLE12345"])
        let surface = MemorySurface(width: 80, height: 1)
        surface.put(0, 0, "key AKIDEXAMPLE12345 and AKIAIOSFODNN7EXAMPLE, not AKIA-short", .normal)
        let masked = recorder.mask(surface.cells[0]).map(\.text).joined()
        #expect(masked.contains("key AKID************ and AKIA**************** not AKIA-short") || masked.contains("AKIA****************,"), "\(masked)")
        #expect(!masked.contains("EXAMPLE12345") && !masked.contains("IOSFODNN7EXAMPLE"), "\(masked)")
        #expect(masked.contains("AKIA-short"), "only the shape of a key id is masked: \(masked)")
        recorder.close()
    }

    @Test("the asciicast parser refuses what is not asciicast v2, naming the line")
    func parserRefusals() {
        let cases: [(String, Int?, String)] = [
            ("", 1, "no header"),
            ("[1, \"o\", \"x\"]", 1, "not a JSON object"),
            ("{\"version\": 1, \"width\": 80, \"height\": 24}", 1, "version 2"),
            ("{\"version\": 2, \"width\": 80}", 1, "width and height"),
            ("{\"version\": 2, \"width\": 80, \"height\": 24}\n[0.5, \"o\"]", 2, "[time, type, data]"),
            ("{\"version\": 2, \"width\": 80, \"height\": 24}\n[\"0.5\", \"o\", \"x\"]", 2, "[time, type, data]"),
            ("{\"version\": 2, \"width\": 80, \"height\": 24}\n[0.5, \"x\", \"x\"]", 2, "unknown event type"),
            ("{\"version\": 2, \"width\": 80, \"height\": 24}\n[0.5, \"o\", \"a\"]\n[0.2, \"o\", \"b\"]", 3, "time goes back"),
        ]
        for (text, line, problem) in cases {
            do {
                _ = try Asciicast.parse(text)
                Issue.record("accepted: \(text)")
            } catch {
                #expect(error.line == line && error.description.contains(problem), "\(text): \(error)")
            }
        }
        let ok = try? Asciicast.parse("{\"version\": 2, \"width\": 80, \"height\": 24}\n[0.5, \"o\", \"a\"]\n[0.5, \"r\", \"90x30\"]\n")
        #expect(ok?.events.count == 2)
    }
}
