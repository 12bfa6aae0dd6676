import CKSDomain
import Foundation

/// The rules of one custom key store and its keys (semantics tables 1.2 and 2.3), as a small state machine the
/// race checker can replay in any order. Time moves only through `advance`: every transition started before an
/// advance of an hour or more has completed after it, and an advance of more than the 7-day window deletes every key
/// pending deletion.
struct RaceModel: Hashable {
    enum Key: Hashable { case enabled, disabled, pending }

    var exists = true
    var state: ConnectionState = .disconnected
    var keys: [String: Key] = [:]

    enum Operation: Hashable, CustomStringConvertible {
        case connect, disconnect, delete, createKey
        case schedule(String), cancel(String)
        case advance(Int)
        /// What a client saw after everything else ended: the store's state (nil: gone) and each key's state
        /// as DescribeKey shows it (nil: NotFoundException).
        case observe(store: ConnectionState?, keys: [String: KeyState?])

        var description: String {
            switch self {
            case .connect: "Connect"
            case .disconnect: "Disconnect"
            case .delete: "Delete"
            case .createKey: "CreateKey"
            case .schedule(let k): "Schedule(\(k.prefix(8)))"
            case .cancel(let k): "Cancel(\(k.prefix(8)))"
            case .advance(let s): "Advance(\(s))"
            case .observe(let s, let k): "Observe(\(s?.rawValue ?? "gone"), \(k.count) keys)"
            }
        }
    }

    /// An answer: success (with the new key's id for CreateKey) or the error's `__type`.
    enum Outcome: Hashable, CustomStringConvertible {
        case ok(String?)
        case error(String)
        var description: String {
            switch self {
            case .ok(let id): id.map { "ok(\($0.prefix(8)))" } ?? "ok"
            case .error(let type): type
            }
        }
    }

    /// The state after `operation` if `outcome` is an answer the rules allow from this state, else nil.
    func apply(_ operation: Operation, _ outcome: Outcome) -> RaceModel? {
        var next = self
        let notFound = Outcome.error("CustomKeyStoreNotFoundException")
        let invalid = Outcome.error("CustomKeyStoreInvalidStateException")
        switch operation {
        case .connect:
            guard exists else { return outcome == notFound ? self : nil }
            switch state {
            case .disconnected: next.state = .connecting; return outcome == .ok(nil) ? next : nil
            case .connecting, .connected: return outcome == .ok(nil) ? self : nil
            case .disconnecting, .failed: return outcome == invalid ? self : nil
            }
        case .disconnect:
            guard exists else { return outcome == notFound ? self : nil }
            switch state {
            case .connecting, .connected, .failed: next.state = .disconnecting; return outcome == .ok(nil) ? next : nil
            case .disconnected, .disconnecting: return outcome == invalid ? self : nil
            }
        case .delete:
            guard exists else { return outcome == notFound ? self : nil }
            if state != .disconnected { return outcome == invalid ? self : nil }
            if !keys.isEmpty { return outcome == .error("CustomKeyStoreHasCMKsException") ? self : nil }
            next.exists = false
            return outcome == .ok(nil) ? next : nil
        case .createKey:
            guard exists else { return outcome == notFound ? self : nil }
            guard state == .connected else { return outcome == invalid ? self : nil }
            guard case .ok(let id?) = outcome, keys[id] == nil else { return nil }
            next.keys[id] = .enabled
            return next
        case .schedule(let id):
            guard let key = keys[id] else { return outcome == .error("NotFoundException") ? self : nil }
            if key == .pending { return outcome == .error("KMSInvalidStateException") ? self : nil }
            next.keys[id] = .pending
            return outcome == .ok(nil) ? next : nil
        case .cancel(let id):
            guard let key = keys[id] else { return outcome == .error("NotFoundException") ? self : nil }
            guard key == .pending else { return outcome == .error("KMSInvalidStateException") ? self : nil }
            next.keys[id] = .disabled
            return outcome == .ok(nil) ? next : nil
        case .advance(let seconds):
            guard outcome == .ok(nil) else { return nil }
            if seconds >= 3600 {
                if state == .connecting { next.state = .connected }
                if state == .disconnecting { next.state = .disconnected }
            }
            if seconds > 8 * 86400 { next.keys = next.keys.filter { $0.value != .pending } }
            return next
        case .observe(let store, let observed):
            guard outcome == .ok(nil) else { return nil }
            if store != (exists ? state : nil) { return nil }
            for (id, seen) in observed {
                let expected: KeyState?
                switch keys[id] {
                case nil: expected = nil
                case .pending?: expected = .pendingDeletion
                case .enabled?: expected = state == .connected ? .enabled : .unavailable
                case .disabled?: expected = state == .connected ? .disabled : .unavailable
                }
                if seen != expected { return nil }
            }
            return self
        }
    }
}

/// One call a client made: when it was sent and answered (client-side monotonic instants), what and the answer.
struct RaceCall: CustomStringConvertible {
    var client: Int
    var start: ContinuousClock.Instant
    var end: ContinuousClock.Instant
    var operation: RaceModel.Operation
    var outcome: RaceModel.Outcome
    var description: String { "c\(client) \(operation) → \(outcome)" }
}

/// Wing & Gong's search for a serial order (with memoisation, as in Lowe's refinement): is there an order of the
/// calls, consistent with their real-time precedence, in which each answer is the one the model gives?
enum Linearizability {
    static func check(_ calls: [RaceCall], from initial: RaceModel, budget: Int = 2_000_000) -> Bool? {
        precondition(calls.count <= 64)
        let all: UInt64 = calls.count == 64 ? .max : (UInt64(1) << UInt64(calls.count)) - 1
        var seen = Set<Pair>()
        var steps = 0
        struct Pair: Hashable { var done: UInt64; var model: RaceModel }

        func search(_ done: UInt64, _ model: RaceModel) -> Bool? {
            if done == all { return true }
            if !seen.insert(Pair(done: done, model: model)).inserted { return false }
            steps += 1
            if steps > budget { return nil }
            // The earliest answer among the pending calls bounds which call can take effect next.
            var horizon: ContinuousClock.Instant?
            for (i, call) in calls.enumerated() where done & (1 << UInt64(i)) == 0 {
                if horizon == nil || call.end < horizon! { horizon = call.end }
            }
            for (i, call) in calls.enumerated() where done & (1 << UInt64(i)) == 0 && call.start <= horizon! {
                guard let next = model.apply(call.operation, call.outcome) else { continue }
                switch search(done | (1 << UInt64(i)), next) {
                case true?: return true
                case nil: return nil
                case false?: continue
                }
            }
            return false
        }
        return search(0, initial)
    }
}
