import CKSDomain
import Foundation
import Glibc

/// The use record's append-only log, `<database>-events` beside the database (0600, like every file of the data
/// directory). A request appends its event here with one plain `write()` before it is answered: data handed to
/// the kernel survives kill -9 of the process (as SQLite's WAL does with `synchronous=NORMAL`), so the request
/// path needs no transaction. A writer folds the log into `key_event` in batches and records, in the same
/// transaction, how far it folded (`meta`: generation and offset); the log is restarted (emptied, with a new
/// generation) once everything in it is folded. At start, what was not folded is folded first.
///
/// Layout: a 16-byte header (`CKSEVLOG` and a random 64-bit generation), then records: payload length (u32 LE),
/// FNV-1a checksum of the payload (u32 LE), payload. A record cut short or failing its checksum ends the log
/// (only a crash of the machine in the middle of a write leaves one). Events hold no secret (ids, names, the
/// operation, error codes and messages: what `key_event` holds in clear).
///
/// Not thread-safe: its owner serializes every call.
public final class EventLogFile: @unchecked Sendable {
    public static let metaKey = "event-log.folded"
    static let magic = Array("CKSEVLOG".utf8)
    static let headerSize: Int64 = 16

    public let url: URL
    private var fd: Int32
    /// The current generation (changes with every restart).
    public private(set) var generation: UInt64
    /// Bytes in the file: the offset just after the last record appended.
    public private(set) var size: Int64

    /// The log of the database at `database`.
    public static func url(forDatabase database: URL) -> URL {
        URL(fileURLWithPath: database.path + "-events")
    }

    /// Opens the log (creating it 0600), returning it with what it holds: its generation (nil for a missing or
    /// empty file) and its events, each with the offset just after it.
    public static func open(_ url: URL) throws -> (log: EventLogFile, generation: UInt64?, events: [(event: KeyEvent, end: Int64)]) {
        let fd = Glibc.open(url.path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw EventLogError("cannot open \(url.lastPathComponent): \(String(cString: strerror(errno)))") }
        _ = fchmod(fd, 0o600)
        let data = (try? Data(contentsOf: url)) ?? Data()
        let (generation, events, validEnd) = parse([UInt8](data))
        let log = EventLogFile(url: url, fd: fd, generation: generation ?? 0, size: Int64(data.count))
        if generation == nil {
            try log.restart()
        } else if validEnd < Int64(data.count) {
            // A torn last record: cut it off so appends follow the last whole one.
            guard ftruncate(fd, off_t(validEnd)) == 0 else {
                throw EventLogError("cannot truncate \(url.lastPathComponent): \(String(cString: strerror(errno)))")
            }
            log.size = validEnd
        }
        return (log, generation, events)
    }

    private init(url: URL, fd: Int32, generation: UInt64, size: Int64) {
        self.url = url
        self.fd = fd
        self.generation = generation
        self.size = size
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    /// Appends one encoded record (`EventLogCodec.record`). On a failed or short write the file is cut back to
    /// where it was, so a later record never follows a partial one.
    public func append(_ record: [UInt8]) throws {
        guard fd >= 0 else { throw EventLogError("the event log is closed") }
        var written = 0
        while written < record.count {
            let n = record.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, record.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                let message = String(cString: strerror(errno))
                _ = ftruncate(fd, off_t(size))
                throw EventLogError("cannot append to \(url.lastPathComponent): \(message)")
            }
            written += n
        }
        size += Int64(record.count)
    }

    /// Empties the log and starts a new generation (everything in it was folded).
    public func restart() throws {
        guard ftruncate(fd, 0) == 0 else {
            throw EventLogError("cannot truncate \(url.lastPathComponent): \(String(cString: strerror(errno)))")
        }
        size = 0
        generation = UInt64.random(in: 1...UInt64.max)
        var header = Self.magic
        withUnsafeBytes(of: generation.littleEndian) { header.append(contentsOf: $0) }
        try append(header)
    }

    /// Forces what was appended to disk; returns what failed, if anything. Safe beside `append` (one descriptor).
    public func sync() -> String? {
        fdatasync(fd) == 0 ? nil : "cannot sync \(url.lastPathComponent): \(String(cString: strerror(errno)))"
    }

    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    static func parse(_ bytes: [UInt8]) -> (generation: UInt64?, events: [(event: KeyEvent, end: Int64)], validEnd: Int64) {
        guard bytes.count >= Int(headerSize), Array(bytes[0..<8]) == magic else { return (nil, [], 0) }
        var generation: UInt64 = 0
        for i in 0..<8 { generation |= UInt64(bytes[8 + i]) << (8 * UInt64(i)) }
        var events: [(KeyEvent, Int64)] = []
        var offset = Int(headerSize)
        while offset + 8 <= bytes.count {
            let length = Int(EventLogCodec.u32(bytes, offset)), sum = EventLogCodec.u32(bytes, offset + 4)
            let start = offset + 8, end = start + length
            guard end <= bytes.count, EventLogCodec.checksum(bytes[start..<end]) == sum,
                  let event = EventLogCodec.decode(bytes[start..<end]) else { break }
            events.append((event, Int64(end)))
            offset = end
        }
        return (generation, events, Int64(offset))
    }
}

