import Foundation

/// The key operations whose validity depends on the key state (semantics §2.3).
public enum KeyOperation: String, Sendable, CaseIterable, Hashable {
    case scheduleKeyDeletion = "ScheduleKeyDeletion"
    case cancelKeyDeletion = "CancelKeyDeletion"
    case describeKey = "DescribeKey"
    case getKeyLastUsage = "GetKeyLastUsage"
    case listAliases = "ListAliases"
    case deleteAlias = "DeleteAlias"
    case enableKey = "EnableKey"
    case disableKey = "DisableKey"
    case createAlias = "CreateAlias"
    case encrypt = "Encrypt"
    case decrypt = "Decrypt"
    case generateDataKey = "GenerateDataKey"
    case generateDataKeyWithoutPlaintext = "GenerateDataKeyWithoutPlaintext"
    case reEncrypt = "ReEncrypt"
    case createGrant = "CreateGrant"
    case tagResource = "TagResource"
    case untagResource = "UntagResource"
    case updateKeyDescription = "UpdateKeyDescription"
    case updateAlias = "UpdateAlias"

    public var isCryptographic: Bool {
        switch self {
        case .encrypt, .decrypt, .generateDataKey, .generateDataKeyWithoutPlaintext, .reEncrypt: return true
        default: return false
        }
    }
}

/// What a state-valid operation does to the stored state.
public enum KeyStateChange: Sendable, Hashable {
    case none
    /// Store this state (it shows once the key is available again, if it is Unavailable now).
    case store(KeyState)
}

/// Table 2.3 as a pure function, with the exact message templates of its footnotes.
public enum KeyStateRules {
    /// Checks `op` against the key's effective `state`; throws the AWS error of the table's cell.
    /// `arn` is the key ARN used in the messages.
    public static func check(_ op: KeyOperation, state: KeyState, arn: String) throws(KMSError) {
        switch op {
        case .describeKey, .getKeyLastUsage, .listAliases, .deleteAlias:
            return
        case .scheduleKeyDeletion:
            if state == .pendingDeletion { throw pendingDeletion(arn) }
        case .cancelKeyDeletion:
            if state != .pendingDeletion { throw KMSError(.kmsInvalidState, "\(arn) is not pending deletion.") }
        case .enableKey, .disableKey:
            if state == .pendingDeletion { throw pendingDeletion(arn) }
            if state == .pendingImport { throw KMSError(.kmsInvalidState, "\(arn) is pending import.") }
        case .createAlias, .createGrant, .tagResource, .untagResource, .updateKeyDescription, .updateAlias:
            if state == .pendingDeletion { throw pendingDeletion(arn) }
        case .encrypt, .decrypt, .generateDataKey, .generateDataKeyWithoutPlaintext, .reEncrypt:
            switch state {
            case .enabled: return
            case .disabled: throw KMSError(.disabled, "\(arn) is disabled.")
            case .pendingDeletion: throw pendingDeletion(arn)
            case .pendingImport: throw KMSError(.kmsInvalidState, "\(arn) is pending import.")
            case .unavailable: throw KMSError(.kmsInvalidState, "\(arn) is unavailable.")
            default: throw KMSError(.kmsInvalidState, "\(arn) is \(state.rawValue).")
            }
        }
    }

    /// What a valid `op` does to the stored state (given the stored state before it). CancelKeyDeletion
    /// leaves a key Disabled (semantics §2.4), or PendingImport if it never received key material.
    public static func change(for op: KeyOperation, stored: KeyState, hasMaterial: Bool = true) -> KeyStateChange {
        switch op {
        case .scheduleKeyDeletion: return .store(.pendingDeletion)
        case .cancelKeyDeletion: return .store(hasMaterial ? .disabled : .pendingImport)
        case .enableKey: return stored == .enabled ? .none : .store(.enabled)
        case .disableKey: return stored == .disabled ? .none : .store(.disabled)
        default: return .none
        }
    }

    static func pendingDeletion(_ arn: String) -> KMSError { KMSError(.kmsInvalidState, "\(arn) is pending deletion.") }
}
