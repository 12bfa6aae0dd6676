import CKSDomain
import CKSPersistence
import CKSWire
import CKSXksClient
import Foundation
import Synchronization

/// The engine: every `TrentService.*` and `CksAdmin.*` operation over the SQLite database.
/// Reads run concurrently on snapshot connections; each mutation is one serialized write transaction that
/// first settles time-derived changes (keys whose waiting period ended are deleted), so racing requests see
/// each other and the rules of semantics §1–2 hold.
public final class KMSEngine: KMSRequestHandling, Sendable {
    let database: KMSDatabase
    let options: EngineOptions
    let clock: Mutex<SimulatedClock>
    /// When last-usage tracking began (the database's creation), for GetKeyLastUsage.
    let trackingStart: Date
    /// Key rows for DescribeKey without a database transaction; invalidated by every write.
    let keyRows = KeyRowCache()
    /// The client of real XKS proxies and the periodic health check of their stores.
    let liveProxies: LiveProxies
    /// The use record's writer (event log, folded into the database); nil on a database served read-only.
    let recorder: EventRecorder?
    /// Set by `close()`: the workload ticker stops.
    let closed = Mutex(false)

    static let metaOffset = "clock.offset"
    static let metaScale = "clock.timeScale"
    static let metaTrackingStart = "tracking.start"

    /// Opens (creating and migrating) the database at `url`, in its data directory (whose rules `KMSDatabase`
    /// applies: one process, private files, sealed secrets, a damaged or lost database refused). The persisted clock
    /// offset is kept; if the time scale changed since the last run, the offset is rebased so simulated time
    /// continues where it was. A stored clock outside what the core serves is refused unless
    /// `options.recovery.resetClock`.
    public static func open(databaseAt url: URL, options: EngineOptions = EngineOptions()) throws -> KMSEngine {
        if let problem = SimulatedClock.problem(withTimeScale: options.timeScale) { throw CoreStartError(problem) }
        let liveProxies: LiveProxies
        do throws(XksClientSetupError) { liveProxies = try LiveProxies(options: options.xks) } catch { throw CoreStartError(error.message) }
        let recovery = options.recovery
        let database = try KMSDatabase.open(at: url, options: DatabaseOpenOptions(
            durability: options.durability, initialize: recovery.initialize, readOnlyRecovery: recovery.readOnly,
            acceptLostWriteAheadLog: recovery.acceptLostWriteAheadLog))
        do {
            let (clock, start, notices) = try database.writeNow { w -> (SimulatedClock, Date, [String]) in
                var notices: [String] = []
                var clock: SimulatedClock
                if let offset = try w.meta(metaOffset).map({ Double($0) ?? .nan }),
                   let scale = try w.meta(metaScale).map({ Double($0) ?? .nan }) {
                    clock = SimulatedClock(timeScale: scale, offset: offset, wall: options.wallClock)
                    if !clock.isServable {
                        let reads = SimulatedClock.describe(clock.unboundedNow())
                        guard recovery.resetClock else {
                            throw CoreStartError("the simulated clock stored in \(url.path) reads \(reads), outside what "
                                + "the core serves (1970-01-01 to 9999-12-01; AWS's clients cannot read dates after "
                                + "9999-12-31). It will not be served. Start once with `cks serve --data-dir "
                                + "\(url.deletingLastPathComponent().path) --reset-clock` to set it back to the wall "
                                + "clock; dates it left beyond that range are brought back to the reset time.")
                        }
                        clock = SimulatedClock.fresh(timeScale: options.timeScale, wall: options.wallClock)
                        let moved = try w.bringDates(into: SimulatedClock.servableRange, now: clock.now())
                        notices.append("reset the simulated clock from \(reads) to the wall clock (--reset-clock); "
                            + "\(moved) dates beyond the servable range brought back to it")
                    } else if scale != options.timeScale {
                        clock = clock.rebased(toScale: options.timeScale)
                    }
                } else {
                    clock = SimulatedClock.fresh(timeScale: options.timeScale, wall: options.wallClock)
                }
                guard !database.isReadOnly else { return (clock, clock.now().kmsRounded, notices) }
                try w.setMeta(metaOffset, String(clock.offset))
                try w.setMeta(metaScale, String(clock.timeScale))
                let start: Date
                if let s = try w.meta(metaTrackingStart).flatMap(Double.init), SimulatedClock.servableRange.contains(s) {
                    start = Date(timeIntervalSince1970: s)
                } else {
                    start = clock.now().kmsRounded
                    try w.setMeta(metaTrackingStart, String(start.timeIntervalSince1970))
                }
                return (clock, start, notices)
            }
            let recorder = database.isReadOnly || !options.recordsUse ? nil
                : try EventRecorder.open(database: database, logURL: EventLogFile.url(forDatabase: url),
                                         maxEvents: options.maxRecordedEvents, syncsLog: options.durability == .full)
            let engine = KMSEngine(database: database, options: options, clock: clock, trackingStart: start,
                                   recorder: recorder, notices: database.notices + notices, liveProxies: liveProxies)
            engine.findLiveStores()
            return engine
        } catch {
            try? database.close()
            throw error
        }
    }

