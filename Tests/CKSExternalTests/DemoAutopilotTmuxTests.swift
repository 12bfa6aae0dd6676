import CKSConsole
import Foundation
import Testing

/// The demo's autopilot end to end against the real binary: every shipped scenario played by
/// `cks --demo --autopilot NAME --pace 0 --exit-at-end --record FILE.cast` under tmux, at 120x35 and 80x24, with every
/// theme; each recording is valid asciicast v2 and `cks replay` draws the same final screen. A scenario that breaks
/// (a wait that never holds) ends with status 1 and its line, so a demo that breaks is a failing test.
@Suite("demo autopilot under tmux")
struct DemoAutopilotTmuxTests {
    typealias UI = ConsoleTmuxTests

    static let themes = ["default", "light", "high-contrast", "colorblind", "mono"]
    static let sizes = [(120, 35), (80, 24)]

    struct Run: Sendable, CustomStringConvertible {
        var scenario: String, width: Int, height: Int, theme: String
        var description: String { "\(scenario) at \(width)x\(height), theme \(theme)" }
    }

    /// Sessions played at once: the demo cores mostly wait (connects, the use check), so a few share two cores well.
    static var parallel: Int { Int(ProcessInfo.processInfo.environment["CKS_DEMO_PARALLEL"] ?? "") ?? 4 }

    @Test("every shipped scenario plays to its end at 120x35 and 80x24, every theme in turn, and its recording replays to the same final screen",
          .enabled(if: ExternalTools.usable(.tmux), "needs tmux (CKS_REQUIRE_EXTERNAL=1 turns this skip into a failure)"))
    func everyScenarioEverySizeEveryTheme() async throws {
        try ExternalTools.require(.tmux)
        let binary = try Locations.requireCksBinary()
        let runs = Self.runs(full: ProcessInfo.processInfo.environment["CKS_DEMO_MATRIX"] == "full")
        let started = ContinuousClock.now
        var failures: [String] = []
        await withTaskGroup(of: String?.self) { group in
            var pending = runs.makeIterator()
            for _ in 0..<Self.parallel { if let r = pending.next() { group.addTask { await Self.play(r, binary: binary) } } }
            while let result = await group.next() {
                if let result { failures.append(result) }
                if let r = pending.next() { group.addTask { await Self.play(r, binary: binary) } }
            }
        }
        print("demo autopilot matrix: \(runs.count) runs, \(Self.parallel) at once, \(ContinuousClock.now - started)")
        #expect(failures.isEmpty, "\(failures.count) of \(runs.count) runs failed:\n\(failures.joined(separator: "\n\n"))")
    }

    /// Every scenario at both sizes. By default the themes rotate over those eight runs (each theme at least once,
    /// so CI stays short); `CKS_DEMO_MATRIX=full` plays every scenario × size × theme (40 runs).
    static func runs(full: Bool) -> [Run] {
        var runs: [Run] = []
        for (s, scenario) in ScenarioCatalog.shippedOrder.enumerated() {
            for (z, (w, h)) in Self.sizes.enumerated() {
                let themes = full ? Self.themes : [Self.themes[(Self.sizes.count * s + z) % Self.themes.count]]
                for theme in themes { runs.append(Run(scenario: scenario, width: w, height: h, theme: theme)) }
            }
        }
        return runs
    }

    @Test func theShortMatrixCoversEveryScenarioSizeAndTheme() {
        let runs = Self.runs(full: false)
        #expect(Set(runs.map(\.scenario)) == Set(ScenarioCatalog.shippedOrder))
        #expect(Set(runs.map(\.theme)) == Set(Self.themes))
        for scenario in ScenarioCatalog.shippedOrder {
            #expect(Set(runs.filter { $0.scenario == scenario }.map(\.width)) == Set(Self.sizes.map(\.0)))
        }
        #expect(Self.runs(full: true).count == ScenarioCatalog.shippedOrder.count * Self.sizes.count * Self.themes.count)
    }

    /// Plays one run and replays its recording; nil when all is well, else what went wrong with the screens.
    static func play(_ run: Run, binary: URL) async -> String? {
        do {
            let scratch = try TemporaryDirectory(prefix: "cks-qa-autopilot")
            defer { scratch.remove() }
            let cast = scratch.url.appendingPathComponent("\(run.scenario).cast")
            let statusFile = scratch.url.appendingPathComponent("exit-status")
            let environment = UI.isolatedEnvironment(scratch)
            let command = holding(["--demo", "--autopilot", run.scenario, "--pace", "0", "--exit-at-end", "--record", cast.path,
                                   "--theme", run.theme], binary: binary, statusFile: statusFile)
            let (status, final) = try await withTmux(command, width: run.width, height: run.height, environment: environment,
                                                     alternateScreen: false) { tmux in
                let status = try await exitStatus(statusFile, timeout: .seconds(420))
                return (status, try await settledScreen(tmux))
            }
            guard status == "0" else { return "\(run): exit status \(status); last screen:\n\(final)" }
            guard final.contains("End of the \(run.scenario) scenario") else { return "\(run): no end caption; last screen:\n\(final)" }

            let recorded = try Asciicast.parse(String(contentsOf: cast, encoding: .utf8))
            guard recorded.width == run.width, recorded.height == run.height, !recorded.events.isEmpty else {
                return "\(run): the recording says \(recorded.width)x\(recorded.height) with \(recorded.events.count) events"
            }
            let replayStatus = scratch.url.appendingPathComponent("replay-status")
            let replayed = try await withTmux(holding(["replay", cast.path, "--speed", "1000"], binary: binary, statusFile: replayStatus),
                                              width: run.width, height: run.height, environment: environment,
                                              alternateScreen: false) { tmux in
                let status = try await exitStatus(replayStatus, timeout: .seconds(180))
                guard status == "0" else { throw HarnessError("cks replay exited \(status); screen:\n\(try await tmux.capture())") }
                return try await settledScreen(tmux)
            }
            if lines(replayed) != lines(final) {
                return "\(run): the replay's final screen differs from the console's.\nconsole:\n\(final)\nreplay:\n\(replayed)"
            }
            return nil
        } catch {
            return "\(run): \(error)"
        }
    }

