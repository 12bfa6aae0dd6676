import CKSClient
import CKSDomain
import CKSWire
import Foundation
import Synchronization

/// Builds a `DemoEstate` in a core through the KMS client and the core's admin API, the way an operator's
/// estate came to be: clusters and proxies registered (CksAdmin.CreateCloudHsmCluster, CreateXksProxy), stores
/// created over a year, real connects (CONNECTING → CONNECTED, or FAILED through CksAdmin.SetConnectionFault),
/// keys created with aliases, used (Encrypt, so GetKeyLastUsage has something to say), disabled, scheduled for
/// deletion, and stores disconnected. Simulated time is moved with CksAdmin.AdvanceClock between the steps, so
/// creation dates, last uses and deletion countdowns spread as they would in life; it ends at `end`.
///
/// Calls of one step run with bounded concurrency (the client's bulk calls). The core must be fresh (no stores)
/// and its clock should start well before `end` (`DemoSeeder.history` earlier) for the dates to spread; a core
/// whose clock is already later simply gets the steps closer together.
public struct DemoSeeder: Sendable {
    /// How far before the end the estate's history starts (the first store's creation).
    public static let history: TimeInterval = 400 * 86_400

    public struct Progress: Sendable, Hashable {
        public var done: Int
        public var total: Int
        public var step: String
    }

    /// What was built: store ids by name, key ids by store name (in plan order).
    public struct Summary: Sendable {
        public var storeIds: [String: String] = [:]
        public var keyIds: [String: [String]] = [:]
        public var calls = 0
    }

    public var estate: DemoEstate
    public var client: KMSClient
    /// Simulated seconds the core's CONNECTING and DISCONNECTING last (to move the clock past them).
    public var connectDuration: TimeInterval
    public var disconnectDuration: TimeInterval
    /// Calls in flight at once within a step.
    public var concurrency: Int

    public init(estate: DemoEstate, client: KMSClient, connectDuration: TimeInterval, disconnectDuration: TimeInterval,
                concurrency: Int = 16) {
        self.estate = estate
        self.client = client
        self.connectDuration = connectDuration
        self.disconnectDuration = disconnectDuration
        self.concurrency = concurrency
    }

    /// The number of calls `seed` makes (for a progress bar), clock moves included.
    public var plannedCalls: Int {
        var n = 1 // GetClock
        for p in estate.stores {
            n += 3 // backend, store, clock
            let needsConnect = p.keyCount > 0 || p.finalState == .connected || p.finalState == .failed
            if needsConnect { n += 1 }
            n += p.keyCount * (p.aliasPrefix == nil ? 1 : 2)
            n += (0..<p.keyCount).filter { $0 % 4 != 3 }.count
            n += p.disabled + p.pendingDeletion
            if p.finalState == .disconnected && needsConnect { n += 1 }
            if p.finalState == .failed { n += 3 }
            if p.finalState == .connecting { n += 1 }
        }
        for p in estate.stores where Self.hasDependencies(p) {
            n += 2 + min(p.keyCount - p.disabled - p.pendingDeletion, Self.taggedKeys) + 1 // grants, tags, workload
        }
        return n + 12 + Self.usageRounds.count // the clock moves between steps, and who the caller is
    }

    /// Keys per connected store tagged with an owner.
    static let taggedKeys = 8
    /// The application the demo's workloads run as (the role name; the account is the caller's).
    public static let workloadRole = "payments-api"

    /// Connected stores with enough Enabled keys get grants, tags and a workload.
    static func hasDependencies(_ p: DemoEstate.StorePlan) -> Bool {
        p.finalState == .connected && p.keyCount - p.disabled - p.pendingDeletion >= 3
    }