    init(database: KMSDatabase, options: EngineOptions, clock: SimulatedClock, trackingStart: Date,
         recorder: EventRecorder?, notices: [String], liveProxies: LiveProxies) {
        self.liveProxies = liveProxies
        self.database = database
        self.options = options
        self.clock = Mutex(clock)
        self.trackingStart = trackingStart
        self.notices = notices
        self.recorder = recorder
        if !database.isReadOnly { startWorkloadTicker() }
    }

    /// What opening changed or found, for the operator (files tightened, secrets sealed, the clock reset).
    public let notices: [String]

    /// Whether the engine serves its database read-only (`--skip-integrity-check`): every change is refused.
    public var isReadOnly: Bool { database.isReadOnly }

    /// What the database's integrity check found; waits for it when it runs in the background.
    public func integrityChecked() async -> KMSDatabase.Integrity { await database.integrityChecked() }

    /// The data directory's lock, to record where the core listens.
    public func recordEndpoint(_ endpoint: String) { database.recordEndpoint(endpoint) }

    /// Folds the use record's log, then closes the database (in-flight accesses finish first).
    public func close() throws {
        liveProxies.stop()
        closed.withLock { $0 = true }
        recorder?.close()
        try database.close()
    }

    /// Simulated now.
    public func now() -> Date { clock.withLock { $0.now() } }

    // MARK: Dispatch

    public func handle(target: String, body: Data, caller: Caller) async throws -> Data {
        // An unknown target is refused before the body is looked at, as the front does.
        let handler = try Self.handler(for: target)
        return try await recorded(handler, target: target, parsed: try WireCodec.parseBody(body), caller: caller)
    }

    public func handle(target: String, parsed: JSONValue, body: Data, caller: Caller) async throws -> Data {
        try await recorded(try Self.handler(for: target), target: target, parsed: parsed, caller: caller)
    }

    static func handler(for target: String) throws(KMSError) -> Handler {
        guard let handler = routes[target] else { throw KMSError(.unknownOperation, "") }
        return handler
    }

    func run(_ handler: Handler, parsed: JSONValue, caller: Caller) async throws -> Data {
        do {
            return try await Self.$callerArn.withValue(caller.arn) { try await handler(self, parsed, caller) }
        } catch let error as KMSError {
            throw error
        } catch is CancellationError {
            throw KMSError(.kmsInternal, "The request was cancelled before it completed. The request can be retried.",
                           cause: "cancelled")
        } catch where database.isReadOnly && KMSDatabase.isReadOnlyRefusal(error) {
            throw KMSError(.kmsInternal, Self.readOnlyRefusal, cause: "a change refused: the database is served read-only")
        } catch let error as KMSDatabase.DamagedDatabase {
            throw KMSError(.kmsInternal, Self.damagedRefusal, cause: "a change refused: \(error)")
        } catch {
            // A database failure (disk full, I/O error, a damaged page): nothing was committed; the client may retry.
            throw KMSError(.kmsInternal, "An internal error occurred. The request can be retried.",
                           cause: KMSDatabase.describeForLog(error) ?? "\(type(of: error))")
        }
    }

    typealias Handler = @Sendable (KMSEngine, JSONValue, Caller) async throws -> Data

