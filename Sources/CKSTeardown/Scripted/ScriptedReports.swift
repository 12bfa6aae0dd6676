import CKSClient
import CKSDomain
import CKSWire
import Foundation

/// How a scripted verb prints: an aligned table for people, JSON for programs.
public enum ScriptedOutputFormat: String, Sendable, CaseIterable {
    case table
    case json

    /// Table on a terminal, JSON otherwise (a pipe or a file), unless asked.
    public static func resolve(_ requested: ScriptedOutputFormat?, stdoutIsTerminal: Bool) -> ScriptedOutputFormat {
        requested ?? (stdoutIsTerminal ? .table : .json)
    }
}

/// One row of `cks stores` (and of `cks` when stdout is not a terminal).
public struct ScriptedStoreRow: Sendable, Hashable, Encodable {
    public var name: String
    public var id: String
    public var type: String
    public var connectionState: String
    public var connectionErrorCode: String?
    /// nil when the keys could not be counted (a principal without kms:ListKeys or kms:DescribeKey).
    public var keyCount: Int?
    public var pendingDeletionCount: Int?
    public var creationDate: Date?

    /// `FAILED (NETWORK_ERRORS)` for a failed store, the bare state otherwise.
    public var stateText: String {
        if let code = connectionErrorCode, connectionState == ConnectionState.failed.rawValue { return "\(connectionState) (\(code))" }
        return connectionState
    }

    enum CodingKeys: String, CodingKey {
        case name = "CustomKeyStoreName", id = "CustomKeyStoreId", type = "CustomKeyStoreType"
        case connectionState = "ConnectionState", connectionErrorCode = "ConnectionErrorCode", keyCount = "KeyCount"
        case pendingDeletionCount = "PendingDeletionCount", creationDate = "CreationDate"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(id, forKey: .id)
        try c.encode(type, forKey: .type)
        try c.encode(connectionState, forKey: .connectionState)
        try c.encode(connectionErrorCode, forKey: .connectionErrorCode)   // null when none: a stable shape for jq
        try c.encode(keyCount, forKey: .keyCount)
        try c.encode(pendingDeletionCount, forKey: .pendingDeletionCount)
        try c.encode(creationDate.map(ScriptedReports.isoDate), forKey: .creationDate)
    }

    public init(name: String, id: String, type: String, connectionState: String, connectionErrorCode: String?,
                keyCount: Int?, pendingDeletionCount: Int?, creationDate: Date?) {
        self.name = name; self.id = id; self.type = type; self.connectionState = connectionState
        self.connectionErrorCode = connectionErrorCode; self.keyCount = keyCount
        self.pendingDeletionCount = pendingDeletionCount; self.creationDate = creationDate
    }
}

/// How many keys a store holds and how many of them are pending deletion.
public struct KeyCensus: Sendable, Hashable {
    public var total: Int
    public var pendingDeletion: Int
    public init(total: Int, pendingDeletion: Int) { self.total = total; self.pendingDeletion = pendingDeletion }
}

/// What `cks stores` found: the rows, and why the keys could not be counted, if they could not.
public struct ScriptedStoreListing: Sendable {
    public var rows: [ScriptedStoreRow]
    public var keyCountsUnavailable: String?
}

/// One row of `cks keys STORE`.
public struct ScriptedKeyRow: Sendable, Hashable, Encodable {
    public var keyId: String
    public var aliases: [String]
    public var keyState: String
    public var deletionDate: Date?
    public var creationDate: Date?

    enum CodingKeys: String, CodingKey {
        case keyId = "KeyId", aliases = "Aliases", keyState = "KeyState", deletionDate = "DeletionDate"
        case creationDate = "CreationDate"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(keyId, forKey: .keyId)
        try c.encode(aliases, forKey: .aliases)
        try c.encode(keyState, forKey: .keyState)
        try c.encode(deletionDate.map(ScriptedReports.isoDate), forKey: .deletionDate)
        try c.encode(creationDate.map(ScriptedReports.isoDate), forKey: .creationDate)
    }
}

