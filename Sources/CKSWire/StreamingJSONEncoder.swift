import Foundation

/// A JSON encoder that writes straight into a byte buffer, for the core's responses.
///
/// Foundation's `JSONEncoder` builds an intermediate tree and goes through several generic layers per member:
/// the largest single cost of a DescribeKey in the core (docs/perf/decisions.md). This one writes as `encode(to:)`
/// runs, which is exact for the wire shapes (synthesized or hand-written `Encodable`, one container per value,
/// members encoded in order). Output matches `WireCodec`'s `JSONEncoder` settings: nil members omitted, dates
/// as epoch seconds, data as base64, slashes unescaped. Member order follows the `encode` calls.
struct StreamingJSONEncoder {
    /// The JSON text of `value`.
    static func encode<T: Encodable>(_ value: T) throws -> Data {
        let writer = Writer()
        try writer.encodeValue(value)
        guard !writer.bytes.isEmpty else { throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "no value")) }
        return Data(writer.bytes)
    }

    fileprivate final class Writer: Encoder {
        // Unchecked exclusivity: one encode uses a writer on one thread, and no access to either property overlaps
        // another (every access is a single append, read or removal), so the runtime's per-access check is dropped.
        @exclusivity(unchecked) var bytes: [UInt8] = []
        /// Open containers, innermost last: the closing byte and whether an element was written yet.
        @exclusivity(unchecked) var open: [(close: UInt8, hasElement: Bool)] = []
        var codingPath: [any CodingKey] { [] }
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        init() { bytes.reserveCapacity(1024) }

        /// Encodes one value and closes every container it opened.
        func encodeValue<T: Encodable>(_ value: T) throws {
            // Metatype comparisons, not `as?` casts: a dynamic cast per member cost more than the writing.
            if T.self == String.self {
                writeString(value as! String)
            } else if T.self == Date.self {
                writeNumber((value as! Date).timeIntervalSince1970)
            } else if T.self == Data.self {
                writeString((value as! Data).base64EncodedString())
            } else if T.self == URL.self {
                writeString((value as! URL).absoluteString)
            } else {
                let depth = open.count
                try value.encode(to: self)
                close(above: depth)
            }
        }

        /// Closes containers deeper than `depth` (a nested container its parent has moved past).
        func close(above depth: Int) {
            while open.count > depth { bytes.append(open.removeLast().close) }
        }

        func beginElement(depth: Int? = nil) {
            if let depth { close(above: depth) }
            guard !open.isEmpty else { return }
            if open[open.count - 1].hasElement { bytes.append(UInt8(ascii: ",")) }
            open[open.count - 1].hasElement = true
        }

        func writeKey(_ key: String, depth: Int? = nil) {
            beginElement(depth: depth)
            writeString(key)
            bytes.append(UInt8(ascii: ":"))
        }

        func openContainer(_ start: UInt8, _ close: UInt8) {
            bytes.append(start)
            open.append((close, false))
        }

        func writeString(_ s: String) { JSONEscape.appendLiteral(s, to: &bytes) }

        func writeRaw(_ text: String) { bytes.append(contentsOf: text.utf8) }

        func writeNumber(_ value: Double) {
            if value.isFinite, value == value.rounded(), abs(value) < 1e15 {
                writeRaw(String(Int64(value)))
            } else {
                writeRaw(value.description)
            }
        }

        func writeNumber(_ value: Float) { writeNumber(Double(value)) }

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            openContainer(UInt8(ascii: "{"), UInt8(ascii: "}"))
            return KeyedEncodingContainer(Keyed<Key>(writer: self, depth: open.count))
        }

        func unkeyedContainer() -> any UnkeyedEncodingContainer {
            openContainer(UInt8(ascii: "["), UInt8(ascii: "]"))
            return Unkeyed(writer: self, depth: open.count)
        }

        func singleValueContainer() -> any SingleValueEncodingContainer { Single(writer: self) }
    }

    private struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let writer: Writer
        /// How many containers are open with this one innermost.
        let depth: Int
        var codingPath: [any CodingKey] { [] }

        mutating func encodeNil(forKey key: Key) throws { writer.writeKey(key.stringValue, depth: depth); writer.writeRaw("null") }
        mutating func encode(_ value: Bool, forKey key: Key) throws { writer.writeKey(key.stringValue, depth: depth); writer.writeRaw(value ? "true" : "false") }
        mutating func encode(_ value: String, forKey key: Key) throws { writer.writeKey(key.stringValue, depth: depth); writer.writeString(value) }
        mutating func encode(_ value: Double, forKey key: Key) throws { writer.writeKey(key.stringValue, depth: depth); writer.writeNumber(value) }
        mutating func encode(_ value: Float, forKey key: Key) throws { writer.writeKey(key.stringValue, depth: depth); writer.writeNumber(value) }
        mutating func encode(_ value: Int, forKey key: Key) throws { writer.writeKey(key.stringValue, depth: depth); writer.writeRaw(String(value)) }
        mutating func encode(_ value: Int8, forKey key: Key) throws { writer.writeKey(key.stringValue, depth: depth); writer.writeRaw(String(value)) }
        mutating func encode(_ value: Int16, forKey key: Key) throws { writer.writeKey(key.stringValue, depth: depth); writer.writeRaw(String(value)) }
        mutating func encode(_ value: Int32, forKey key: Key) throws { writer.writeKey(key.stringValue, depth: depth); writer.writeRaw(String(value)) }
        mutating func encode(_ value: Int64, forKey key: Key) throws { writer.writeKey(key.stringValue, depth: depth); writer.writeRaw(String(value)) }
        mutating func encode(_ value: UInt, forKey key: Key) throws { writer.writeKey(key.stringValue, depth: depth); writer.writeRaw(String(value)) }
        mutating func encode(_ value: UInt8, forKey key: Key) throws { writer.writeKey(key.stringValue, depth: depth); writer.writeRaw(String(value)) }
        mutating func encode(_ value: UInt16, forKey key: Key) throws { writer.writeKey(key.stringValue, depth: depth); writer.writeRaw(String(value)) }
        mutating func encode(_ value: UInt32, forKey key: Key) throws { writer.writeKey(key.stringValue, depth: depth); writer.writeRaw(String(value)) }
        mutating func encode(_ value: UInt64, forKey key: Key) throws { writer.writeKey(key.stringValue, depth: depth); writer.writeRaw(String(value)) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            writer.writeKey(key.stringValue, depth: depth)
            try writer.encodeValue(value)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
            writer.writeKey(key.stringValue, depth: depth)
            return writer.container(keyedBy: keyType)
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            writer.writeKey(key.stringValue, depth: depth)
            return writer.unkeyedContainer()
        }

        mutating func superEncoder() -> any Encoder { writer }
        mutating func superEncoder(forKey key: Key) -> any Encoder { writer.writeKey(key.stringValue, depth: depth); return writer }
    }

    private struct Unkeyed: UnkeyedEncodingContainer {
        let writer: Writer
        let depth: Int
        var count = 0
        var codingPath: [any CodingKey] { [] }

        mutating func encodeNil() throws { writer.beginElement(depth: depth); writer.writeRaw("null"); count += 1 }
        mutating func encode(_ value: Bool) throws { writer.beginElement(depth: depth); writer.writeRaw(value ? "true" : "false"); count += 1 }
        mutating func encode(_ value: String) throws { writer.beginElement(depth: depth); writer.writeString(value); count += 1 }
        mutating func encode(_ value: Double) throws { writer.beginElement(depth: depth); writer.writeNumber(value); count += 1 }
        mutating func encode(_ value: Int) throws { writer.beginElement(depth: depth); writer.writeRaw(String(value)); count += 1 }
        mutating func encode<T: Encodable>(_ value: T) throws {
            writer.beginElement(depth: depth)
            try writer.encodeValue(value)
            count += 1
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            writer.beginElement(depth: depth); count += 1
            return writer.container(keyedBy: keyType)
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            writer.beginElement(depth: depth); count += 1
            return writer.unkeyedContainer()
        }

        mutating func superEncoder() -> any Encoder { writer.beginElement(depth: depth); count += 1; return writer }
    }

    private struct Single: SingleValueEncodingContainer {
        let writer: Writer
        var codingPath: [any CodingKey] { [] }

        mutating func encodeNil() throws { writer.writeRaw("null") }
        mutating func encode(_ value: Bool) throws { writer.writeRaw(value ? "true" : "false") }
        mutating func encode(_ value: String) throws { writer.writeString(value) }
        mutating func encode(_ value: Double) throws { writer.writeNumber(value) }
        mutating func encode(_ value: Float) throws { writer.writeNumber(value) }
        mutating func encode(_ value: Int) throws { writer.writeRaw(String(value)) }
        mutating func encode(_ value: Int64) throws { writer.writeRaw(String(value)) }
        mutating func encode<T: Encodable>(_ value: T) throws { try writer.encodeValue(value) }
    }
}
