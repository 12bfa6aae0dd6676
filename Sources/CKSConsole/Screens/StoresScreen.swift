import CKSDomain
import CKSTeardown
import Foundation

/// A row of the Stores screen: the store and, once counted, its keys.
public struct StoreRow: Identifiable, Sendable, Hashable {
    public var record: StoreRecord
    public var census: KeyCensus?
    /// The keys may not be counted (the principal cannot list them): "-", not "counting…".
    public var uncounted = false
    /// The count comes from the key index (a key's store never changes) and its states are not described yet: the
    /// total is known, the pending deletions are not.
    public var statesUnconfirmed = false
    public var id: String { record.id }

    public init(record: StoreRecord, census: KeyCensus?, uncounted: Bool = false, statesUnconfirmed: Bool = false) {
        self.record = record
        self.census = census
        self.uncounted = uncounted
        self.statesUnconfirmed = statesUnconfirmed
    }

    /// A count column's text: the number, "-" when it may not be counted, "…" while counting.
    func count(_ value: (KeyCensus) -> Int) -> String { census.map { String(value($0)) } ?? (uncounted ? "-" : "…") }

    /// The pending deletions: "…" until the states are described.
    var pendingText: String { statesUnconfirmed && census != nil ? "…" : count(\.pendingDeletion) }
}

/// The Stores screen: columns, the details of the selected store, and what each state means.
@MainActor
enum StoresScreen {
    static func makeTable(formatting: Formatting) -> Table<StoreRow> {
        let columns: [Column<StoreRow>] = [
            Column("NAME", .flex(min: 14, preferred: 24, max: 32, weight: 2, priority: 10), text: { $0.record.name }),
            Column("ID", .fixed(21, hideBelow: 100, priority: 4), text: { $0.record.id }),
            Column("TYPE", .fixed(8, priority: 6), text: { $0.record.typeText }),
            Column("STATE", .flex(min: 13, preferred: 23, max: 34, weight: 3, priority: 9), text: { $0.record.stateText },
                   style: { Style(Role.of($0.record.connectionState)) },
                   ascending: { stateRank($0.record) < stateRank($1.record) }),
            Column("KEYS", .fixed(5, priority: 8), alignRight: true, text: { $0.count(\.total) },
                   ascending: { ($0.census?.total ?? -1) < ($1.census?.total ?? -1) }),
            Column("PENDING", .fixed(7, priority: 7), alignRight: true, text: { $0.pendingText },
                   style: { !$0.statesUnconfirmed && ($0.census?.pendingDeletion ?? 0) > 0 ? Style(.keyPendingDeletion) : nil },
                   ascending: { ($0.census?.pendingDeletion ?? -1) < ($1.census?.pendingDeletion ?? -1) }),
            Column("CREATED", .fixed(10, hideBelow: 90, priority: 2), text: { formatting.date($0.record.creationDate) },
                   ascending: { $0.record.creationDate < $1.record.creationDate }),
        ]
        return Table(columns: columns, sortColumn: 0, tiebreak: { $0.record.name != $1.record.name ? $0.record.name < $1.record.name : $0.id < $1.id }) { row in
            [row.record.name, row.record.id, row.record.typeText, row.record.stateText,
             row.record.cloudHsmClusterId ?? "", row.record.xksProxy?.uriEndpoint ?? ""].joined(separator: " ")
        }
    }

    static func stateRank(_ r: StoreRecord) -> Int {
        [.failed: 0, .connecting: 1, .disconnecting: 2, .connected: 3, .disconnected: 4][r.connectionState] ?? 5
    }

    /// What a state means and what to do about it, in words (so no one needs the docs).
    static func meaning(_ record: StoreRecord) -> String {
        switch record.connectionState {
        case .connected: return "Connected: its keys can be used."
        case .connecting: return "Connecting: KMS is reaching the \(record.type == .awsCloudHsm ? "cluster" : "proxy"); this can take minutes; its keys are Unavailable until it is CONNECTED."
        case .disconnected: return "Disconnected: its keys are Unavailable (pending deletions still run). Connect to use them."
        case .disconnecting: return "Disconnecting: it will be DISCONNECTED shortly."
        case .failed:
            let why = record.connectionErrorCode.map { errorMeaning($0).prefix(1).uppercased() + errorMeaning($0).dropFirst() + "." } ?? "The connect attempt failed."
            return why + " Its keys are Unavailable. Disconnect, fix, reconnect."
        }
    }

    static func errorMeaning(_ code: ConnectionErrorCode) -> String {
        switch code {
        case .networkErrors: return "network errors prevent the connection"
        case .internalError: return "an internal KMS error"
        case .clusterNotFound: return "the CloudHSM cluster does not exist"
        case .insufficientCloudHsmHsms: return "the cluster has no active HSM"
        case .insufficientFreeAddressesInSubnet: return "a subnet has no free address"
        case .invalidCredentials: return "the kmsuser password or proxy credential is wrong"
        case .subnetNotFound: return "a cluster subnet was deleted"
        case .userLockedOut: return "kmsuser is locked out"
        case .userLoggedIn: return "kmsuser is logged in to the cluster"
        case .userNotFound: return "there is no kmsuser"
        case .xksProxyAccessDenied: return "the proxy denies KMS"
        case .xksProxyInvalidConfiguration: return "the proxy is misconfigured"
        case .xksProxyInvalidResponse: return "the proxy's answer cannot be read"
        case .xksProxyInvalidTlsConfiguration: return "the proxy's TLS is not acceptable"
        case .xksProxyNotReachable: return "the proxy cannot be reached"
        case .xksProxyTimedOut: return "the proxy did not answer in time"
        case .xksVpcEndpointServiceInvalidConfiguration: return "the VPC endpoint service is misconfigured"
        case .xksVpcEndpointServiceNotFound: return "the VPC endpoint service was not found"
        }
    }

    /// Label/value lines describing the selected store.
    static func details(_ row: StoreRow, formatting: Formatting) -> [(String, String, Style)] {
        let r = row.record
        var lines: [(String, String, Style)] = [
            ("State", r.stateText, Style(Role.of(r.connectionState))),
            ("", meaning(r), .normal),
        ]
        if let cluster = r.cloudHsmClusterId {
            lines.append(("Cluster", cluster + (r.hsmCount.map { "  (\($0) HSM\($0 == 1 ? "" : "s"))" } ?? ""), .normal))
        }
        if let p = r.xksProxy {
            lines.append(("Proxy", p.uriEndpoint + p.uriPath + "  (" + p.connectivity.rawValue + ")", .normal))
        }
        let keys = row.census.map { census in
            row.statesUnconfirmed ? "\(census.total) keys (key index); their states are being described"
                                  : "\(census.total) keys, \(census.pendingDeletion) pending deletion"
        }
            ?? (row.uncounted ? "not counted: this principal may not list the keys" : "counting…")
        lines.append(("Keys", keys, !row.statesUnconfirmed && (row.census?.pendingDeletion ?? 0) > 0 ? Style(.keyPendingDeletion) : .normal))
        lines.append(("Id", r.id + "   created " + formatting.dateTime(r.creationDate), Style(.muted)))
        return lines
    }
}
