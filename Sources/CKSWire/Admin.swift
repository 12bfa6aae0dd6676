import CKSDomain
import Foundation

// The core's admin API: simulated CloudHSM clusters and XKS proxies, connection faults and the simulated clock.
// Same endpoint, same SigV4 signing, same JSON error format as TrentService; targets `CksAdmin.<Op>`, IAM actions
// `cks:<Op>`. Written by hand (there is no botocore model); members are PascalCase on the wire like KMS.

/// The admin API's operations, keyed by target.
public enum CksAdmin {
    public static let targetPrefix = "CksAdmin"
    public static let operations: [String: WireOperation] = WireOperation.table([
        WireOperation(CreateCloudHsmClusterRequest.self),
        WireOperation(DescribeCloudHsmClustersRequest.self),
        WireOperation(UpdateCloudHsmClusterRequest.self),
        WireOperation(CreateXksProxyRequest.self),
        WireOperation(SetConnectionFaultRequest.self),
        WireOperation(GetClockRequest.self),
        WireOperation(AdvanceClockRequest.self),
        WireOperation(GetCallerIdentityRequest.self),
        WireOperation(StartWorkloadRequest.self),
        WireOperation(StopWorkloadRequest.self),
    ])

    /// Operations every authenticated principal may call, whatever its `allow` list (as STS's GetCallerIdentity).
    public static let unrestrictedTargets: Set<String> = [GetCallerIdentityRequest.target]

    /// CloudHSM cluster states (the subset a simulated cluster uses). Only `ACTIVE` clusters back a key store.
    public static let clusterStates = ["ACTIVE", "DEGRADED", "UNINITIALIZED", "INITIALIZED", "UPDATE_IN_PROGRESS",
                                       "DELETE_IN_PROGRESS", "DELETED"]
}

private let hsmCountShape = WireShape.integer(min: 0, max: 28, bits: 32)
private let clusterIdShape = WireShape.string(WireStringRules(min: 19, max: 24, pattern: "cluster-[2-7a-zA-Z]{11,16}"))
private let kmsUserPasswordShape = WireShape.string(WireStringRules(min: 7, max: 32, sensitive: true))

// MARK: - CreateCloudHsmCluster

/// Creates a simulated CloudHSM cluster, ACTIVE, with `HsmCount` HSMs (default 2) and a `kmsuser` crypto user
/// whose password is `KmsUserPassword`. Returns its id and trust anchor certificate (for CreateCustomKeyStore).
public struct CreateCloudHsmClusterRequest: WireRequest, Hashable {
    public typealias Response = CreateCloudHsmClusterResponse
    public static let target = "CksAdmin.CreateCloudHsmCluster"
    public static let wireSchema = WireStructure(name: "CreateCloudHsmClusterRequest", members: [
        WireMember("HsmCount", required: false, hsmCountShape),
        WireMember("KmsUserPassword", required: true, kmsUserPasswordShape),
    ])

    public var hsmCount: Int?
    public var kmsUserPassword: String

    public init(hsmCount: Int? = nil, kmsUserPassword: String) {
        self.hsmCount = hsmCount
        self.kmsUserPassword = kmsUserPassword
    }

    enum CodingKeys: String, CodingKey {
        case hsmCount = "HsmCount"
        case kmsUserPassword = "KmsUserPassword"
    }
}

extension CreateCloudHsmClusterRequest: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        WireRedaction.describe("CreateCloudHsmClusterRequest", [
            ("HsmCount", hsmCount.map(WireRedaction.show)), ("KmsUserPassword", WireRedaction.redacted),
        ])
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: [(label: "hsmCount", value: hsmCount as Any),
                                (label: "kmsUserPassword", value: WireRedaction.redacted as Any)], displayStyle: .struct)
    }
}

public struct CreateCloudHsmClusterResponse: Codable, Sendable, Hashable {
    public var clusterId: String
    public var trustAnchorCertificate: String

