import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Why a data directory cannot be used; the message says what to do, for the person who started the core.
public struct DataDirectoryError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The rules of a core's data directory, in one place for `cks serve` and the embedded core:
/// - the directory is private: created 0700, refused when group or others may enter or read it;
/// - the files in it are private: created 0600, tightened to 0600 when found looser;
/// - one process at a time: `DataDirectoryLock`.
public enum DataDirectory {
    /// The files a data directory holds.
    public static let databaseName = "cks.sqlite"
    public static let lockName = "cks.lock"
    public static let keyName = "cks.key"

    /// Creates `directory` (and parents) with mode 0700 when absent. An existing directory that group or others
    /// can reach is refused rather than changed: it might be a home or shared directory given by mistake.
    public static func preparePrivate(_ directory: URL) throws(DataDirectoryError) {
        let path = directory.path
        var info = stat()
        if stat(path, &info) != 0 {
            guard errno == ENOENT else {
                throw DataDirectoryError("cannot use data directory \(path): \(String(cString: strerror(errno)))")
            }
            try createPrivate(directory)
            return
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw DataDirectoryError("data directory \(path) is not a directory")
        }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw DataDirectoryError("data directory \(path) is accessible by group or others (mode "
                + String(mode, radix: 8) + "); it holds key material and secrets. Fix it with: chmod 700 \(path)")
        }
    }

    /// Creates `directory` (and parents) with mode 0700 if it does not exist; an existing one is left alone.
    public static func createPrivate(_ directory: URL) throws(DataDirectoryError) {
        guard !FileManager.default.fileExists(atPath: directory.path) else { return }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw DataDirectoryError("cannot create directory \(directory.path): \(error.localizedDescription)")
        }
    }

    /// Creates `url` empty with mode 0600 if absent; an existing file readable or writable by group or others is
    /// tightened to 0600. Returns a notice when it tightened one.
    static func makePrivateFile(_ url: URL, create: Bool) throws(DataDirectoryError) -> String? {
        if create {
            let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if fd >= 0 {
                close(fd)
                return nil
            }
            guard errno == EEXIST else {
                throw DataDirectoryError("cannot create \(url.path): \(String(cString: strerror(errno)))")
            }
        }
        return try tighten(url)
    }

    /// Tightens an existing file to 0600 when group or others may use it; nil when it was already private or
    /// does not exist.
    @discardableResult
    static func tighten(_ url: URL) throws(DataDirectoryError) -> String? {
        var info = stat()
        guard stat(url.path, &info) == 0 else { return nil }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 != 0 else { return nil }
        guard chmod(url.path, 0o600) == 0 else {
            throw DataDirectoryError("\(url.path) is accessible by group or others (mode \(String(mode, radix: 8))) and "
                + "cannot be tightened: \(String(cString: strerror(errno))). Fix it with: chmod 600 \(url.path)")
        }
        return "tightened \(url.lastPathComponent) from mode \(String(mode, radix: 8)) to 600"
    }

    /// The size of the file at `url`, nil when it does not exist.
    static func fileSize(_ url: URL) -> Int64? {
        var info = stat()
        guard stat(url.path, &info) == 0 else { return nil }
        return Int64(info.st_size)
    }

    /// What changes whenever a file's content may have: device, inode, size, modification and status-change
    /// times. The status-change time cannot be set back from user space, so a file written and given its old
    /// modification time again still differs.
    static func contentIdentity(_ url: URL) -> String? {
        var info = stat()
        guard stat(url.path, &info) == 0 else { return nil }
        return "\(info.st_dev):\(info.st_ino):\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec):"
            + "\(info.st_ctim.tv_sec).\(info.st_ctim.tv_nsec)"
    }
}

/// An exclusive OS lock on `cks.lock` in the data directory, held for the life of the process that uses the
/// directory and released by the kernel however that process ends, `kill -9` included. The file also says who
/// holds it (pid, command, since when, where it listens), so a refused process can name the other one, and whether
/// the database was left open, so a restarted core knows the last one did not stop cleanly.
///
/// The lock is a POSIX record lock (`fcntl`), which belongs to the process: a child the process is spawning never
/// holds it (an `flock` belongs to the open file, which a child between fork and exec still shares, so a lock
/// released here could still show as held). Within the process a table of the lock files held keeps a second
/// holder out, and the lock file is never opened twice (closing any descriptor of it would release the lock).
public final class DataDirectoryLock: Sendable {
    /// How the previous user of the directory left the database.
    public enum PreviousStop: Sendable, Equatable {
        /// No core has used this directory yet (or only one older than the lock file).
        case none
        case clean
        /// The previous holder did not close the database (`kill -9`, a crash, a power loss).
        case unclean(pid: Int32?, command: String?)
    }

