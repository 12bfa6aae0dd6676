import CKSDomain
import CKSTeardown
import Foundation

/// State-changing actions: why one is not allowed now, the dialog that confirms it, and the bulk run.
extension ConsoleApp {
    /// Nil when `action` is allowed now, else the reason it is not (shown dimmed in the footer and help).
    public func availability(_ action: Action) -> String? {
        if let b = keymap.binding(action), b.changesState, options.readOnly {
            return "read-only mode: changes are refused"
        }
        switch action {
        case .teardownStep, .teardownMark, .acknowledge, .acknowledgeAll, .abortTeardown, .disconnectOnly, .acceptOrphaning, .fastForward:
            guard let teardown else { return "only in the teardown view" }
            return teardown.availability(action)
        case .connect, .disconnect, .teardown:
            guard case .stores = screen else { return "only on the Stores screen" }
            guard let s = storesTable.current?.record else { return "no store selected" }
            if action == .teardown { return teardownUnavailableReason() }
            return storeActionReason(action, s)
        case .open:
            switch screen {
            case .stores: return storesTable.current == nil ? "no store to open" : nil
            case .keys(let id): return keysView(id).table.current == nil ? "no key to open" : nil
            case .keyDetail: return nil
            }
        case .scheduleDeletion, .cancelDeletion, .enableKey, .disableKey:
            let targets = keyTargets()
            guard !targets.all.isEmpty else { return "no key selected" }
            if !targets.eligible(action).isEmpty { return nil }
            return keyActionReason(action, targets.all)
        default:
            return nil
        }
    }

    func storeActionReason(_ action: Action, _ s: StoreRecord) -> String? {
        let st = s.connectionState.rawValue
        switch (action, s.connectionState) {
        case (.connect, .disconnected): return nil
        case (.connect, .failed): return "Connect needs DISCONNECTED; the store is FAILED: disconnect it first"
        case (.connect, .connected), (.connect, .connecting): return "the store is already \(st)"
        case (.connect, _): return "Connect needs DISCONNECTED; the store is \(st)"
        case (.disconnect, .connected), (.disconnect, .connecting), (.disconnect, .failed): return nil
        case (.disconnect, _): return "Disconnect needs CONNECTED, CONNECTING or FAILED; the store is \(st)"
        default: return nil
        }
    }

    func keyActionReason(_ action: Action, _ keys: [KeyRow]) -> String {
        let states = Set(keys.map(\.state.rawValue)).sorted().joined(separator: "/")
        let subject = keys.count == 1 ? "the key is" : "the keys are"
        switch action {
        case .scheduleDeletion: return "\(subject) already PendingDeletion"
        case .cancelDeletion: return "Cancel deletion needs PendingDeletion; \(subject) \(states)"
        case .enableKey:
            return keys.allSatisfy { $0.state == .pendingDeletion }
                ? "Enable needs Disabled; \(subject) PendingDeletion: cancel deletion first"
                : "Enable needs Disabled; \(subject) \(states)"
        case .disableKey:
            return keys.allSatisfy { $0.state == .pendingDeletion }
                ? "Disable needs Enabled; \(subject) PendingDeletion" : "Disable needs Enabled; \(subject) \(states)"
        default: return "not allowed"
        }
    }

    struct KeyTargets {
        var all: [KeyRow]
        var hiddenByFilter: Int
        func eligible(_ action: Action) -> [KeyRow] {
            all.filter { k in
                switch action {
                case .scheduleDeletion: return k.state != .pendingDeletion
                case .cancelDeletion: return k.state == .pendingDeletion
                case .enableKey: return k.state == .disabled || (k.state == .unavailable)
                case .disableKey: return k.state == .enabled || (k.state == .unavailable)
                default: return false
                }
            }
        }
    }

