import CNcursesw
import Dispatch
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runs the console on the real terminal: stderr to a log file while the UI is up, curses started and
/// always restored (q, Ctrl-C, SIGTERM, SIGINT, a crash), the event loop on the main actor.
@MainActor
public enum TerminalRunner {
    /// Whether stdout is a terminal (when not, `cks` prints the stores table instead of drawing).
    public static var stdoutIsTerminal: Bool { isatty(1) == 1 }

    /// Sets the locale from the environment and tells whether it is UTF-8 (call before anything draws).
    public static func prepareLocale() -> Bool {
        _ = cks_setlocale_from_env()
        return cks_locale_is_utf8() != 0
    }

    /// Runs until the user quits. Returns the process exit status: 0 after q, 130 after Ctrl-C, 128+N after signal N.
    public static func run(app: ConsoleApp, settings: ConsoleSettings, environment: [String: String], logFile: URL,
                           presentation: ConsolePresentation = ConsolePresentation()) async -> Int32 {
        let savedStderr = redirectStderr(to: logFile)
        installCrashHandlers()
        let surface = NcursesSurface(theme: settings.theme, environment: environment)
        surface.asciiOnly = app.symbols.isASCII
        // The autopilot reads the screen, and a recording writes it, from a copy of every frame.
        var drawing: any Surface = surface
        var mirror: MirrorSurface?
        var pilot: Autopilot?
        if presentation.scenario != nil || presentation.recordURL != nil {
            let m = MirrorSurface(inner: surface, asciiOnly: surface.asciiOnly)
            m.styleSequence = { [unowned surface] style in
                AsciicastRecorder.sgr(surface.theme.resolve(style.role, depth: surface.depth, extra: style.extra))
            }
            if let url = presentation.recordURL {
                m.recorder = try? AsciicastRecorder(url: url, width: surface.size.width, height: surface.size.height,
                                                    title: presentation.recordingTitle, environment: environment,
                                                    secrets: presentation.secrets)
            }
            if let scenario = presentation.scenario {
                pilot = Autopilot(scenario: scenario, app: app, pace: AutopilotPace(presentation.pace),
                                  exitAtEnd: presentation.exitAtEnd, screen: { [unowned m, unowned app] in
                    (m.lastLines.enumerated().filter { !app.captionRows.contains($0.offset) }.map(\.element)
                        .joined(separator: "\n"), m.frame)
                })
            }
            mirror = m
            drawing = m
        }
        TerminalState.active = true
        let catalog = ThemeCatalog(environment: environment)
        app.themeHandler = { [weak surface] name in
            do {
                surface?.setTheme(try catalog.load(name))
                return nil
            } catch let error as ThemeError {
                return "theme \(error.description)"
            } catch {
                return "theme \(name): \(error)"
            }
        }
        app.clipboardHandler = { text in
            let sequence = OSC52.sequence(for: text, inTmux: environment["TMUX"] != nil)
            return sequence.withCString { write(1, $0, strlen($0)) } > 0
        }
        var dirty = true
        app.onChange = { dirty = true }
        installTerminationSignals()
        app.start()
        pilot?.start()
        let clock = ContinuousClock()
        var lastTick = clock.now - .seconds(10)
        while app.running {
            // SIGTERM/SIGINT/SIGHUP, or the terminal went away without a SIGHUP reaching us (a closed window's
            // pty answers EIO): quit as `q` does rather than poll the endpoint forever for nobody.
            let signal = TerminationRequest.received.load(ordering: .relaxed)
            if signal != 0 { app.exitStatus = 128 + signal; break }
            var handled = false
            while let key = surface.readKey() {
                if pilot?.intercept(key) == true { handled = true; if !app.running { break }; continue }
                app.handle(key)
                handled = true
                if !app.running { break }
            }
            if !app.running { break }
            if clock.now - lastTick >= .milliseconds(250) {
                if isatty(0) != 1 { break }
                app.tick()
                lastTick = clock.now
                dirty = true
            }
            if dirty || handled {
                app.render(on: drawing)
                dirty = false
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        app.running = false
        pilot?.stop()
        mirror?.recorder?.close()
        restoreTerminal()
        restoreStderr(savedStderr)
        return app.exitStatus
    }

    // MARK: stderr

    /// Points fd 2 at `file` so nothing written to stderr (logs, runtime warnings) lands on the screen.
    static func redirectStderr(to file: URL) -> Int32 {
        try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        let saved = dup(2)
        let fd = open(file.path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        if fd >= 0 {
            dup2(fd, 2)
            close(fd)
        }
        return saved
    }

    static func restoreStderr(_ saved: Int32) {
        guard saved >= 0 else { return }
        dup2(saved, 2)
        close(saved)
    }

    // MARK: signals

    /// SIGTERM, SIGINT and SIGHUP end the loop cleanly (the terminal is restored by the normal exit path).
    /// A plain handler that sets a flag the loop reads: a dispatch signal source on Linux (signalfd) only hears a
    /// signal that every thread blocks, and with SIG_IGN set for it the others discarded it, so a console started
    /// from an ordinary shell ignored SIGTERM and outlived its closed terminal.
    nonisolated static func installTerminationSignals() {
        TerminationRequest.received.store(0, ordering: .relaxed)
        for sig in [SIGTERM, SIGINT, SIGHUP] {
            signal(sig) { received in TerminationRequest.received.store(received, ordering: .relaxed) }
        }
    }

    /// On a crash, put the terminal back before the process dies, so the shell is usable. Nonisolated: the handlers
    /// run on whatever thread crashes or exits (a non-zero exit status leaves through `exit()` on a concurrency
    /// thread), and a main-actor closure there traps on its isolation check.
    nonisolated static func installCrashHandlers() {
        for sig in [SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGABRT, SIGFPE] {
            signal(sig) { s in
                if TerminalState.activeUnsafe { endwin() }
                signal(s, SIG_DFL)
                raise(s)
            }
        }
        atexit { if TerminalState.activeUnsafe { endwin() } }
    }

    static func restoreTerminal() {
        guard TerminalState.active else { return }
        TerminalState.active = false
        curs_set(1)
        endwin()
    }
}

/// The termination signal that arrived, 0 before one does (set from the signal handler, read by the loop).
enum TerminationRequest {
    static let received = Atomic<Int32>(0)
}

/// Whether curses is up; read from signal handlers, hence a plain C-layout flag.
enum TerminalState {
    nonisolated(unsafe) static var activeUnsafe = false
    @MainActor static var active: Bool {
        get { activeUnsafe }
        set { activeUnsafe = newValue }
    }
}
