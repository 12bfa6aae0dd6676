import CKSClient
import CKSServer
import CKSWire
import Foundation

/// The demo beyond its main estate: a second account (principal `ops`) and a second region (`eu-west-1`), each
/// with a few stores, so contexts, the region picker and the all-stores view have something real to show. The main
/// estate (`DemoEstate`) stays in the admin's account in the demo's region.
public enum DemoScopes {
    /// The second account's principal and account id.
    public static let opsPrincipal = "ops"
    public static let opsAccount = "444455556666"
    /// The demo's second region.
    public static let secondRegion = "eu-west-1"
    /// Context names of the demo: the admin's account and the ops account.
    public static let adminContext = "demo"
    public static let opsContext = "demo-ops"

    /// Stores per scope: (principal, region) → names; the first of each is connected.
    public static let stores: [(principal: String, region: String?, names: [String])] = [
        ("admin", secondRegion, ["payments-hsm-eu", "ledger-hsm-eu"]),
        (opsPrincipal, nil, ["ops-hsm", "ops-archive-hsm"]),
        (opsPrincipal, secondRegion, ["ops-hsm-eu"]),
    ]

    /// Writes the demo core's principals file before it starts: a fresh admin (account 111122223333) and `ops` in
    /// account 444455556666 (mode 0600, as the core requires).
    public static func writePrincipals(in directory: URL) throws {
        let admin = PrincipalDirectory.freshAdmin()
        var ops = PrincipalDirectory.freshAdmin()
        ops.name = opsPrincipal
        ops.account = opsAccount
        struct File: Encodable { var principals: [Principal] }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(File(principals: [admin, ops]))
        let url = directory.appendingPathComponent("principals.json")
        guard FileManager.default.createFile(atPath: url.path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw CoreStartError("cannot write the demo's principals file \(url.path)")
        }
    }

    /// The principal named `name` of the demo core.
    public static func principal(_ name: String, of core: EmbeddedCore) -> Principal? {
        (try? PrincipalDirectory.load(from: core.server.principalsFile, createIfMissing: false))?.0.principals
            .first { $0.name == name }
    }

    /// Creates the other scopes' stores (through the client, signed as each scope's principal, in process).
    /// - Parameter wrap: wraps the in-process transport (the console reports the calls to its Activity pane).
    public static func seed(core: EmbeddedCore, wrap: (any KMSTransport) -> any KMSTransport = { $0 }) async throws {
        for scope in stores {
            guard let principal = principal(scope.principal, of: core) else { continue }
            let client = KMSClient(endpoint: core.endpoint, region: scope.region ?? core.region,
                                   credentials: AWSCredentials(accessKeyId: principal.accessKeyId,
                                                               secretAccessKey: principal.secretAccessKey),
                                   transport: wrap(InProcessTransport(core: core)))
            defer { client.shutdown() }
            for (index, name) in scope.names.enumerated() {
                let password = "kmsuser-\(name)"
                let cluster = try await client.createCloudHsmCluster(kmsUserPassword: password, hsmCount: 2)
                let id = try await client.createCustomKeyStore(CreateCustomKeyStoreRequest(
                    customKeyStoreName: name, cloudHsmClusterId: cluster.clusterId,
                    trustAnchorCertificate: cluster.trustAnchorCertificate, keyStorePassword: password,
                    customKeyStoreType: .awsCloudHsm)).customKeyStoreId ?? ""
                if index == 0 { try await client.connectCustomKeyStore(id: id) }
            }
        }
    }
}