public struct EventLogError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The record format of `EventLogFile`: fields as length-prefixed UTF-8 (length 0xFFFFFFFF for nil).
public enum EventLogCodec {
    /// The whole record (length, checksum, payload) of `event`.
    public static func record(_ e: KeyEvent) -> [UInt8] {
        var out: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0]
        out.reserveCapacity(400)
        withUnsafeBytes(of: e.time.timeIntervalSince1970.bitPattern.littleEndian) { out.append(contentsOf: $0) }
        out.append(e.readOnly ? 1 : 0)
        for field in [e.eventId, e.scope.account, e.scope.region, e.keyId, e.keyParameter, e.operation, e.principalArn,
                      e.username, e.accessKeyId, e.source, e.requestId, e.errorCode, e.errorMessage] as [String?] {
            if let field {
                let utf8 = Array(field.utf8)
                put(UInt32(utf8.count), &out)
                out.append(contentsOf: utf8)
            } else {
                put(UInt32.max, &out)
            }
        }
        let length = UInt32(out.count - 8), sum = checksum(out[8...])
        for i in 0..<4 {
            out[i] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(i)))
            out[4 + i] = UInt8(truncatingIfNeeded: sum >> (8 * UInt32(i)))
        }
        return out
    }

    static func decode(_ payload: ArraySlice<UInt8>) -> KeyEvent? {
        let bytes = Array(payload)
        guard bytes.count >= 9 else { return nil }
        var bits: UInt64 = 0
        for i in 0..<8 { bits |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        let readOnly = bytes[8] != 0
        var offset = 9
        var fields: [String?] = []
        for _ in 0..<13 {
            guard offset + 4 <= bytes.count else { return nil }
            let length = u32(bytes, offset)
            offset += 4
            if length == UInt32.max { fields.append(nil); continue }
            guard offset + Int(length) <= bytes.count else { return nil }
            fields.append(String(decoding: bytes[offset..<(offset + Int(length))], as: UTF8.self))
            offset += Int(length)
        }
        guard offset == bytes.count, let eventId = fields[0], let account = fields[1], let region = fields[2],
              let operation = fields[5], let principal = fields[6], let username = fields[7], let source = fields[9],
              let requestId = fields[10] else { return nil }
        return KeyEvent(eventId: eventId, time: Date(timeIntervalSince1970: Double(bitPattern: bits)),
                        scope: ResourceScope(account: account, region: region), keyId: fields[3],
                        keyParameter: fields[4], operation: operation, principalArn: principal, username: username,
                        accessKeyId: fields[8], source: source, requestId: requestId, errorCode: fields[11],
                        errorMessage: fields[12], readOnly: readOnly)
    }

    static func put(_ value: UInt32, _ out: inout [UInt8]) {
        for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: value >> (8 * UInt32(i)))) }
    }

    static func u32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        var value: UInt32 = 0
        for i in 0..<4 { value |= UInt32(bytes[offset + i]) << (8 * UInt32(i)) }
        return value
    }

    /// FNV-1a, 32 bits: enough to tell a torn record from a whole one.
    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var hash: UInt32 = 2_166_136_261
        for b in bytes {
            hash ^= UInt32(b)
            hash = hash &* 16_777_619
        }
        return hash
    }
}

extension DataReader {
    /// How far the event log was folded: its generation and the offset just after the last folded event.
    public func foldedEventLog() throws -> (generation: UInt64, end: Int64)? {
        guard let value = try meta(EventLogFile.metaKey) else { return nil }
        let parts = value.split(separator: " ")
        guard parts.count == 2, let generation = UInt64(parts[0]), let end = Int64(parts[1]) else { return nil }
        return (generation, end)
    }
}

extension DataWriter {
    /// Inserts events taken from the log and records that the log of `generation` is folded through `end`
    /// (never moving that mark back, so batches committed out of order cannot make a later start fold twice).
    public func fold(loggedEvents events: [KeyEvent], generation: UInt64, through end: Int64) throws {
        try insert(events: events)
        if let folded = try foldedEventLog(), folded.generation == generation, folded.end >= end { return }
        try setMeta(EventLogFile.metaKey, "\(generation) \(end)")
    }
}
