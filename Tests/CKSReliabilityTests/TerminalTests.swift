import CKSDomain
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// How the console is started in a hostile terminal, and what the test does to it.
struct TerminalScenario: Sendable, CustomTestStringConvertible {
    var name: String
    var width = 100
    var height = 30
    var environment: [String: String] = [:]
    var arguments: [String] = ["--demo"]
    /// Files to write before the start, relative to the scenario's scratch directory (`config/…`, `state/…`).
    var files: [String: [UInt8]] = [:]
    /// Run the console with `$HOME` on a read-only file system.
    var readOnlyHome = false
    var testDescription: String { name }

    static let all: [TerminalScenario] = [
        TerminalScenario(name: "20x5 terminal", width: 20, height: 5),
        TerminalScenario(name: "resize storm"),
        TerminalScenario(name: "random bytes on stdin"),
        TerminalScenario(name: "TERM=dumb", environment: ["TERM": "dumb"]),
        TerminalScenario(name: "TERM=vt100", environment: ["TERM": "vt100"]),
        TerminalScenario(name: "non-UTF-8 locale", environment: ["LANG": "C", "LC_ALL": "C"]),
        TerminalScenario(name: "read-only HOME", readOnlyHome: true),
        TerminalScenario(name: "corrupt theme file", arguments: ["--demo", "--theme", "broken"],
                         files: ["config/cks/themes/broken.theme": Array("header = 999/nope\n\u{1}\u{2}[[[\nrole-without-value\n".utf8) + [0xFF, 0xFE]]),
        TerminalScenario(name: "missing theme file", arguments: ["--demo", "--theme", "no-such-theme"]),
        TerminalScenario(name: "corrupt keymap file",
                         files: ["config/cks/keymap": Array("quit = \nfrobnicate = x\n=\n\u{0}".utf8) + [0xC0, 0x80]]),
        TerminalScenario(name: "corrupt config file", files: ["config/cks/config": [0xFF, 0x00, 0x41, 0x3D]]),
        TerminalScenario(name: "corrupt journal",
                         files: ["state/cks/teardowns.jsonl": Array("{\"store\":\n not json\n{}\n".utf8) + [0xFF, 0xFE, 0x00] + Array(repeating: 0x7B, count: 10_000)]),
        TerminalScenario(name: "journal is a directory", files: ["state/cks/teardowns.jsonl/x": []]),
        TerminalScenario(name: "Ctrl-C"),
        TerminalScenario(name: "SIGTERM"),
        // What a closed terminal window sends.
        TerminalScenario(name: "SIGHUP"),
    ]
}

