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

func date(_ row: Row, _ index: Int) -> Date? {
    (row[index] as Double?).map { Date(timeIntervalSince1970: $0) }
}

extension DataReader {
    /// Decodes a row selected with `Columns.store`, by position (the hot paths read by index, not by name),
    /// unsealing its password or XKS secret.
    func decodeStore(_ row: Row) throws -> CustomKeyStore {
        guard let type = CustomKeyStoreType(rawValue: row[5]),
              let state = ConnectionState(rawValue: row[17]) else { throw CorruptRow(what: "store") }
        let id: String = row[1]
        var cloudHsm: CloudHsmSettings?
        if let clusterId: String = row[7] {
            let password = try secrets.openText(row[9], SecretSealer.storePasswordContext(id))
            cloudHsm = CloudHsmSettings(clusterId: clusterId, trustAnchorCertificate: row[8] ?? "", keyStorePassword: password ?? "")
        }
        var xks: XksProxySettings?
        if let c: String = row[10], let connectivity = XksProxyConnectivity(rawValue: c) {
            let secret = try secrets.openText(row[16], SecretSealer.storeXksSecretContext(id))
            xks = XksProxySettings(connectivity: connectivity, uriEndpoint: row[11] ?? "", uriPath: row[12] ?? "",
                                   vpcEndpointServiceName: row[13], vpcEndpointServiceOwner: row[14],
                                   accessKeyId: row[15] ?? "", rawSecretAccessKey: secret ?? "")
        }
        let connection = StoreConnection(
            state: state,
            errorCode: (row[18] as String?).flatMap(ConnectionErrorCode.init(rawValue:)),
            changedAt: date(row, 19) ?? Date(timeIntervalSince1970: 0),
            settlesAt: date(row, 20),
            outcome: (row[21] as String?).flatMap(ConnectionErrorCode.init(rawValue:)))
        return CustomKeyStore(id: id, scope: ResourceScope(account: row[2], region: row[3]),
                              name: row[4], type: type, creationDate: date(row, 6) ?? Date(timeIntervalSince1970: 0),
                              cloudHsm: cloudHsm, xks: xks, connection: connection,
                              connectionFault: (row[22] as String?).flatMap(ConnectionErrorCode.init(rawValue:)))
    }

    /// The arguments of a store's INSERT or UPDATE, its password and XKS secret sealed.
    func storeArguments(_ s: CustomKeyStore) -> StatementArguments {
        [s.id, s.scope.account, s.scope.region, s.name, s.type.rawValue, s.creationDate.timeIntervalSince1970,
         s.cloudHsm?.clusterId, s.cloudHsm?.trustAnchorCertificate,
         secrets.sealText(s.cloudHsm?.keyStorePassword, SecretSealer.storePasswordContext(s.id)),
         s.xks?.connectivity.rawValue, s.xks?.uriEndpoint, s.xks?.uriPath, s.xks?.vpcEndpointServiceName,
         s.xks?.vpcEndpointServiceOwner, s.xks?.accessKeyId,
         secrets.sealText(s.xks?.rawSecretAccessKey, SecretSealer.storeXksSecretContext(s.id)),
         s.connection.state.rawValue, s.connection.errorCode?.rawValue, s.connection.changedAt.timeIntervalSince1970,
         s.connection.settlesAt?.timeIntervalSince1970, s.connection.outcome?.rawValue, s.connectionFault?.rawValue]
    }

    /// A key decoded by `decodeKey`, its material unsealed.
    func unsealed(_ key: KMSKey) throws -> KMSKey {
        guard key.material != nil else { return key }
        var key = key
        key.material = try secrets.openMaterial(key.material, keyId: key.id)
        return key
    }

    func decodeCluster(_ row: Row, orphans: [OrphanedKeyMaterialRecord]) throws -> HsmCluster {
        let id: String = row["id"]
        return HsmCluster(id: id, scope: ResourceScope(account: row["account"], region: row["region"]),
                          hsmCount: row["hsm_count"],
                          kmsUserPassword: try secrets.openText(row["kmsuser_password"], SecretSealer.clusterPasswordContext(id)) ?? "",
                          trustAnchorCertificate: row["trust_anchor"], state: row["state"],
                          creationDate: date(row, "creation_date") ?? Date(timeIntervalSince1970: 0),
                          orphanedKeyMaterial: orphans)
    }
}

/// A key decoded straight from the statement's current row: `Row.fetchOne` would first copy all 19 values.
struct DecodedKey: FetchableRecord {
    var key: KMSKey
    init(row: Row) throws { key = try decodeKey(row) }
}

/// Decodes a row selected with `Columns.key`, by position; the material as stored (sealed), see `unsealed`.
func decodeKey(_ row: Row) throws -> KMSKey {
    guard let origin = Origin(rawValue: row[8]), let state = KeyState(rawValue: row[10]) else {
        throw CorruptRow(what: "key")
    }
    var usage: KeyLastUsage?
    if let op: String = row[15], let at = date(row, 16) {
        usage = KeyLastUsage(operation: op, timestamp: at, requestId: row[17] ?? "", cloudTrailEventId: row[18] ?? "")
    }
    return KMSKey(id: row[1], scope: ResourceScope(account: row[2], region: row[3]),
                  creationDate: date(row, 4) ?? Date(timeIntervalSince1970: 0),
                  description: row[5], keyUsage: row[6], keySpec: row[7],
                  origin: origin, customKeyStoreId: row[9], storedState: state,
                  deletionDate: date(row, 11), pendingWindowInDays: row[12],
                  xksKeyId: row[13], material: row[14], lastUsage: usage)
}

func decodeAlias(_ row: Row) -> KMSAlias {
    KMSAlias(name: row["name"], scope: ResourceScope(account: row["account"], region: row["region"]),
             targetKeyId: row["key_id"], creationDate: date(row, "creation_date") ?? Date(timeIntervalSince1970: 0),
             lastUpdatedDate: date(row, "last_updated") ?? Date(timeIntervalSince1970: 0))
}
