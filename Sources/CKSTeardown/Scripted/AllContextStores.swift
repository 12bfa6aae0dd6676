import CKSClient
import Foundation

/// One place the all-stores view looks: a context in a region.
public struct ContextRegion: Sendable, Hashable {
    public var context: ClientContext
    public var region: String
    public init(context: ClientContext, region: String) { self.context = context; self.region = region }
}

/// Why a context/region gave no stores: the AWS error type (or the configuration problem) and its message, and the
/// exit status it maps to.
public struct ContextFailure: Sendable, Hashable, Encodable {
    public var code: String
    public var message: String
    public var exit: ScriptedExit

    public init(code: String, message: String, exit: ScriptedExit) { self.code = code; self.message = message; self.exit = exit }

    enum CodingKeys: String, CodingKey { case code = "Code", message = "Message", exit = "ExitStatus" }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(code, forKey: .code)
        try c.encode(message, forKey: .message)
        try c.encode(exit.rawValue, forKey: .exit)
    }
}

/// What one context/region answered: its stores, or why there are none.
public struct ContextStores: Sendable {
    public var context: String
    public var region: String
    /// The account the credentials belong to (a cks core says it; else the profile's `aws_account_id`); nil: unknown.
    public var account: String?
    public var listing: ScriptedStoreListing?
    public var failure: ContextFailure?
    /// How long the context took to answer, for the bench and the Activity pane.
    public var elapsed: TimeInterval
}

/// A row of `cks stores --all-contexts`: a store with its context, account and region, or a context's error.
public struct ContextStoreRow: Sendable, Hashable, Encodable {
    public var context: String
    public var account: String?
    public var region: String
    public var store: ScriptedStoreRow?
    public var failure: ContextFailure?

    enum CodingKeys: String, CodingKey { case context = "Context", account = "Account", region = "Region", error = "Error" }

    /// The store's fields (as `cks stores` writes them) beside Context, Account, Region and Error (null on a store row).
    public func encode(to encoder: any Encoder) throws {
        if let store { try store.encode(to: encoder) }
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(context, forKey: .context)
        try c.encode(account, forKey: .account)
        try c.encode(region, forKey: .region)
        try c.encode(failure, forKey: .error)
    }
}

/// `:stores all` and `cks stores --all-contexts`: every context in every region asked, fetched concurrently (a
/// bounded number at a time); a context that fails gives an error row and the others still load.
public enum AllContextStores {
    /// Opens a context (its own region); the caller closes the session.
    public typealias Open = @Sendable (ClientContext) async throws -> any ClientSession

    /// Every usable-or-not context (a context with a problem still gets its row) in each of `regions`, or in its own
    /// region when `regions` is empty.
    public static func targets(_ contexts: [ClientContext], regions: [String]) -> [ContextRegion] {
        contexts.flatMap { context in
            (regions.isEmpty ? [context.region] : regions).map { ContextRegion(context: context, region: $0) }
        }
    }

    /// Fetches every target, `width` contexts at a time (each context's regions one after the other over one
    /// session, so an embedded core is started once); `onResult` hears each context/region as it completes.
    public static func fetch(_ targets: [ContextRegion], width: Int = 8, concurrency: Int = 8, open: @escaping Open,
                             onResult: @escaping @Sendable (ContextStores) -> Void = { _ in }) async -> [ContextStores] {
        var groups: [(ClientContext, [String])] = []
        for target in targets {
            if let i = groups.firstIndex(where: { $0.0.name == target.context.name }) { groups[i].1.append(target.region) }
            else { groups.append((target.context, [target.region])) }
        }
        let perContext = await BoundedConcurrency.map(groups, width: width) { group in
            await fetch(group.0, regions: group.1, concurrency: concurrency, open: open, onResult: onResult)
        }
        return perContext.flatMap { $0 }
    }

    static func fetch(_ context: ClientContext, regions: [String], concurrency: Int, open: Open,
                      onResult: @escaping @Sendable (ContextStores) -> Void) async -> [ContextStores] {
        let started = ContinuousClock.now
        func failed(_ failure: ContextFailure, _ region: String, account: String? = nil) -> ContextStores {
            let result = ContextStores(context: context.name, region: region, account: account ?? context.configuration?.account,
                                       listing: nil, failure: failure, elapsed: (ContinuousClock.now - started).seconds)
            onResult(result)
            return result
        }
        if let problem = context.problem {
            return regions.map { failed(ContextFailure(code: "ConfigurationError", message: problem, exit: .configuration), $0) }
        }
        let session: any ClientSession
        do { session = try await open(context) } catch {
            let failure = describe(error, context: nil)
            return regions.map { failed(failure, $0) }
        }
        var results: [ContextStores] = []
        for region in regions {
            let base = session.client
            let client = region == base.region ? base
                : KMSClient(endpoint: base.endpoint, region: region, credentials: base.credentials,
                            retryPolicy: base.retryPolicy, defaultTimeout: base.defaultTimeout)
            let regionStarted = ContinuousClock.now
            do {
                let listing = try await ScriptedReports.stores(using: client, concurrency: concurrency)
                let account = (try? await client.callerIdentity(timeout: 5).account)
                    ?? session.configuration.account ?? session.embeddedIdentity?.account
                let result = ContextStores(context: context.name, region: region, account: account, listing: listing,
                                           failure: nil, elapsed: (ContinuousClock.now - regionStarted).seconds)
                onResult(result)
                results.append(result)
            } catch {
                results.append(failed(describe(error, context: session.context), region,
                                      account: session.embeddedIdentity?.account))
            }
            if client !== base { client.shutdown() }
        }
        await session.close()
        return results
    }

    static func describe(_ error: any Error, context: EndpointContext?) -> ContextFailure {
        let problem = EndpointProblem.classify(error, context: context)
        return ContextFailure(code: problem.code, message: problem.summary, exit: problem.exit)
    }

    /// Store rows (by context, region, name) and one row per failed context/region.
    public static func rows(_ results: [ContextStores]) -> [ContextStoreRow] {
        results.flatMap { r -> [ContextStoreRow] in
            if let failure = r.failure {
                return [ContextStoreRow(context: r.context, account: r.account, region: r.region, store: nil, failure: failure)]
            }
            return (r.listing?.rows ?? []).map {
                ContextStoreRow(context: r.context, account: r.account, region: r.region, store: $0, failure: nil)
            }
        }
    }

    /// The exit status of the whole listing: 0 when every context answered, else the status of the first failure
    /// (every row, failed or not, is still printed).
    public static func exit(_ results: [ContextStores]) -> ScriptedExit {
        results.first { $0.failure != nil }?.failure?.exit ?? .success
    }

    public static func render(_ rows: [ContextStoreRow], as format: ScriptedOutputFormat) -> String {
        switch format {
        case .json: return ScriptedReports.json(rows)
        case .table:
            return ScriptedReports.table(
                header: ["CONTEXT", "ACCOUNT", "REGION", "NAME", "ID", "STATE", "KEYS", "PENDING", "ERROR"],
                rightAligned: [6, 7],
                rows: rows.map { r in
                    let s = r.store
                    return [r.context, r.account ?? "?", r.region, s?.name ?? "-", s?.id ?? "-", s?.stateText ?? "-",
                            s?.keyCount.map(String.init) ?? "-", s?.pendingDeletionCount.map(String.init) ?? "-",
                            r.failure.map { "\($0.code): \($0.message)" } ?? ""]
                })
        }
    }
}

extension Duration {
    fileprivate var seconds: TimeInterval {
        let (s, atto) = components
        return TimeInterval(s) + TimeInterval(atto) / 1e18
    }
}
