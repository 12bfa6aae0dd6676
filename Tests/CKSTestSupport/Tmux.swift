import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A detached tmux session on a private socket running one program (an argv, or a `sh -c` command line); read
/// with `capture-pane -p`. The suites' one terminal driver: killed with its private server at the end, also on
/// failure (use `withTmux`).
public final class TmuxSession: @unchecked Sendable {
    public let name: String
    public let socket: URL
    public let scratch: TemporaryDirectory

    /// Whether tmux is on PATH.
    public static var available: Bool { ExternalTool.locate("tmux") != nil }

    private init(name: String, socket: URL, scratch: TemporaryDirectory) {
        self.name = name
        self.socket = socket
        self.scratch = scratch
    }

    /// Starts `command` (argv) in a new `width`×`height` session with `LANG=C.UTF-8`, `TERM=xterm-256color` and
    /// `environment`. With `alternateScreen` false the pane ignores the alternate screen, so a full-screen program's
    /// last frame stays in the pane after it exits.
    public static func start(_ command: [String], width: Int = 120, height: Int = 40,
                             environment: [String: String] = [:], alternateScreen: Bool = true) async throws -> TmuxSession {
        try await launch(command.map(quote).joined(separator: " "), width: width, height: height, environment: environment,
                         alternateScreen: alternateScreen)
    }

    /// Starts `shell` (a `sh -c` command line) likewise, with `HOME` in the session's scratch directory unless given.
    public static func start(shell: String, width: Int = 100, height: Int = 30,
                             environment: [String: String] = [:]) async throws -> TmuxSession {
        try await launch("sh -c " + quote(shell), width: width, height: height, environment: environment, privateHome: true)
    }