    static func route<R: WireRequest>(_ type: R.Type,
                                      _ f: @escaping @Sendable (KMSEngine, R, Caller) async throws -> R.Response) -> (String, Handler) {
        (R.target, { engine, parsed, caller in
            let request = try WireCodec.decodeRequest(R.self, from: parsed)
            return WireCodec.encodeResponse(try await f(engine, request, caller))
        })
    }

    /// Every operation, by `X-Amz-Target`.
    static let routes: [String: Handler] = Dictionary(uniqueKeysWithValues: [
        route(CreateCustomKeyStoreRequest.self) { try await $0.createCustomKeyStore($1, $2.scope) },
        route(DescribeCustomKeyStoresRequest.self) { try await $0.describeCustomKeyStores($1, $2.scope) },
        route(ConnectCustomKeyStoreRequest.self) { try await $0.connectCustomKeyStore($1, $2.scope) },
        route(DisconnectCustomKeyStoreRequest.self) { try await $0.disconnectCustomKeyStore($1, $2.scope) },
        route(UpdateCustomKeyStoreRequest.self) { try await $0.updateCustomKeyStore($1, $2.scope) },
        route(DeleteCustomKeyStoreRequest.self) { try await $0.deleteCustomKeyStore($1, $2.scope) },
        route(CreateKeyRequest.self) { try await $0.createKey($1, $2.scope) },
        route(DescribeKeyRequest.self) { try await $0.describeKey($1, $2) },
        route(ListKeysRequest.self) { try await $0.listKeys($1, $2.scope) },
        route(ScheduleKeyDeletionRequest.self) { try await $0.scheduleKeyDeletion($1, $2.scope) },
        route(CancelKeyDeletionRequest.self) { try await $0.cancelKeyDeletion($1, $2.scope) },
        route(EnableKeyRequest.self) { try await $0.setEnabled(true, keyId: $1.keyId, $2.scope) },
        route(DisableKeyRequest.self) { try await $0.setEnabled(false, keyId: $1.keyId, $2.scope) },
        route(GetKeyLastUsageRequest.self) { try await $0.getKeyLastUsage($1, $2.scope) },
        route(CreateAliasRequest.self) { try await $0.createAlias($1, $2.scope) },
        route(ListAliasesRequest.self) { try await $0.listAliases($1, $2.scope) },
        route(DeleteAliasRequest.self) { try await $0.deleteAlias($1, $2.scope) },
        route(EncryptRequest.self) { try await $0.encrypt($1, $2) },
        route(DecryptRequest.self) { try await $0.decrypt($1, $2) },
        route(GenerateDataKeyRequest.self) { try await $0.generateDataKey($1, $2) },
        route(GenerateDataKeyWithoutPlaintextRequest.self) { try await $0.generateDataKeyWithoutPlaintext($1, $2) },
        route(ReEncryptRequest.self) { try await $0.reEncrypt($1, $2) },
        route(CreateGrantRequest.self) { try await $0.createGrant($1, $2) },
        route(ListGrantsRequest.self) { try await $0.listGrants($1, $2.scope) },
        route(ListRetirableGrantsRequest.self) { try await $0.listRetirableGrants($1, $2.scope) },
        route(RetireGrantRequest.self) { try await $0.retireGrant($1, $2) },
        route(RevokeGrantRequest.self) { try await $0.revokeGrant($1, $2.scope) },
        route(GetKeyPolicyRequest.self) { try await $0.getKeyPolicy($1, $2.scope) },
        route(PutKeyPolicyRequest.self) { try await $0.putKeyPolicy($1, $2.scope) },
        route(ListKeyPoliciesRequest.self) { try await $0.listKeyPolicies($1, $2.scope) },
        route(TagResourceRequest.self) { try await $0.tagResource($1, $2.scope) },
        route(UntagResourceRequest.self) { try await $0.untagResource($1, $2.scope) },
        route(ListResourceTagsRequest.self) { try await $0.listResourceTags($1, $2.scope) },
        route(UpdateAliasRequest.self) { try await $0.updateAlias($1, $2.scope) },
        route(UpdateKeyDescriptionRequest.self) { try await $0.updateKeyDescription($1, $2.scope) },
        lookupEventsRoute(),
        route(GenerateRandomRequest.self) { try await $0.generateRandom($1, $2.scope) },
        route(CreateCloudHsmClusterRequest.self) { try await $0.createCloudHsmCluster($1, $2.scope) },
        route(DescribeCloudHsmClustersRequest.self) { try await $0.describeCloudHsmClusters($1, $2.scope) },
        route(UpdateCloudHsmClusterRequest.self) { try await $0.updateCloudHsmCluster($1, $2.scope) },
        route(CreateXksProxyRequest.self) { try await $0.createXksProxy($1, $2.scope) },
        route(SetConnectionFaultRequest.self) { try await $0.setConnectionFault($1, $2.scope) },
        route(GetClockRequest.self) { engine, _, _ in ClockResponse(now: engine.now().kmsRounded) },
        route(AdvanceClockRequest.self) { try await $0.advanceClock($1, $2.scope) },
        route(StartWorkloadRequest.self) { try await $0.startWorkload($1, $2.scope) },
        route(StopWorkloadRequest.self) { try await $0.stopWorkload($1, $2.scope) },
        route(GetCallerIdentityRequest.self) { _, _, caller in
            CallerIdentityResponse(account: caller.account, arn: caller.arn, userId: caller.principalName)
        },
    ])

