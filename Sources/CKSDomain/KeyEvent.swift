import Foundation

/// One recorded call that touched a key: what CloudTrail would log as a management event of `kms.amazonaws.com`.
/// Kept 90 simulated days (`KeyEventRules.retention`), served by CloudTrail's LookupEvents.
public struct KeyEvent: Sendable, Hashable {
    /// A UUID, lower case: the CloudTrail `EventId` (and GetKeyLastUsage's `CloudTrailEventId`).
    public var eventId: String
    /// Simulated time of the call.
    public var time: Date
    public var scope: ResourceScope
    /// The key the call touched (its id), when known: nil for a reference to nothing (NotFoundException).
    public var keyId: String?
    /// The `KeyId` (or `TargetKeyId`, `DestinationKeyId`) parameter as the caller gave it.
    public var keyParameter: String?
    /// The operation (`Decrypt`).
    public var operation: String
    public var principalArn: String
    /// The principal's name, CloudTrail's `Username`.
    public var username: String
    public var accessKeyId: String?
    /// What allowed the call: `grant:<grant id>`, `principals-file`, or `denied`.
    public var source: String
    public var requestId: String
    /// The AWS error code of a refused or failed call, nil on success.
    public var errorCode: String?
    public var errorMessage: String?
    public var readOnly: Bool

    public init(eventId: String, time: Date, scope: ResourceScope, keyId: String?, keyParameter: String?,
                operation: String, principalArn: String, username: String, accessKeyId: String?, source: String,
                requestId: String, errorCode: String?, errorMessage: String?, readOnly: Bool) {
        self.eventId = eventId
        self.time = time
        self.scope = scope
        self.keyId = keyId
        self.keyParameter = keyParameter
        self.operation = operation
        self.principalArn = principalArn
        self.username = username
        self.accessKeyId = accessKeyId
        self.source = source
        self.requestId = requestId
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.readOnly = readOnly
    }

    /// The key's ARN, when the event names a key.
    public var keyArn: String? { keyId.map { scope.keyARN($0) } }
}

/// How long and how many events are kept.
public enum KeyEventRules {
    /// CloudTrail's LookupEvents window: 90 days (simulated).
    public static let retention: TimeInterval = 90 * 86_400
    /// Operations that only read (CloudTrail's `readOnly`).
    public static let readOnlyOperations: Set<String> = [
        "DescribeKey", "ListGrants", "ListRetirableGrants", "GetKeyPolicy", "ListKeyPolicies", "ListResourceTags",
        "GetKeyLastUsage", "ListAliases", "Encrypt", "Decrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
        "ReEncrypt",
    ]
}