    private static func launch(_ commandLine: String, width: Int, height: Int, environment: [String: String],
                               privateHome: Bool = false, alternateScreen: Bool = true) async throws -> TmuxSession {
        let scratch = try TemporaryDirectory(prefix: "cks-tmux")
        // The server reads its configuration when it starts, before the program runs (a set-option after new-session
        // could come too late).
        var configuration = "/dev/null"
        if !alternateScreen {
            let file = scratch.url.appendingPathComponent("tmux.conf")
            try "set-window-option -g alternate-screen off\n".write(to: file, atomically: true, encoding: .utf8)
            configuration = file.path
        }
        let name = "cks-\(UUID().uuidString.prefix(8).lowercased())"
        let session = TmuxSession(name: name, socket: scratch.url.appendingPathComponent("sock"), scratch: scratch)
        var env = ["LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "xterm-256color"]
        if privateHome { env["HOME"] = scratch.url.path }
        env.merge(environment) { _, new in new }
        let assignments = env.sorted { $0.key < $1.key }.map { "\($0.key)=\(quote($0.value))" }
        let command = (["exec", "env"] + assignments + [commandLine]).joined(separator: " ")
        let result = try await session.tmux(["-f", configuration, "new-session", "-d", "-s", name,
                                             "-x", "\(width)", "-y", "\(height)", command])
        guard result.status == 0 else {
            scratch.remove()
            throw HarnessError("tmux new-session failed:\n\(result)")
        }
        // Keep the pane after the program exits, so a crash leaves its last screen to read; without tmux's
        // "Pane is dead" line, whose drawing can scroll the program's last lines (its exit status) off the screen.
        try await session.tmux(["set-option", "-t", name, "remain-on-exit", "on"])
        _ = try? await session.tmux(["set-option", "-t", name, "remain-on-exit-format", ""])
        return session
    }

    @discardableResult
    public func tmux(_ arguments: [String]) async throws -> ProcessResult {
        guard let tmux = ExternalTool.locate("tmux") else { throw HarnessError("tmux is not installed") }
        return try await ProcessRunner.run([tmux.path, "-S", socket.path] + arguments, timeout: .seconds(20))
    }

    /// Sends tmux key names (`Enter`, `Escape`, `Down`, `C-c`, `Space`) or literal text with `literal: true`.
    public func send(_ keys: [String], literal: Bool = false) async throws {
        let result = try await tmux(["send-keys", "-t", name] + (literal ? ["-l"] : []) + keys)
        if result.status != 0 { throw HarnessError("tmux send-keys \(keys) failed:\n\(result)") }
    }

    public func send(_ keys: String..., literal: Bool = false) async throws {
        try await send(keys, literal: literal)
    }

    /// Raw bytes, as a terminal would deliver them (`send-keys -H`).
    public func sendBytes(_ bytes: [UInt8]) async throws {
        guard !bytes.isEmpty else { return }
        try await tmux(["send-keys", "-t", name, "-H"] + bytes.map { String(format: "%02x", $0) })
    }

    /// The visible screen as text (`capture-pane -p`).
    public func capture() async throws -> String {
        try await tmux(["capture-pane", "-p", "-t", name]).stdout
    }

    /// Whether the program in the pane has exited, and how: `status` is the exit status (`#{pane_dead_status}`),
    /// `signal` the signal that killed it (`#{pane_dead_signal}`).
    public func paneDead() async throws -> (dead: Bool, status: String, signal: String) {
        let out = try await tmux(["display-message", "-p", "-t", name, "#{pane_dead}|#{pane_dead_status}|#{pane_dead_signal}"]).stdout
        let parts = out.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        return (parts.first == "1", parts.count > 1 ? parts[1] : "", parts.count > 2 ? parts[2] : "")
    }

    /// `#{pane_dead}`, `#{alternate_on}` and the pane's process id.
    public func paneInfo() async throws -> (dead: Bool, alternate: Bool, pid: Int32?) {
        let out = try await tmux(["display-message", "-p", "-t", name, "#{pane_dead} #{alternate_on} #{pane_pid}"]).stdout
        let parts = out.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        return (parts.first == "1", parts.count > 1 && parts[1] == "1", parts.count > 2 ? Int32(parts[2]) : nil)
    }

    /// Waits until the program in the pane has exited; returns how (see `paneDead`).
    /// tmux marks the pane dead when its pty closes and fills in the status when it reaps the child (SIGCHLD),
    /// which can come later on a loaded machine; a single slow `display-message` can also use up the whole
    /// timeout, so a few polls are made whatever the clock says.
    public func waitForExit(timeout: Duration = .seconds(30)) async throws -> (dead: Bool, status: String, signal: String) {
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

    /// Polls the screen until `predicate` holds and returns it; after `timeout`, throws with the last screen.
    @discardableResult
    public func waitFor(_ what: String, timeout: Duration = .seconds(45), _ predicate: (String) -> Bool) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        var screen = ""
        while ContinuousClock.now < deadline {
            screen = try await capture()
            if predicate(screen) { return screen }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw HarnessError("timed out after \(timeout) waiting for \(what); last screen:\n\(screen)")
    }

    /// Waits until the screen contains every one of `texts`.
    @discardableResult
    public func waitFor(_ texts: String..., timeout: Duration = .seconds(45)) async throws -> String {
        try await waitFor(texts.map { "“\($0)”" }.joined(separator: " and "), timeout: timeout) { screen in
            texts.allSatisfy { screen.contains($0) }
        }
    }

    public func resize(width: Int, height: Int) async throws {
        try await tmux(["resize-window", "-t", name, "-x", "\(width)", "-y", "\(height)"])
    }

    /// Kills the session and its private server (`kill-server`, then SIGKILL by the server's PID: a server whose
    /// pane a test wedged can ignore both `kill-server` and SIGTERM); removes the socket directory.
    public func kill() async {
        let serverPid = (try? await tmux(["display-message", "-p", "#{pid}"]))
            .flatMap { Int32($0.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) }
        _ = try? await tmux(["kill-session", "-t", name])
        _ = try? await tmux(["kill-server"])
        if let serverPid, serverPid > 1 { _ = Glibc.kill(serverPid, SIGKILL) }
        scratch.remove()
    }

    /// `s` in single quotes for `sh`.
    public static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
}

/// Runs `body` with a tmux session running `command` (argv), killed afterwards; the last screen is attached to a failure.
public func withTmux<T>(_ command: [String], width: Int = 120, height: Int = 40, environment: [String: String] = [:],
                        alternateScreen: Bool = true, _ body: (TmuxSession) async throws -> T) async throws -> T {
    try await withSession({ try await TmuxSession.start(command, width: width, height: height, environment: environment,
                                                        alternateScreen: alternateScreen) }, body)
}

/// Runs `body` with a tmux session running `shell` (a `sh -c` line), killed afterwards; the last screen is attached
/// to a failure.
public func withTmux<T>(shell: String, width: Int = 100, height: Int = 30, environment: [String: String] = [:],
                        _ body: (TmuxSession) async throws -> T) async throws -> T {
    try await withSession({ try await TmuxSession.start(shell: shell, width: width, height: height, environment: environment) }, body)
}

/// How many consoles under tmux the whole test run drives at once (`CKS_TMUX_SESSIONS`, default 3): each is a
/// `cks` with its own core, so more at once on a small machine starve the other suites into their time-outs.
/// A session opened while the task already holds a slot (nested) takes none, so nesting cannot deadlock.
enum TmuxSlots {
    @TaskLocal static var held = false
    private static let limit = max(1, Int(ProcessInfo.processInfo.environment["CKS_TMUX_SESSIONS"] ?? "") ?? 3)
    private static let state = Mutex<(free: Int, waiting: [CheckedContinuation<Void, Never>])>((limit, []))

    static func withSlot<T>(_ body: () async throws -> T) async throws -> T {
        if held { return try await body() }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.free > 0 { s.free -= 1; return true }
                s.waiting.append(c)
                return false
            }
            if now { c.resume() }
        }
        defer {
            let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
                if s.waiting.isEmpty { s.free += 1; return nil }
                return s.waiting.removeFirst()
            }
            next?.resume()
        }
        return try await $held.withValue(true) { try await body() }
    }
}

private func withSession<T>(_ start: () async throws -> TmuxSession, _ body: (TmuxSession) async throws -> T) async throws -> T {
    try await TmuxSlots.withSlot { try await runSession(try await start(), body) }
}

private func runSession<T>(_ session: TmuxSession, _ body: (TmuxSession) async throws -> T) async throws -> T {
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
