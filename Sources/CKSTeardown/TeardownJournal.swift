import CKSDomain
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The append-only teardown journal: JSON lines under the state directory.
///
/// It never stops a teardown: if the file cannot be created or written (read-only home, full disk),
/// `problem` says so in words, lines are kept in memory for the rest of the session, and the
/// teardown goes on — the plan never depended on the journal anyway.
public final class TeardownJournal: Sendable {
    /// A line that could not be read (truncated by a crash, edited by hand): skipped and reported.
    public struct SkippedLine: Sendable, Hashable {
        public var lineNumber: Int
        public var reason: String
    }

    public struct Contents: Sendable {
        public var entries: [TeardownJournalEntry]
        public var skipped: [SkippedLine]
    }

    /// Where the journal lives: `$XDG_STATE_HOME/cks/teardowns.jsonl`, else `~/.local/state/cks/teardowns.jsonl`.
    /// Nil when neither variable gives an absolute directory.
    public static func defaultURL(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL? {
        CKSPaths(environment: environment).stateDirectory?.appendingPathComponent("teardowns.jsonl")
    }

    /// How the journal names an embedded core: by its data directory, since it listens on a new port each run.
    public static func endpointIdentity(embeddedDataDirectory: URL) -> String {
        "embedded:" + embeddedDataDirectory.standardizedFileURL.path
    }

    public let url: URL?
    private struct State {
        var problem: String?
        /// Lines that could not be written, kept so this session still sees them.
        var unwritten: [TeardownJournalEntry] = []
    }
    private let state: Mutex<State>

    /// A journal at `url`; nil keeps it in memory only (and says so in `problem`).
    public init(url: URL?) {
        self.url = url
        state = Mutex(State(problem: url == nil ? "no state directory (set XDG_STATE_HOME or HOME); the teardown journal is kept in memory only" : nil))
    }

    /// A journal kept in memory on purpose (a `--demo` core lives only as long as the process).
    public static func memory() -> TeardownJournal {
        let journal = TeardownJournal(url: nil)
        journal.state.withLock { $0.problem = nil }
        return journal
    }

    /// Why the journal is not being written to disk, in words for the operator; nil when all is well.
    public var problem: String? { state.withLock { $0.problem } }

    /// Appends one line, durably (fsync). Returns false when it could only be kept in memory.
    @discardableResult
    public func append(_ entry: TeardownJournalEntry) -> Bool {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let url, var line = try? encoder.encode(entry) else {
            state.withLock { $0.unwritten.append(entry) }
            return false
        }
        line.append(0x0A)
        if let error = Self.appendLine(line, to: url) {
            state.withLock {
                $0.unwritten.append(entry)
                $0.problem = "cannot write the teardown journal \(url.path): \(error); the teardown goes on and this session keeps its record in memory"
            }
            return false
        }
        return true
    }

    /// Every readable line in file order, then the lines only kept in memory.
    public func read() -> Contents {
        var entries: [TeardownJournalEntry] = []
        var skipped: [SkippedLine] = []
        if let url, let data = try? Data(contentsOf: url) {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            var number = 0
            for raw in data.split(separator: 0x0A, omittingEmptySubsequences: false) {
                number += 1
                guard !raw.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) else { continue }
                do {
                    entries.append(try decoder.decode(TeardownJournalEntry.self, from: Data(raw)))
                } catch {
                    skipped.append(SkippedLine(lineNumber: number, reason: Self.describe(error)))
                }
            }
        }
        entries += state.withLock { $0.unwritten }
        return Contents(entries: entries, skipped: skipped)
    }

    /// Every teardown the journal knows, oldest first.
    public func teardowns() -> [TeardownRecord] { TeardownRecord.fold(read().entries) }

    /// Teardowns neither completed nor aborted, most recently active first.
    public func inProgress() -> [TeardownRecord] {
        teardowns().filter { $0.state == .inProgress }.sorted { $0.updatedAt > $1.updatedAt }
    }

    /// The latest teardown of this store on this endpoint and account, if any.
    public func latest(endpoint: String, account: String?, store idOrName: String) -> TeardownRecord? {
        teardowns().last { $0.matches(endpoint: endpoint, account: account, store: idOrName) }
    }

    /// Plain-words report of skipped lines, or nil.
    public static func report(_ skipped: [SkippedLine], url: URL?) -> String? {
        guard !skipped.isEmpty else { return nil }
        let lines = skipped.prefix(5).map { "line \($0.lineNumber) (\($0.reason))" }.joined(separator: ", ")
        let more = skipped.count > 5 ? " and \(skipped.count - 5) more" : ""
        return "skipped \(skipped.count) unreadable line\(skipped.count == 1 ? "" : "s") of the teardown journal "
            + "\(url?.path ?? ""): \(lines)\(more)"
    }

    private static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.dataCorrupted: return "not valid JSON, perhaps truncated"
        case DecodingError.keyNotFound(let key, _): return "missing \(key.stringValue)"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "wrong value at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        default: return "unreadable"
        }
    }

    /// Creates the directory (0700) and file (0600) as needed, repairs a missing final newline left by a
    /// crash (so the new line does not glue onto a truncated one), appends with O_APPEND and fsyncs.
    private static func appendLine(_ line: Data, to url: URL) -> String? {
        let directory = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            return "cannot create \(directory.path) (\(reason(error)))"
        }
        let fd = open(url.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        defer { close(fd) }
        var bytes = line
        if needsNewline(url) { bytes.insert(0x0A, at: 0) }
        let written = bytes.withUnsafeBytes { buffer -> Int in
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 { if errno == EINTR { continue }; return -1 }
                offset += n
            }
            return offset
        }
        guard written == bytes.count else { return String(cString: strerror(errno)) }
        guard fsync(fd) == 0 else { return String(cString: strerror(errno)) }
        return nil
    }

    private static func needsNewline(_ url: URL) -> Bool {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return false }
        defer { try? handle.close() }
        guard let end = try? handle.seekToEnd(), end > 0 else { return false }
        try? handle.seek(toOffset: end - 1)
        return (try? handle.read(upToCount: 1)) != Data([0x0A])
    }

    private static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if ns.domain == NSCocoaErrorDomain, ns.code == NSFileWriteNoPermissionError { return "permission denied" }
        return ns.localizedDescription
    }
}