    /// The targets the engine answers (for the front's consistency checks).
    public static var targets: Set<String> { Set(routes.keys) }

    // MARK: Transactions

    /// A read snapshot with the simulated now.
    func read<T: Sendable>(_ body: @escaping @Sendable (DataReader, Date) throws -> T) async throws -> T {
        let now = self.now()
        return try await database.read { r in try body(r, now) }
    }

    static let damagedRefusal = "The core found its database file damaged while serving it: changes are refused "
        + "so the damage cannot spread. Stop the core and start it again: it reports the damage and what to do."

    static let readOnlyRefusal = "The core serves this data directory read-only for recovery (it was started with "
        + "--skip-integrity-check): changes are refused. Restart it without that flag once the database is restored."

    /// One write transaction: takes now once the writer is held (so time follows commit order), settles
    /// time-derived deletions, then runs `body`. Any error rolls everything back. On a database served read-only,
    /// `body` runs in a read transaction without settling: what only reads succeeds, any change is refused.
    func write<T: Sendable>(_ body: @escaping @Sendable (DataWriter, Date) throws -> T) async throws -> T {
        if database.isReadOnly {
            let now = self.now()
            return try await database.write { w in try body(w, now) }
        }
        return try await keyRows.aroundWrite {
            try await database.write { w in
                let now = self.now()
                try self.settleWorkloads(w, now: now)
                try self.settleExpiredKeys(w, now: now)
                return try body(w, now)
            }
        }
    }

    /// Deletes every key whose waiting period has ended. For a key of a CloudHSM store that was not CONNECTED at
    /// the deletion date (computed from the store's persisted connection record), the key material is recorded as
    /// orphaned on the store's cluster, as AWS leaves it there. Every mutation runs this first, so a store's
    /// record always covers the deletion dates still pending.
    func settleExpiredKeys(_ w: DataWriter, now: Date) throws {
        for key in try w.expiredKeys(at: now) {
            if key.origin == .awsCloudHsm, let storeId = key.customKeyStoreId, let deletionDate = key.deletionDate,
               let store = try w.store(id: storeId), let clusterId = store.cloudHsm?.clusterId,
               let cluster = try w.cluster(id: clusterId, in: store.scope) {
                let stateThen = store.connection.state(at: deletionDate)
                if stateThen != .connected || cluster.hsmCount == 0 {
                    try w.addOrphan(OrphanedKeyMaterialRecord(keyId: key.id, keyArn: key.arn, customKeyStoreId: storeId,
                                                              deletionDate: deletionDate), clusterId: clusterId)
                }
            }
            try w.deleteKey(id: key.id)
        }
    }
}

extension Caller {
    /// The account and region whose resources the caller sees.
    var scope: ResourceScope { ResourceScope(account: account, region: region) }
}

extension Date {
    /// Rounded to milliseconds, as KMS reports dates.
    var kmsRounded: Date { Date(timeIntervalSince1970: kmsEpochSeconds) }
}
