import CKSClient
import CKSDomain
import CKSEmbedded
import CKSTeardown
import Foundation

/// Live data: polling the stores, counting keys, listing a store's keys progressively, last use.
extension ConsoleApp {
    /// DescribeCustomKeyStores (and the core's clock). A failure keeps the last data and shows the banner.
    func refreshStores(label: String) {
        guard !storesInFlight else { return }
        storesInFlight = true
        storesPoll.started(at: wallClock())
        let generation = backendGeneration
        launch(label) { app in
            do {
                let list = try await app.backend.listStores()
                let core = try? await app.backend.coreTime()
                // Another context was opened meanwhile: what this one answered is not shown.
                guard generation == app.backendGeneration else { return }
                app.storesInFlight = false
                let now = app.wallClock()
                if let core { app.clock.sample(wall: now, core: core) }
                app.storesPoll.succeeded(at: now)
                app.applyStores(list)
                app.openPendingStore()
                if app.banner != nil {
                    app.banner = nil
                    app.say("The endpoint answers again.", .ok)
                }
                await app.lookForNewKeys()
            } catch {
                guard generation == app.backendGeneration else { return }
                app.storesInFlight = false
                app.storesPoll.failed()
                app.noteFailure(error, during: "listing the stores")
            }
        }
    }

    func applyStores(_ list: [StoreRecord]) {
        let before = Dictionary(stores.map { ($0.id, $0.connectionState) }, uniquingKeysWith: { $1 })
        stores = list
        storesTable.setRows(storeRows())
        // A store that changed state changes its keys' states too: reload the keys on screen.
        for s in list where before[s.id] != nil && before[s.id] != s.connectionState {
            if case .keys(let id) = screen, id == s.id { scanKeys(label: "refresh keys (\(s.name) is \(s.connectionState.rawValue))") }
        }
        // Leave screens of stores that no longer exist.
        let ids = Set(list.map(\.id))
        if let missing = stack.compactMap({ s -> String? in
            switch s {
            case .keys(let id), .keyDetail(let id, _): return ids.contains(id) ? nil : id
            case .stores, .contexts, .regions, .allStores: return nil
            }
        }).first {
            stack = [.stores]
            say("The store \(missing) no longer exists.", .warning)
        }
    }

    /// The Stores screen's rows: each store with its counts (or why there are none).
    func storeRows() -> [StoreRow] {
        stores.map { StoreRow(record: $0, census: censusFor($0.id), uncounted: keyCountsUnavailable != nil,
                              statesUnconfirmed: censusFromIndex) }
    }

    /// A store's counts: nil until the first pass over the keys (or while they may not be counted), zero for stores
    /// it found no key in.
    func censusFor(_ id: String) -> KeyCensus? {
        if keyCountsUnavailable != nil && census[id] == nil { return nil }
        return census[id] ?? (keysPoll.lastSuccess == nil && !censusFromIndex ? nil : KeyCensus(total: 0, pendingDeletion: 0))
    }

