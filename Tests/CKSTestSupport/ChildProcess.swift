import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawnp`, in its own process group, with stdin/stdout/stderr
/// redirected to files and every other descriptor closed.
///
/// Why not Foundation's `Process`: on Linux it learns of a child's exit through a socket the child
/// inherits; a program that leaves a daemon behind (tmux starts its server that way) keeps that
/// socket open, so the exit is never seen and the test hangs. Closing every inherited descriptor
/// (closefrom) and reaping with `waitpid` on a dedicated thread has no such failure mode.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    public let arguments: [String]
    private let lock = NSLock()
    private var rawStatus: Int32?
    private var waiters: [CheckedContinuation<Int32, Never>] = []
    private let exited = DispatchSemaphore(value: 0)

    /// Starts `arguments[0]` (looked up on PATH) with exactly `environment`.
    public init(_ arguments: [String], environment: [String: String], stdinPath: String = "/dev/null",
         stdoutPath: String, stderrPath: String, currentDirectory: String? = nil) throws {
        precondition(!arguments.isEmpty)
        self.arguments = arguments
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdinPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        if let closeFrom = ChildProcess.addCloseFrom { _ = closeFrom(&actions, 3) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Own process group, default signal handling (the test runner may ignore some signals).
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2] { sigaddset(&defaults, signal) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var child: pid_t = 0
        let rc: Int32
        if let currentDirectory {
            // posix_spawn has no portable chdir action: go through /bin/sh with the directory as $1.
            let shArgs = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", currentDirectory] + arguments
            let shArgv = shArgs.map { strdup($0) } + [nil]
            defer { shArgv.forEach { free($0) } }
            rc = posix_spawn(&child, "/bin/sh", &actions, &attributes, shArgv, envp)
        } else {
            rc = posix_spawnp(&child, arguments[0], &actions, &attributes, argv, envp)
        }
        guard rc == 0 else {
            throw HarnessError("cannot start \(arguments.joined(separator: " ")): \(String(cString: strerror(rc)))")
        }
        pid = child
        let started = child
        let thread = Thread { [self] in
            var status: Int32 = 0
            while waitpid(started, &status, 0) == -1 && errno == EINTR {}
            let pending = lock.withLock { () -> [CheckedContinuation<Int32, Never>] in
                rawStatus = status
                defer { waiters = [] }
                return waiters
            }
            exited.signal()
            pending.forEach { $0.resume(returning: status) }
        }
        thread.start()
    }

    public var isRunning: Bool { lock.withLock { rawStatus == nil } }

    /// Exit code, or 128 + signal number when killed by a signal (as a shell reports it); nil while running.
    public var exitCode: Int32? { lock.withLock { rawStatus }.map(ChildProcess.decode) }

    /// The signal that ended the child, if one did.
    public var terminatingSignal: Int32? {
        guard let status = lock.withLock({ rawStatus }) else { return nil }
        let signal = status & 0x7f
        return signal != 0 && signal != 0x7f ? signal : nil
    }

    /// Waits for the exit and returns `exitCode`.
    public func wait() async -> Int32 {
        let status = await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
            let done = lock.withLock { () -> Int32? in
                if let rawStatus { return rawStatus }
                waiters.append(continuation)
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
        return ChildProcess.decode(status)
    }

    /// Blocking wait, for the few synchronous probes run while the test plan is built.
    public func waitSynchronously() -> Int32 {
        exited.wait()
        exited.signal()
        return exitCode ?? -1
    }

    /// Waits up to `timeout`; true when the child has exited.
    public func wait(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return !isRunning
    }

    /// Sends `signal` to the child (not its group: `cks serve` must see exactly one SIGKILL/SIGTERM).
    public func send(_ signal: Int32) {
        if isRunning { _ = kill(pid, signal) }
    }

    /// Sends `signal` to the child's whole process group (for children that start their own children).
    public func sendToGroup(_ signal: Int32) {
        _ = kill(-pid, signal)
    }

    private static func decode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        if signal == 0 { return (status >> 8) & 0xff }
        return 128 + signal
    }

    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    /// glibc ≥ 2.34 has `posix_spawn_file_actions_addclosefrom_np`, but Swift's Glibc module does not
    /// import it (it is behind _GNU_SOURCE): look it up at run time.
    private static let addCloseFrom: AddCloseFrom? = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()
}
