import CKSDomain
import CKSTeardown
import Foundation

/// The dialogs of the teardown view. Each names the target, the exact API call and its consequence, and opens
/// with Cancel focused (the console's `Dialog`); what cannot be undone needs a second Enter.
@MainActor
enum TeardownDialogs {
    static func target(_ c: TeardownController) -> (String, Style) {
        let type = c.plan?.storeType == .externalKeyStore ? "external key store" : "CloudHSM key store"
        return ("Store: \(c.storeName) (\(c.storeId)), \(type)", .normal)
    }

    static func schedule(_ c: TeardownController, ids: [String], window: PendingWindow) -> Dialog {
        let n = ids.count
        let flagged = Set((c.plan?.flaggedKeys ?? []).map(\.keyId)).count
        return Dialog(title: "Schedule deletion of \(TeardownText.count(n, "key"))?", confirmLabel: "Schedule deletion",
                      irreversible: true, window: window.days, body: { [weak c] in
            guard let c, let app = c.app else { return [] }
            let days = app.dialog?.window ?? window.days
            let now = c.observedAt ?? app.coreNow
            let chosen = PendingWindow(days: days) ?? window
            let preview = c.plan?.schedulePreview?.with(window: chosen, now: now)
            let date = chosen.deletionDate(from: now)
            var lines: [(String, Style)] = [target(c)]
            lines.append(("Deletion date: after \(TeardownText.date(date)) (in \(days) days), the same for every key", Style(.keyPendingDeletion)))
            if let preview, !preview.alreadyPending.isEmpty {
                let later = preview.pendingLater
                if let last = later.last {
                    lines.append(("\(TeardownText.count(later.count, "key")) already pending until \(TeardownText.date(last)) keep "
                                  + "\(later.count == 1 ? "its" : "their") own date\(later.count == 1 ? "" : "s"); the wait ends "
                                  + "\(TeardownText.date(last)) (in \(TeardownText.duration(last.timeIntervalSince(now)))), not in \(days) days.",
                                  Style(.warning)))
                } else {
                    lines.append(("\(TeardownText.count(preview.alreadyPending.count, "key")) already pending deletion keep "
                                  + "\(preview.alreadyPending.count == 1 ? "its" : "their") own earlier date\(preview.alreadyPending.count == 1 ? "" : "s").",
                                  Style(.muted)))
                }
            }
            lines.append(("Consequence: after that date KMS deletes the keys for good; data encrypted under them can never be decrypted. Until then, abort teardown (\(c.keyName(.abortTeardown))) cancels deletion of every key it scheduled.", Style(.danger)))
            // Every consequence the plan knows, in the dialog itself (the page behind it may be hidden).
            lines += warningLines(c)
            if flagged > 0 { lines.append(("\(TeardownText.count(flagged, "flagged key")) acknowledged, each for every reason it was flagged.", Style(.warning))) }
            lines.append(("Call: ScheduleKeyDeletion {\"KeyId\": \"\(ids.first ?? "")\", \"PendingWindowInDays\": \(days)} × \(n)", Style(.muted)))
            return lines
        }, onConfirm: { [weak c] d in c?.setWindowAndSchedule(d.window ?? window.days) })
    }

    /// Disable-and-observe first: 7 days by default, 14 or 30, or skip it (Up/Down pick).
    static let observeChoices: [Int?] = [7, 14, 30, nil]