    /// One pass over the account's keys (ListKeys, then DescribeKey per key: KMS cannot list a store's keys) that
    /// counts every store's keys and fills every store's key list, so opening a store after it is instant and
    /// counting and listing never describe every key twice. A list never filled before fills as keys arrive (the
    /// one on screen is drawn a few times a second); a list already shown is replaced when the pass ends, so a
    /// refresh never empties it. A failed pass keeps the last lists and counts.
    func scanKeys(label: String) {
        guard scan == nil else { return }
        scan = KeyScan()
        keysPoll.started(at: wallClock())
        for view in keysViews.values { view.loading = true; view.received = 0; view.scanned = 0; view.error = nil }
        let generation = backendGeneration
        launch(label) { app in
            let clock = ContinuousClock()
            var lastFlush = clock.now
            do {
                for try await update in app.backend.keyPass() {
                    guard generation == app.backendGeneration else { return }
                    app.scan?.take(update)
                    if case .listed = update { app.countFromIndex() }
                    // The account shows in the first key listed: the header gets it now, not at the end of the pass.
                    if app.endpoint?.account == "?" { await app.refreshEndpointInfo() }
                    // Remembered keys come a ListKeys page at a time and nothing may follow the last page for a
                    // while (the descriptions): the first page and the end of the listing are shown at once.
                    var now = false
                    if case .listed = update { now = true }
                    if case .remembered = update, app.scan?.remembered ?? 0 <= 1_000 { now = true }
                    if now || clock.now - lastFlush > .milliseconds(150) {
                        app.flushScan(final: false)
                        lastFlush = clock.now
                        app.changed()
                    }
                }
                guard generation == app.backendGeneration else { return }
                app.finishScan()
            } catch {
                guard generation == app.backendGeneration else { return }
                app.flushScan(final: true)
                app.scan = nil
                app.keysPoll.failed()
                let message = EndpointProblem.classify(error, context: app.endpoint?.context).line
                for view in app.keysViews.values {
                    view.loading = false
                    view.error = message
                    // What it shows now is replaced by the next pass, not added to.
                    if !view.table.rows.isEmpty { view.loadedOnce = true }
                }
                app.noteFailure(error, during: "listing keys")
            }
        }
    }

    /// Every ListKeys page has been read and the key index placed each known key in its store: before any pass has
    /// counted this session, the Stores screen shows those totals now (the pending deletions once described).
    func countFromIndex() {
        guard let scan, census.isEmpty, keysPoll.lastSuccess == nil, scan.remembered > 0 else { return }
        var counts: [String: KeyCensus] = [:]
        for (storeId, rows) in scan.rows where !rows.isEmpty {
            counts[storeId] = KeyCensus(total: rows.count, pendingDeletion: 0)
        }
        census = counts
        censusFromIndex = true
        storesTable.setRows(storeRows())
    }

    /// Shows what the pass has found so far in lists never filled before: the one on screen as keys arrive, the
    /// others when they are opened (or at the end). A list already shown keeps its rows until the pass ends.
    func flushScan(final: Bool) {
        guard var scan else { return }
        for (storeId, view) in keysViews where !scan.invalidated.contains(storeId) {
            let found = scan.rows[storeId] ?? []
            view.received = found.count
            // A list already shown is replaced whole when the pass ends.
            if view.loadedOnce { scan.redescribed[storeId] = nil }
            guard !view.loadedOnce, final || screenStoreId == storeId else { continue }
            if let again = scan.redescribed.removeValue(forKey: storeId) { view.table.replace(again) }
            if view.scanned < found.count {
                view.table.append(Array(found[view.scanned...]))
                view.scanned = found.count
            }
            view.countUnconfirmed(scan)
        }
        self.scan = scan
    }

    /// The pass ended: every store's list and count replaced (stores with no keys now get empty lists), keeping
    /// rows an action re-described while the pass ran (the pass may have described them before the change).
    func finishScan() {
        flushScan(final: true)
        guard let scan else { return }
        self.scan = nil
        let now = wallClock()
        keysPoll.succeeded(at: now)
        for storeId in scan.rows.keys where keysViews[storeId] == nil { _ = keysView(storeId) }
        var counts: [String: KeyCensus] = [:]
        for (storeId, view) in keysViews {
            if scan.invalidated.contains(storeId) {
                if let known = census[storeId] { counts[storeId] = known }
                continue
            }
            var found = scan.rows[storeId] ?? []
            if !scan.removed.isEmpty { found.removeAll { scan.removed.contains($0.id) } }
            if !scan.changed.isEmpty || !scan.gone.isEmpty {
                let fresher = Dictionary(view.table.rows.filter { scan.changed.contains($0.id) }.map { ($0.id, $0) },
                                         uniquingKeysWith: { $1 })
                found = found.compactMap { scan.gone.contains($0.id) ? nil : (fresher[$0.id] ?? $0) }
            }
            if view.loadedOnce || view.table.rows.count != found.count || !scan.changed.isEmpty || !scan.gone.isEmpty
                || !scan.removed.isEmpty {
                view.table.setRows(found)
            }
            view.countUnconfirmed(scan)
            view.loadedOnce = true
            view.loading = false
            view.received = found.count
            if !found.isEmpty {
                counts[storeId] = KeyCensus(of: found)
            }
        }
        census = counts
        censusFromIndex = false
        keyCountsUnavailable = nil
        if scan.remembered > 0 {
            let seconds = (ContinuousClock.now - scan.started) / .seconds(1)
            say("\(TeardownText.grouped(scan.remembered)) keys listed from the key index; every state described again in "
                + String(format: "%.0f s.", seconds), .ok)
        }
        listedKeyIds = backend.keyIdsSeenByLastPass()
        storesTable.setRows(storeRows())
        // Keys changed elsewhere while it ran: list again (this pass's view of them may predate the change).
        if !scan.invalidated.isEmpty { scanKeys(label: "list keys again (changed during the last pass)") }
        // The pass decoded (and dropped) a description per key: hand the freed heap back.
        if scan.rows.values.reduce(0, { $0 + $1.count }) >= 10_000 { AllocatorPolicy.releaseFreeMemory() }
        // The account is learnt from the first key ARN (KMS has no "who am I").
        if endpoint?.account == "?" {
            launch(nil) { app in await app.refreshEndpointInfo() }
        }
    }
}

