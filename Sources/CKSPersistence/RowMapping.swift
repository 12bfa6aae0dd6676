import CKSDomain
import Foundation
import GRDB

/// Column lists and row decoding, in one place so reader and writer agree.
enum Columns {
    static let store = """
        seq, id, account, region, name, type, creation_date, cluster_id, trust_anchor, key_store_password,
        xks_connectivity, xks_uri_endpoint, xks_uri_path, xks_vpc_service_name, xks_vpc_service_owner,
        xks_access_key_id, xks_secret, state, error_code, changed_at, settles_at, outcome, fault
        """
    static let key = """
        seq, id, account, region, creation_date, description, key_usage, key_spec, origin, store_id, state,
        deletion_date, pending_window, xks_key_id, material, last_used_operation, last_used_at,
        last_used_request, last_used_event
        """
    static let cluster = "id, account, region, hsm_count, kmsuser_password, trust_anchor, state, creation_date"
}

/// Undecodable rows mean a corrupted or foreign database: surfaced as an internal error, never a crash.
struct CorruptRow: Error, CustomStringConvertible {
    var what: String
    var description: String { "unreadable \(what) row in the database" }
}

func date(_ row: Row, _ column: String) -> Date? {
    (row[column] as Double?).map { Date(timeIntervalSince1970: $0) }
}

func decodeStore(_ row: Row) throws -> CustomKeyStore {
    guard let type = CustomKeyStoreType(rawValue: row["type"]),
          let state = ConnectionState(rawValue: row["state"]) else { throw CorruptRow(what: "store") }
    var cloudHsm: CloudHsmSettings?
    if let clusterId: String = row["cluster_id"] {
        cloudHsm = CloudHsmSettings(clusterId: clusterId, trustAnchorCertificate: row["trust_anchor"] ?? "",
                                    keyStorePassword: row["key_store_password"] ?? "")
    }
    var xks: XksProxySettings?
    if let c: String = row["xks_connectivity"], let connectivity = XksProxyConnectivity(rawValue: c) {
        xks = XksProxySettings(connectivity: connectivity, uriEndpoint: row["xks_uri_endpoint"] ?? "",
                               uriPath: row["xks_uri_path"] ?? "", vpcEndpointServiceName: row["xks_vpc_service_name"],
                               vpcEndpointServiceOwner: row["xks_vpc_service_owner"],
                               accessKeyId: row["xks_access_key_id"] ?? "", rawSecretAccessKey: row["xks_secret"] ?? "")
    }
    let connection = StoreConnection(
        state: state,
        errorCode: (row["error_code"] as String?).flatMap(ConnectionErrorCode.init(rawValue:)),
        changedAt: date(row, "changed_at") ?? Date(timeIntervalSince1970: 0),
        settlesAt: date(row, "settles_at"),
        outcome: (row["outcome"] as String?).flatMap(ConnectionErrorCode.init(rawValue:)))
    return CustomKeyStore(id: row["id"], scope: ResourceScope(account: row["account"], region: row["region"]),
                          name: row["name"], type: type, creationDate: date(row, "creation_date") ?? Date(timeIntervalSince1970: 0),
                          cloudHsm: cloudHsm, xks: xks, connection: connection,
                          connectionFault: (row["fault"] as String?).flatMap(ConnectionErrorCode.init(rawValue:)))
}

func storeArguments(_ s: CustomKeyStore) -> StatementArguments {
    [s.id, s.scope.account, s.scope.region, s.name, s.type.rawValue, s.creationDate.timeIntervalSince1970,
     s.cloudHsm?.clusterId, s.cloudHsm?.trustAnchorCertificate, s.cloudHsm?.keyStorePassword,
     s.xks?.connectivity.rawValue, s.xks?.uriEndpoint, s.xks?.uriPath, s.xks?.vpcEndpointServiceName,
     s.xks?.vpcEndpointServiceOwner, s.xks?.accessKeyId, s.xks?.rawSecretAccessKey,
     s.connection.state.rawValue, s.connection.errorCode?.rawValue, s.connection.changedAt.timeIntervalSince1970,
     s.connection.settlesAt?.timeIntervalSince1970, s.connection.outcome?.rawValue, s.connectionFault?.rawValue]
}

func decodeKey(_ row: Row) throws -> KMSKey {
    guard let origin = Origin(rawValue: row["origin"]), let state = KeyState(rawValue: row["state"]) else {
        throw CorruptRow(what: "key")
    }
    var usage: KeyLastUsage?
    if let op: String = row["last_used_operation"], let at = date(row, "last_used_at") {
        usage = KeyLastUsage(operation: op, timestamp: at, requestId: row["last_used_request"] ?? "",
                             cloudTrailEventId: row["last_used_event"] ?? "")
    }
    return KMSKey(id: row["id"], scope: ResourceScope(account: row["account"], region: row["region"]),
                  creationDate: date(row, "creation_date") ?? Date(timeIntervalSince1970: 0),
                  description: row["description"], keyUsage: row["key_usage"], keySpec: row["key_spec"],
                  origin: origin, customKeyStoreId: row["store_id"], storedState: state,
                  deletionDate: date(row, "deletion_date"), pendingWindowInDays: row["pending_window"],
                  xksKeyId: row["xks_key_id"], material: row["material"], lastUsage: usage)
}

func decodeCluster(_ row: Row, orphans: [OrphanedKeyMaterialRecord]) -> HsmCluster {
    HsmCluster(id: row["id"], scope: ResourceScope(account: row["account"], region: row["region"]),
                    hsmCount: row["hsm_count"], kmsUserPassword: row["kmsuser_password"],
                    trustAnchorCertificate: row["trust_anchor"], state: row["state"],
                    creationDate: date(row, "creation_date") ?? Date(timeIntervalSince1970: 0),
                    orphanedKeyMaterial: orphans)
}

func decodeAlias(_ row: Row) -> KMSAlias {
    KMSAlias(name: row["name"], scope: ResourceScope(account: row["account"], region: row["region"]),
             targetKeyId: row["key_id"], creationDate: date(row, "creation_date") ?? Date(timeIntervalSince1970: 0),
             lastUpdatedDate: date(row, "last_updated") ?? Date(timeIntervalSince1970: 0))
}
