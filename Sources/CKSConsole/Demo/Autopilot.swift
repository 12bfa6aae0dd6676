import Foundation

/// The caption line of a demo: what is happening and why.
public struct DemoCaption: Sendable, Equatable {
    public var text: String
    /// The theme's accent; a warning when the autopilot stopped on a problem.
    public var role: Role = .headerAccent
    public var paused = false
    /// The autopilot's keys, shown at the right when they fit.
    public var hint = ""
}

/// How fast the autopilot goes: the reading time of a caption and the beat between keys, both scaled by `pace`
/// (1 reads comfortably in front of an audience; 0 goes as fast as the screen allows, for tests).
public struct AutopilotPace: Sendable {
    public var pace: Double
    public init(_ pace: Double = 1) { self.pace = max(0, pace) }
    /// Seconds a caption stays before the next step: enough to read it aloud.
    func reading(_ text: String) -> Double {
        let words = Double(text.split(separator: " ").count)
        return pace * max(2.0, 0.32 * words)
    }
    var beat: Double { pace * 0.45 }
    var afterWait: Double { pace * 0.6 }
}

/// Plays a scenario on the console: keys through the console's own event handling, waits on what the screen
/// shows (the last frame drawn), captions on the caption line. Space pauses and resumes, → steps while paused,
/// q quits; any other key hands the console to the presenter (the autopilot stops; the key does what it does).
@MainActor
public final class Autopilot {
    public enum Outcome: Equatable, Sendable {
        case running
        case finished
        case handedOver
        /// A wait ran out, or a key had nothing to act on: the line and what was expected.
        case stopped(String)
    }

    public let scenario: Scenario
    let pace: AutopilotPace
    let exitAtEnd: Bool
    weak var app: ConsoleApp?
    /// The last frame drawn, as text (the terminal runner's mirror).
    let screen: () -> (text: String, frame: Int)
    public private(set) var outcome: Outcome = .running
    public private(set) var paused = false
    private var stepCredits = 0
    private var task: Task<Void, Never>?
    private var currentCaption = ""
    private var waitTimeout: Double = 60
    /// Set by the player after an action: a wait looks only at frames drawn after it.
    private var actionFrame = 0

    public init(scenario: Scenario, app: ConsoleApp, pace: AutopilotPace = AutopilotPace(), exitAtEnd: Bool = false,
                screen: @escaping () -> (text: String, frame: Int)) {
        self.scenario = scenario
        self.app = app
        self.pace = pace
        self.exitAtEnd = exitAtEnd
        self.screen = screen
    }

    public var hint: String { symbolsASCII ? "space pause, right step, q quit" : "space pause · → step · q quit" }
    private var symbolsASCII: Bool { app?.symbols.isASCII ?? true }

    /// Starts playing.
    public func start() {
        guard task == nil else { return }
        task = Task { @MainActor [weak self] in await self?.play() }
    }

    /// A key from the terminal: true when the autopilot took it (Space, →, q); any other key ends the autopilot and
    /// goes on to the console.
    public func intercept(_ key: Key) -> Bool {
        guard outcome == .running else { return false }
        switch key {
        case .resize: return false
        case .char(" "):
            paused.toggle()
            show()
            return true
        case .right:
            if !paused { paused = true }
            stepCredits += 1
            show()
            return true
        case .char("q"):
            stop()
            app?.running = false
            return true
        default:
            handOver()
            return false
        }
    }

    /// The presenter takes over: the autopilot stops, the console is live.
    func handOver() {
        stop()
        outcome = .handedOver
        app?.caption = nil
        app?.say("Autopilot off: the console is yours (every key is live).", .ok)
        app?.changed()
    }

    func stop() {
        task?.cancel()
        task = nil
    }

    // MARK: playing

    private func play() async {
        for step in scenario.steps {
            guard await gate(), !Task.isCancelled else { return }
            if let problem = await run(step.directive) {
                guard !Task.isCancelled else { return }
                finish(.stopped("line \(step.line): \(problem)"))
                return
            }
        }
        guard !Task.isCancelled else { return }
        finish(.finished)
    }

    private func finish(_ result: Outcome) {
        outcome = result
        switch result {
        case .stopped(let why):
            app?.caption = DemoCaption(text: "Autopilot stopped (\(scenario.name), \(why)). The console is yours.", role: .warning)
            if exitAtEnd { app?.exitStatus = 1 }
        default:
            app?.caption = DemoCaption(text: "End of the \(scenario.name) scenario. The console is yours; q quits.")
        }
        app?.changed()
        guard exitAtEnd else { return }
        // The last frame stays a moment (for a recording), then the console ends.
        Task { @MainActor [weak self] in
            guard let self else { return }
            await self.settle(seconds: max(1, self.pace.reading(self.app?.caption?.text ?? "") / 2))
            self.app?.running = false
        }
    }