/// Where each batch of a pass goes: remembered and first-described rows are added to their store's list, rows
/// described again replace the remembered ones (and are queued for lists already showing them).
extension ConsoleApp.KeyScan {
    mutating func take(_ update: KeyPassUpdate) {
        switch update {
        case .remembered(let records, let asOf):
            for record in records {
                guard let store = record.customKeyStoreId else { continue }
                add(KeyRow(record: record, asOf: asOf), store: store)
                unconfirmed[store, default: 0] += 1
            }
            remembered += records.count
            rememberedAsOf = asOf
        case .described(let records):
            for record in records {
                let row = KeyRow(record: record)
                guard let at = position[record.id] else { add(row, store: record.customKeyStoreId); continue }
                if rows[at.store]?[at.index].asOf != nil { unconfirmed[at.store, default: 0] -= 1 }
                rows[at.store]?[at.index] = row
                redescribed[at.store, default: []].append(row)
            }
        case .gone(let ids):
            for id in ids {
                guard let at = position[id], !removed.contains(id) else { continue }
                removed.insert(id)
                if rows[at.store]?[at.index].asOf != nil { unconfirmed[at.store, default: 0] -= 1 }
            }
        case .listed:
            break
        }
    }

    private mutating func add(_ row: KeyRow, store: String?) {
        guard let store else { return }
        position[row.id] = (store, rows[store]?.count ?? 0)
        rows[store, default: []].append(row)
    }
}

@MainActor
extension ConsoleApp.KeysView {
    /// How many of the rows the list shows have their state still as remembered: the pass's count when the list
    /// shows everything the pass found of the store (the usual case), else counted.
    func countUnconfirmed(_ scan: ConsoleApp.KeyScan) {
        if table.rows.count == (scan.rows[storeId]?.count ?? 0) && scan.removed.isEmpty {
            unconfirmed = scan.unconfirmed[storeId] ?? 0
        } else {
            unconfirmed = table.rows.reduce(0) { $0 + ($1.asOf == nil ? 0 : 1) }
        }
        unconfirmedAsOf = unconfirmed > 0 ? scan.rememberedAsOf : nil
    }
}

extension ConsoleApp {
    /// The header's endpoint, account and principal as the backend knows them now.
    func refreshEndpointInfo() async {
        let info = await backend.endpointInfo()
        if info != endpoint { endpoint = info; changed() }
    }