    /// Grants to `ebs.amazonaws.com` and `rds.amazonaws.com` on the first two Enabled keys of each connected store,
    /// owner/application/environment tags on its first Enabled keys (the workloads start later: `startWorkloads`).
    func seedDependencies(_ stores: [(plan: DemoEstate.StorePlan, id: String)], keyIds: [String: [Int: String]],
                          _ run: Run) async throws {
        for store in stores where Self.hasDependencies(store.plan) {
            let p = store.plan
            let enabled = (p.disabled..<(p.keyCount - p.pendingDeletion)).compactMap { keyIds[store.id]?[$0] }
            let grants: [(String, [String])] = [
                ("ebs.amazonaws.com", ["Decrypt", "GenerateDataKeyWithoutPlaintext", "DescribeKey"]),
                ("rds.amazonaws.com", ["Decrypt", "Encrypt", "GenerateDataKey"]),
            ]
            for (i, grant) in grants.enumerated() {
                _ = try await run.call { () throws(KMSClientError) in
                    try await client.createGrant(CreateGrantRequest(keyId: enabled[i], granteePrincipal: grant.0,
                                                                    operations: grant.1, name: "\(p.name)-\(grant.0.prefix { $0 != "." })"))
                }
            }
            let owner = p.name.split(separator: "-").first.map(String.init) ?? p.name
            try await run.each(Array(enabled.prefix(Self.taggedKeys)), "tagging owners") { id throws(KMSClientError) in
                try await client.tagResource(keyId: id, tags: [Tag(tagKey: "owner", tagValue: "team-\(owner)"),
                                                               Tag(tagKey: "application", tagValue: p.description),
                                                               Tag(tagKey: "environment", tagValue: "production")])
            }
        }
    }

    /// The workload of each connected store with dependencies: Decrypt every hour on its third Enabled key, as the
    /// role `payments-api`, from now on (the seeder starts it two weeks before the end: an hourly caller over the
    /// whole 90-day window would be most of the events every evidence pass reads, and two weeks of it say as much).
    func startWorkloads(_ stores: [(plan: DemoEstate.StorePlan, id: String)], keyIds: [String: [Int: String]],
                        _ run: Run) async throws {
        let account = try await run.call { () throws(KMSClientError) in try await client.callerIdentity().account }
        for store in stores where Self.hasDependencies(store.plan) {
            let p = store.plan
            guard let key = keyIds[store.id]?[p.disabled + 2] else { continue }
            _ = try await run.call { () throws(KMSClientError) in
                try await client.startWorkload(keyId: key, operation: "Decrypt",
                                               principal: "arn:aws:iam::\(account):role/\(Self.workloadRole)",
                                               everyMinutes: 60)
            }
        }
    }

    /// Hours before the end at which the workloads start.
    static let workloadStartHours: Double = 14 * 24

