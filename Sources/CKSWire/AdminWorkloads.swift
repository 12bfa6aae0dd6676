import CKSDomain
import Foundation

// MARK: - StartWorkload / StopWorkload

/// Starts a simulated application that uses a key every `EveryMinutes` simulated minutes as `Principal` (an IAM
/// ARN): each use is recorded like a real call (CloudTrail LookupEvents, GetKeyLastUsage), and fails the way the
/// call would (DisabledException once the key is disabled). Workloads survive restarts; after AdvanceClock the
/// uses of the skipped period appear as if the workload had run through it.
public struct StartWorkloadRequest: WireRequest, Hashable {
    public typealias Response = StartWorkloadResponse
    public static let target = "CksAdmin.StartWorkload"
    public static let wireSchema = WireStructure(name: "StartWorkloadRequest", members: [
        WireMember("KeyId", required: true, .string(WireStringRules(min: 1, max: 2048))),
        WireMember("Operation", required: true, .string(WireStringRules(enumValues: StartWorkloadRequest.operations))),
        WireMember("Principal", required: true, .string(WireStringRules(min: 1, max: 256, pattern: #"^arn:aws[\w-]*:(iam|sts)::\d{12}:[\w+=,.@/-]+$"#))),
        WireMember("EveryMinutes", required: true, .integer(min: 1, max: 525_600, bits: 32)),
    ])

    /// The operations a workload can perform.
    public static let operations = ["Encrypt", "Decrypt", "GenerateDataKey"]

    public var keyId: String
    public var operation: String
    public var principal: String
    public var everyMinutes: Int

    public init(keyId: String, operation: String, principal: String, everyMinutes: Int) {
        self.keyId = keyId
        self.operation = operation
        self.principal = principal
        self.everyMinutes = everyMinutes
    }

    enum CodingKeys: String, CodingKey {
        case keyId = "KeyId"
        case operation = "Operation"
        case principal = "Principal"
        case everyMinutes = "EveryMinutes"
    }
}

public struct StartWorkloadResponse: Codable, Sendable, Hashable {
    public var workloadId: String

    public init(workloadId: String) { self.workloadId = workloadId }

    enum CodingKeys: String, CodingKey { case workloadId = "WorkloadId" }
}

/// Stops a workload; its recorded uses stay.
public struct StopWorkloadRequest: WireRequest, Hashable {
    public typealias Response = EmptyResponse
    public static let target = "CksAdmin.StopWorkload"
    public static let wireSchema = WireStructure(name: "StopWorkloadRequest", members: [
        WireMember("WorkloadId", required: true, .string(WireStringRules(min: 1, max: 64))),
    ])

    public var workloadId: String

    public init(workloadId: String) { self.workloadId = workloadId }

    enum CodingKeys: String, CodingKey { case workloadId = "WorkloadId" }
}
