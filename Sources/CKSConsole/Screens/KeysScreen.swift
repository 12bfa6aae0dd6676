import CKSDomain
import CKSTeardown
import Foundation

/// What the console knows of a key's last use: not asked yet, being asked, known, or failed.
enum UsageInfo: Hashable {
    case fetching
    case known(KeyLastUsage, at: Date)
    case failed(String, at: Date)
}

/// A row of the Keys screen: only what the list shows, sorts and filters on. A store can hold 100,000 keys and
/// the console keeps every store's rows, so the rest of DescribeKey (ARN, key spec, algorithms, ...) is not kept
/// here: the Key detail screen describes its key again when it opens.
public struct KeyRow: Identifiable, Sendable, Hashable {
    /// The values, shared by every copy: sorting and merging 100,000 rows copies each many times, and a copy is then
    /// one reference count instead of one per string.
    private final class Values: Sendable {
        let id: String
        let aliases: [String]
        let state: KeyState
        let description: String
        let creationDate: Date
        let deletionDate: Date?
        let asOf: Date?

        init(record: KeyRecord, asOf: Date?) {
            id = record.id
            aliases = record.aliases
            state = record.state
            description = record.description
            creationDate = record.creationDate
            deletionDate = record.deletionDate
            self.asOf = asOf
        }
    }

    private let values: Values

    public var id: String { values.id }
    public var aliases: [String] { values.aliases }
    public var state: KeyState { values.state }
    public var description: String { values.description }
    public var creationDate: Date { values.creationDate }
    public var deletionDate: Date? { values.deletionDate }
    /// When the row's state was seen, for a key remembered from an earlier run and not yet described again; nil once
    /// this run has described it.
    public var asOf: Date? { values.asOf }

    public init(record: KeyRecord, asOf: Date? = nil) {
        values = Values(record: record, asOf: asOf)
    }

    public static func == (a: KeyRow, b: KeyRow) -> Bool {
        a.values === b.values || (a.id == b.id && a.aliases == b.aliases && a.state == b.state && a.description == b.description
            && a.creationDate == b.creationDate && a.deletionDate == b.deletionDate && a.asOf == b.asOf)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(id)
        hasher.combine(aliases)
        hasher.combine(state)
        hasher.combine(description)
        hasher.combine(creationDate)
        hasher.combine(deletionDate)
        hasher.combine(asOf)
    }
}

extension KeyCensus {
    /// The counts of a store's listed keys.
    init(of rows: [KeyRow]) {
        self.init(total: rows.count, pendingDeletion: rows.reduce(0) { $0 + ($1.state == .pendingDeletion ? 1 : 0) })
    }
}

/// The Keys-of-a-store screen: its columns (the countdown and last use read live values through closures).
@MainActor
enum KeysScreen {
    /// Column priorities: state and aliases say what a key is (kept longest); then the deletion date (at 80 columns it
    /// stays, the id and aliases narrowing first), the id, the countdown, last use (what the teardown's check is
    /// about) and the creation date. From 120 columns a whole key id (36 characters) shows beside a whole alias.
    static func makeTable(formatting: Formatting, now: @escaping () -> Date, usage: @escaping (String) -> String,
                          evidence: @escaping (String) -> KeyEvidence? = { _ in nil }) -> Table<KeyRow> {
        let columns: [Column<KeyRow>] = [
            Column("KEY ID", .flex(min: 9, preferred: 36, max: 36, weight: 1, priority: 7), text: { $0.id }),
            Column("ALIASES", .flex(min: 12, preferred: 24, max: 40, weight: 3, priority: 9), text: { $0.aliases.joined(separator: ", ") },
                   ascending: { aliasesLess($0.aliases, $1.aliases) }),
            Column("STATE", .fixed(15, priority: 10), text: { $0.state.rawValue },
                   style: { $0.asOf == nil ? Style(Role.of($0.state)) : Style(.muted) },
                   ascending: { stateRank($0.state) < stateRank($1.state) }),
            Column("DELETES", .fixed(10, priority: 6), text: { row in row.deletionDate.map { Formatting.countdown(to: $0, now: now()) } ?? "" },
                   style: { $0.deletionDate == nil ? nil : Style(.keyPendingDeletion) },
                   ascending: { ($0.deletionDate ?? .distantFuture) < ($1.deletionDate ?? .distantFuture) }),
            Column("DELETION DATE", .fixed(16, priority: 8), text: { $0.deletionDate.map(formatting.dateTime) ?? "" },
                   style: { $0.deletionDate == nil ? nil : Style(.keyPendingDeletion) },
                   ascending: { ($0.deletionDate ?? .distantFuture) < ($1.deletionDate ?? .distantFuture) }),
            Column("CREATED", .fixed(10, hideBelow: 140, priority: 2), text: { formatting.date($0.creationDate) },
                   ascending: { $0.creationDate < $1.creationDate }),
            Column("LAST USED", .fixed(12, hideBelow: 100, priority: 5), text: { usage($0.id) }),
            // Who can and did use it (grants, services, policy, CloudTrail): sortable, and filterable (`/svc:ebs`).
            Column("EVIDENCE", .fixed(24, hideBelow: 150, priority: 4), text: { KeyEvidenceView.column(evidence($0.id), now: now()) },
                   style: { KeyEvidenceView.rank(evidence($0.id)) <= 1 ? Style(.warning) : nil },
                   ascending: { KeyEvidenceView.rank(evidence($0.id)) < KeyEvidenceView.rank(evidence($1.id)) }),
        ]
        // Keys with an alias first, by alias; then by id.
        let tiebreak: (KeyRow, KeyRow) -> Bool = { a, b in
            switch (a.aliases.first, b.aliases.first) {
            case let (x?, y?) where x != y: return NaturalOrder.less(x, y)
            case (_?, nil): return true
            case (nil, _?): return false
            default: return a.id < b.id
            }
        }
        return Table(columns: columns, sortColumn: 1, tiebreak: tiebreak) { row in
            ([row.id, row.state.rawValue, row.description] + row.aliases + [KeyEvidenceView.column(evidence(row.id), now: now())])
                .joined(separator: " ")
        }
    }

    /// As the column reads ("a, b" before "a, c"), without joining the aliases for every comparison.
    static func aliasesLess(_ a: [String], _ b: [String]) -> Bool {
        for (x, y) in zip(a, b) where x != y { return NaturalOrder.less(x, y) }
        return a.count < b.count
    }

    static func stateRank(_ s: KeyState) -> Int {
        switch s {
        case .pendingDeletion: return 0
        case .unavailable: return 1
        case .disabled: return 2
        case .enabled: return 3
        default: return 4
        }
    }

}
