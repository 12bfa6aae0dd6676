import CKSClient
import CKSDomain
import CKSEmbedded
import CKSTeardown
import CKSWire
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The flags of `cks` (the console), as parsed by the executable.
public struct ConsoleFlags: Sendable {
    public var demo = false
    public var theme: String?
    public var ascii = false
    public var readOnly = false
    public var client = ClientFlags()
    /// `--autopilot [SCENARIO]`: play a scenario on the demo (Demo/Autopilot.swift).
    public var autopilot = false
    public var scenario: String?
    /// `--autopilot --list`: list the scenarios and exit.
    public var listScenarios = false
    /// `--exit-at-end`: quit with status 0 when the scenario ends (1 when it stops on a problem).
    public var exitAtEnd = false
    /// `--pace X`: the autopilot's reading times and key beats times X (0: as fast as the screen allows).
    public var pace: Double = 1
    /// `--record FILE.cast`: record the session as asciicast v2.
    public var record: String?
    /// `--record-anyway`: record a real endpoint's session (access key ids masked).
    public var recordAnyway = false
    public init() {}
}

/// A backend ready for the console, and how to stop what was started for it (an embedded core).
public struct PreparedBackend: Sendable {
    public var backend: any ConsoleBackend
    public var inbox: ActivityInbox
    /// The embedded core behind the backend, if one was started for it.
    public var core: EmbeddedCore?
    /// Stops the embedded core (and removes a demo's data). Idempotent.
    public var stop: @Sendable () async -> Void
    /// The contexts the console can move between; nil: this one only.
    public var contexts: ContextSwitching?
    /// What to stop when the operator moves to another context (nil: nothing before the session ends; a demo's core
    /// lives as long as the session).
    public var stopOnSwitch: (@Sendable () async -> Void)?
    public init(backend: any ConsoleBackend, inbox: ActivityInbox, core: EmbeddedCore? = nil,
                stop: @escaping @Sendable () async -> Void = {}) {
        self.backend = backend; self.inbox = inbox; self.core = core; self.stop = stop
    }
}

/// One run of `cks` without a subcommand: choose the backend, then draw (or print when not on a terminal).
public enum ConsoleSession {
    /// Runs the console; returns the exit status.
    @MainActor
    public static func run(_ flags: ConsoleFlags, environment: [String: String] = ProcessInfo.processInfo.environment) async -> Int32 {
        let presentation: ConsolePresentation
        switch ConsolePresentation.resolve(flags, environment: environment) {
        case .exit(let status): return status
        case .run(let p): presentation = p
        }
        let utf8 = TerminalRunner.prepareLocale()
        let settings = ConsoleSettings.resolve(themeFlag: flags.theme, asciiFlag: flags.ascii, readOnlyFlag: flags.readOnly,
                                               environment: environment, utf8Locale: utf8)
        // Starting (and, for the demo, seeding) takes a moment: Ctrl-C or SIGTERM meanwhile stops it cleanly, so a
        // demo's temporary data directory does not stay behind.
        let preparing = Task {
            try await BackendFactory.make(flags, environment: environment, progress: StartupProgress.make(ascii: settings.ascii))
        }
        let interrupts = Interrupts.install { preparing.cancel() }
        let prepared: PreparedBackend
        do {
            prepared = try await preparing.value
            // A signal that came while preparing, but too late to cancel it, still stops the console.
            let interrupted = Interrupts.received.load(ordering: .relaxed) != 0
            Interrupts.remove(interrupts)
            StartupProgress.clear()
            if interrupted {
                await prepared.stop()
                return ScriptedExit.interrupted.rawValue
            }
        } catch {
            Interrupts.remove(interrupts)
            StartupProgress.clear()
            if preparing.isCancelled { return ScriptedExit.interrupted.rawValue }
            // Missing credentials, an unknown profile, a malformed endpoint: a configuration error (6), said in one line.
            for line in ScriptedExit.message(for: error) { FileHandle.standardError.write(Data("cks: \(line)\n".utf8)) }
            return error is BackendError ? ScriptedExit.failure.rawValue : ScriptedExit.status(for: error).rawValue
        }
        let term = environment["TERM"] ?? ""
        if !TerminalRunner.stdoutIsTerminal || term == "dumb" || term.isEmpty {
            let status = await printStores(prepared.backend)
            await prepared.stop()
            return status
        }
        var options = ConsoleOptions()
        options.readOnly = settings.readOnly
        options.ascii = settings.ascii
        options.startupMessages = settings.problems
        let app = ConsoleApp(backend: prepared.backend, inbox: prepared.inbox, options: options, keymap: settings.keymap)
        app.contexts = prepared.contexts
        app.stopBackend = prepared.contexts == nil ? nil : prepared.stopOnSwitch
        // The guided teardown; a demo's journal lives in its throw-away data directory, removed with its core.
        let journal = flags.demo
            ? TeardownJournal(url: prepared.core?.dataDirectory.appendingPathComponent("teardowns.jsonl"))
            : TeardownJournal(url: TeardownJournal.defaultURL(environment: environment))
        TeardownFeature(journal: journal, demo: flags.demo, embeddedDataDirectory: flags.demo ? prepared.core?.dataDirectory : nil)
            .install(on: app)
        if let live = prepared.core?.demoProxy { app.demoProxyHandler = { verb in await DemoProxyCommand.run(verb, on: live) } }
        let log = ConsolePaths.stateDirectory(environment: environment).appendingPathComponent("console.log")
        var shown = presentation
        let info = prepared.backend.configuredEndpointInfo()
        if let info, info.mode == .remote { shown.secrets.append(info.principal) }
        let status = await TerminalRunner.run(app: app, settings: settings, environment: environment, logFile: log,
                                              presentation: shown)
        await app.stopBackend?()
        await prepared.stop()
        return status
    }

