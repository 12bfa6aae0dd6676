import CKSClient
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What `cks stores` and `cks keys` were asked, after argument parsing.
public struct ScriptedOptions: Sendable {
    public var flags: ClientFlags
    /// nil → table on a terminal, JSON otherwise.
    public var output: ScriptedOutputFormat?
    public var concurrency: Int

    public init(flags: ClientFlags = ClientFlags(), output: ScriptedOutputFormat? = nil, concurrency: Int = 8) {
        self.flags = flags
        self.output = output
        self.concurrency = concurrency
    }
}

/// The scripted verbs end to end: connect (embedded core if nothing is configured), gather, print, and map
/// failures to `ScriptedExit` statuses with the AWS error type and message on stderr.
public enum ScriptedVerbs {
    /// Where output goes; injectable so tests can capture it.
    public struct Streams: Sendable {
        public var out: @Sendable (String) -> Void
        public var err: @Sendable (String) -> Void
        public var stdoutIsTerminal: Bool

        public init(out: @escaping @Sendable (String) -> Void, err: @escaping @Sendable (String) -> Void, stdoutIsTerminal: Bool) {
            self.out = out
            self.err = err
            self.stdoutIsTerminal = stdoutIsTerminal
        }

        /// The process's stdout and stderr (written unbuffered, so nothing is lost at exit).
        public static var standard: Streams {
            Streams(out: { FileHandle.standardOutput.write(Data($0.utf8)) },
                    err: { FileHandle.standardError.write(Data($0.utf8)) },
                    stdoutIsTerminal: isatty(STDOUT_FILENO) == 1)
        }
    }

    /// How to get a client: `cks` resolves the AWS way and may start the embedded core (`ClientConnection.open`).
    public typealias Connect = @Sendable (ClientFlags) async throws -> any ClientSession

    /// `cks stores`; returns the exit status.
    public static func stores(_ options: ScriptedOptions, streams: Streams = .standard,
                              connect: Connect) async -> Int32 {
        await run(options, streams: streams, connect: connect) { client, format in
            let listing = try await ScriptedReports.stores(using: client, concurrency: options.concurrency)
            if let why = listing.keyCountsUnavailable { streams.err("cks: warning: key counts not shown: \(why)\n") }
            return ScriptedReports.render(listing.rows, as: format)
        }
    }

    /// `cks stores --all-contexts [--regions r1,r2]`: every context (see `ClientContextCatalog`) in each region
    /// (its own when none are given), fetched concurrently; one row per store with Context, Account and Region,
    /// one error row per context/region that failed. Returns 0 when every context answered, else the status of the
    /// first failure; every row is printed either way.
    public static func storesAllContexts(_ options: ScriptedOptions, regions: [String], contexts: [ClientContext],
                                         streams: Streams = .standard,
                                         open: @escaping AllContextStores.Open) async -> Int32 {
        let format = ScriptedOutputFormat.resolve(options.output, stdoutIsTerminal: streams.stdoutIsTerminal)
        let results = await AllContextStores.fetch(AllContextStores.targets(contexts, regions: regions),
                                                   concurrency: options.concurrency, open: open)
        for r in results {
            if let f = r.failure { streams.err("cks: \(r.context) \(r.region): \(f.code): \(f.message)\n") }
            else if let why = r.listing?.keyCountsUnavailable {
                streams.err("cks: warning: \(r.context) \(r.region): key counts not shown: \(why)\n")
            }
        }
        streams.out(AllContextStores.render(AllContextStores.rows(results), as: format))
        return AllContextStores.exit(results).rawValue
    }

    /// `cks keys STORE`; returns the exit status.
    public static func keys(store: String, _ options: ScriptedOptions, streams: Streams = .standard,
                            connect: Connect) async -> Int32 {
        await run(options, streams: streams, connect: connect) { client, format in
            let resolution = try await ScriptedReports.resolveStore(store, using: client)
            if let warning = resolution.warning { streams.err("cks: warning: \(warning)\n") }
            let rows = try await ScriptedReports.keys(inStore: resolution.id, using: client, concurrency: options.concurrency)
            return ScriptedReports.render(rows, as: format)
        }
    }

    private static func run(_ options: ScriptedOptions, streams: Streams, connect: Connect,
                            _ body: (KMSClient, ScriptedOutputFormat) async throws -> String) async -> Int32 {
        let format = ScriptedOutputFormat.resolve(options.output, stdoutIsTerminal: streams.stdoutIsTerminal)
        let connection: any ClientSession
        do {
            connection = try await connect(options.flags)
        } catch {
            return fail(error, streams, context: nil)
        }
        if let note = connection.embeddedNote { streams.err("cks: \(note)\n") }
        do {
            let text = try await body(connection.client, format)
            await connection.close()
            streams.out(text)
            return ScriptedExit.success.rawValue
        } catch {
            await connection.close()
            return fail(error, streams, context: connection.context)
        }
    }

    static func fail(_ error: any Error, _ streams: Streams, context: EndpointContext?) -> Int32 {
        for line in ScriptedExit.message(for: error, context: context) { streams.err("cks: \(line)\n") }
        return ScriptedExit.status(for: error).rawValue
    }
}

extension ClientSession {
    /// Where this session's calls go and as whom, for messages.
    public var context: EndpointContext {
        let embedded = embeddedIdentity != nil
        return EndpointContext(endpoint: client.endpoint.absoluteString, region: configuration.region,
                               credentialSource: configuration.sources["credentials"],
                               accessKeyId: embedded ? nil : client.credentials.accessKeyId, embedded: embedded)
    }

    /// Said on stderr by the verbs when nothing named an endpoint and they talk to a core started in the process.
    public var embeddedNote: String? {
        guard let embedded = embeddedIdentity else { return nil }
        return "no endpoint configured (--endpoint, AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL or a profile's endpoint_url): "
            + "using an embedded core over \(embedded.dataDirectory.path)"
    }
}