    public init(clusterId: String, trustAnchorCertificate: String) {
        self.clusterId = clusterId
        self.trustAnchorCertificate = trustAnchorCertificate
    }

    enum CodingKeys: String, CodingKey {
        case clusterId = "ClusterId"
        case trustAnchorCertificate = "TrustAnchorCertificate"
    }
}

// MARK: - DescribeCloudHsmClusters

/// Lists the caller's simulated clusters (optionally one), with HSM count, kmsuser and orphaned key material.
public struct DescribeCloudHsmClustersRequest: WireRequest, Hashable {
    public typealias Response = DescribeCloudHsmClustersResponse
    public static let target = "CksAdmin.DescribeCloudHsmClusters"
    public static let wireSchema = WireStructure(name: "DescribeCloudHsmClustersRequest", members: [
        WireMember("ClusterId", required: false, clusterIdShape),
    ])

    public var clusterId: String?

    public init(clusterId: String? = nil) { self.clusterId = clusterId }

    enum CodingKeys: String, CodingKey { case clusterId = "ClusterId" }
}

public struct DescribeCloudHsmClustersResponse: Codable, Sendable, Hashable {
    public var clusters: [CloudHsmCluster]

    public init(clusters: [CloudHsmCluster]) { self.clusters = clusters }

    enum CodingKeys: String, CodingKey { case clusters = "Clusters" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        clusters = try c.decodeIfPresent([CloudHsmCluster].self, forKey: .clusters) ?? []
    }
}

/// A simulated CloudHSM cluster as the admin API shows it. The kmsuser password is never returned.
public struct CloudHsmCluster: Codable, Sendable, Hashable {
    public var clusterId: String
    /// One of `CksAdmin.clusterStates`.
    public var state: String?
    public var hsmCount: Int?
    public var trustAnchorCertificate: String?
    /// The crypto user KMS logs in as (always `kmsuser`).
    public var kmsUserName: String?
    /// The custom key store associated with the cluster, if any.
    public var customKeyStoreId: String?
    public var creationDate: Date?
    /// Key material left on the cluster because its KMS key was deleted while the store was disconnected.
    public var orphanedKeyMaterial: [OrphanedKeyMaterial]?

    public init(clusterId: String, state: String? = nil, hsmCount: Int? = nil, trustAnchorCertificate: String? = nil,
                kmsUserName: String? = nil, customKeyStoreId: String? = nil, creationDate: Date? = nil,
                orphanedKeyMaterial: [OrphanedKeyMaterial]? = nil) {
        self.clusterId = clusterId
        self.state = state
        self.hsmCount = hsmCount
        self.trustAnchorCertificate = trustAnchorCertificate
        self.kmsUserName = kmsUserName
        self.customKeyStoreId = customKeyStoreId
        self.creationDate = creationDate
        self.orphanedKeyMaterial = orphanedKeyMaterial
    }

    enum CodingKeys: String, CodingKey {
        case clusterId = "ClusterId"
        case state = "State"
        case hsmCount = "HsmCount"
        case trustAnchorCertificate = "TrustAnchorCertificate"
        case kmsUserName = "KmsUserName"
        case customKeyStoreId = "CustomKeyStoreId"
        case creationDate = "CreationDate"
        case orphanedKeyMaterial = "OrphanedKeyMaterial"
    }
}

/// Key material of a deleted KMS key still present on a cluster (to be removed by hand, as with AWS).
public struct OrphanedKeyMaterial: Codable, Sendable, Hashable {
    /// The id of the KMS key that was deleted.
    public var keyId: String
    /// The key's handle (label) on the HSMs.
    public var keyHandle: String?
    public var customKeyStoreId: String?
    /// When the KMS key was deleted.
    public var deletionDate: Date?

    public init(keyId: String, keyHandle: String? = nil, customKeyStoreId: String? = nil, deletionDate: Date? = nil) {
        self.keyId = keyId
        self.keyHandle = keyHandle
        self.customKeyStoreId = customKeyStoreId
        self.deletionDate = deletionDate
    }

