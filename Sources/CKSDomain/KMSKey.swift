import Foundation

/// The last successful cryptographic use of a key (`GetKeyLastUsage`).
public struct KeyLastUsage: Sendable, Hashable, Codable {
    /// A `KeyLastUsageTrackingOperation` value such as `Encrypt`.
    public var operation: String
    public var timestamp: Date
    public var requestId: String
    public var cloudTrailEventId: String

    public init(operation: String, timestamp: Date, requestId: String, cloudTrailEventId: String) {
        self.operation = operation
        self.timestamp = timestamp
        self.requestId = requestId
        self.cloudTrailEventId = cloudTrailEventId
    }
}

/// A KMS key as persisted. `storedState` is what the key is in its own right (Enabled, Disabled,
/// PendingDeletion, PendingImport); the state callers see also depends on its custom key store
/// (`effectiveState(storeState:)`). While the store is not connected the stored state is kept, which is
/// how the previous state comes back on reconnect and how Enable/Disable take effect only then.
public struct KMSKey: Sendable, Hashable {
    public var id: String
    public var scope: ResourceScope
    public var creationDate: Date
    public var description: String
    public var keyUsage: String
    public var keySpec: String
    public var origin: Origin
    public var customKeyStoreId: String?
    public var storedState: KeyState
    /// Set while PendingDeletion: the time after which the key is deleted.
    public var deletionDate: Date?
    public var pendingWindowInDays: Int?
    public var xksKeyId: String?
    /// 32 bytes of AES-256 key material (absent for PendingImport keys).
    public var material: Data?
    public var lastUsage: KeyLastUsage?

    public init(id: String, scope: ResourceScope, creationDate: Date, description: String = "",
                keyUsage: String = "ENCRYPT_DECRYPT", keySpec: String = "SYMMETRIC_DEFAULT", origin: Origin,
                customKeyStoreId: String? = nil, storedState: KeyState, deletionDate: Date? = nil,
                pendingWindowInDays: Int? = nil, xksKeyId: String? = nil, material: Data? = nil,
                lastUsage: KeyLastUsage? = nil) {
        self.id = id
        self.scope = scope
        self.creationDate = creationDate
        self.description = description
        self.keyUsage = keyUsage
        self.keySpec = keySpec
        self.origin = origin
        self.customKeyStoreId = customKeyStoreId
        self.storedState = storedState
        self.deletionDate = deletionDate
        self.pendingWindowInDays = pendingWindowInDays
        self.xksKeyId = xksKeyId
        self.material = material
        self.lastUsage = lastUsage
    }

    /// `arn:aws:kms:REGION:ACCOUNT:key/ID`.
    public var arn: String { scope.keyARN(id) }

    /// The state callers see (semantics §2.2): PendingDeletion wins; otherwise a key in a custom key store
    /// that is not CONNECTED is Unavailable; otherwise the stored state. `storeState` is nil for keys
    /// outside custom key stores.
    public func effectiveState(storeState: ConnectionState?) -> KeyState {
        KeyStates.effective(stored: storedState, storeState: storeState)
    }

    /// Whether the waiting period has ended at `now`, i.e. the key no longer exists.
    public func isDeleted(at now: Date) -> Bool {
        guard storedState == .pendingDeletion, let deletionDate else { return false }
        return now >= deletionDate
    }
}

/// Key-state arithmetic (semantics §2.2, §2.4).
public enum KeyStates {
    /// Effective state from the stored state and the store's connection state (nil: no custom key store).
    public static func effective(stored: KeyState, storeState: ConnectionState?) -> KeyState {
        if stored == .pendingDeletion { return .pendingDeletion }
        if let storeState, storeState != .connected { return .unavailable }
        return stored
    }

    /// `PendingWindowInDays`: 7–30, default 30, enforced by the service although the model allows 1–365.
    public static func pendingWindow(_ requested: Int?) throws(KMSError) -> Int {
        guard let requested else { return 30 }
        guard (7...30).contains(requested) else {
            throw KMSError(.validation, "PendingWindowInDays must be between 7 and 30")
        }
        return requested
    }

    /// The deletion date for a window starting at `now`.
    public static func deletionDate(from now: Date, windowInDays: Int) -> Date {
        now.addingTimeInterval(TimeInterval(windowInDays) * 86_400)
    }
}