    /// A lock file by device and inode.
    private struct FileIdentity: Hashable {
        var device: UInt64
        var inode: UInt64
        init(_ info: stat) {
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
        }
    }

    /// The lock files this process holds, with what each says of its holder (for a refusal's message).
    private static let heldHere = Mutex<[FileIdentity: [String: String]]>([:])

    private let fd: Int32
    private let identity: FileIdentity
    private let released = Atomic(false)
    public let previousStop: PreviousStop
    /// After a clean stop: the identity (`DataDirectory.contentIdentity`) the database file had when a core
    /// that had found it intact closed it.
    public let checkedDatabase: String?
    private let holder: [(String, String)]

    private init(fd: Int32, identity: FileIdentity, previousStop: PreviousStop, checkedDatabase: String?,
                 holder: [(String, String)]) {
        self.fd = fd
        self.identity = identity
        self.previousStop = previousStop
        self.checkedDatabase = checkedDatabase
        self.holder = holder
    }

    /// Takes the lock of `directory` or refuses, naming the process that holds it.
    public static func acquire(in directory: URL) throws(DataDirectoryError) -> DataDirectoryLock {
        let url = directory.appendingPathComponent(DataDirectory.lockName)
        // One acquisition at a time in this process, so the table and the file agree.
        return try heldHere.withLock { (held: inout [FileIdentity: [String: String]]) throws(DataDirectoryError) -> DataDirectoryLock in
            var info = stat()
            if stat(url.path, &info) == 0, let fields = held[FileIdentity(info)] {
                throw DataDirectoryError(inUseMessage(directory: directory, fields: fields, lockFile: url))
            }
            let fd = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw DataDirectoryError("cannot open the lock file \(url.path): \(String(cString: strerror(errno)))")
            }
            guard fstat(fd, &info) == 0 else {
                let message = String(cString: strerror(errno))
                close(fd)
                throw DataDirectoryError("cannot read the lock file \(url.path): \(message)")
            }
            guard lockWholeFile(fd) else {
                let code = errno
                let fields = readFields(fd)
                close(fd)
                guard code == EACCES || code == EAGAIN else {
                    throw DataDirectoryError("cannot lock \(url.path): \(String(cString: strerror(code)))")
                }
                throw DataDirectoryError(inUseMessage(directory: directory, fields: fields, lockFile: url))
            }
            do throws(DataDirectoryError) {
                try DataDirectory.tighten(url)
            } catch {
                close(fd)
                throw error
            }
            let fields = readFields(fd)
            let previous: PreviousStop
            switch fields["database"] {
            case "open": previous = .unclean(pid: fields["pid"].flatMap { Int32($0) }, command: fields["command"])
            case "closed": previous = .clean
            default: previous = .none
            }
            let holder = [("pid", String(getpid())), ("command", currentCommand()), ("since", timestamp(Date()))]
            let identity = FileIdentity(info)
            let checked = previous == .clean ? fields["checked"] : nil
            let lock = DataDirectoryLock(fd: fd, identity: identity, previousStop: previous, checkedDatabase: checked,
                                         holder: holder)
            held[identity] = Dictionary(uniqueKeysWithValues: holder)
            // Who holds it, at once; the database line stays as the last holder left it until this one opens it.
            lock.write(endpoint: nil, database: fields["database"], held: &held)
            return lock
        }
    }

    /// A write lock on the whole file, without waiting; false with `errno` set when it cannot be had.
    private static func lockWholeFile(_ fd: Int32) -> Bool {
        var request = flock()
        request.l_type = Int16(F_WRLCK)
        request.l_whence = Int16(SEEK_SET)
        request.l_start = 0
        request.l_len = 0
        return withUnsafeMutablePointer(to: &request) { fcntl(fd, F_SETLK, $0) } == 0
    }

    /// Records that the database is open: a later start that still finds this knows this process did not stop
    /// cleanly.
    public func recordDatabaseOpen() { write(endpoint: nil, database: "open") }

    /// Records where the core listens, for the message a second process gets.
    public func recordEndpoint(_ endpoint: String) { write(endpoint: endpoint, database: "open") }

    /// Records a clean stop (the database was closed, hence checkpointed) and releases the lock; `checked` is
    /// the database file's identity when this process found it intact (see `checkedDatabase`).
    public func releaseAfterCleanStop(checked: String? = nil) {
        write(endpoint: nil, database: "closed", checked: checked)
        release()
    }

    /// Releases the lock, leaving the database line as it was (a refused start must not hide a crash). Once.
    public func release() {
        guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
        Self.heldHere.withLock { held in
            close(fd)
            held[identity] = nil
        }
    }

    deinit { release() }

    private func write(endpoint: String?, database: String?, checked: String? = nil) {
        Self.heldHere.withLock { held in write(endpoint: endpoint, database: database, checked: checked, held: &held) }
    }

    private func write(endpoint: String?, database: String?, checked: String? = nil,
                       held: inout [FileIdentity: [String: String]]) {
        guard !released.load(ordering: .acquiring) else { return }
        var fields = holder
        if let endpoint { fields.append(("endpoint", endpoint)) }
        if let database { fields.append(("database", database)) }
        if let checked { fields.append(("checked", checked)) }
        var text = ""
        for (name, value) in fields { text += "\(name): \(value)\n" }
        let bytes = Array(text.utf8)
        _ = ftruncate(fd, 0)
        _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        _ = fsync(fd)
        held[identity] = Dictionary(fields, uniquingKeysWith: { _, last in last })
    }

    private static func readFields(_ fd: Int32) -> [String: String] {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return [:] }
        var fields: [String: String] = [:]
        for line in String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\n") {
            guard let colon = line.range(of: ": ") else { continue }
            fields[String(line[..<colon.lowerBound])] = String(line[colon.upperBound...])
        }
        return fields
    }

    /// Who holds the lock, from the file; when it names no live process (the holder has not written it yet),
    /// from `/proc/locks`, which lists every lock with its owner's pid.
    private static func inUseMessage(directory: URL, fields: [String: String], lockFile: URL) -> String {
        var pid = fields["pid"].flatMap { Int32($0) }
        var command = fields["command"]
        if pid.map({ kill($0, 0) != 0 && errno == ESRCH }) ?? true {
            pid = lockHolderFromProcLocks(lockFile)
            command = pid.flatMap(commandLine(of:))
        }
        var who = pid.map { "process \($0)" } ?? "another process"
        if let command, !command.isEmpty { who += " (\(command))" }
        var message = "data directory \(directory.path) is in use by \(who)"
        if let since = fields["since"], fields["pid"].flatMap({ Int32($0) }) == pid { message += " since \(since)" }
        message += ". Two cores on one data directory would each keep their own clock and disagree about which "
            + "keys are deleted."
        if let endpoint = fields["endpoint"] {
            message += " That core listens on \(endpoint): point clients at it (--endpoint \(endpoint)), or stop it"
        } else {
            message += " Stop it"
        }
        message += pid.map { " (kill \($0))" } ?? ""
        message += " or use another data directory."
        return message
    }

    /// The pid owning a lock on `file`, from `/proc/locks` (`1: POSIX ADVISORY WRITE <pid> <maj>:<min>:<inode> 0 EOF`).
    private static func lockHolderFromProcLocks(_ file: URL) -> Int32? {
        var info = stat()
        guard stat(file.path, &info) == 0,
              let locks = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) else { return nil }
        for line in locks.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 6, parts[1] == "POSIX" || parts[1] == "FLOCK", let pid = Int32(parts[4]) else { continue }
            let device = parts[5].split(separator: ":")
            if device.count == 3, UInt64(device[2]) == UInt64(info.st_ino) { return pid }
        }
        return nil
    }

    private static func commandLine(of pid: Int32) -> String? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { return nil }
        return shorten(data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) })
    }

    private static func currentCommand() -> String { shorten(CommandLine.arguments) }

    /// The program's name and arguments on one line, at most 200 characters.
    private static func shorten(_ words: [String]) -> String {
        guard let first = words.first else { return "" }
        let line = ([URL(fileURLWithPath: first).lastPathComponent] + words.dropFirst())
            .joined(separator: " ").replacingOccurrences(of: "\n", with: " ")
        return line.count > 200 ? String(line.prefix(199)) + "…" : line
    }

    private static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}
