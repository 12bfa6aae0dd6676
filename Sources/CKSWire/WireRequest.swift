import CKSDomain
import Foundation

/// A request of the KMS JSON 1.1 protocol (or of the core's admin API): its target names the operation on the
/// wire (`X-Amz-Target: TrentService.CreateKey`), `Response` is what a successful call returns.
public protocol WireRequest: Codable, Sendable {
    associatedtype Response: Codable & Sendable
    /// The full `X-Amz-Target` value, for example `"TrentService.CreateKey"` or `"CksAdmin.AdvanceClock"`.
    static var target: String { get }
    /// The members and constraints the server enforces before the request reaches the engine.
    static var wireSchema: WireStructure { get }
}

extension WireRequest {
    /// The operation name: the part of the target after the dot (`CreateKey`).
    public static var operationName: String { WireOperation.operationName(of: target) }
    /// The IAM action a principal needs: `kms:<Op>` for `TrentService.*`, `cks:<Op>` for `CksAdmin.*`.
    public static var iamAction: String { WireOperation.iamAction(for: target) }
}

/// The response of operations that have no output shape (EnableKey, DisableKey, CreateAlias, DeleteAlias) and of
/// admin operations that return nothing. It encodes as `{}` and decodes from `{}` or an empty body.
public struct EmptyResponse: Codable, Sendable, Hashable {
    public init() {}
    public init(from decoder: any Decoder) throws {}
    public func encode(to encoder: any Encoder) throws { _ = encoder.container(keyedBy: WireNoKeys.self) }
}

/// A coding key type with no keys, so an empty structure encodes as `{}`.
public struct WireNoKeys: CodingKey {
    public var stringValue: String
    public var intValue: Int? { nil }
    public init?(stringValue: String) { return nil }
    public init?(intValue: Int) { return nil }
}

/// One operation as the HTTP front sees it: the target, the IAM action and the request schema.
public struct WireOperation: Sendable {
    public let target: String
    public let name: String
    public let iamAction: String
    public let requestSchema: WireStructure

    public init<R: WireRequest>(_ request: R.Type) {
        target = R.target
        name = R.operationName
        iamAction = R.iamAction
        requestSchema = R.wireSchema
    }

    /// `TrentService.CreateKey` → `CreateKey`; `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents`
    /// → `LookupEvents`.
    public static func operationName(of target: String) -> String {
        guard let dot = target.lastIndex(of: ".") else { return target }
        return String(target[target.index(after: dot)...])
    }

    /// `TrentService.X` → `kms:X`; `CksAdmin.X` → `cks:X`; CloudTrail's → `cloudtrail:X`; anything else → `<prefix>:X`.
    public static func iamAction(for target: String) -> String {
        if target.hasPrefix(CloudTrailService.targetPrefix + ".") { return "cloudtrail:\(operationName(of: target))" }
        let prefix = target.split(separator: ".", maxSplits: 1).first.map(String.init) ?? ""
        let service: String
        switch prefix {
        case TrentService.targetPrefix: service = "kms"
        case CksAdmin.targetPrefix: service = "cks"
        default: service = prefix.lowercased()
        }
        return "\(service):\(operationName(of: target))"
    }

    /// Builds a target-keyed table.
    public static func table(_ operations: [WireOperation]) -> [String: WireOperation] {
        Dictionary(operations.map { ($0.target, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Every operation the core speaks, KMS and admin, keyed by target.
    public static let all: [String: WireOperation] = TrentService.operations
        .merging(CksAdmin.operations) { a, _ in a }
        .merging(CloudTrailService.operations) { a, _ in a }

    /// The SigV4 signing name a request for `target` must be signed for: `cloudtrail` for CloudTrail's targets,
    /// else `kms` (the admin API is signed as KMS).
    public static func signingName(for target: String) -> String {
        target.hasPrefix(CloudTrailService.targetPrefix + ".") ? CloudTrailService.signingName : TrentService.signingName
    }

    /// The operation for a target, or nil (the front answers `UnknownOperationException`).
    public static func lookup(target: String) -> WireOperation? { all[target] }
}

extension KeyedDecodingContainer {
    /// Decodes a string enum leniently: absent, null, not a string, or a value this build does not know → nil.
    /// The server validates enum values before decoding, so leniency only matters to clients.
    public func decodeLenientEnum<E: RawRepresentable & Decodable>(_ type: E.Type, forKey key: Key) -> E?
    where E.RawValue == String {
        guard let raw = try? decodeIfPresent(String.self, forKey: key) else { return nil }
        return E(rawValue: raw)
    }
}

/// How shapes with sensitive members describe themselves: the member names stay, the values go.
public enum WireRedaction {
    /// What a sensitive value prints as.
    public static let redacted = "<redacted>"

    /// `Name(A: "x", B: <redacted>)`, skipping absent members.
    public static func describe(_ name: String, _ members: [(String, String?)]) -> String {
        let shown = members.compactMap { key, value in value.map { "\(key): \($0)" } }
        return "\(name)(" + shown.joined(separator: ", ") + ")"
    }

    /// A readable rendering of a non-sensitive member value.
    public static func show(_ value: Any) -> String {
        switch value {
        case let string as String: return String(reflecting: string)
        case let data as Data: return "<\(data.count) bytes>"
        case let date as Date: return String(date.timeIntervalSince1970)
        case let raw as any RawRepresentable: return "\(raw.rawValue)"
        default: return String(reflecting: value)
        }
    }
}
