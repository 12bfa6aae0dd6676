import CKSDomain
import CKSPersistence
import CKSWire
import Foundation

/// Simulated applications (CksAdmin.StartWorkload): each uses its key every few simulated minutes. Their uses are
/// settled by every write transaction (before the write changes anything, so a use before DisableKey succeeds and
/// the next one fails) and by a ticker once a wall second; a skipped period (AdvanceClock, a stopped core) is
/// settled use by use, each at its own simulated time, within the 90-day window the record keeps.
extension KMSEngine {
    /// The most uses one workload settles in one transaction (the rest follow in the next ones).
    static let maxUsesPerSettle = 50_000

    func startWorkload(_ r: StartWorkloadRequest, _ scope: ResourceScope) async throws -> StartWorkloadResponse {
        try await write { w, now in
            let key = try Self.resolveKey(r.keyId, allowAlias: true, scope, w, now)
            let every = Double(r.everyMinutes) * 60
            let workload = Workload(id: "wl-" + UUID().uuidString.lowercased(), scope: scope, keyId: key.id,
                                    operation: r.operation, principalArn: r.principal, everySeconds: every,
                                    nextRun: now.addingTimeInterval(every))
            try w.insert(workload)
            return StartWorkloadResponse(workloadId: workload.id)
        }
    }

    func stopWorkload(_ r: StopWorkloadRequest, _ scope: ResourceScope) async throws -> EmptyResponse {
        try await write { w, _ in
            guard try w.workloadExists(id: r.workloadId, in: scope) else {
                throw KMSError(.notFound, "Workload \(r.workloadId) does not exist: StartWorkload returns the id to stop.")
            }
            try w.deleteWorkload(id: r.workloadId)
        }
        return EmptyResponse()
    }

    /// Performs every use due at `now`, each as a recorded event at its own simulated time.
    func settleWorkloads(_ w: DataWriter, now: Date) throws {
        for workload in try w.dueWorkloads(at: now) {
            var t = workload.nextRun
            let oldest = now.addingTimeInterval(-KeyEventRules.retention)
            if t < oldest {
                // Uses older than the record's window would be pruned at once: start at the first one inside it.
                let skipped = ((oldest.timeIntervalSince(t)) / workload.everySeconds).rounded(.up)
                t = t.addingTimeInterval(skipped * workload.everySeconds)
            }
            var events: [KeyEvent] = []
            var stop = false
            var lastSuccess: (Date, String, String)?
            let key = try w.key(id: workload.keyId, in: workload.scope)
            let state = try key.map { try Self.effectiveState(of: $0, w, now).0 }
            let username = workload.principalArn.split(separator: "/").last.map(String.init) ?? workload.principalArn
            while t <= now, events.count < Self.maxUsesPerSettle {
                var code: KMSErrorCode?
                var message: String?
                if let key, let state, !(key.deletionDate.map { t >= $0 } ?? false) {
                    do {
                        try KeyStateRules.check(KeyOperation(rawValue: workload.operation) ?? .decrypt, state: state, arn: key.arn)
                    } catch {
                        code = error.code
                        message = error.message
                    }
                } else {
                    code = .notFound
                    message = "Key '\(workload.scope.keyARN(workload.keyId))' does not exist"
                    stop = true
                }
                let event = KeyEvent(eventId: UUID().uuidString.lowercased(), time: t, scope: workload.scope,
                                     keyId: workload.keyId, keyParameter: workload.keyId, operation: workload.operation,
                                     principalArn: workload.principalArn, username: username, accessKeyId: nil,
                                     source: "workload:\(workload.id)", requestId: UUID().uuidString.lowercased(),
                                     errorCode: code?.rawValue, errorMessage: message, readOnly: true)
                events.append(event)
                if code == nil { lastSuccess = (t, event.requestId, event.eventId) }
                t = t.addingTimeInterval(workload.everySeconds)
                if stop { break }
            }
            try w.insert(events: events)
            if let (at, requestId, eventId) = lastSuccess, let key,
               (key.lastUsage?.timestamp ?? .distantPast) <= at {
                try w.recordUsage(keyId: key.id, KeyLastUsage(operation: workload.operation, timestamp: at.kmsRounded,
                                                              requestId: requestId, cloudTrailEventId: eventId))
            }
            if stop { try w.deleteWorkload(id: workload.id) } else { try w.setNextRun(workloadId: workload.id, t) }
        }
    }

    /// Settles due workload uses once a wall second while the engine is open, so an idle core's workloads run.
    func startWorkloadTicker() {
        Task.detached { [weak self] in
            while true {
                try? await Task.sleep(for: .seconds(1))
                guard let self, !self.closed.withLock({ $0 }) else { return }
                let due = (try? await self.read { db, now in try !db.dueWorkloads(at: now).isEmpty }) ?? false
                if due { _ = try? await self.write { _, _ in } }
            }
        }
    }
}