extension Reliability {
    /// The console in hostile terminals (run under tmux): no crash, a clear message where something is wrong, the
    /// terminal restored on exit (primary screen, `icanon` and `echo` back).
    @Suite struct Terminal {
        @Test(.enabled(if: TmuxSession.available || Scale.requireExternal, "tmux is not installed"),
              arguments: TerminalScenario.all)
        func consoleSurvives(_ scenario: TerminalScenario) async throws {
            guard requireTmux() else { return }   // recorded as an issue when tmux is required
            let binary = try Locations.requireCksBinary()
            let scratch = try TemporaryDirectory(prefix: "cks-rel-term")
            defer { scratch.remove() }
            for (path, bytes) in scenario.files {
                let url = scratch.url.appendingPathComponent(path)
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                if !path.hasSuffix("/x") { FileManager.default.createFile(atPath: url.path, contents: Data(bytes)) }
            }
            let home = scratch.url.appendingPathComponent("home")
            try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
            var environment = ["HOME": home.path,
                               "XDG_CONFIG_HOME": scratch.url.appendingPathComponent("config").path,
                               "XDG_STATE_HOME": scratch.url.appendingPathComponent("state").path,
                               "XDG_DATA_HOME": scratch.url.appendingPathComponent("data").path]
            var launch = ([binary.path] + scenario.arguments).map(TmuxSession.quote).joined(separator: " ")
            if scenario.readOnlyHome {
                environment.removeValue(forKey: "XDG_CONFIG_HOME")
                environment.removeValue(forKey: "XDG_STATE_HOME")
                environment.removeValue(forKey: "XDG_DATA_HOME")
                if getuid() == 0, Locations.tool("unshare") != nil {
                    // root ignores permission bits: make HOME a read-only mount in a mount namespace of its own.
                    launch = "unshare -m sh -c " + TmuxSession.quote("mount --bind -o ro \(TmuxSession.quote(home.path)) "
                        + "\(TmuxSession.quote(home.path)) && exec \(launch)")
                } else {
                    try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: home.path)
                }
            }
            environment.merge(scenario.environment) { _, new in new }
            // After the console: its status, then whether the line discipline is back to cooked mode with echo.
            let shell = "\(launch) 2>\(TmuxSession.quote(scratch.url.appendingPathComponent("stderr").path)); "
                + "echo \"EXIT:$?\"; stty -a | tr -s ' ;\\n' '\\n\\n\\n' | grep -E -x -- '-?(icanon|echo)' | tr '\\n' ' '; echo STTY-END"
            try await withTmux(shell: shell, width: scenario.width, height: scenario.height, environment: environment) { tmux in
                let started = try await tmux.waitFor("the console to draw or exit") { screen in
                    !screen.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
                }
                switch scenario.name {
                case "TERM=dumb":
                    // Not a terminal it can draw on: the stores table is printed instead, and cks exits.
                    let screen = try await tmux.waitFor("the printed stores table") { $0.contains("STTY-END") }
                    #expect(screen.contains("EXIT:0"), "TERM=dumb prints the table and exits 0")
                    return
                case "20x5 terminal":
                    _ = try await tmux.waitFor("the too-small message") { $0.contains("too small") || $0.contains("80x24") }
                case "resize storm":
                    var random = SplitMix64(seed: Scale.seed)
                    for _ in 0..<Scale.pick(ci: 40, long: 400) {
                        try await tmux.resize(width: Int.random(in: 1...250, using: &random), height: Int.random(in: 1...80, using: &random))
                    }
                    for size in [(1, 1), (20, 5), (79, 23), (80, 24), (300, 100), (100, 30)] {
                        try await tmux.resize(width: size.0, height: size.1)
                    }
                    try await tmux.waitFor("a full screen after the storm") { !$0.contains("too small") && $0.count > 200 }
                case "random bytes on stdin":
                    var random = SplitMix64(seed: Scale.seed &+ 3)
                    // Everything but the bytes the terminal itself turns into signals or quits on (^C ^Z ^\ q Q).
                    // 7-bit bytes: tmux 3.3a itself was seen to exit on some random high bytes sent with send-keys -H.
                    let excluded: Set<UInt8> = [0x03, 0x1A, 0x1C, 0x11, 0x13, UInt8(ascii: "q"), UInt8(ascii: "Q")]
                    for _ in 0..<Scale.pick(ci: 40, long: 400) {
                        let bytes = (0..<50).map { _ in UInt8.random(in: 0...0x7F, using: &random) }.filter { !excluded.contains($0) }
                        try await tmux.sendBytes(bytes)
                    }
                    try await tmux.send(["Escape", "Escape", "Escape"])
                    let info = try await tmux.paneInfo()
                    #expect(!info.dead, "the console is still running after random input")
                default:
                    _ = started
                }
                if scenario.name.hasPrefix("corrupt theme") || scenario.name.hasPrefix("missing theme") {
                    _ = try await tmux.waitFor("a message naming the theme") { $0.contains("broken") || $0.contains("no-such-theme") || $0.contains("theme") }
                }
                if scenario.name == "corrupt keymap file" {
                    _ = try await tmux.waitFor("a message about the keymap") { $0.contains("keymap") }
                }
                // Quit the way the scenario says, and check the terminal is back.
                switch scenario.name {
                case "Ctrl-C": try await tmux.send(["C-c"])
                case "SIGTERM", "SIGHUP":
                    let pids = try await ProcessRunner.run(["pgrep"] + ["-P", "\(try await tmux.paneInfo().pid ?? 0)"])
                    for pid in pids.stdout.split(separator: "\n").compactMap({ Int32($0) }) {
                        sendSignal(pid, scenario.name == "SIGHUP" ? SIGHUP : SIGTERM)
                    }
                default:
                    // Escape then q, apart by more than ESCDELAY (else ncurses reads Alt-q); a few times, in case the
                    // random input left a dialog or the command line open.
                    for _ in 0..<4 {
                        try await tmux.send(["Escape"])
                        try? await Task.sleep(for: .milliseconds(300))
                        try await tmux.send(["q"])
                        if (try? await tmux.waitFor("exit", timeout: .seconds(2)) { $0.contains("STTY-END") }) != nil { break }
                    }
                }
                let screen = try await tmux.waitFor("the console to exit") { $0.contains("STTY-END") }
                let info = try await tmux.paneInfo()
                #expect(!info.alternate, "the primary screen is back")
                let stty = screen.components(separatedBy: "STTY-END").first?.components(separatedBy: "\n").last ?? ""
                #expect(stty.contains("icanon") && !stty.contains("-icanon") && !stty.contains("-echo"),
                        "cooked mode and echo restored: '\(stty)'\n\(screen)")
                let status = screen.components(separatedBy: "EXIT:").last?.prefix { $0.isNumber } ?? ""
                // q: 0; Ctrl-C: 130, as other terminal programs; a signal N: 128+N (the console ends cleanly on it).
                let expected: [String]
                switch scenario.name {
                case "Ctrl-C": expected = ["130"]
                case "SIGTERM": expected = ["143"]
                case "SIGHUP": expected = ["129"]
                default: expected = ["0", "130"]
                }
                #expect(expected.contains(String(status)), "\(scenario.name): exit status \(status)\n\(screen)")
                let stderr = (try? String(contentsOf: scratch.url.appendingPathComponent("stderr"), encoding: .utf8)) ?? ""
                for crash in ["Fatal error", "Segmentation", "core dumped", "Illegal instruction", "Trace/breakpoint"] {
                    #expect(!stderr.contains(crash) && !screen.contains(crash), "\(scenario.name): \(crash)\n\(stderr)")
                }
            }
        }

        /// A closed terminal window: tmux closes the pty (a hangup). The console must end, not keep polling the
        /// endpoint for nobody (it once did: its SIGHUP handling never heard the signal outside the test runner).
        @Test(.enabled(if: TmuxSession.available || Scale.requireExternal, "tmux is not installed"))
        func consoleEndsWithItsTerminal() async throws {
            guard requireTmux() else { return }   // recorded as an issue when tmux is required
            let binary = try Locations.requireCksBinary()
            let scratch = try TemporaryDirectory(prefix: "cks-rel-hup")
            defer { scratch.remove() }
            let environment = ["XDG_CONFIG_HOME": scratch.url.appendingPathComponent("config").path,
                               "XDG_STATE_HOME": scratch.url.appendingPathComponent("state").path,
                               "XDG_DATA_HOME": scratch.url.appendingPathComponent("data").path]
            let session = try await TmuxSession.start(shell: "exec \(TmuxSession.quote(binary.path)) --demo", environment: environment)
            var consolePid: Int32?
            do {
                _ = try await session.waitFor("the demo's stores") { $0.contains("payments-hsm") }
                consolePid = try await session.paneInfo().pid
            } catch {
                await session.kill()
                throw error
            }
            let pid = try #require(consolePid)
            // Running, not a zombie left for a parent that is gone.
            func running() -> Bool {
                guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                      let close = stat.lastIndex(of: ")") else { return false }
                return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first != "Z"
            }
            #expect(running(), "the console runs in the pane")
            await session.kill()
            let deadline = ContinuousClock.now + .seconds(10)
            while running() && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
            let alive = running()
            if alive { _ = Glibc.kill(pid, SIGKILL) }
            #expect(!alive, "the console was still running 10 s after its terminal closed")
        }
    }
}
