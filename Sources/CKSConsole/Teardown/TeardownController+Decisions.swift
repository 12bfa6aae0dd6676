import CKSDomain
import Foundation

/// The operator's decisions beside the next step: acknowledging flagged keys, aborting a teardown (and enabling
/// the keys again), disconnecting only, accepting orphaned key material, and the core's fast-forward.
extension TeardownController {
    /// Always through the dialog: the marked keys, every flagged key (`all`), or the one under the cursor.
    func acknowledgeMarked(all: Bool) {
        guard let app else { return }
        let flags = pendingFlags
        guard !flags.isEmpty else { return }
        let chosen: [FlaggedKey]
        if all { chosen = flags }
        else if !marks.isEmpty { chosen = flags.filter { marks.contains($0.keyId) } }
        else { chosen = [flags[min(cursor, flags.count - 1)]] }
        app.dialog = TeardownDialogs.acknowledge(self, chosen)
    }

    func acknowledge(_ flags: [FlaggedKey]) {
        let acks = flags.map(\.acknowledgement)
        marks.subtract(flags.map(\.keyId))
        app?.launch("teardown \(storeName): acknowledge \(TeardownText.count(Set(flags.map(\.keyId)).count, "key"))") { [runner] app in
            // Read-only: the decision counts for this session's plan but is not journalled (no teardown is started).
            if let plan = await runner.acknowledge(acks, journaled: !app.options.readOnly) { await self.accept(plan) }
            app.say("Acknowledged \(TeardownText.count(Set(flags.map(\.keyId)).count, "key")).", .ok)
        }
    }

    func openAbortDialog() {
        if let app, plan?.abort == nil, let watched = plan?.observation, availability(.abortTeardown) == nil {
            if refuseIfReadOnly("aborting the observation") { return }
            app.dialog = TeardownDialogs.abortObservation(self, watched)
            return
        }
        guard let app, let preview = plan?.abort, availability(.abortTeardown) == nil else { return }
        if refuseIfReadOnly("aborting the teardown") { return }
        app.dialog = TeardownDialogs.abort(self, preview)
    }

    func abort() {
        guard let app else { return }
        begin("the abort (CancelKeyDeletion)", changes: true)
        progress.reset()
        bulk = Bulk(label: "CancelKeyDeletion", total: plan?.abortableKeyIds.count ?? 0)
        app.launch("teardown \(storeName): abort") { [progress, runner] app in
            do {
                let outcome = try await runner.abort { progress.set($0) }
                self.lastResults = ("CancelKeyDeletion", outcome.results)
                await self.accept(outcome.plan)
                self.givenBack = outcome.givenBack
                if !outcome.givenBack.enableAgain.isEmpty {
                    app.dialog = TeardownDialogs.enableAgain(self, outcome.givenBack)
                } else if !outcome.givenBack.keyIds.isEmpty {
                    app.say("Aborted: \(TeardownText.count(outcome.givenBack.keyIds.count, "key")) given back, none of them Enabled "
                            + "before the teardown: they stay Disabled.", .ok, seconds: 12)
                }
            } catch {
                self.error = "\(error)"
            }
            self.finishAbort(app)
        }
    }

    /// Abort during the observation: EnableKey on exactly the keys the teardown disabled, marks removed.
    func abortObservation() {
        guard let app, let watched = plan?.observation else { return }
        begin("the abort (EnableKey on the keys the teardown disabled)", changes: true)
        progress.reset()
        bulk = Bulk(label: "EnableKey+UntagResource", total: watched.keyIds.count)
        app.launch("teardown \(storeName): abort the observation") { [progress, runner] app in
            do {
                let outcome = try await runner.abort { progress.set($0) }
                self.lastResults = ("EnableKey+UntagResource", outcome.results)
                await self.accept(outcome.plan)
                self.observationDeclined = false
                app.say("Observation aborted: \(TeardownText.count(outcome.reEnabled.count, "key")) enabled again (exactly those "
                        + "the teardown disabled).", .ok, seconds: 12)
            } catch {
                self.error = "\(error)"
            }
            self.finishAbort(app)
        }
    }

    /// Either abort has ended: the bulk bar goes, and the keys and stores are read again (other screens included).
    private func finishAbort(_ app: ConsoleApp) {
        bulk = nil
        end()
        app.keysChangedElsewhere(inStore: storeId)
        app.refreshStores(label: "refresh after abort")
    }

