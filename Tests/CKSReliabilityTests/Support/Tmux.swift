import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A detached tmux session on a private socket, running one shell command line; read with `capture-pane -p`.
/// Killed (with its private server) at the end, also on failure: use `withTmux`.
final class TmuxSession: @unchecked Sendable {
    let name: String
    let socket: URL
    let scratch: TemporaryDirectory
    static var available: Bool { Locations.tool("tmux") != nil }

    private init(name: String, socket: URL, scratch: TemporaryDirectory) {
        self.name = name
        self.socket = socket
        self.scratch = scratch
    }

    /// Starts `shell` (a `sh -c` command line) in a `width`×`height` session with `environment`
    /// (`LANG=C.UTF-8` and `TERM=xterm-256color` unless given).
    static func start(shell: String, width: Int = 100, height: Int = 30, environment: [String: String] = [:]) async throws -> TmuxSession {
        let scratch = try TemporaryDirectory(prefix: "cks-rel-tmux")
        let session = TmuxSession(name: "rel", socket: scratch.url.appendingPathComponent("sock"), scratch: scratch)
        var env = ["LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "xterm-256color", "HOME": scratch.url.path]
        env.merge(environment) { _, new in new }
        let assignments = env.sorted { $0.key < $1.key }.map { "\($0.key)=\(quote($0.value))" }
        let command = (["exec", "env"] + assignments + ["sh", "-c", quote(shell)]).joined(separator: " ")
        let result = try await session.tmux(["-f", "/dev/null", "new-session", "-d", "-s", session.name,
                                             "-x", "\(width)", "-y", "\(height)", command])
        guard result.status == 0 else {
            scratch.remove()
            throw HarnessError("tmux new-session failed: \(result.stderr)")
        }
        _ = try await session.tmux(["set-option", "-t", session.name, "remain-on-exit", "on"])
        return session
    }

    @discardableResult
    func tmux(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        guard let tmux = Locations.tool("tmux") else { throw HarnessError("tmux is not installed") }
        return try await runProgram(tmux, ["-S", socket.path] + arguments, timeout: .seconds(20))
    }

    /// tmux key names (`Enter`, `Escape`, `C-c`) or, with `literal`, text.
    func send(_ keys: [String], literal: Bool = false) async throws {
        _ = try await tmux(["send-keys", "-t", name] + (literal ? ["-l"] : []) + keys)
    }

    /// Raw bytes, as a terminal would deliver them (`send-keys -H`).
    func sendBytes(_ bytes: [UInt8]) async throws {
        guard !bytes.isEmpty else { return }
        _ = try await tmux(["send-keys", "-t", name, "-H"] + bytes.map { String(format: "%02x", $0) })
    }

    func capture() async throws -> String { try await tmux(["capture-pane", "-p", "-t", name]).stdout }

    func resize(width: Int, height: Int) async throws {
        _ = try await tmux(["resize-window", "-t", name, "-x", "\(width)", "-y", "\(height)"])
    }

    /// `#{pane_dead}`, `#{alternate_on}` and the pane's process id.
    func paneInfo() async throws -> (dead: Bool, alternate: Bool, pid: Int32?) {
        let out = try await tmux(["display-message", "-p", "-t", name, "#{pane_dead} #{alternate_on} #{pane_pid}"]).stdout
        let parts = out.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        return (parts.first == "1", parts.count > 1 && parts[1] == "1", parts.count > 2 ? Int32(parts[2]) : nil)
    }

    /// Polls the screen until `predicate` holds; returns the screen, or throws with the last screen.
    @discardableResult
    func waitFor(_ what: String, timeout: Duration = .seconds(30), _ predicate: (String) -> Bool) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        var screen = ""
        while ContinuousClock.now < deadline {
            screen = try await capture()
            if predicate(screen) { return screen }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw HarnessError("timed out after \(timeout) waiting for \(what); last screen:\n\(screen)")
    }

    /// `kill-server`, then SIGKILL by the server's PID: servers whose pane a scenario wedged were seen ignoring
    /// both `kill-server` and SIGTERM, and lived on after the suite (18 per CI run).
    func kill() async {
        let serverPid = (try? await tmux(["display-message", "-p", "#{pid}"]))
            .flatMap { Int32($0.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) }
        _ = try? await tmux(["kill-server"])
        if let serverPid, serverPid > 1 { _ = Glibc.kill(serverPid, SIGKILL) }
        scratch.remove()
    }

    static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
}

/// Runs `body` with a tmux session, killed afterwards; the last screen is attached to a failure.
func withTmux<T>(shell: String, width: Int = 100, height: Int = 30, environment: [String: String] = [:],
                 _ body: (TmuxSession) async throws -> T) async throws -> T {
    let session = try await TmuxSession.start(shell: shell, width: width, height: height, environment: environment)
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

/// Whether tmux is here; without it a console test is skipped with a visible reason, or fails under
/// `CKS_REQUIRE_EXTERNAL=1`.
func requireTmux() -> Bool {
    if TmuxSession.available { return true }
    if Scale.requireExternal {
        Issue.record("tmux is not installed and CKS_REQUIRE_EXTERNAL=1")
    } else {
        reportFigure("console", "SKIPPED: tmux is not installed (set CKS_REQUIRE_EXTERNAL=1 to make this a failure)")
    }
    return false
}