    /// The marked keys (including those the filter hides), else the key under the cursor or on screen.
    func keyTargets() -> KeyTargets {
        switch screen {
        case .keys(let id):
            let table = keysView(id).table
            let marked = table.marked()
            if !marked.visible.isEmpty || !marked.hidden.isEmpty {
                // In the order the table shows them, then those the filter hides.
                return KeyTargets(all: marked.visible + marked.hidden, hiddenByFilter: marked.hidden.count)
            }
            return KeyTargets(all: table.current.map { [$0] } ?? [], hiddenByFilter: 0)
        case .keyDetail:
            return KeyTargets(all: currentKey().map { [$0] } ?? [], hiddenByFilter: 0)
        case .stores:
            return KeyTargets(all: [], hiddenByFilter: 0)
        }
    }

    func keyName(_ k: KeyRow) -> String {
        k.aliases.first.map { "\($0) (\(k.id))" } ?? k.id
    }

    // MARK: dialogs

    func openDialog(for action: Action) {
        switch action {
        case .connect, .disconnect:
            guard let s = storesTable.current?.record else { return }
            dialog = storeDialog(action, s)
        default:
            let targets = keyTargets()
            let eligible = targets.eligible(action)
            guard !eligible.isEmpty else { return }
            dialog = keyDialog(action, eligible, skipped: targets.all.count - eligible.count, hidden: targets.hiddenByFilter)
        }
    }

    func storeDialog(_ action: Action, _ s: StoreRecord) -> Dialog {
        let target = "Store: \(s.name) (\(s.id)), \(s.typeText), \(s.stateText)"
        let backendName = s.type == .awsCloudHsm ? "CloudHSM cluster \(s.cloudHsmClusterId ?? "?")" : "proxy \(s.xksProxy?.uriEndpoint ?? "?")"
        if action == .connect {
            return Dialog(title: "Connect \(s.name)?", confirmLabel: "Connect", body: {
                [(target, .normal),
                 ("Call: ConnectCustomKeyStore {\"CustomKeyStoreId\": \"\(s.id)\"}", Style(.muted)),
                 ("Consequence: KMS connects to the \(backendName). The store goes CONNECTING, then CONNECTED (or FAILED with a code); its keys become usable again.", .normal)]
            }, onConfirm: { [weak self] _ in self?.runStoreAction(.connect, s) })
        }
        let pending = census[s.id]?.pendingDeletion ?? 0
        return Dialog(title: "Disconnect \(s.name)?", confirmLabel: "Disconnect", body: {
            var lines: [(String, Style)] = [
                (target, .normal),
                ("Call: DisconnectCustomKeyStore {\"CustomKeyStoreId\": \"\(s.id)\"}", Style(.muted)),
                (Self.disconnectConsequence(s), .normal),
            ]
            if s.type == .awsCloudHsm && pending > 0 {
                let now = s.connectionState == .connected
                    ? "If deleted while the store is disconnected" : "The store is not connected now: if deleted while it is not"
                lines.append(("Warning: \(pending) key\(pending == 1 ? " is" : "s are") pending deletion. \(now), their key material stays in the cluster (orphaned) and must be cleaned up by hand.", Style(.danger)))
            }
            return lines
        }, onConfirm: { [weak self] _ in self?.runStoreAction(.disconnect, s) })
    }

    /// What DisconnectCustomKeyStore changes, by the store's state (semantics §1, §2.2): only a CONNECTED store's
    /// keys change; while CONNECTING or FAILED they are already Unavailable (key state follows the connection).
    static func disconnectConsequence(_ s: StoreRecord) -> String {
        let fixVerb = s.type == .awsCloudHsm ? "cluster" : "proxy"
        switch s.connectionState {
        case .failed:
            return "Consequence: the store goes DISCONNECTED and its error code (\(s.connectionErrorCode?.rawValue ?? "none")) is cleared. "
                + "Its keys do not change: they have been Unavailable since the connect failed (applications using them already fail), "
                + "and keys pending deletion stay PendingDeletion. This is the way out of FAILED: fix the cause (the \(fixVerb), its network, "
                + "or a store setting with UpdateCustomKeyStore), then connect again."
        case .connecting:
            return "Consequence: the connect attempt is abandoned and the store goes DISCONNECTED. Its keys stay Unavailable, "
                + "as they are while it connects; keys pending deletion stay PendingDeletion. Reversible: connect again."
        default:
            return "Consequence: every key of the store becomes Unavailable at once; applications using them fail. "
                + "Keys pending deletion stay PendingDeletion. Reversible: connect again."
        }
    }

