import CKSClient
import CKSWire
import Foundation

/// The flags of `cks` (the console), as parsed by the executable.
public struct ConsoleFlags: Sendable {
    public var demo = false
    public var theme: String?
    public var ascii = false
    public var readOnly = false
    public var endpoint: String?
    public var profile: String?
    public var region: String?
    public init() {}
}

/// A backend ready for the console, and how to stop what was started for it (an embedded core).
public struct PreparedBackend: Sendable {
    public var backend: any ConsoleBackend
    public var inbox: ActivityInbox
    public var stop: @Sendable () async -> Void
    public init(backend: any ConsoleBackend, inbox: ActivityInbox, stop: @escaping @Sendable () async -> Void = {}) {
        self.backend = backend; self.inbox = inbox; self.stop = stop
    }
}

/// One run of `cks` without a subcommand: choose the backend, then draw (or print when not on a terminal).
public enum ConsoleSession {
    /// Runs the console; returns the exit status.
    @MainActor
    public static func run(_ flags: ConsoleFlags, environment: [String: String] = ProcessInfo.processInfo.environment) async -> Int32 {
        let utf8 = TerminalRunner.prepareLocale()
        let settings = ConsoleSettings.resolve(themeFlag: flags.theme, asciiFlag: flags.ascii, readOnlyFlag: flags.readOnly,
                                               environment: environment, utf8Locale: utf8)
        let prepared: PreparedBackend
        do {
            prepared = try await BackendFactory.make(flags, environment: environment)
        } catch {
            FileHandle.standardError.write(Data("cks: \(BackendError.describe(error).1)\n".utf8))
            return 1
        }
        defer { Task { await prepared.stop() } }
        let term = environment["TERM"] ?? ""
        if !TerminalRunner.stdoutIsTerminal || term == "dumb" || term.isEmpty {
            return await printStores(prepared.backend)
        }
        var options = ConsoleOptions()
        options.readOnly = settings.readOnly
        options.ascii = settings.ascii
        options.startupMessages = settings.problems
        let app = ConsoleApp(backend: prepared.backend, inbox: prepared.inbox, options: options, keymap: settings.keymap)
        // The guided teardown; a demo's journal lives in memory, like its core.
        let journal = flags.demo ? TeardownJournal.memory() : TeardownJournal(url: TeardownJournal.defaultURL(environment: environment))
        TeardownFeature(journal: journal, demo: flags.demo).install(on: app)
        let log = ConsolePaths.stateDirectory(environment: environment).appendingPathComponent("console.log")
        let status = await TerminalRunner.run(app: app, settings: settings, environment: environment, logFile: log)
        await prepared.stop()
        return status
    }

    /// The non-terminal output: the stores table, as `cks stores` prints it.
    static func printStores(_ backend: any ConsoleBackend) async -> Int32 {
        do {
            let stores = try await backend.listStores()
            let census = (try? await backend.keyCensus()) ?? [:]
            FileHandle.standardOutput.write(Data(StoresTablePrinter.render(stores, census: census).utf8))
            return 0
        } catch {
            let (code, message, _) = BackendError.describe(error)
            FileHandle.standardError.write(Data("cks: \(code): \(message)\n".utf8))
            return 1
        }
    }
}

/// Chooses the backend: the demo estate, or the core through the client (embedded when no endpoint is configured).
public enum BackendFactory {
    public static func make(_ flags: ConsoleFlags, environment: [String: String]) async throws -> PreparedBackend {
        if flags.demo { return await makeInMemoryDemo() }
        let config = try ClientConfigurationResolver(environment: environment)
            .resolve(ClientFlags(endpoint: flags.endpoint, profile: flags.profile, region: flags.region))
        switch config.endpoint {
        case .remote(let url):
            guard let credentials = config.credentials else {
                throw BackendError.other("no credentials for \(url.absoluteString) (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or use --profile)")
            }
            return remote(url: url, region: config.region, credentials: credentials)
        case .embedded:
            // The embedded core (an in-process `cks serve`) comes with the client's launcher.
            throw BackendError.other("no endpoint configured and this build cannot start the core in-process yet; use --endpoint URL (a running `cks serve`) or `cks --demo`")
        }
    }

    /// The console over the KMS client against `url`, every exchange reported to the Activity pane.
    public static func remote(url: URL, region: String, credentials: AWSCredentials, mode: EndpointInfo.Mode = .remote,
                              account: String = "?") -> PreparedBackend {
        let inbox = ActivityInbox()
        let transport = ObservingTransport(wrapping: URLSessionTransport(), recorder: inbox.recorder)
        let client = KMSClient(endpoint: url, region: region, credentials: credentials, transport: transport)
        let info = EndpointInfo(endpoint: url.absoluteString, account: account, region: region,
                                principal: credentials.accessKeyId, mode: mode)
        return PreparedBackend(backend: KMSClientBackend(client: client, info: info), inbox: inbox)
    }

    /// The demo estate on the in-memory core, with time running 60 times faster.
    public static func makeInMemoryDemo() async -> PreparedBackend {
        let inbox = ActivityInbox()
        let time = SimulatedTime.scaled(60)
        let backend = InMemoryBackend(time: time, recorder: inbox.recorder,
                                      info: EndpointInfo(endpoint: "demo (in-memory, time x60)", account: "111122223333",
                                                         region: "us-east-1", principal: "admin", mode: .embedded))
        // CONNECTING lasts 30 simulated minutes (30 s at x60), as a CloudHSM connect may.
        await backend.setDurations(connect: 1_800, disconnect: 60)
        await DemoEstate.standard.seed(into: backend, now: time.now(), seed: UInt64(Date().timeIntervalSince1970))
        return PreparedBackend(backend: backend, inbox: inbox)
    }
}