    /// Seeds the estate; `progress` hears after every call. Throws the first failed call (the estate is a
    /// fixture: any failure is a bug, reported with the AWS error type and message).
    public func seed(endingAt end: Date, progress: @escaping @Sendable (Progress) -> Void = { _ in }) async throws -> Summary {
        let run = Run(client: client, total: plannedCalls, progress: progress, concurrency: concurrency)
        var summary = Summary()
        let plans = estate.stores
        let start = end.addingTimeInterval(-Self.history)
        _ = try await run.now()
        let day: TimeInterval = 86_400

        // 1. Backends and stores, one every few weeks.
        var built: [(plan: DemoEstate.StorePlan, id: String)] = []
        for (index, plan) in plans.enumerated() {
            try await run.advance(to: start.addingTimeInterval(Double(index) * 37 * day), "creating \(plan.name)")
            let id = try await createStore(plan, index: index, run)
            built.append((plan, id))
            summary.storeIds[plan.name] = id
        }
        let stores = built
        let needsConnect = stores.filter { $0.plan.keyCount > 0 || $0.plan.finalState == .connected || $0.plan.finalState == .failed }

        // 2. Connect what will hold keys (real connects: CONNECTING until the clock passes the duration).
        try await run.advance(to: end.addingTimeInterval(-180 * day), "connecting")
        try await run.each(needsConnect.map(\.id), "connecting stores") { id throws(KMSClientError) in
            try await client.connectCustomKeyStore(id: id)
        }
        try await run.advance(by: connectDuration + 60, "connecting")

        // 3. Keys with their aliases, in three waves two months apart.
        var keyIds: [String: [Int: String]] = [:]
        let waves = [end.addingTimeInterval(-170 * day), end.addingTimeInterval(-110 * day), end.addingTimeInterval(-50 * day)]
        for (wave, at) in waves.enumerated() {
            try await run.advance(to: at, "creating keys")
            var items: [String] = []
            for (s, store) in stores.enumerated() {
                let n = store.plan.keyCount
                for k in (wave * n / 3)..<((wave + 1) * n / 3) { items.append("\(s)/\(k)") }
            }
            let created = try await run.each(items, "creating keys", counted: false) { item throws(KMSClientError) -> String in
                let (s, k) = Self.split(item)
                return try await createKey(stores[s].plan, storeId: stores[s].id, index: k, run)
            }
            for (item, keyId) in zip(items, created) {
                let (s, k) = Self.split(item)
                keyIds[stores[s].id, default: [:]][k] = keyId
            }
        }
        for store in stores {
            summary.keyIds[store.plan.name] = (0..<store.plan.keyCount).compactMap { keyIds[store.id]?[$0] }
        }
        func keys(where test: (DemoEstate.StorePlan, Int) -> Bool) -> [String] {
            stores.flatMap { store in
                (0..<store.plan.keyCount).filter { test(store.plan, $0) }.compactMap { keyIds[store.id]?[$0] }
            }
        }

        // 3b. Dependencies, so the evidence has something to say: grants to AWS services, tagged owners, and one
        //     application that keeps calling a key of each connected store (a workload on the simulated clock).
        try await seedDependencies(stores.map { ($0.plan, $0.id) }, keyIds: keyIds, run)

        // 4. Use: three keys in four were used, at moments spread over the last two months (all before anything is
        //    disabled or scheduled, which would refuse Encrypt); the fourth never.
        var workloadsStarted = false
        for (round, hoursBefore) in Self.usageRounds.enumerated() {
            if !workloadsStarted, hoursBefore <= Self.workloadStartHours {
                try await run.advance(to: end.addingTimeInterval(-Self.workloadStartHours * 3_600), "starting workloads")
                try await startWorkloads(stores.map { ($0.plan, $0.id) }, keyIds: keyIds, run)
                workloadsStarted = true
            }
            try await run.advance(to: end.addingTimeInterval(-hoursBefore * 3_600), "using keys")
            try await run.each(keys { _, k in k % 4 != 3 && (k * 5) % Self.usageRounds.count == round }, "using keys") {
                id throws(KMSClientError) in
                _ = try await client.encrypt(EncryptRequest(keyId: id, plaintext: Data("cks demo".utf8)))
            }
        }

        // 5. Disable some, then schedule the deletion of others in two rounds (windows 7-30 days).
        try await run.advance(to: end.addingTimeInterval(-5 * day), "disabling keys")
        try await run.each(keys { p, k in k < p.disabled }, "disabling keys") { id throws(KMSClientError) in
            try await client.disableKey(keyId: id)
        }
        let windows = [7, 10, 14, 21, 30]
        for (round, daysBefore) in [(0, 5.0), (1, 2.0)] {
            try await run.advance(to: end.addingTimeInterval(-daysBefore * day), "scheduling deletions")
            let pending = stores.flatMap { store in
                (0..<store.plan.keyCount).filter { $0 >= store.plan.keyCount - store.plan.pendingDeletion && $0 % 2 == round }
                    .compactMap { k in keyIds[store.id]?[k].map { ($0, windows[k % windows.count]) } }
            }
            let byId = Dictionary(pending, uniquingKeysWith: { a, _ in a })
            try await run.each(pending.map(\.0), "scheduling deletions") { id throws(KMSClientError) in
                _ = try await client.scheduleKeyDeletion(keyId: id, pendingWindowInDays: byId[id])
            }
        }

        // 6. Disconnect the retired and the failing stores; the failing one then fails to connect again.
        try await run.advance(to: end.addingTimeInterval(-day), "disconnecting")
        let disconnect = needsConnect.filter { $0.plan.finalState == .disconnected || $0.plan.finalState == .failed }
        try await run.each(disconnect.map(\.id), "disconnecting stores") { id throws(KMSClientError) in
            try await client.disconnectCustomKeyStore(id: id)
        }
        try await run.advance(by: disconnectDuration + 60, "disconnecting")
        let failing = stores.filter { $0.plan.finalState == .failed }
        try await run.each(failing.map(\.id), "breaking a store") { id throws(KMSClientError) in
            let code = failing.first { $0.id == id }?.plan.fault ?? .networkErrors
            try await run.call { () throws(KMSClientError) in try await client.setConnectionFault(customKeyStoreId: id, code: code) }
            try await client.connectCustomKeyStore(id: id)
        }
        try await run.advance(by: connectDuration + 60, "connecting")

        // 7. Catch up with the end, then start a connect that is still running when the console opens.
        try await run.advance(to: end, "catching up")
        try await run.each(stores.filter { $0.plan.finalState == .connecting }.map(\.id), "connecting") { id throws(KMSClientError) in
            try await client.connectCustomKeyStore(id: id)
        }
        summary.calls = run.calls
        return summary
    }

