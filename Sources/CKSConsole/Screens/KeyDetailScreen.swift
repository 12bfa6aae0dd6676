import CKSDomain
import Foundation

/// The Key detail screen: every DescribeKey field, plus aliases, the store and the last use.
@MainActor
enum KeyDetailScreen {
    /// Label, value and style of each line, in DescribeKey's order.
    static func fields(_ k: KeyRecord, store: StoreRecord?, usage: String, formatting: Formatting, now: Date) -> [(String, String, Style)] {
        var out: [(String, String, Style)] = [
            ("KeyId", k.id, .normal),
            ("Arn", k.arn, .normal),
            ("AWSAccountId", k.accountId, .normal),
            ("Aliases", k.aliases.isEmpty ? "(none)" : k.aliases.joined(separator: ", "), .normal),
            ("Description", k.description.isEmpty ? "(empty)" : k.description, .normal),
            ("KeyState", k.state.rawValue + " — " + stateMeaning(k.state), Style(Role.of(k.state))),
            ("Enabled", k.enabled ? "true" : "false", .normal),
        ]
        if let d = k.deletionDate {
            out.append(("DeletionDate", formatting.dateTime(d) + "  (" + Formatting.countdown(to: d, now: now) + ")", Style(.keyPendingDeletion)))
        }
        if let w = k.pendingDeletionWindowInDays { out.append(("PendingDeletionWindowInDays", String(w), .normal)) }
        out += [
            ("CreationDate", formatting.dateTime(k.creationDate), .normal),
            ("KeyUsage", k.keyUsage, .normal),
            ("KeySpec", k.keySpec, .normal),
            ("CustomerMasterKeySpec", k.keySpec, .normal),
            ("EncryptionAlgorithms", k.encryptionAlgorithms.joined(separator: ", "), .normal),
            ("Origin", k.origin.rawValue, .normal),
            ("KeyManager", k.keyManager, .normal),
            ("MultiRegion", k.multiRegion ? "true" : "false", .normal),
            ("CustomKeyStoreId", (k.customKeyStoreId ?? "-") + (store.map { "  (\($0.name), \($0.stateText))" } ?? ""),
             store.map { Style(Role.of($0.connectionState)) } ?? .normal),
        ]
        if let c = k.cloudHsmClusterId { out.append(("CloudHsmClusterId", c, .normal)) }
        if let x = k.xksKeyId { out.append(("XksKeyConfiguration.Id", x, .normal)) }
        out.append(("Last used (GetKeyLastUsage)", usage, .normal))
        return out
    }

    static func stateMeaning(_ s: KeyState) -> String {
        switch s {
        case .enabled: return "usable"
        case .disabled: return "cannot be used until enabled"
        case .pendingDeletion: return "will be deleted at DeletionDate; cancel deletion to keep it"
        case .unavailable: return "its store is not connected"
        case .creating: return "being created"
        case .pendingImport: return "waiting for key material"
        case .pendingReplicaDeletion: return "replica being deleted"
        case .updating: return "being updated"
        }
    }
}