    /// `disabling`: how many of the keys the plan disables (those Enabled), when it knows.
    static func observe(_ c: TeardownController, keys: Int, disabling: Int? = nil, resume: Bool = false) -> Dialog {
        let d = Dialog(title: resume ? "Disable and observe \(TeardownText.count(keys, "more key"))?" : "Disable and observe first?",
                       confirmLabel: "Go on", body: { [weak c] in
            guard let c, let app = c.app else { return [] }
            let picked = resume ? 0 : (app.dialog?.choice ?? 0)
            var lines: [(String, Style)] = [target(c)]
            lines.append(("AWS advises disabling a key and watching for failures before deleting it. The teardown disables "
                          + "the \(TeardownText.count(keys, "key")) (DisableKey on those Enabled), tags them \(ObservationMark.teardownTag)=<id> and "
                          + "\(ObservationMark.windowTag) on the endpoint, and watches CloudTrail for refused calls "
                          + "(DisabledException). Any refused call stops the teardown and names the caller.", .normal))
            lines.append(("Reversible: abort (\(c.keyName(.abortTeardown))) enables again exactly the keys the teardown disabled.", Style(.ok)))
            if !resume {
                for (i, choice) in observeChoices.enumerated() {
                    let mark = i == picked ? (c.app?.symbols.isASCII == true ? "(*)" : "(●)") : "( )"
                    let text = choice.map { "observe \($0) days, then schedule" } ?? "skip the observation: schedule now"
                    lines.append(("\(mark) \(text)", i == picked ? Style(.title, [.bold]) : .normal))
                }
            }
            let disable = disabling.map { "DisableKey {\"KeyId\": …} × \($0)" } ?? "DisableKey on each of them that is Enabled"
            lines.append(("Call: TagResource × \(keys), then \(disable)", Style(.muted)))
            return lines
        }, onConfirm: { [weak c] d in
            guard let c else { return }
            if resume { c.runObservation() } else { c.startObservation(days: observeChoices[min(d.choice, observeChoices.count - 1)]) }
        })
        if !resume { d.choiceCount = observeChoices.count }
        return d
    }

    static func abortObservation(_ c: TeardownController, _ watched: ObservationStatus) -> Dialog {
        Dialog(title: "Abort the observation?", confirmLabel: "Enable again", body: { [weak c] in
            guard let c else { return [] }
            return [
                target(c),
                ("EnableKey on exactly the \(TeardownText.count(watched.disabledByTeardown.count, "key")) the teardown disabled "
                 + "(tag \(ObservationMark.teardownTag)); keys that were Disabled before stay Disabled. The marks of "
                 + "\(TeardownText.count(watched.keyIds.count, "key")) are removed (UntagResource).", .normal),
                ("Refused while observed: \(watched.refusals.count)" + (watched.refusals.first.map {
                    ", latest \($0.call.operation) by \($0.call.caller) at \(TeardownText.date($0.call.time))" } ?? ""),
                 Style(watched.refusals.isEmpty ? .muted : .warning)),
            ]
        }, onConfirm: { [weak c] _ in c?.abortObservation() })
    }

    /// The plan's warnings that are consequences of going on: orphaned key material, a FAILED store, external keys.
    static func warningLines(_ c: TeardownController) -> [(String, Style)] {
        (c.plan?.warnings ?? []).filter { !$0.isAcknowledged || $0.kind == .keyMaterialWillBeOrphaned }.map { w in
            switch w.kind {
            case .keyMaterialWillBeOrphaned, .orphanedKeyMaterial:
                return ("Warning: \(w.message)" + (w.isAcknowledged ? " (acknowledged)" : ""), Style(.danger))
            case .storeFailed: return ("Warning: \(w.message)", Style(.warning))
            case .externalKeysUntouched: return (w.message, .normal)
            }
        }
    }

    static func reconnect(_ c: TeardownController, calls: [TeardownCall]) -> Dialog {
        Dialog(title: "Reconnect \(c.storeName)?", confirmLabel: "Reconnect", body: { [weak c] in
            guard let c else { return [] }
            return [
                target(c),
                ("Call: \(calls.map(\.rawValue).joined(separator: ", then ")) {\"CustomKeyStoreId\": \"\(c.storeId)\"}", Style(.muted)),
                ("Why: keys of this CloudHSM store are pending deletion while it is not connected. When a waiting period ends on a disconnected store, KMS deletes the KMS key but not its key material in the cluster: it is orphaned and must be deleted by hand (key_mgmt_util deleteKey).", Style(.warning)),
                ("Consequence: the store goes CONNECTING, then CONNECTED (or FAILED with a code). Keys pending deletion stay pending.", .normal),
            ]
        }, onConfirm: { [weak c] _ in
            guard let c, case .reconnect? = c.plan?.action else { return }
            c.run(c.plan!.action, label: calls.map(\.rawValue).joined(separator: "+"))
        })
    }

