import CKSDomain
import Foundation

/// Where a teardown keeps the state each key was in when the teardown scheduled its deletion, so that abort gives back
/// exactly what the teardown changed (keys Enabled before are offered to be enabled again; keys Disabled before stay
/// Disabled). The plan still comes from what is observed: this only says which keys the teardown scheduled were in
/// which state just before it. The journal is the source today; an evidence source on the endpoint (a tag the teardown
/// puts on each key it schedules, once the core has TagResource) can take its place without touching the runner.
public protocol TeardownPriorStates: Sendable {
    /// The source in words, for the plan's notes and the scripted output.
    var source: String { get }
    /// Keys the teardown `teardownId` has just scheduled, each with its state just before.
    func recordScheduled(_ states: [String: KeyState], teardownId: String) async
    /// The recorded states of keys the teardown `record` scheduled.
    func states(of record: TeardownRecord) async -> [String: KeyState]
}

/// The teardown journal as the source: each ScheduleKeyDeletion line carries its targets' states before
/// (`statesBefore`), written by the runner with the line itself, so recording needs nothing more.
public struct JournalPriorStates: TeardownPriorStates {
    public init() {}
    public var source: String { "the teardown journal" }
    public func recordScheduled(_ states: [String: KeyState], teardownId: String) async {}
    public func states(of record: TeardownRecord) async -> [String: KeyState] { record.statesBefore }
}