    /// Waits while paused; a step (→) lets one directive through.
    private func gate() async -> Bool {
        while paused {
            if stepCredits > 0 { stepCredits -= 1; return true }
            if Task.isCancelled { return false }
            try? await Task.sleep(for: .milliseconds(40))
        }
        return !Task.isCancelled
    }

    /// Holds for the reading time, not counting time paused; a step ends it early.
    private func hold(_ seconds: Double) async {
        var left = seconds
        while left > 0, !Task.isCancelled {
            if paused && stepCredits > 0 { return }
            try? await Task.sleep(for: .milliseconds(40))
            if !paused { left -= 0.04 }
        }
    }

    /// A real-time wait that does not care about pause (the end hold).
    private func settle(seconds: Double) async {
        try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
    }

    private func show() {
        guard outcome == .running else { return }
        app?.caption = DemoCaption(text: currentCaption.isEmpty ? scenario.title : currentCaption, paused: paused,
                                   hint: paused ? (symbolsASCII ? "space resume, right step, q quit" : "space resume · → step · q quit") : hint)
        app?.changed()
    }

    private func press(_ key: Key) async {
        guard let app else { return }
        app.handle(key)
        actionFrame = screen().frame
        await hold(pace.beat)
    }

    /// Runs one directive; returns the problem when it cannot go on.
    private func run(_ directive: Scenario.Directive) async -> String? {
        switch directive {
        case .caption(let text):
            currentCaption = text
            show()
            await hold(pace.reading(text))
        case .keys(let keys):
            for k in keys { await press(k) }
        case .type(let text):
            for ch in text { await press(.char(ch)) }
        case .command(let text):
            await press(.char(":"))
            for ch in text { app?.handle(.char(ch)) }
            await press(.enter)
        case .wait(let texts):
            let ok = await until(seconds: waitTimeout) { screen in texts.contains { Scenario.shows($0, on: screen) } }
            if !ok { return "waited \(Int(waitTimeout)) s for “\(texts.joined(separator: "” or “"))”" }
            await hold(pace.afterWait)
        case .waitGone(let text):
            let ok = await until(seconds: waitTimeout) { !Scenario.shows(text, on: $0) }
            if !ok { return "waited \(Int(waitTimeout)) s for “\(text)” to go" }
        case .pressUntil(let key, let text):
            let deadline = Date().addingTimeInterval(waitTimeout)
            while Date() < deadline {
                if Task.isCancelled { return nil }
                // Pressed again only when the last press had no effect: a key waiting for an observation to end
                // still runs, and a key arriving on the dialog the first one opened would close it.
                if app?.teardown?.queued == nil, app?.dialog == nil { await press(key) }
                if await until(seconds: min(4, max(0.5, deadline.timeIntervalSinceNow)), { Scenario.shows(text, on: $0) }) {
                    await hold(pace.afterWait)
                    return nil
                }
            }
            return "pressed \(key.name) for \(Int(waitTimeout)) s and “\(text)” never showed"
        case .confirm:
            return await confirm()
        case .when(let text, let inner):
            guard await fresh(), Scenario.shows(text, on: screen().text) else { return nil }
            return await run(inner)
        case .timeout(let seconds):
            waitTimeout = seconds
        }
        return nil
    }

    /// Waits for a frame drawn after the last action.
    private func fresh() async -> Bool {
        await until(seconds: 10) { _ in true }
    }

    /// Polls the last frame (drawn after the last action) until `predicate` holds; false after `seconds`.
    private func until(seconds: Double, _ predicate: (String) -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !Task.isCancelled {
            let (text, frame) = screen()
            if frame > actionFrame && predicate(text) { return true }
            if Date() >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(40))
        }
        return false
    }

    /// Tab to the dialog's confirm button, Enter; Enter again while the same dialog asks again (an irreversible one
    /// arms first, a tall one shows the rest of its lines first).
    private func confirm() async -> String? {
        // The key that opens it may still wait for an observation to end.
        let deadline = Date().addingTimeInterval(waitTimeout)
        while app?.dialog == nil, Date() < deadline, !Task.isCancelled { try? await Task.sleep(for: .milliseconds(40)) }
        guard let app, let dialog = app.dialog else { return "confirm: no dialog opened within \(Int(waitTimeout)) s" }
        // Each press after a frame is drawn: a tall dialog knows what it hides only once drawn.
        await press(.tab)
        _ = await fresh()
        await press(.enter)
        for _ in 0..<4 where app.dialog === dialog {
            _ = await fresh()
            await hold(pace.beat)
            await press(.enter)
        }
        return app.dialog === dialog ? "confirm: the dialog “\(dialog.title)” stayed open" : nil
    }
}