    func keyDialog(_ action: Action, _ keys: [KeyRow], skipped: Int, hidden: Int) -> Dialog {
        let n = keys.count
        let noun = n == 1 ? "key" : "\(n) keys"
        var targetLines: [(String, Style)] = keys.prefix(5).map { ("  " + keyName($0) + "  " + $0.state.rawValue, .normal) }
        if n > 5 { targetLines.append(("  and \(n - 5) more", Style(.muted))) }
        var notes: [(String, Style)] = []
        if hidden > 0 { notes.append(("\(hidden) of the marked keys are hidden by the filter and are included.", Style(.warning))) }
        if skipped > 0 { notes.append(("\(skipped) marked key\(skipped == 1 ? "" : "s") skipped: not in a state this action applies to.", Style(.muted))) }
        let ids = keys.map(\.id)
        let first = ids.first ?? ""
        let times = n > 1 ? " × \(n)" : ""
        switch action {
        case .scheduleDeletion:
            let recent = keys.filter { k in
                if case .known(let u, _)? = usage[k.id], let d = u.lastUsed { return coreNow.timeIntervalSince(d) < 30 * 86_400 }
                return false
            }.count
            let store = screenStoreId.flatMap(store)
            return Dialog(title: "Schedule deletion of \(noun)?", confirmLabel: "Schedule deletion", irreversible: true, window: 30, body: { [weak self] in
                guard let self else { return [] }
                let w = self.dialog?.window ?? 30
                let date = self.coreNow.addingTimeInterval(Double(w) * 86_400)
                var lines = targetLines + notes
                lines.append(("Deletion date: \(self.formatting.dateTime(date)) (in \(w) days)", Style(.keyPendingDeletion)))
                lines.append(("Consequence: after that date the key material is destroyed for good and data encrypted under these keys can never be decrypted. Until then, cancel deletion (\(self.keymap.keyName(.cancelDeletion))) brings them back Disabled.", Style(.danger)))
                // A CloudHSM store that is not connected when the waiting period ends cannot delete the material.
                if let store, store.type == .awsCloudHsm, store.connectionState != .connected {
                    lines.append(("Warning: the store is \(store.stateText). If it is still not connected when the waiting period ends, KMS deletes the keys but not their key material in cluster \(store.cloudHsmClusterId ?? "?"): the material is orphaned there (and in every backup) and must be deleted by hand with key_mgmt_util deleteKey. Connect the store and keep it connected until the keys are deleted.", Style(.danger)))
                }
                lines.append(("Call: ScheduleKeyDeletion {\"KeyId\": \"\(first)\", \"PendingWindowInDays\": \(w)}\(times)", Style(.muted)))
                if recent > 0 {
                    let text = n == 1 ? "This key was used in the last 30 days."
                        : "\(recent) of these keys \(recent == 1 ? "was" : "were") used in the last 30 days."
                    lines.append((text, Style(.warning)))
                }
                return lines
            }, onConfirm: { [weak self] d in self?.runKeyAction(.scheduleDeletion, ids, window: d.window ?? 30) })
        case .cancelDeletion:
            return Dialog(title: "Cancel deletion of \(noun)?", confirmLabel: "Cancel deletion", body: {
                targetLines + notes + [
                    ("Call: CancelKeyDeletion {\"KeyId\": \"\(first)\"}\(times)", Style(.muted)),
                    ("Consequence: the keys are no longer deleted; they come back Disabled (not Enabled), as AWS does. Enable them to use them again.", .normal),
                ]
            }, onConfirm: { [weak self] _ in self?.runKeyAction(.cancelDeletion, ids, window: 0) })
        case .enableKey:
            return Dialog(title: "Enable \(noun)?", confirmLabel: "Enable", body: {
                targetLines + notes + [
                    ("Call: EnableKey {\"KeyId\": \"\(first)\"}\(times)", Style(.muted)),
                    ("Consequence: the keys can be used for cryptographic operations again (Unavailable keys change when their store connects).", .normal),
                ]
            }, onConfirm: { [weak self] _ in self?.runKeyAction(.enableKey, ids, window: 0) })
        default:
            return Dialog(title: "Disable \(noun)?", confirmLabel: "Disable", body: {
                targetLines + notes + [
                    ("Call: DisableKey {\"KeyId\": \"\(first)\"}\(times)", Style(.muted)),
                    ("Consequence: applications using these keys get DisabledException until they are enabled again. Reversible.", .normal),
                ]
            }, onConfirm: { [weak self] _ in self?.runKeyAction(.disableKey, ids, window: 0) })
        }
    }