    enum CodingKeys: String, CodingKey {
        case keyId = "KeyId"
        case keyHandle = "KeyHandle"
        case customKeyStoreId = "CustomKeyStoreId"
        case deletionDate = "DeletionDate"
    }
}

// MARK: - UpdateCloudHsmCluster

/// Changes a simulated cluster: take HSMs away (or add them), change its state, or change the kmsuser password.
/// Returns the cluster as DescribeCloudHsmClusters shows it.
public struct UpdateCloudHsmClusterRequest: WireRequest, Hashable {
    public typealias Response = UpdateCloudHsmClusterResponse
    public static let target = "CksAdmin.UpdateCloudHsmCluster"
    public static let wireSchema = WireStructure(name: "UpdateCloudHsmClusterRequest", members: [
        WireMember("ClusterId", required: true, clusterIdShape),
        WireMember("HsmCount", required: false, hsmCountShape),
        WireMember("State", required: false, .string(WireStringRules(enumValues: CksAdmin.clusterStates))),
        WireMember("KmsUserPassword", required: false, kmsUserPasswordShape),
    ])

    public var clusterId: String
    public var hsmCount: Int?
    public var state: String?
    public var kmsUserPassword: String?

    public init(clusterId: String, hsmCount: Int? = nil, state: String? = nil, kmsUserPassword: String? = nil) {
        self.clusterId = clusterId
        self.hsmCount = hsmCount
        self.state = state
        self.kmsUserPassword = kmsUserPassword
    }

    enum CodingKeys: String, CodingKey {
        case clusterId = "ClusterId"
        case hsmCount = "HsmCount"
        case state = "State"
        case kmsUserPassword = "KmsUserPassword"
    }
}

extension UpdateCloudHsmClusterRequest: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        WireRedaction.describe("UpdateCloudHsmClusterRequest", [
            ("ClusterId", WireRedaction.show(clusterId)), ("HsmCount", hsmCount.map(WireRedaction.show)),
            ("State", state.map(WireRedaction.show)),
            ("KmsUserPassword", kmsUserPassword == nil ? nil : WireRedaction.redacted),
        ])
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: [(label: "clusterId", value: clusterId as Any), (label: "hsmCount", value: hsmCount as Any),
                                (label: "state", value: state as Any),
                                (label: "kmsUserPassword", value: WireRedaction.redacted as Any)], displayStyle: .struct)
    }
}

public struct UpdateCloudHsmClusterResponse: Codable, Sendable, Hashable {
    public var cluster: CloudHsmCluster?

    public init(cluster: CloudHsmCluster?) { self.cluster = cluster }

    enum CodingKeys: String, CodingKey { case cluster = "Cluster" }
}

// MARK: - CreateXksProxy

/// Registers a simulated external key store proxy at `UriEndpoint` + `UriPath` that accepts the given
/// authentication credential and holds the external keys `ExternalKeyIds`. Optionally reachable through a VPC
/// endpoint service of that name.
public struct CreateXksProxyRequest: WireRequest, Hashable {
    public typealias Response = EmptyResponse
    public static let target = "CksAdmin.CreateXksProxy"
    public static let wireSchema = WireStructure(name: "CreateXksProxyRequest", members: [
        WireMember("UriEndpoint", required: true, XksProxyConfigurationType.wireSchema.shape(of: "UriEndpoint")),
        WireMember("UriPath", required: true, XksProxyConfigurationType.wireSchema.shape(of: "UriPath")),
        WireMember("AccessKeyId", required: true, XksProxyAuthenticationCredentialType.wireSchema.shape(of: "AccessKeyId")),
        WireMember("RawSecretAccessKey", required: true,
                   XksProxyAuthenticationCredentialType.wireSchema.shape(of: "RawSecretAccessKey")),
        WireMember("ExternalKeyIds", required: false,
                   .list(member: CreateKeyRequest.wireSchema.shape(of: "XksKeyId"), min: nil, max: 1000)),
        WireMember("VpcEndpointServiceName", required: false,
                   XksProxyConfigurationType.wireSchema.shape(of: "VpcEndpointServiceName")),
    ])