    /// EnableKey on the keys the abort gave back that were Enabled before the teardown (never the others).
    func enableAgain() {
        guard let app, let given = givenBack else { return }
        let ids = given.enableAgain
        begin("EnableKey", changes: true)
        progress.reset()
        bulk = Bulk(label: "EnableKey", total: ids.count)
        app.launch("teardown \(storeName): enable \(ids.count) keys again") { [progress, runner] app in
            let results = await runner.enableAgain(ids) { progress.set($0) }
            self.lastResults = ("EnableKey", results)
            let failed = Set(results.filter { !$0.succeeded }.map(\.target))
            self.givenBack?.enableAgain.removeAll { !failed.contains($0) }
            self.bulk = nil
            self.end()
            app.keysChangedElsewhere(inStore: self.storeId)
            app.say("EnableKey: \(results.filter(\.succeeded).count) of \(results.count) enabled.", .ok)
            self.refresh("teardown \(self.storeName): observe")
        }
    }

    func openDisconnectOnlyDialog() {
        guard let app, let option = plan?.disconnectOnly else { return }
        if let reason = availability(.disconnectOnly) { app.say("Disconnect only: \(reason).", .warning); return }
        if refuseIfReadOnly("disconnecting") { return }
        app.dialog = TeardownDialogs.disconnectOnly(self, option)
    }

    func disconnectOnly(acknowledging ack: TeardownAcknowledgement?) {
        guard let app else { return }
        begin("DisconnectCustomKeyStore (disconnect only)", changes: true)
        app.launch("teardown \(storeName): disconnect only") { [runner] app in
            if let ack { _ = await runner.acknowledge([ack]) }
            do {
                let outcome = try await runner.disconnectOnly(confirmedName: self.storeName)
                await self.accept(outcome.plan)
                app.say(outcome.failed.isEmpty ? "Disconnected \(self.storeName); connect it again at any time." : "Disconnect failed.",
                        outcome.failed.isEmpty ? .ok : .warning)
            } catch {
                self.error = "\(error)"
            }
            self.end()
            app.refreshStores(label: "refresh after disconnect")
        }
    }

    func openAcceptOrphaningDialog() {
        guard let app, let warning = plan?.warnings.first(where: { $0.kind == .keyMaterialWillBeOrphaned && !$0.isAcknowledged }),
              let ack = warning.acknowledgement else { return }
        app.dialog = TeardownDialogs.acceptOrphaning(self, warning: warning, ack: ack)
    }

    /// Demo only. The clock is the whole core's: first a look at what it would delete in every store (a read), then a
    /// dialog listing it, Cancel selected; only a confirmed dialog moves the clock.
    func fastForward() {
        guard let app else { return }
        if let reason = availability(.fastForward) { app.say("Fast-forward: \(reason).", .warning); return }
        // Keys typed while it looks are refused, visibly: none is carried into (or onto) the dialog it opens.
        begin("looking at what the fast-forward would delete", changes: true)
        app.launch("teardown \(storeName): fast-forward preview") { [runner] app in
            do {
                let preview = try await runner.fastForwardPreview()
                self.fastForwardPreview = preview
                if app.dialog == nil { app.dialog = TeardownDialogs.fastForward(self, preview) }
                self.error = nil
            } catch {
                self.error = "\(error)"
            }
            self.end()
        }
    }

    func fastForward(to preview: FastForwardPreview) {
        guard let app else { return }
        begin("the fast-forward (CksAdmin.AdvanceClock)", changes: true)
        app.launch("teardown \(storeName): fast-forward (CksAdmin.AdvanceClock)") { [runner] app in
            do {
                let plan = try await runner.fastForward(to: preview)
                await self.accept(plan)
                app.say("Fast-forwarded the core's clock by \(TeardownText.duration(Double(preview.seconds))): "
                        + "\(TeardownText.count(preview.totalKeys, "key")) due by then deleted.", .ok, seconds: 10)
            } catch {
                self.error = "\(error)"
            }
            self.fastForwardPreview = nil
            self.end()
            app.refreshStores(label: "refresh after fast-forward")
            app.keysChangedEverywhere()
        }
    }
}