    static func disconnect(_ c: TeardownController) -> Dialog {
        Dialog(title: "Disconnect \(c.storeName)?", confirmLabel: "Disconnect", body: { [weak c] in
            guard let c else { return [] }
            return [
                target(c),
                ("Call: DisconnectCustomKeyStore {\"CustomKeyStoreId\": \"\(c.storeId)\"}", Style(.muted)),
                ("Every key of the store is deleted, so no key material can be orphaned. DeleteCustomKeyStore needs DISCONNECTED.", .normal),
                ("Consequence: the store goes DISCONNECTING, then DISCONNECTED. Reversible: connect it again.", .normal),
            ]
        }, onConfirm: { [weak c] _ in
            guard let c, c.plan?.action == .disconnect else { return }
            c.run(.disconnect, label: "DisconnectCustomKeyStore")
        })
    }

    static func acknowledge(_ c: TeardownController, _ flags: [FlaggedKey]) -> Dialog {
        let keys = Set(flags.map(\.keyId)).count
        return Dialog(title: "Acknowledge \(TeardownText.count(keys, "flagged key"))?", confirmLabel: "Acknowledge", body: { [weak c] in
            guard let c, let app = c.app else { return [] }
            let now = c.observedAt ?? app.coreNow
            var lines: [(String, Style)] = flags.prefix(6).map { f in
                ("  \(f.aliases.first ?? f.keyId): \(TeardownPlanText.reason(f.reason, now: now))", Style(.warning))
            }
            if flags.count > 6 { lines.append(("  and \(flags.count - 6) more", Style(.muted))) }
            lines.append(("No call: this records that you accept scheduling their deletion anyway (in the teardown journal).", Style(.muted)))
            lines.append(("AWS advises disabling a key and watching for failures before deleting it: an application that still uses it would fail for good.", .normal))
            return lines
        }, onConfirm: { [weak c] _ in c?.acknowledge(flags) })
    }

    static func abort(_ c: TeardownController, _ preview: AbortPreview) -> Dialog {
        let count = preview.keyIds.count
        return Dialog(title: "Abort the teardown of \(c.storeName)?", confirmLabel: "Abort teardown", body: { [weak c] in
            guard let c else { return [] }
            var lines: [(String, Style)] = [
                target(c),
                ("Consequence: the deletion of every key this teardown scheduled is cancelled. " + preview.consequence, .normal),
            ]
            if !preview.enableAgain.isEmpty {
                lines.append(("You will then be offered to enable the \(TeardownText.count(preview.enableAgain.count, "key")) that \(preview.enableAgain.count == 1 ? "was" : "were") Enabled (EnableKey).", .normal))
            }
            lines.append(("Keys scheduled for deletion by someone else are left alone.", Style(.muted)))
            lines.append(("Call: CancelKeyDeletion {\"KeyId\": \(c.app?.symbols.ellipsis ?? "…")} × \(count): every key this teardown scheduled and still pending", Style(.muted)))
            return lines
        }, onConfirm: { [weak c] _ in c?.abort() })
    }