    public var uriEndpoint: String
    public var uriPath: String
    public var accessKeyId: String
    public var rawSecretAccessKey: String
    public var externalKeyIds: [String]?
    public var vpcEndpointServiceName: String?

    public init(uriEndpoint: String, uriPath: String, accessKeyId: String, rawSecretAccessKey: String,
                externalKeyIds: [String]? = nil, vpcEndpointServiceName: String? = nil) {
        self.uriEndpoint = uriEndpoint
        self.uriPath = uriPath
        self.accessKeyId = accessKeyId
        self.rawSecretAccessKey = rawSecretAccessKey
        self.externalKeyIds = externalKeyIds
        self.vpcEndpointServiceName = vpcEndpointServiceName
    }

    enum CodingKeys: String, CodingKey {
        case uriEndpoint = "UriEndpoint"
        case uriPath = "UriPath"
        case accessKeyId = "AccessKeyId"
        case rawSecretAccessKey = "RawSecretAccessKey"
        case externalKeyIds = "ExternalKeyIds"
        case vpcEndpointServiceName = "VpcEndpointServiceName"
    }
}

extension CreateXksProxyRequest: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        WireRedaction.describe("CreateXksProxyRequest", [
            ("UriEndpoint", WireRedaction.show(uriEndpoint)), ("UriPath", WireRedaction.show(uriPath)),
            ("AccessKeyId", WireRedaction.redacted), ("RawSecretAccessKey", WireRedaction.redacted),
            ("ExternalKeyIds", externalKeyIds.map(WireRedaction.show)),
            ("VpcEndpointServiceName", vpcEndpointServiceName.map(WireRedaction.show)),
        ])
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: [(label: "uriEndpoint", value: uriEndpoint as Any), (label: "uriPath", value: uriPath as Any),
                                (label: "accessKeyId", value: WireRedaction.redacted as Any),
                                (label: "rawSecretAccessKey", value: WireRedaction.redacted as Any),
                                (label: "externalKeyIds", value: externalKeyIds as Any),
                                (label: "vpcEndpointServiceName", value: vpcEndpointServiceName as Any)],
               displayStyle: .struct)
    }
}

// MARK: - SetConnectionFault

/// Makes every following connect of the store end FAILED with `ConnectionErrorCode`; null (or absent) clears it.
public struct SetConnectionFaultRequest: WireRequest, Hashable {
    public typealias Response = EmptyResponse
    public static let target = "CksAdmin.SetConnectionFault"
    public static let wireSchema = WireStructure(name: "SetConnectionFaultRequest", members: [
        WireMember("CustomKeyStoreId", required: true, .string(WireStringRules(min: 1, max: 64))),
        WireMember("ConnectionErrorCode", required: false,
                   .string(WireStringRules(enumValues: ConnectionErrorCode.allCases.map(\.rawValue)))),
    ])

    public var customKeyStoreId: String
    public var connectionErrorCode: ConnectionErrorCode?

    public init(customKeyStoreId: String, connectionErrorCode: ConnectionErrorCode?) {
        self.customKeyStoreId = customKeyStoreId
        self.connectionErrorCode = connectionErrorCode
    }

    enum CodingKeys: String, CodingKey {
        case customKeyStoreId = "CustomKeyStoreId"
        case connectionErrorCode = "ConnectionErrorCode"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        customKeyStoreId = try c.decode(String.self, forKey: .customKeyStoreId)
        connectionErrorCode = c.decodeLenientEnum(ConnectionErrorCode.self, forKey: .connectionErrorCode)
    }

    /// Writes `"ConnectionErrorCode": null` when clearing, so the intent is explicit on the wire.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(customKeyStoreId, forKey: .customKeyStoreId)
        if let connectionErrorCode { try c.encode(connectionErrorCode, forKey: .connectionErrorCode) }
        else { try c.encodeNil(forKey: .connectionErrorCode) }
    }
}

