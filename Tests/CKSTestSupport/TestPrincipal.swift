import CKSClient
import CKSWire
import Foundation

/// One principal of a principals file (`{"principals": [...]}`), as the core reads it.
public struct TestPrincipal: Codable, Sendable, Equatable {
    public var name: String
    public var account: String
    public var accessKeyId: String
    public var secretAccessKey: String
    public var allow: [String]

    public init(name: String, account: String, accessKeyId: String, secretAccessKey: String, allow: [String]) {
        self.name = name
        self.account = account
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.allow = allow
    }

    /// The keys a client signs with as this principal.
    public var credentials: AWSCredentials { AWSCredentials(accessKeyId: accessKeyId, secretAccessKey: secretAccessKey) }

    /// The admin of account 111122223333, allowed everything.
    public static let admin = TestPrincipal(
        name: "qa-admin", account: "111122223333",
        accessKeyId: "AKIAQAADMIN000000001", secretAccessKey: "qaAdminSecretKey0000000000000000000000001",
        allow: ["kms:*", "cks:*"])
    /// An admin of another account, 444455556666: must see nothing of the first.
    public static let otherAccount = TestPrincipal(
        name: "qa-other", account: "444455556666",
        accessKeyId: "AKIAQAOTHER000000002", secretAccessKey: "qaOtherSecretKey0000000000000000000000002",
        allow: ["kms:*", "cks:*"])
    /// A read-only operator of the first account: may describe and list, nothing else.
    public static let reader = TestPrincipal(
        name: "qa-reader", account: "111122223333",
        accessKeyId: "AKIAQAREADER00000003", secretAccessKey: "qaReaderSecretKey000000000000000000000003",
        allow: ["kms:Describe*", "kms:List*", "kms:Get*"])
    /// An operator who may do everything on keys and stores except delete stores, and no admin API.
    public static let operatorNoDelete = TestPrincipal(
        name: "qa-operator", account: "111122223333",
        accessKeyId: "AKIAQAOPERATOR000004", secretAccessKey: "qaOperatorSecretKey0000000000000000000004",
        allow: ["kms:Create*", "kms:Describe*", "kms:List*", "kms:Connect*", "kms:Disconnect*",
                "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:Encrypt", "kms:Decrypt"])

    public static let standardSet: [TestPrincipal] = [.admin, .otherAccount, .reader, .operatorNoDelete]
}

/// A CloudHSM key store named `name` on the core at `endpoint`, created by `principal` in `region` (with a
/// simulated cluster of its own).
public func principalCreatesCloudHsmStore(_ name: String, on endpoint: URL, as principal: TestPrincipal, region: String) async throws {
    let client = KMSClient(endpoint: endpoint, region: region, credentials: principal.credentials)
    defer { client.shutdown() }
    let cluster = try await client.createCloudHsmCluster(kmsUserPassword: "kmsuser-pass")
    _ = try await client.createCustomKeyStore(CreateCustomKeyStoreRequest(
        customKeyStoreName: name, cloudHsmClusterId: cluster.clusterId,
        trustAnchorCertificate: cluster.trustAnchorCertificate, keyStorePassword: "kmsuser-pass",
        customKeyStoreType: .awsCloudHsm))
}
