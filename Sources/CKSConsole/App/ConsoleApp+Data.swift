import CKSDomain
import Foundation

/// Live data: polling the stores, counting keys, listing a store's keys progressively, last use.
extension ConsoleApp {
    /// DescribeCustomKeyStores (and the core's clock). A failure keeps the last data and shows the banner.
    func refreshStores(label: String) {
        guard !storesInFlight else { return }
        storesInFlight = true
        storesPoll.started(at: wallClock())
        launch(label) { app in
            do {
                let list = try await app.backend.listStores()
                let core = try? await app.backend.coreTime()
                app.storesInFlight = false
                let now = app.wallClock()
                if let core { app.clock.sample(wall: now, core: core) }
                app.storesPoll.succeeded(at: now)
                app.applyStores(list)
                if app.coreFailure != nil {
                    app.coreFailure = nil
                    app.say("The core answers again.", .ok)
                }
            } catch {
                app.storesInFlight = false
                app.storesPoll.failed()
                app.noteFailure(error, during: "listing the stores")
            }
        }
    }

    func applyStores(_ list: [StoreRecord]) {
        let before = Dictionary(stores.map { ($0.id, $0.connectionState) }, uniquingKeysWith: { $1 })
        stores = list
        storesTable.setRows(list.map { StoreRow(record: $0, census: censusFor($0.id)) })
        // A store that changed state changes its keys' states too: reload the keys on screen.
        for s in list where before[s.id] != nil && before[s.id] != s.connectionState {
            if case .keys(let id) = screen, id == s.id { loadKeys(storeId: id, label: "refresh keys (\(s.name) is \(s.connectionState.rawValue))") }
            censusPoll = PollSchedule(idle: 30, motion: 10)
        }
        // Leave screens of stores that no longer exist.
        let ids = Set(list.map(\.id))
        if let missing = stack.compactMap({ s -> String? in
            switch s {
            case .keys(let id), .keyDetail(let id, _): return ids.contains(id) ? nil : id
            case .stores: return nil
            }
        }).first {
            stack = [.stores]
            say("The store \(missing) no longer exists.", .warning)
        }
    }

    /// A store's counts: nil until the first census, zero for stores the census found no key in.
    func censusFor(_ id: String) -> KeyCensus? {
        census[id] ?? (censusPoll.lastSuccess == nil ? nil : KeyCensus(total: 0, pendingDeletion: 0))
    }

    /// Counts the keys of every store (ListKeys, then DescribeKey per key).
    func refreshCensus(label: String) {
        guard !censusInFlight else { return }
        censusInFlight = true
        censusPoll.started(at: wallClock())
        launch(label) { app in
            do {
                let c = try await app.backend.keyCensus()
                app.censusInFlight = false
                app.censusPoll.succeeded(at: app.wallClock())
                app.census = c
                app.storesTable.setRows(app.stores.map { StoreRow(record: $0, census: c[$0.id] ?? KeyCensus(total: 0, pendingDeletion: 0)) })
                // The account is learnt from the first key ARN (KMS has no "who am I").
                if app.endpoint?.account == "?" { app.endpoint = await app.backend.endpointInfo() }
            } catch {
                app.censusInFlight = false
                app.censusPoll.failed()
                app.noteFailure(error, during: "counting keys")
            }
        }
    }

    /// Lists a store's keys. The first listing fills the table as keys arrive; later ones replace it at the end.
    func loadKeys(storeId: String, label: String) {
        let view = keysView(storeId)
        guard !view.loading else { return }
        view.loading = true
        view.received = 0
        view.error = nil
        view.poll.started(at: wallClock())
        let progressive = !view.loadedOnce
        launch(label) { app in
            var buffer: [KeyRow] = []
            var all: [KeyRow] = []
            let clock = ContinuousClock()
            var lastFlush = clock.now
            do {
                for try await record in app.backend.keys(inStore: storeId) {
                    let row = KeyRow(record: record)
                    view.received += 1
                    if progressive { buffer.append(row) } else { all.append(row) }
                    // Draw what has arrived a few times a second, not per key.
                    if progressive && (buffer.count >= 500 || clock.now - lastFlush > .milliseconds(150)) {
                        view.table.append(buffer)
                        buffer.removeAll(keepingCapacity: true)
                        lastFlush = clock.now
                        app.changed()
                    }
                }
                if progressive { view.table.append(buffer) } else { view.table.setRows(all) }
                view.loadedOnce = true
                view.poll.succeeded(at: app.wallClock())
                let keys = view.table.rows
                app.census[storeId] = KeyCensus(total: keys.count, pendingDeletion: keys.filter { $0.record.state == .pendingDeletion }.count)
                app.storesTable.setRows(app.stores.map { StoreRow(record: $0, census: app.censusFor($0.id)) })
            } catch {
                if progressive { view.table.append(buffer) }
                view.poll.failed()
                view.error = BackendError.describe(error).1
                app.noteFailure(error, during: "listing keys")
            }
            view.loading = false
        }
    }

    /// Re-describes keys after an action changed them, and updates their rows.
    func redescribe(_ keyIds: [String], storeId: String) async {
        var changed: [KeyRow] = []
        var gone: Set<String> = []
        let backend = self.backend
        // Eight at a time, as the listing does: a bulk action over hundreds of keys is followed by as many describes.
        await withTaskGroup(of: (String, KeyRecord?, Bool).self) { group in
            var next = 0
            func add() {
                guard next < keyIds.count else { return }
                let id = keyIds[next]
                next += 1
                group.addTask {
                    do { return (id, try await backend.describeKey(id), false) } catch {
                        return (id, nil, BackendError.kmsCode(error) == .notFound)
                    }
                }
            }
            for _ in 0..<8 { add() }
            for await (id, record, isGone) in group {
                if let record { changed.append(KeyRow(record: record)) }
                if isGone { gone.insert(id) }
                add()
            }
        }
        let view = keysView(storeId)
        view.table.update(changed)
        if !gone.isEmpty { view.table.setRows(view.table.rows.filter { !gone.contains($0.id) }) }
        let keys = view.table.rows
        census[storeId] = KeyCensus(total: keys.count, pendingDeletion: keys.filter { $0.record.state == .pendingDeletion }.count)
        storesTable.setRows(stores.map { StoreRow(record: $0, census: censusFor($0.id)) })
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

    /// A failure of the core itself shows the banner (last data stays); other errors go to the status line.
    func noteFailure(_ error: any Error, during what: String) {
        let (code, message, _) = BackendError.describe(error)
        if BackendError.isCoreFailure(error) {
            let stamp = storesPoll.lastSuccess.map { "data from \(formatting.clock($0))" } ?? "no data yet"
            coreFailure = "The core is not answering (\(code): \(message)). Showing \(stamp); retrying."
        } else {
            say("\(code) while \(what): \(message)", .danger, seconds: 10)
        }
    }
}
