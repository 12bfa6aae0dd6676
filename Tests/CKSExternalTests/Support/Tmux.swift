import Foundation
import Testing

/// A detached tmux session on a private socket running one command; read with `capture-pane -p`.
/// Killed by name (and its private server with it) at the end, also on failure: use `withTmux`.
final class TmuxSession: @unchecked Sendable {
    let name: String
    let socket: URL
    let scratch: TemporaryDirectory

    private init(name: String, socket: URL, scratch: TemporaryDirectory) {
        self.name = name
        self.socket = socket
        self.scratch = scratch
    }

    /// Starts `command` (argv) in a new `width`×`height` session with `LANG=C.UTF-8` and `environment`.
    static func start(_ command: [String], width: Int = 120, height: Int = 40,
                      environment: [String: String] = [:]) async throws -> TmuxSession {
        let scratch = try TemporaryDirectory(prefix: "cks-qa-tmux")
        let name = "cks-qa-\(UUID().uuidString.prefix(8).lowercased())"
        let session = TmuxSession(name: name, socket: scratch.url.appendingPathComponent("sock"), scratch: scratch)
        var env = ["LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "xterm-256color"]
        env.merge(environment) { _, new in new }
        let assignments = env.sorted { $0.key < $1.key }.map { "\($0.key)=\(shellQuote($0.value))" }
        let shellCommand = (["exec", "env"] + assignments + command.map(shellQuote)).joined(separator: " ")
        let result = try await session.tmux(["new-session", "-d", "-s", name, "-x", "\(width)", "-y", "\(height)", shellCommand])
        guard result.status == 0 else {
            scratch.remove()
            throw HarnessError("tmux new-session failed:\n\(result)")
        }
        // Keep the pane after the program exits, so a crash leaves its last screen to read.
        _ = try await session.tmux(["set-option", "-t", name, "remain-on-exit", "on"])
        return session
    }

    @discardableResult
    func tmux(_ arguments: [String]) async throws -> ProcessResult {
        try await ProcessRunner.run(["tmux", "-S", socket.path] + arguments, timeout: .seconds(20))
    }

    /// Sends tmux key names (`Enter`, `Escape`, `Down`, `C-c`, `Space`) or literal text with `literal: true`.
    func send(_ keys: String..., literal: Bool = false) async throws {
        let result = try await tmux(["send-keys", "-t", name] + (literal ? ["-l"] : []) + keys)
        if result.status != 0 { throw HarnessError("tmux send-keys \(keys) failed:\n\(result)") }
    }

    /// The visible screen as text (`capture-pane -p`).
    func capture() async throws -> String {
        try await tmux(["capture-pane", "-p", "-t", name]).stdout
    }

    /// Whether the program in the pane has exited, and how: `status` is the exit status
    /// (`#{pane_dead_status}`), `signal` the signal that killed it (`#{pane_dead_signal}`).
    func paneDead() async throws -> (dead: Bool, status: String, signal: String) {
        let out = try await tmux(["display-message", "-p", "-t", name, "#{pane_dead}|#{pane_dead_status}|#{pane_dead_signal}"]).stdout
        let parts = out.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        return (parts.first == "1", parts.count > 1 ? parts[1] : "", parts.count > 2 ? parts[2] : "")
    }

    /// Waits until the program in the pane has exited; returns how (see `paneDead`).
    /// tmux marks the pane dead when its pty closes and fills in the status when it reaps the child (SIGCHLD),
    /// which can come later on a loaded machine; a single slow `display-message` can also use up the whole
    /// timeout, so a few polls are made whatever the clock says.
    func waitForExit(timeout: Duration = .seconds(30)) async throws -> (dead: Bool, status: String, signal: String) {
        let deadline = ContinuousClock.now + timeout
        var state = try await paneDead()
        var polls = 1
        while !(state.dead && !(state.status.isEmpty && state.signal.isEmpty)) && (ContinuousClock.now < deadline || polls < 5) {
            try await Task.sleep(for: .milliseconds(polls < 5 ? 50 : 200))
            state = try await paneDead()
            polls += 1
        }
        return state
    }

    /// Polls the screen until `predicate` holds; fails with the last screen after `timeout`.
    @discardableResult
    func waitFor(_ what: String, timeout: Duration = .seconds(45),
                 sourceLocation: SourceLocation = #_sourceLocation,
                 _ predicate: (String) -> Bool) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        var screen = ""
        while ContinuousClock.now < deadline {
            screen = try await capture()
            if predicate(screen) { return screen }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("timed out after \(timeout) waiting for \(what); last screen:\n\(screen)", sourceLocation: sourceLocation)
        throw HarnessError("timed out waiting for \(what)")
    }

    /// Waits until the screen contains every one of `texts`.
    @discardableResult
    func waitFor(_ texts: String..., timeout: Duration = .seconds(45),
                 sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        try await waitFor(texts.map { "“\($0)”" }.joined(separator: " and "), timeout: timeout, sourceLocation: sourceLocation) { screen in
            texts.allSatisfy { screen.contains($0) }
        }
    }

    func resize(width: Int, height: Int) async throws {
        try await tmux(["resize-window", "-t", name, "-x", "\(width)", "-y", "\(height)"])
    }

    /// Kills the session by name, then the private server; removes the socket directory.
    func kill() async {
        _ = try? await tmux(["kill-session", "-t", name])
        _ = try? await tmux(["kill-server"])
        scratch.remove()
    }

    static func shellQuote(_ s: String) -> String {
        "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

/// Runs `body` with a tmux session and always kills it by name afterwards.
func withTmux<T>(_ command: [String], width: Int = 120, height: Int = 40, environment: [String: String] = [:],
                 _ body: (TmuxSession) async throws -> T) async throws -> T {
    let session = try await TmuxSession.start(command, width: width, height: height, environment: environment)
    do {
        let result = try await body(session)
        await session.kill()
        return result
    } catch {
        let screen = (try? await session.capture()) ?? "(no screen)"
        await session.kill()
        throw HarnessError("\(error)\nlast screen:\n\(screen)")
    }
}

/// Which parts of the `cks` binary exist yet (the console and teardown land in later issues;
/// their subcommands are placeholders until then).
enum CksFeatures {
    /// `cks serve` is real once its help offers `--listen`.
    static let serveBuilt: Bool = helpContains(["serve", "--help"], "--listen")
    /// `cks console` is real once its help offers `--demo`.
    static let consoleBuilt: Bool = helpContains(["console", "--help"], "--demo")
    /// `cks teardown` is real once its help offers `--window-days`.
    static let teardownBuilt: Bool = helpContains(["teardown", "--help"], "--window-days")

    private static func helpContains(_ arguments: [String], _ text: String) -> Bool {
        guard let binary = Locations.cksBinary else { return false }
        return ProcessRunner.runSynchronously([binary.path] + arguments).output.contains(text)
    }
}
