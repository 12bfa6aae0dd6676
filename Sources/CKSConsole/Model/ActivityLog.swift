import Foundation
import Synchronization

/// Calls reported by a backend from any task wait here until the UI thread takes them,
/// so the log is only ever touched on the main actor and tests see every call once idle.
public final class ActivityInbox: Sendable {
    private let pending = Mutex<[CallEvent]>([])
    public init() {}
    public func post(_ event: CallEvent) { pending.withLock { $0.append(event) } }
    public func drain() -> [CallEvent] { pending.withLock { p in defer { p.removeAll() }; return p } }
    public var isEmpty: Bool { pending.withLock { $0.isEmpty } }
    /// A recorder that posts here.
    public var recorder: CallRecorder { CallRecorder { [self] in self.post($0) } }
}

/// Every call the console made, grouped under the user action that caused it: the Activity pane,
/// the audit trail of a session and the narration of a demo.
@MainActor
public final class ActivityLog {
    public struct Group: Identifiable {
        public var id: Int
        public var label: String
        public var started: Date
        public var calls: [CallEvent] = []
        /// Calls beyond `callsPerGroup`, counted but not kept.
        public var dropped = 0
        public var failures = 0
        public var total: Int { calls.count + dropped }
    }

    public private(set) var groups: [Group] = []
    private var nextId = 1
    let maxGroups: Int
    let callsPerGroup: Int

    public init(maxGroups: Int = 300, callsPerGroup: Int = 400) {
        self.maxGroups = maxGroups
        self.callsPerGroup = callsPerGroup
    }

    /// Starts a group for a user action and returns the tag calls carry.
    public func begin(_ label: String, at date: Date) -> ActionTag {
        let tag = ActionTag(id: nextId, label: label)
        nextId += 1
        groups.append(Group(id: tag.id, label: label, started: date))
        if groups.count > maxGroups { groups.removeFirst(groups.count - maxGroups) }
        return tag
    }

    /// Files a call under its action (or under "background" when it has none).
    public func add(_ event: CallEvent) {
        let id = event.action?.id ?? 0
        var index = groups.lastIndex { $0.id == id }
        if index == nil {
            groups.append(Group(id: id, label: event.action?.label ?? "background", started: event.start))
            index = groups.count - 1
        }
        guard let i = index else { return }
        if case .failed = event.outcome { groups[i].failures += 1 }
        if groups[i].calls.count < callsPerGroup { groups[i].calls.append(event) } else { groups[i].dropped += 1 }
    }

    /// Every call in order, newest last.
    public var allCalls: [CallEvent] { groups.flatMap(\.calls) }
}