// MARK: - Clock

/// The simulated clock: `now = wall clock × time-scale + offset`.
public struct GetClockRequest: WireRequest, Hashable {
    public typealias Response = ClockResponse
    public static let target = "CksAdmin.GetClock"
    public static let wireSchema = WireStructure(name: "GetClockRequest", members: [])

    public init() {}
    public init(from decoder: any Decoder) throws {}
    public func encode(to encoder: any Encoder) throws { _ = encoder.container(keyedBy: WireNoKeys.self) }
}

/// Moves the simulated clock forward by `Seconds` (persisted); time-based changes follow at once.
public struct AdvanceClockRequest: WireRequest, Hashable {
    public typealias Response = ClockResponse
    public static let target = "CksAdmin.AdvanceClock"
    /// A JSON number, checked here rather than truncated as KMS's integer members are: the admin API refuses a
    /// fraction of a second instead of dropping it.
    public static let wireSchema = WireStructure(name: "AdvanceClockRequest", members: [
        WireMember("Seconds", required: true, .double),
    ])

    public var seconds: Int

    public init(seconds: Int) { self.seconds = seconds }

    public init(from decoder: any Decoder) throws {
        let value = try decoder.container(keyedBy: CodingKeys.self).decode(Double.self, forKey: .seconds)
        guard value.isFinite, value >= 0 else {
            let shown = value.isFinite && value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
            throw KMSError(.validation, "1 validation error detected: Value '\(shown)' at 'seconds' failed to satisfy "
                + "constraint: Member must have value greater than or equal to 0")
        }
        guard value == value.rounded(.towardZero) else {
            throw KMSError(.validation, "Seconds must be a whole number of seconds (got \(value)): the simulated clock "
                + "moves in whole seconds, and a fraction is refused rather than dropped")
        }
        guard value <= 9.2e18 else { throw KMSError(.validation, "Seconds must be at most 3153600000 (100 years)") }
        seconds = Int(value)
    }

    enum CodingKeys: String, CodingKey { case seconds = "Seconds" }
}

/// `{"Now": epochSeconds}`: the simulated time after the call.
public struct ClockResponse: Codable, Sendable, Hashable {
    public var now: Date

    public init(now: Date) { self.now = now }

    enum CodingKeys: String, CodingKey { case now = "Now" }
}

// MARK: - Caller identity

/// Who the signed request comes from, as STS's GetCallerIdentity says it: the journal records a teardown's principal
/// by name and ARN rather than by access key id. Every authenticated principal may call it.
public struct GetCallerIdentityRequest: WireRequest, Hashable {
    public typealias Response = CallerIdentityResponse
    public static let target = "CksAdmin.GetCallerIdentity"
    public static let wireSchema = WireStructure(name: "GetCallerIdentityRequest", members: [])

    public init() {}
    public init(from decoder: any Decoder) throws {}
    public func encode(to encoder: any Encoder) throws { _ = encoder.container(keyedBy: WireNoKeys.self) }
}

/// `{"Account", "Arn", "UserId"}` (the principal's name), as STS answers.
public struct CallerIdentityResponse: Codable, Sendable, Hashable {
    public var account: String
    public var arn: String
    public var userId: String

    public init(account: String, arn: String, userId: String) {
        self.account = account
        self.arn = arn
        self.userId = userId
    }

    enum CodingKeys: String, CodingKey { case account = "Account", arn = "Arn", userId = "UserId" }
}

extension WireStructure {
    /// The shape of a member (admin shapes reuse the KMS constraints). Traps on a misspelt name: a programming error
    /// caught by the first test that touches the schema.
    public func shape(of member: String) -> WireShape {
        guard let found = members.first(where: { $0.name == member }) else {
            preconditionFailure("\(name) has no member \(member)")
        }
        return found.shape
    }
}