    /// Between two passes over every key (which are slow on purpose), keys created or deleted outside the console
    /// show within one refresh of the stores: one ListKeys (cheap: a page per 1,000 keys) and a DescribeKey for each
    /// key it has not seen. Only while the account holds few enough keys for that to stay cheap.
    func lookForNewKeys() async {
        guard scan == nil, let known = listedKeyIds, known.count <= Self.newKeyCheckLimit else { return }
        let listed: Set<String>
        do { listed = try await backend.listKeyIds() } catch { return }
        guard scan == nil, listedKeyIds == known else { return }
        let added = listed.subtracting(known), removed = known.subtracting(listed)
        guard !added.isEmpty || !removed.isEmpty else { return }
        listedKeyIds = listed
        let backend = self.backend
        let described = await BoundedConcurrency.map(Array(added), width: 8) { id in await Self.redescribeOne(backend, id) }
        var touched = Set<String>()
        for outcome in described {
            guard let record = outcome.record, let storeId = record.customKeyStoreId else { continue }
            keysView(storeId).table.append([KeyRow(record: record)])
            touched.insert(storeId)
        }
        for view in keysViews.values where view.table.rows.contains(where: { removed.contains($0.id) }) {
            view.table.setRows(view.table.rows.filter { !removed.contains($0.id) })
            touched.insert(view.storeId)
        }
        for storeId in touched { census[storeId] = KeyCensus(of: keysView(storeId).table.rows) }
        if !touched.isEmpty {
            storesTable.setRows(storeRows())
            changed()
        }
    }

    /// Above this many keys in the account, new keys wait for the next pass over every key.
    static let newKeyCheckLimit = 5_000

    /// Something changed keys in every store at once (the demo's fast-forward deleted keys wherever they were due):
    /// every list is emptied and filled again by a pass.
    func keysChangedEverywhere() {
        for storeId in keysViews.keys { keysChangedElsewhere(inStore: storeId) }
    }

    /// Something other than the Keys screen's own actions changed a store's keys (a step of the guided teardown):
    /// its list is emptied and filled again by a pass, rather than showing states that are no longer true.
    func keysChangedElsewhere(inStore storeId: String) {
        let view = keysView(storeId)
        view.table.setRows([])
        view.loadedOnce = false
        view.scanned = 0
        if scan != nil {
            scan?.invalidated.insert(storeId)
            view.loading = true
        } else {
            scanKeys(label: "list keys after the teardown's changes")
        }
    }

    /// Opening a store shows the last pass's keys; a new pass starts when that one is older than the Keys
    /// screen's refresh interval (and none is running).
    func keysOpened(_ storeId: String) {
        if scan != nil {
            _ = keysView(storeId)   // what the running pass found of it shows now
            flushScan(final: false)
            return
        }
        var schedule = keysPoll
        schedule.idleInterval = keysRefreshInterval(onStores: false)
        if !keysView(storeId).loadedOnce || schedule.isDue(at: wallClock(), inMotion: false) {
            scanKeys(label: "list keys of \(store(storeId)?.name ?? storeId)")
        }
    }

    /// Every pass describes every key of the account, so passes are gentle: less often the more keys there are,
    /// every 30 s to 10 min on the Stores screen, every 5 s to 5 min on a Keys screen, never at motion's 1 s pace
    /// (a store's keys change when its state does, which starts a pass at once, or by an action, which describes them).
    func keysRefreshInterval(onStores: Bool) -> TimeInterval {
        let accountKeys = Double(census.values.reduce(0) { $0 + $1.total })
        return onStores ? min(600, max(30, accountKeys / 10)) : min(300, max(5, accountKeys / 20))
    }

    /// What DescribeKey said of one key after an action.
    struct Redescribed: Sendable {
        var id: String
        var record: KeyRecord?
        var gone = false
        var failure: String?
    }

    static func redescribeOne(_ backend: any ConsoleBackend, _ id: String) async -> Redescribed {
        do { return Redescribed(id: id, record: try await backend.describeKey(id)) } catch {
            return Redescribed(id: id, gone: BackendError.kmsCode(error) == .notFound, failure: BackendError.describe(error).1)
        }
    }