    /// `cks ARGUMENTS` in a shell that writes its exit status to `statusFile` and then holds the pane open, so the
    /// last frame stays as drawn (a dead pane's notice would scroll it).
    static func holding(_ arguments: [String], binary: URL, statusFile: URL) -> [String] {
        let file = "'" + statusFile.path + "'"
        return ["/bin/sh", "-c", "\"$0\" \"$@\"; echo $? > \(file).tmp; mv \(file).tmp \(file); exec sleep 900", binary.path] + arguments
    }

    /// Waits for the exit status a `holding` shell writes.
    static func exitStatus(_ file: URL, timeout: Duration) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let text = try? String(contentsOf: file, encoding: .utf8) { return text.trimmingCharacters(in: .whitespacesAndNewlines) }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw HarnessError("no exit status in \(file.lastPathComponent) after \(timeout)")
    }

    /// The screen once tmux has drawn all the output: two captures 300 ms apart agree.
    static func settledScreen(_ tmux: TmuxSession) async throws -> String {
        var previous = try await tmux.capture()
        for _ in 0..<30 {
            try await Task.sleep(for: .milliseconds(300))
            let now = try await tmux.capture()
            if now == previous { return now }
            previous = now
        }
        return previous
    }

    /// The screen's rows without trailing blanks, and without the blank rows at the end.
    static func lines(_ screen: String) -> [String] {
        var rows = screen.split(separator: "\n", omittingEmptySubsequences: false).map { String($0).replacingOccurrences(of: #"\s+$"#, with: "", options: .regularExpression) }
        while rows.last?.isEmpty == true { rows.removeLast() }
        return rows
    }

    @Test("a recording by hand is accepted by asciinema: the same output, event for event",
          .enabled(if: ExternalTools.usable(.tmux, .asciinema),
                   "needs tmux and the asciinema Python package (CKS_REQUIRE_EXTERNAL=1 turns this skip into a failure)"))
    func asciinemaReadsTheRecording() async throws {
        try ExternalTools.require(.tmux, .asciinema)
        let binary = try Locations.requireCksBinary()
        let scratch = try TemporaryDirectory(prefix: "cks-qa-cast")
        defer { scratch.remove() }
        let cast = scratch.url.appendingPathComponent("by-hand.cast")
        try await withTmux([binary.path, "--demo", "--record", cast.path], width: 100, height: 30,
                           environment: UI.isolatedEnvironment(scratch)) { tmux in
            _ = try await UI.waitForCountedStores("the stores screen", in: tmux) { $0.contains("EMBEDDED") }
            try await tmux.send("Enter")
            try await tmux.waitFor("Keys (")
            try await tmux.send("q")
            _ = try await tmux.waitForExit()
        }
        let parsed = try Asciicast.parse(String(contentsOf: cast, encoding: .utf8))
        #expect(parsed.width == 100 && parsed.height == 30)
        let check = try await ProcessRunner.run(["python3", "-c", """
            import sys
            from asciinema.asciicast import open_from_url
            with open_from_url(sys.argv[1]) as a:
                h = a.v2_header
                assert h["version"] == 2 and h["width"] == 100 and h["height"] == 30, h
                sys.stdout.write("".join(e[2] for e in a.events() if e[1] == "o"))
            """, cast.path])
        #expect(check.status == 0, "asciinema reads it:\n\(check)")
        let ours = parsed.events.filter { $0.type == "o" }.map(\.data).joined()
        #expect(check.stdout == ours, "asciinema reads the same output (\(check.stdout.count) vs \(ours.count) characters)")
    }

    @Test("--list names the shipped scenarios; a malformed scenario is refused with its line before the demo starts")
    func listAndMalformed() async throws {
        let binary = try Locations.requireCksBinary()
        let scratch = try TemporaryDirectory(prefix: "cks-qa-list")
        defer { scratch.remove() }
        let env = UI.isolatedEnvironment(scratch)
        let list = try await ProcessRunner.run([binary.path, "--demo", "--autopilot", "--list"], environment: env)
        #expect(list.status == 0, "\(list)")
        for name in ScenarioCatalog.shippedOrder { #expect(list.stdout.contains("  \(name) "), "\(list)") }
        let bad = scratch.url.appendingPathComponent("bad.scenario")
        try "caption fine\nwait Stores\nkey entr\n".write(to: bad, atomically: true, encoding: .utf8)
        let refused = try await ProcessRunner.run([binary.path, "--demo", "--autopilot", bad.path], environment: env)
        #expect(refused.status == 64, "\(refused)")
        #expect(refused.stderr.contains("bad.scenario:3: unknown key 'entr'"), "\(refused)")
        let real = try await ProcessRunner.run([binary.path, "--autopilot", "teardown"], environment: env)
        #expect(real.status == 64 && real.stderr.contains("add --demo"), "\(real)")
        let record = try await ProcessRunner.run([binary.path, "--endpoint", "http://127.0.0.1:9", "--record", scratch.url.appendingPathComponent("r.cast").path], environment: env)
        #expect(record.status == 64 && record.stderr.contains("--record-anyway"), "\(record)")
        let replayBad = try await ProcessRunner.run([binary.path, "replay", bad.path], environment: env)
        #expect(replayBad.status == 1 && replayBad.stderr.contains("not an asciicast v2 recording"), "\(replayBad)")
    }
}