    /// Offered after an abort: only the keys that were Enabled before the teardown; the others are named and left alone.
    static func enableAgain(_ c: TeardownController, _ given: AbortPreview) -> Dialog {
        let count = given.enableAgain.count
        return Dialog(title: "Enable \(TeardownText.count(count, "key")) again?", confirmLabel: "Enable", body: { [weak c] in
            var lines: [(String, Style)] = [
                ("The teardown is aborted: \(TeardownText.count(given.keyIds.count, "key")) \(given.keyIds.count == 1 ? "is" : "are") Disabled now. "
                    + "\(TeardownText.count(count, "key")) \(count == 1 ? "was" : "were") Enabled before the teardown scheduled \(count == 1 ? "it" : "them").", .normal),
            ]
            lines += given.unchangedNotes.map { ($0, Style(.warning)) }
            lines.append(("Consequence: applications can use these \(TeardownText.count(count, "key")) again. Cancel leaves them Disabled.", .normal))
            lines.append(("Call: EnableKey {\"KeyId\": \(c?.app?.symbols.ellipsis ?? "…")} × \(count)", Style(.muted)))
            return lines
        }, onConfirm: { [weak c] _ in c?.enableAgain() })
    }

    /// Demo only: what moving the core's clock deletes, store by store, with the material it orphans; Cancel selected.
    static func fastForward(_ c: TeardownController, _ preview: FastForwardPreview) -> Dialog {
        Dialog(title: "Fast-forward the core's clock by \(TeardownText.duration(Double(preview.seconds)))?",
               confirmLabel: "Fast-forward", irreversible: true, body: {
            var lines: [(String, Style)] = [
                ("The clock is the whole core's: every key whose waiting period ends by \(TeardownText.date(preview.target)) is deleted, "
                    + "in every store: \(TeardownText.count(preview.totalKeys, "key")).", Style(.danger)),
            ]
            for effect in preview.stores {
                lines.append(("  " + FastForwardPreview.describe(effect), Style(effect.orphansKeyMaterial ? .danger : .warning)))
            }
            if !preview.keysOutsideStores.isEmpty {
                lines.append(("  keys outside custom key stores: \(TeardownText.count(preview.keysOutsideStores.count, "key"))", Style(.warning)))
            }
            lines.append(("Consequence: these keys are deleted for good; data encrypted under them can never be decrypted.", Style(.danger)))
            lines.append(("Call: CksAdmin.AdvanceClock {\"Seconds\": \(preview.seconds)} (demo only)", Style(.muted)))
            return lines
        }, onConfirm: { [weak c] _ in c?.fastForward(to: preview) })
    }

    static func disconnectOnly(_ c: TeardownController, _ option: DisconnectOnlyOption) -> Dialog {
        let ack = option.isAcknowledged ? nil : option.requiredAcknowledgement
        return Dialog(title: "Disconnect only (keep the store and its keys)?", confirmLabel: "Disconnect only",
                      irreversible: ack != nil, body: { [weak c] in
            guard let c else { return [] }
            var lines: [(String, Style)] = [
                target(c),
                ("Call: DisconnectCustomKeyStore {\"CustomKeyStoreId\": \"\(c.storeId)\"}", Style(.muted)),
                (option.explanation, .normal),
            ]
            if ack != nil {
                lines.append(("Confirming also acknowledges that the key material of the keys pending deletion will be orphaned in the cluster if their waiting period ends while the store is disconnected.", Style(.danger)))
            }
            return lines
        }, onConfirm: { [weak c] _ in c?.disconnectOnly(acknowledging: ack) })
    }

    static func acceptOrphaning(_ c: TeardownController, warning: TeardownWarning, ack: TeardownAcknowledgement) -> Dialog {
        Dialog(title: "Go on without reconnecting?", confirmLabel: "Accept orphaned material", irreversible: true, body: {
            [(warning.message, Style(.warning)),
             ("No call: this records your acknowledgement in the teardown journal, and the plan waits for the deletions without reconnecting.", Style(.muted)),
             ("Consequence: key material is left in the cluster and its backups; delete it by hand with key_mgmt_util deleteKey.", Style(.danger))]
        }, onConfirm: { [weak c] _ in
            guard let c else { return }
            c.app?.launch("teardown \(c.storeName): accept orphaned key material") { [runner = c.runner] _ in
                if let plan = await runner.acknowledge([ack]) { await c.accept(plan) }
            }
        })
    }
}
