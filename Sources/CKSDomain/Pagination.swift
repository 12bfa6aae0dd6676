import Foundation

/// Opaque pagination markers (semantics §3.4). A marker is a keyset position (the last row returned),
/// so inserts and deletions between pages neither repeat nor skip rows that stay. Each list has its own
/// kind, so a marker from one list is refused by another.
public enum PageMarker {
    public enum Kind: String, Sendable {
        case keys = "k"
        case customKeyStores = "s"
        case aliases = "a"
        case grants = "g"
        case retirableGrants = "r"
        case tags = "t"
        case events = "e"
    }

    /// Encodes a position of a list.
    public static func encode(_ kind: Kind, _ position: String) -> String {
        Data("cks1:\(kind.rawValue):\(position)".utf8).base64EncodedString()
    }

    /// Decodes a marker of `kind`; anything else is `InvalidMarkerException`.
    public static func decode(_ marker: String, as kind: Kind) throws(KMSError) -> String {
        guard let data = Data(base64Encoded: marker), let text = String(data: data, encoding: .utf8) else { throw invalid() }
        let prefix = "cks1:\(kind.rawValue):"
        guard text.hasPrefix(prefix) else { throw invalid() }
        let position = String(text.dropFirst(prefix.count))
        guard !position.isEmpty else { throw invalid() }
        return position
    }

    /// Decodes an integer position (the row sequence of keys and stores).
    public static func decodeSequence(_ marker: String, as kind: Kind) throws(KMSError) -> Int64 {
        guard let n = Int64(try decode(marker, as: kind)), n >= 0 else { throw invalid() }
        return n
    }

    /// A page size: `Limit` if given (the wire layer checks 1–1000), else the operation's default.
    public static func limit(_ requested: Int?, default d: Int) -> Int { max(1, min(requested ?? d, 1000)) }

    static func invalid() -> KMSError { KMSError(.invalidMarker, "The marker that specifies where pagination should next begin is not valid.") }
}