    // MARK: running

    func runStoreAction(_ action: Action, _ s: StoreRecord) {
        let verb = action == .connect ? "connect" : "disconnect"
        motionUntil = wallClock().addingTimeInterval(30)
        launch("\(verb) \(s.name)") { app in
            do {
                if action == .connect { try await app.backend.connectStore(s.id) } else { try await app.backend.disconnectStore(s.id) }
                app.say(action == .connect ? "Connecting \(s.name)…" : "Disconnecting \(s.name)…", .ok)
            } catch {
                let (code, message, _) = BackendError.describe(error)
                app.dialog = Dialog(title: "\(verb.capitalized) failed", kind: .message, body: {
                    [("\(code): \(message)", Style(.danger)), ("Nothing changed.", .normal)]
                })
            }
            app.storesInFlight = false
            app.refreshStores(label: "refresh after \(verb)")
        }
    }

    /// Runs a key action over `ids` through the backend's bulk call (bounded concurrency, one result per key).
    func runKeyAction(_ action: Action, _ ids: [String], window: Int) {
        guard case let storeId? = screenStoreId else { return }
        let kinds: [Action: (KeyAction, String)] = [
            .scheduleDeletion: (.scheduleDeletion, "schedule deletion"), .cancelDeletion: (.cancelDeletion, "cancel deletion"),
            .enableKey: (.enable, "enable"), .disableKey: (.disable, "disable"),
        ]
        guard let (kind, verb) = kinds[action] else { return }
        let api = kind.operation
        bulk = BulkProgress(label: api, total: ids.count)
        launch("\(verb) \(ids.count == 1 ? "1 key" : "\(ids.count) keys")") { app in
            let results = await app.backend.perform(kind, on: ids, pendingWindowInDays: window) { result in
                Task { @MainActor [weak app] in
                    guard let app, app.bulk != nil else { return }
                    app.bulk?.done += 1
                    if result.failure != nil { app.bulk?.failed += 1 }
                    app.changed()
                }
            }
            let failures = results.compactMap { r in r.failure.map { (r.keyId, "\($0.code): \($0.message)") } }
            await app.redescribe(ids, storeId: storeId)
            app.bulk = nil
            if case .keys(let sid) = app.screen, sid == storeId { app.keysView(storeId).table.marks.removeAll() }
            let ok = ids.count - failures.count
            if failures.isEmpty {
                app.say("\(api): \(ok) key\(ok == 1 ? "" : "s") done.", .ok)
            } else {
                app.dialog = Dialog(title: "\(api): \(failures.count) of \(ids.count) failed", kind: .message, body: {
                    [("\(ok) succeeded. Failed keys (nothing else changed):", .normal)]
                        + failures.prefix(12).map { ("  \($0.0): \($0.1)", Style(.danger)) }
                        + (failures.count > 12 ? [("  and \(failures.count - 12) more (see the Activity pane)", Style(.muted))] : [])
                })
            }
        }
    }

    var screenStoreId: String? {
        switch screen {
        case .keys(let s), .keyDetail(let s, _): return s
        case .stores: return nil
        }
    }
}
