import Foundation

/// What aborting a teardown gives back, and no more: CancelKeyDeletion on every key the teardown scheduled that is
/// still pending (KMS brings them back Disabled, never Enabled), then EnableKey only on the keys that were Enabled when
/// the teardown scheduled them. A key that was Disabled before stays Disabled; a key whose state before is not known
/// (not recorded, or Unavailable because its store was not connected) is left Disabled and named, never guessed.
public struct AbortPreview: Sendable, Hashable {
    /// Keys to cancel, sorted.
    public var keyIds: [String]
    /// Keys that were Enabled when the teardown scheduled them: offered to be enabled again, sorted.
    public var enableAgain: [String]
    /// Keys that were Disabled when the teardown scheduled them: they stay Disabled, sorted.
    public var stayDisabled: [String]
    /// Keys whose state before the teardown is not known: left Disabled, sorted.
    public var stateUnknown: [String]
    /// The state each key was in when the teardown scheduled it, where known.
    public var stateBefore: [String: KeyState]

    /// Sorts `keyIds` by the state each was in before the teardown scheduled it.
    public init(keyIds: [String], stateBefore: [String: KeyState]) {
        let ids = keyIds.sorted()
        self.keyIds = ids
        self.stateBefore = stateBefore.filter { ids.contains($0.key) }
        enableAgain = ids.filter { stateBefore[$0] == .enabled }
        stayDisabled = ids.filter { stateBefore[$0] == .disabled }
        stateUnknown = ids.filter { stateBefore[$0] != .enabled && stateBefore[$0] != .disabled }
    }

    /// The same preview restricted to `ids` (the keys whose cancellation succeeded).
    public func restricted(to ids: some Sequence<String>) -> AbortPreview {
        let kept = Set(ids)
        return AbortPreview(keyIds: keyIds.filter(kept.contains), stateBefore: stateBefore)
    }

    /// What the abort does to the keys, in words (the same in the console's dialog and the scripted verb).
    public var consequence: String {
        var parts = ["\(TeardownText.count(keyIds.count, "key")) come\(keyIds.count == 1 ? "s" : "") back Disabled, as KMS does (never Enabled)."]
        if !enableAgain.isEmpty {
            parts.append("\(TeardownText.count(enableAgain.count, "key")) \(enableAgain.count == 1 ? "was" : "were") Enabled before the teardown "
                + "and can be enabled again (EnableKey).")
        }
        parts.append(contentsOf: unchangedNotes)
        return parts.joined(separator: " ")
    }

    /// The keys abort leaves Disabled, and why.
    public var unchangedNotes: [String] {
        var notes: [String] = []
        if !stayDisabled.isEmpty {
            notes.append("\(TeardownText.count(stayDisabled.count, "key")) \(stayDisabled.count == 1 ? "was" : "were") Disabled before the "
                + "teardown and stay\(stayDisabled.count == 1 ? "s" : "") Disabled (\(TeardownText.list(stayDisabled, limit: 3))).")
        }
        if !stateUnknown.isEmpty {
            notes.append("The state before the teardown of \(TeardownText.count(stateUnknown.count, "key")) is not known "
                + "(not recorded, or Unavailable because the store was not connected): left Disabled "
                + "(\(TeardownText.list(stateUnknown, limit: 3))).")
        }
        return notes
    }
}