    /// The non-terminal output: the stores table, as `cks stores` prints it (same columns, same dates).
    static func printStores(_ backend: any ConsoleBackend) async -> Int32 {
        let context = await backend.endpointInfo().context
        do {
            let stores = try await backend.listStores()
            var census: [String: KeyCensus]?
            do { census = try await backend.keyCensus() } catch {
                FileHandle.standardError.write(Data("cks: warning: key counts not shown: \(EndpointProblem.classify(error, context: context).line)\n".utf8))
            }
            let table = stores.sorted { ($0.name, $0.id) < ($1.name, $1.id) }
                .map { store in ScriptedStoreRow(store, census: census.map { $0[store.id] ?? KeyCensus(total: 0, pendingDeletion: 0) }) }
            FileHandle.standardOutput.write(Data(ScriptedReports.render(table, as: .table).utf8))
            return 0
        } catch {
            for line in ScriptedExit.message(for: error, context: context) { FileHandle.standardError.write(Data("cks: \(line)\n".utf8)) }
            return ScriptedExit.status(for: error).rawValue
        }
    }
}

/// Chooses the backend: the demo, the embedded core (no endpoint configured anywhere) or a remote endpoint,
/// always through the project's KMS client over HTTP.
public enum BackendFactory {
    public static func make(_ flags: ConsoleFlags, environment: [String: String],
                            progress: (@Sendable (DemoSeeder.Progress) -> Void)? = nil) async throws -> PreparedBackend {
        if flags.demo {
            var prepared = try await demo(region: flags.client.region ?? "us-east-1", progress: progress ?? { _ in })
            if let core = prepared.core {
                prepared.contexts = DemoScopes.switching(core: core)
                prepared.stopOnSwitch = nil
            }
            return prepared
        }
        // The context: --context / CKS_CONTEXT, else what --endpoint / --profile say, else the one used last
        // (remembered in the state directory), else the AWS resolution (flags, environment, ~/.aws files; else the
        // embedded core).
        let resolver = ClientConfigurationResolver(environment: environment)
        let memory = ContextMemory(paths: CKSPaths(environment: environment))
        var clientFlags = flags.client
        if clientFlags.context == nil, clientFlags.endpoint == nil, clientFlags.profile == nil,
           (environment["CKS_CONTEXT"] ?? "").isEmpty, let last = memory.load() {
            let catalog = ClientContextCatalog(resolver: resolver, commandLine: clientFlags)
            if let context = catalog.context(named: last.context), context.problem == nil {
                clientFlags = context.flags(region: clientFlags.region ?? last.region)
            }
        }
        let inbox = ActivityInbox()
        var prepared = try await open(clientFlags, environment: environment, inbox: inbox)
        let catalog = ClientContextCatalog(resolver: resolver, commandLine: flags.client)
        let regions = (environment["CKS_REGIONS"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        prepared.contexts = ContextSwitching(
            catalog: catalog,
            open: { context, region, inbox in
                try await BackendFactory.open(context.flags(region: region), environment: environment, inbox: inbox)
            },
            session: { context in try await ClientConnection.open(context.flags, environment: environment) },
            remember: { memory.save(context: $0, region: $1) },
            standardRegions: regions.isEmpty ? ContextSwitching.awsRegions : regions,
            allStoresRegions: regions)
        prepared.stopOnSwitch = prepared.stop
        if let info = prepared.backend.configuredEndpointInfo(), let name = info.contextName {
            memory.save(context: name, region: info.region)
        }
        return prepared
    }

    /// The console over the client the AWS resolution of `flags` gives, every exchange reported to `inbox`.
    public static func open(_ flags: ClientFlags, environment: [String: String], inbox: ActivityInbox) async throws -> PreparedBackend {
        let connection = try await ClientConnection.open(
            flags, environment: environment,
            transport: ObservingTransport(wrapping: NIOTransport(), recorder: inbox.recorder))
        let region = connection.configuration.region
        let name = connection.configuration.sources["context"]
        let info: EndpointInfo
        if let core = connection.embedded {
            info = EndpointInfo(endpoint: core.endpoint.absoluteString, account: core.identity.account, region: region,
                                principal: core.identity.principal, mode: .embedded, context: connection.context,
                                contextName: name)
        } else {
            info = EndpointInfo(endpoint: connection.client.endpoint.absoluteString,
                                account: connection.configuration.account ?? "?", region: region,
                                principal: connection.client.credentials.accessKeyId, mode: .remote, context: connection.context,
                                contextName: name)
        }
        // The key index: per endpoint (an embedded core's port changes from run to run, its data directory does not).
        let indexedEndpoint = connection.embedded.map { $0.removesDataDirectory ? nil : "embedded:" + $0.dataDirectory.path }
            ?? info.endpoint
        var keyIndex: KeyIndexStore?
        if let directory = CKSPaths().cacheDirectory, let indexedEndpoint {
            keyIndex = KeyIndexStore(directory: directory.appendingPathComponent("key-index", isDirectory: true), endpoint: indexedEndpoint)
        }
        var prepared = PreparedBackend(backend: KMSClientBackend(client: connection.client, info: info, keyIndex: keyIndex), inbox: inbox,
                                       core: connection.embedded, stop: { await connection.close() })
        prepared.stopOnSwitch = prepared.stop
        return prepared
    }

    /// The console over the KMS client against `url`, every exchange reported to the Activity pane.
    public static func remote(url: URL, region: String, credentials: AWSCredentials, mode: EndpointInfo.Mode = .remote,
                              account: String = "?") -> PreparedBackend {
        let inbox = ActivityInbox()
        let client = KMSClient(endpoint: url, region: region, credentials: credentials,
                               transport: ObservingTransport(wrapping: NIOTransport(), recorder: inbox.recorder))
        let info = EndpointInfo(endpoint: url.absoluteString, account: account, region: region,
                                principal: credentials.accessKeyId, mode: mode)
        return PreparedBackend(backend: KMSClientBackend(client: client, info: info), inbox: inbox)
    }

    /// The console over the KMS client against an embedded core, signed as its admin principal; `stop` stops
    /// the core (and removes a temporary core's data).
    public static func embedded(_ core: EmbeddedCore, note: String? = nil, retryPolicy: RetryPolicy = RetryPolicy(),
                                inbox: ActivityInbox = ActivityInbox()) -> PreparedBackend {
        let client = core.client(transport: ObservingTransport(wrapping: NIOTransport(), recorder: inbox.recorder),
                                 retryPolicy: retryPolicy)
        let info = EndpointInfo(endpoint: core.endpoint.absoluteString, account: core.identity.account, region: core.region,
                                principal: core.identity.principal, mode: .embedded, note: note,
                                contextName: note == nil ? nil : DemoScopes.adminContext)
        return PreparedBackend(backend: KMSClientBackend(client: client, info: info), inbox: inbox, core: core,
                               stop: { await core.shutdown() })
    }

    /// `cks --demo`: a core on a fresh temporary data directory with accelerated time, seeded with the demo estate
    /// through the client and the admin API (its calls are the first group of the Activity pane).
    public static func demo(region: String = "us-east-1", estate: DemoEstate = .standard,
                            progress: @escaping @Sendable (DemoSeeder.Progress) -> Void = { _ in }) async throws -> PreparedBackend {
        let core: EmbeddedCore
        do {
            core = try await DemoCore.start(region: region)
        } catch {
            throw BackendError.other("the demo core could not start: \(error)")
        }
        let prepared = embedded(core, note: "demo, time x\(Int(DemoCore.timeScale))")
        do {
            // Seeded through the same client API, signed and verified the same way, but handed to the core's front
            // in process (no loopback sockets), which is much faster for the estate's hundreds of calls. Still
            // recorded in Activity.
            let seeding = core.client(transport: ObservingTransport(wrapping: InProcessTransport(core: core),
                                                                    recorder: prepared.inbox.recorder))
            defer { seeding.shutdown() }
            let seeder = DemoSeeder(estate: estate, client: seeding, connectDuration: DemoCore.connectDuration,
                                    disconnectDuration: DemoCore.disconnectDuration)
            let tag = ActionTag(id: -1, label: "seed the demo estate (cks --demo)")
            _ = try await ActionTag.$current.withValue(tag) {
                // The store on the demo's real proxy first: its connect moves the clock, which the estate's
                // history (starting `DemoSeeder.history` ago) then simply continues.
                if let live = core.demoProxy {
                    do throws(KMSClientError) {
                        _ = try await live.seed(client: seeding, connectDuration: DemoCore.connectDuration)
                    } catch {
                        throw DemoSeedError(step: "creating \(DemoLiveProxy.storeName) on the demo's XKS proxy",
                                            item: DemoLiveProxy.endpoint, error: error)
                    }
                }
                let summary = try await seeder.seed(endingAt: Date(), progress: progress)
                let recorder = prepared.inbox.recorder
                try await DemoScopes.seed(core: core, wrap: { ObservingTransport(wrapping: $0, recorder: recorder) })
                return summary
            }
        } catch {
            await prepared.stop()
            throw error
        }
        return prepared
    }
}

/// "seeding the demo estate… 412/851" on stderr while a demo starts (only when stderr is a terminal).
enum StartupProgress {
    static let shown = Mutex(false)

    /// - Parameter ascii: `--ascii` or a non-UTF-8 locale: plain dots.
    static func make(ascii: Bool) -> (@Sendable (DemoSeeder.Progress) -> Void)? {
        guard isatty(2) == 1 else { return nil }
        let last = Mutex(Date.distantPast)
        return { p in
            let now = Date()
            let due = last.withLock { l in
                guard now.timeIntervalSince(l) > 0.1 || p.done == p.total else { return false }
                l = now
                return true
            }
            guard due else { return }
            shown.withLock { $0 = true }
            let dots = ascii ? "..." : "…"
            FileHandle.standardError.write(Data("\rcks --demo: seeding the demo estate through the client\(dots) \(p.done)/\(p.total) (\(p.step))\u{1B}[K".utf8))
        }
    }

    static func clear() {
        if shown.withLock({ $0 }) { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}

/// SIGINT/SIGTERM while the console is being prepared (a demo seeding): noted by a plain signal handler and acted on
/// by a watcher, so no dispatch signal source is left to race with the terminal runner's own.
enum Interrupts {
    static let received = Atomic<Int32>(0)

    /// Notes SIGINT and SIGTERM until `remove()`; `handler` runs (once) when one arrives.
    static func install(_ handler: @escaping @Sendable () -> Void) -> Task<Void, Never> {
        received.store(0, ordering: .relaxed)
        for sig in [SIGINT, SIGTERM] {
            signal(sig) { _ in Interrupts.received.store(1, ordering: .relaxed) }
        }
        return Task.detached {
            while !Task.isCancelled {
                if received.load(ordering: .relaxed) != 0 {
                    handler()
                    return
                }
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    /// Back to the default dispositions (the terminal runner installs its own handling).
    static func remove(_ watcher: Task<Void, Never>) {
        watcher.cancel()
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}

extension ScriptedStoreRow {
    /// A store as the console lists it, with its counts when known.
    public init(_ store: StoreRecord, census: KeyCensus?) {
        self.init(name: store.name, id: store.id, type: store.type.rawValue, connectionState: store.connectionState.rawValue,
                  connectionErrorCode: store.connectionErrorCode?.rawValue, keyCount: census?.total,
                  pendingDeletionCount: census?.pendingDeletion, creationDate: store.creationDate)
    }
}

/// `:proxy stop|start|status` of `cks --demo`: the outage of the `live-xks` store's real proxy, and its repair.
public enum DemoProxyCommand {
    public static func run(_ verb: String, on proxy: DemoLiveProxy) async -> (String, Bool) {
        let name = "the XKS proxy of \(DemoLiveProxy.storeName) (127.0.0.1:\(proxy.port))"
        switch verb {
        case "stop":
            guard await proxy.stop() else { return ("\(name) is already stopped; :proxy start starts it", false) }
            return ("Stopped \(name): Connect now fails (XKS_PROXY_NOT_REACHABLE), crypto with KMSInvalidStateException", true)
        case "start":
            do {
                guard try await proxy.start() else { return ("\(name) is already running", false) }
                return ("Started \(name) again; a FAILED \(DemoLiveProxy.storeName) needs a Connect", true)
            } catch {
                return ("\(name) could not start: \(error)", false)
            }
        case "status", "":
            return ("\(name) is \(proxy.isRunning ? "running" : "stopped"); :proxy stop / :proxy start", true)
        default:
            return (":proxy takes stop, start or status, got '\(verb)'", false)
        }
    }
}

extension DemoScopes {
    /// The demo's contexts: `demo` (the admin's account) and `demo-ops` (the second account), on the demo core, each
    /// in the demo's region with `eu-west-1` known to the region picker and the all-stores view. Switching never
    /// stops the demo core (it lives as long as the session).
    static func switching(core: EmbeddedCore) -> ContextSwitching {
        let contexts: [ClientContext] = [(adminContext, "admin"), (opsContext, opsPrincipal)].compactMap { name, principalName in
            guard let p = principal(principalName, of: core) else { return nil }
            let credentials = AWSCredentials(accessKeyId: p.accessKeyId, secretAccessKey: p.secretAccessKey)
            let configuration = ClientConfiguration(endpoint: .remote(core.endpoint), region: core.region, profile: name,
                                                    credentials: credentials, sources: ["context": name], account: p.account)
            return ClientContext(name: name, kind: .embedded, configuration: configuration, problem: nil,
                                 flags: ClientFlags(region: core.region, context: name))
        }
        let note = "demo, time x\(Int(DemoCore.timeScale))"
        return ContextSwitching(
            catalog: ClientContextCatalog(contexts: contexts),
            open: { context, region, inbox in
                guard let configuration = context.configuration, let credentials = configuration.credentials else {
                    throw BackendError.other("context \(context.name) has no credentials")
                }
                let client = KMSClient(endpoint: core.endpoint, region: region, credentials: credentials,
                                       transport: ObservingTransport(wrapping: NIOTransport(), recorder: inbox.recorder))
                let info = EndpointInfo(endpoint: core.endpoint.absoluteString, account: configuration.account ?? "?",
                                        region: region, principal: context.name == adminContext ? "admin" : opsPrincipal,
                                        mode: .embedded, note: note, contextName: context.name)
                return PreparedBackend(backend: KMSClientBackend(client: client, info: info), inbox: inbox, core: core,
                                       stop: { client.shutdown() })
            },
            session: { context in
                guard let configuration = context.configuration, let credentials = configuration.credentials else {
                    throw BackendError.other("context \(context.name) has no credentials")
                }
                return FixedClientSession(client: KMSClient(endpoint: core.endpoint, region: configuration.region,
                                                     credentials: credentials),
                                   configuration: configuration)
            },
            standardRegions: [core.region, secondRegion],
            allStoresRegions: [core.region, secondRegion])
    }
}

/// A session over a client made elsewhere (the demo core as one of its principals): closing it closes the client
/// only, never the core behind it.
public final class FixedClientSession: ClientSession {
    public let client: KMSClient
    public let configuration: ClientConfiguration
    public init(client: KMSClient, configuration: ClientConfiguration) { self.client = client; self.configuration = configuration }
    public var embeddedIdentity: EmbeddedIdentity? { nil }
    public func close() async { client.shutdown() }
}