/// Builds and renders what the scripted verbs print. Pure apart from the client calls.
public enum ScriptedReports {
    // MARK: Gathering

    /// Every store with its key counts. The counts come from one pass over the account's keys (ListKeys, then
    /// DescribeKey per key, bounded concurrency): there is no per-store key filter in the KMS API. A principal
    /// allowed to describe stores but not to list or describe keys still gets the stores, without counts (and why).
    public static func stores(using client: KMSClient, concurrency: Int = 8) async throws -> ScriptedStoreListing {
        let stores = try await client.allCustomKeyStores()
        var counts: [String: KeyCensus] = [:]
        var unavailable: String?
        if !stores.isEmpty {
            do {
                let ids = try await client.allKeys().compactMap(\.keyId)
                for item in await client.describeKeys(keyIds: ids, concurrency: concurrency) {
                    switch item.result {
                    case .success(let key):
                        if let store = key.customKeyStoreId {
                            counts[store, default: KeyCensus(total: 0, pendingDeletion: 0)].total += 1
                            if key.keyState == .pendingDeletion { counts[store]?.pendingDeletion += 1 }
                        }
                    case .failure(let error) where error.code == .notFound:
                        continue   // deleted between ListKeys and DescribeKey
                    case .failure(let error):
                        throw error
                    }
                }
            } catch let error as KMSClientError where error.code == .accessDenied {
                unavailable = EndpointProblem.classify(error).line
            }
        }
        let rows = stores.map { entry in
            let id = entry.customKeyStoreId ?? ""
            let census = unavailable == nil ? counts[id] ?? KeyCensus(total: 0, pendingDeletion: 0) : nil
            return ScriptedStoreRow(name: entry.customKeyStoreName ?? "", id: id,
                                    type: (entry.customKeyStoreType ?? .awsCloudHsm).rawValue,
                                    connectionState: entry.connectionState?.rawValue ?? "UNKNOWN",
                                    connectionErrorCode: entry.connectionErrorCode?.rawValue,
                                    keyCount: census?.total, pendingDeletionCount: census?.pendingDeletion,
                                    creationDate: entry.creationDate)
        }.sorted { ($0.name, $0.id) < ($1.name, $1.id) }
        return ScriptedStoreListing(rows: rows, keyCountsUnavailable: unavailable)
    }

    /// How `cks keys` found its store.
    public struct StoreResolution: Sendable, Hashable {
        public var id: String
        /// Set when the endpoint could not describe stores and the argument was used as an id unchecked
        /// (for KMS implementations without custom key stores, such as moto).
        public var warning: String?
    }

    /// The store named by `idOrName`. An endpoint that does not implement DescribeCustomKeyStores (an unknown
    /// operation, or a 5xx without an AWS error body, as moto answers) is tolerated when the argument is an id.
    public static func resolveStore(_ idOrName: String, using client: KMSClient) async throws -> StoreResolution {
        let outcome: Result<CustomKeyStoresListEntry, KMSClientError>
        do { outcome = .success(try await client.customKeyStore(idOrName: idOrName)) } catch { outcome = .failure(error) }
        switch outcome {
        case .success(let store):
            return StoreResolution(id: store.customKeyStoreId ?? idOrName)
        case .failure(let error):
            guard idOrName.hasPrefix("cks-"), endpointLacksCustomKeyStores(error) else { throw error }
            return StoreResolution(id: idOrName, warning:
                "the endpoint does not implement DescribeCustomKeyStores (\(error.typeName)); listing the keys whose CustomKeyStoreId is \(idOrName)")
        }
    }

    static func endpointLacksCustomKeyStores(_ error: KMSClientError) -> Bool {
        switch error.kind {
        case .service(.unknownOperation), .unknownService("UnknownOperationException"): return true
        case .invalidResponse: return (error.httpStatus ?? 0) >= 500 || error.httpStatus == 404
        default: return false
        }
    }