    /// When keys were last used, in hours before the end (oldest first; all more than five days before it).
    static let usageRounds: [Double] = [1_450, 990, 795, 626, 461, 339, 221, 149]

    static func split(_ item: String) -> (Int, Int) {
        let parts = item.split(separator: "/")
        return (Int(parts[0]) ?? 0, Int(parts[1]) ?? 0)
    }

    /// The cluster or proxy, then the store (CloudHSM: the cluster's trust anchor and kmsuser password; external:
    /// a public-endpoint proxy that accepts the store's credential and holds one external key per planned key).
    func createStore(_ plan: DemoEstate.StorePlan, index: Int, _ run: Run) async throws -> String {
        let password = "kmsuser-\(index)-" + Self.random(8, from: "abcdefghijkmnpqrstuvwxyz23456789")
        switch plan.type {
        case .awsCloudHsm:
            let cluster = try await run.call { () throws(KMSClientError) in
                try await client.createCloudHsmCluster(kmsUserPassword: password, hsmCount: 2 + index % 2)
            }
            return try await run.call { () throws(KMSClientError) in
                try await client.createCustomKeyStore(CreateCustomKeyStoreRequest(
                    customKeyStoreName: plan.name, cloudHsmClusterId: cluster.clusterId,
                    trustAnchorCertificate: cluster.trustAnchorCertificate, keyStorePassword: password,
                    customKeyStoreType: .awsCloudHsm)).customKeyStoreId ?? ""
            }
        case .externalKeyStore:
            let endpoint = "https://\(plan.name).xks.example.com"
            let path = "/example/kms/xks/v1"
            let accessKeyId = "DEMO" + Self.random(16, from: "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
            let secret = Self.random(44, from: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
            try await run.call { () throws(KMSClientError) in
                _ = try await client.createXksProxy(CreateXksProxyRequest(
                    uriEndpoint: endpoint, uriPath: path, accessKeyId: accessKeyId, rawSecretAccessKey: secret,
                    externalKeyIds: (0..<plan.keyCount).map { Self.externalKeyId(plan, $0) }))
            }
            return try await run.call { () throws(KMSClientError) in
                try await client.createCustomKeyStore(CreateCustomKeyStoreRequest(
                    customKeyStoreName: plan.name, customKeyStoreType: .externalKeyStore, xksProxyUriEndpoint: endpoint,
                    xksProxyUriPath: path,
                    xksProxyAuthenticationCredential: XksProxyAuthenticationCredentialType(accessKeyId: accessKeyId,
                                                                                           rawSecretAccessKey: secret),
                    xksProxyConnectivity: .publicEndpoint)).customKeyStoreId ?? ""
            }
        }
    }

    /// CreateKey in the store, then CreateAlias (`alias/payments/card-0001`) when the plan names keys.
    func createKey(_ plan: DemoEstate.StorePlan, storeId: String, index k: Int, _ run: Run) async throws(KMSClientError) -> String {
        let request = CreateKeyRequest(description: "\(plan.description) key \(k + 1)",
                                       origin: plan.type == .awsCloudHsm ? .awsCloudHsm : .externalKeyStore,
                                       customKeyStoreId: storeId,
                                       xksKeyId: plan.type == .externalKeyStore ? Self.externalKeyId(plan, k) : nil)
        let keyId = try await run.call { () throws(KMSClientError) in try await client.createKey(request).keyMetadata?.keyId ?? "" }
        if let prefix = plan.aliasPrefix {
            try await run.call { () throws(KMSClientError) in
                try await client.createAlias(aliasName: prefix + Self.fourDigits(k + 1), targetKeyId: keyId)
            }
        }
        return keyId
    }

    static func externalKeyId(_ plan: DemoEstate.StorePlan, _ k: Int) -> String { "ekm-\(plan.name)-\(fourDigits(k + 1))" }

    static func fourDigits(_ n: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }

    static func random(_ n: Int, from alphabet: String) -> String {
        let chars = Array(alphabet)
        return String((0..<n).map { _ in chars.randomElement()! })
    }

    /// The state of one seeding: calls counted for progress, the core's clock as last seen.
    final class Run: Sendable {
        let client: KMSClient
        let total: Int
        let progress: @Sendable (Progress) -> Void
        let concurrency: Int
        private let state = Mutex<(done: Int, step: String, now: Date)>((0, "starting", Date(timeIntervalSince1970: 0)))

        init(client: KMSClient, total: Int, progress: @escaping @Sendable (Progress) -> Void, concurrency: Int) {
            self.client = client
            self.total = total
            self.progress = progress
            self.concurrency = concurrency
        }

        var calls: Int { state.withLock { $0.done } }

        /// One call, counted.
        @discardableResult
        func call<T: Sendable>(_ body: () async throws(KMSClientError) -> T) async throws(KMSClientError) -> T {
            let value = try await body()
            let p = state.withLock { s -> Progress in
                s.done += 1
                return Progress(done: s.done, total: max(total, s.done), step: s.step)
            }
            progress(p)
            return value
        }

        /// `body` for every item, `concurrency` at a time (the client's bulk call); results in item order.
        /// The first failure is thrown once the step is over.
        @discardableResult
        func each<T: Sendable>(_ items: [String], _ step: String, counted: Bool = true,
                               _ body: @escaping @Sendable (String) async throws(KMSClientError) -> T) async throws -> [T] {
            state.withLock { $0.step = step }
            let results = await client.bulk(items, concurrency: concurrency) { (item: String) throws(KMSClientError) -> T in
                counted ? try await self.call { () throws(KMSClientError) in try await body(item) } : try await body(item)
            }
            return try results.map { item in
                switch item.result {
                case .success(let value): return value
                case .failure(let error): throw DemoSeedError(step: step, item: item.id, error: error)
                }
            }
        }

        func now() async throws -> Date {
            let now = try await call { () throws(KMSClientError) in try await client.simulatedNow() }
            state.withLock { $0.now = now }
            return now
        }

        /// Moves the core's clock forward to `date` (nothing when it is already there or later).
        func advance(to date: Date, _ step: String) async throws {
            state.withLock { $0.step = step }
            let seconds = Int(date.timeIntervalSince(state.withLock { $0.now }).rounded(.up))
            guard seconds > 0 else { return }
            try await advance(seconds: seconds)
        }

        func advance(by seconds: TimeInterval, _ step: String) async throws {
            state.withLock { $0.step = step }
            try await advance(seconds: Int(seconds.rounded(.up)))
        }

        private func advance(seconds: Int) async throws {
            let now = try await call { () throws(KMSClientError) in try await client.advanceClock(seconds: seconds) }
            state.withLock { $0.now = now }
        }
    }
}

/// A demo seeding call failed: which step, which item, and the AWS error.
public struct DemoSeedError: Error, CustomStringConvertible {
    public var step: String
    public var item: String
    public var error: KMSClientError
    public init(step: String, item: String, error: KMSClientError) {
        self.step = step
        self.item = item
        self.error = error
    }
    public var description: String { "seeding the demo failed while \(step) (\(item)): \(error)" }
}