    /// Re-describes keys after an action changed them, and updates their rows.
    func redescribe(_ keyIds: [String], storeId: String) async {
        let backend = self.backend
        // Eight at a time, as the listing does: a bulk action over hundreds of keys is followed by as many describes.
        let outcomes = await BoundedConcurrency.map(keyIds, width: 8) { id in await Self.redescribeOne(backend, id) }
        var changed: [KeyRow] = []
        var gone: Set<String> = []
        for outcome in outcomes {
            if let record = outcome.record {
                changed.append(KeyRow(record: record))
                // The Key detail screen shows every DescribeKey field; the rows keep only the list's.
                if record.id == detailKeyId { detailRecord = record; detailFailure = nil }
            } else if outcome.id == detailKeyId, !outcome.gone {
                detailFailure = outcome.failure
            }
            if outcome.gone { gone.insert(outcome.id) }
        }
        // A pass over the keys running now may have described these keys before the change.
        scan?.changed.formUnion(changed.map(\.id))
        scan?.gone.formUnion(gone)
        if let detail = detailKeyId, gone.contains(detail) { detailRecord = nil }
        let view = keysView(storeId)
        view.table.update(changed)
        if !gone.isEmpty { view.table.setRows(view.table.rows.filter { !gone.contains($0.id) }) }
        let keys = view.table.rows
        census[storeId] = KeyCensus(of: keys)
        storesTable.setRows(storeRows())
    }

    /// GetKeyLastUsage for the keys on screen that have none (or an old one): at most 8 at a time.
    func fetchUsage(for rows: [KeyRow]) {
        let now = wallClock()
        for row in rows {
            guard usageInFlight < 8 else { return }
            switch usage[row.id] {
            case .fetching?: continue
            case .known(_, let at)?, .failed(_, let at)?: if now.timeIntervalSince(at) < 60 { continue }
            case nil: break
            }
            usage[row.id] = .fetching
            usageInFlight += 1
            let id = row.id
            launch(nil) { app in
                do {
                    let u = try await ActionTag.$current.withValue(ActionTag(id: 0, label: "last use of keys on screen")) {
                        try await app.backend.lastUsage(id)
                    }
                    app.usage[id] = .known(u, at: app.wallClock())
                } catch {
                    app.usage[id] = .failed(BackendError.describe(error).1, at: app.wallClock())
                }
                app.usageInFlight -= 1
            }
        }
    }

    /// A failure that makes the endpoint unusable as configured shows the banner, with what to check (the last data
    /// stays); keys that may not be listed leave the stores without counts, with a note why; other refusals go to the
    /// status line. Every text is one line (`EndpointProblem`).
    func noteFailure(_ error: any Error, during what: String) {
        let problem = EndpointProblem.classify(error, context: endpoint?.context)
        let listingStores = what == "listing the stores"
        if case .accessDenied = problem.kind, what == "listing keys" {
            // The action refused, from AWS's message ("… is not authorized to perform: kms:ListKeys on …").
            let action = problem.summary.firstMatch(of: /perform: ([a-zA-Z]+:[a-zA-Z]+)/).map { String($0.1) } ?? "kms:ListKeys"
            keyCountsUnavailable = "Key counts not shown: this principal may describe the stores but not list their keys "
                + "(\(problem.code) on \(action); the Activity pane has the whole message)."
            storesTable.setRows(storeRows())
            return
        }
        guard problem.isEndpointWide || listingStores else {
            say("\(problem.code) while \(what): \(problem.summary)", .danger, seconds: 10)
            return
        }
        let stamp = storesPoll.lastSuccess.map { "Showing data from \(formatting.clock($0)); retrying." } ?? "Retrying."
        let advice = problem.advice.map { $0 + " " } ?? ""
        switch problem.kind {
        case .unreachable, .serverFailing:
            banner = "The endpoint is not answering (\(problem.line)). \(advice)\(stamp)"
        default:
            banner = Self.sentence(problem.line) + " " + advice + stamp
        }
    }

    /// `text` as a sentence: a capital first letter, one full stop.
    static func sentence(_ text: String) -> String {
        var s = text
        while s.hasSuffix(".") { s.removeLast() }
        return s.prefix(1).uppercased() + s.dropFirst() + "."
    }
}