    /// The keys of one store with their aliases (ListAliases, all pages), oldest first.
    public static func keys(inStore storeId: String, using client: KMSClient, concurrency: Int = 8) async throws -> [ScriptedKeyRow] {
        async let aliasList = client.allAliases()
        var keys: [KeyMetadata] = []
        for try await key in client.keys(inStore: storeId, concurrency: concurrency) { keys.append(key) }
        var aliasesByKey: [String: [String]] = [:]
        for alias in try await aliasList {
            if let target = alias.targetKeyId, let name = alias.aliasName { aliasesByKey[target, default: []].append(name) }
        }
        return keys.map { key in
            ScriptedKeyRow(keyId: key.keyId, aliases: (aliasesByKey[key.keyId] ?? []).sorted(),
                   keyState: key.keyState?.rawValue ?? "Unknown", deletionDate: key.deletionDate,
                   creationDate: key.creationDate)
        }.sorted { a, b in
            let da = a.creationDate ?? .distantPast, db = b.creationDate ?? .distantPast
            return da != db ? da < db : a.keyId < b.keyId
        }
    }

    // MARK: Rendering

    public static func render(_ rows: [ScriptedStoreRow], as format: ScriptedOutputFormat) -> String {
        switch format {
        case .json: return json(rows)
        case .table:
            return table(header: ["NAME", "ID", "TYPE", "STATE", "KEYS", "PENDING", "CREATED"], rightAligned: [4, 5],
                         rows: rows.map { [$0.name, $0.id, $0.type, $0.stateText, $0.keyCount.map(String.init) ?? "-",
                                           $0.pendingDeletionCount.map(String.init) ?? "-", $0.creationDate.map(isoDate) ?? "-"] })
        }
    }

    public static func render(_ rows: [ScriptedKeyRow], as format: ScriptedOutputFormat) -> String {
        switch format {
        case .json: return json(rows)
        case .table:
            return table(header: ["KEY ID", "ALIASES", "STATE", "DELETION DATE", "CREATED"], rightAligned: [],
                         rows: rows.map { [$0.keyId, $0.aliases.isEmpty ? "-" : $0.aliases.joined(separator: ","), $0.keyState,
                                           $0.deletionDate.map(isoDate) ?? "-", $0.creationDate.map(isoDate) ?? "-"] })
        }
    }

    /// `2026-11-29T19:52:05Z`: ISO 8601 in UTC, whole seconds.
    public static func isoDate(_ date: Date) -> String {
        let amz = SigV4.amzDate(date)   // yyyyMMddTHHmmssZ, locale-free
        let c = Array(amz)
        return "\(String(c[0..<4]))-\(String(c[4..<6]))-\(String(c[6..<8]))T\(String(c[9..<11])):\(String(c[11..<13])):\(String(c[13..<15]))Z"
    }

    static func json<T: Encodable>(_ rows: [T]) -> String {
        rows.isEmpty ? "[]\n" : ScriptedJSON.encode(rows)
    }

    /// Columns padded to their widest cell (by display width), two spaces apart, no trailing blanks.
    static func table(header: [String], rightAligned: Set<Int>, rows: [[String]]) -> String {
        var widths = header.map { TextWidth.of($0) }
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], TextWidth.of(cell)) } }
        func line(_ cells: [String]) -> String {
            var out = cells.enumerated().map { i, cell in
                TextWidth.pad(cell, to: widths[i], alignRight: rightAligned.contains(i))
            }.joined(separator: "  ")
            while out.last == " " { out.removeLast() }
            return out
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n") + "\n"
    }
}

/// How every JSON output of cks is written: pretty, keys sorted (a stable field order for diffs and jq), slashes
/// unescaped, a final newline.
public enum ScriptedJSON {
    public static func encode<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return "{}\n" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
