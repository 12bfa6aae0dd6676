import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The proxy's data directory: mode 0700, its files 0600, and an exclusive lock (`proxy.lock`, holding the
/// owner's pid) so two proxies never share one software key database.
public final class ProxyDataDirectory: Sendable {
    public let url: URL
    private let lockDescriptor: Int32

    public var keyDatabase: URL { url.appendingPathComponent("keys.sqlite") }
    public var tlsDirectory: URL { url.appendingPathComponent("tls") }

    /// Creates the directory (0700) if needed, refuses one open to group or others, and takes the lock.
    public init(path: String) throws(XksProxyError) {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        try Self.makePrivateDirectory(url.path, what: "data directory")
        let lockPath = url.appendingPathComponent("proxy.lock").path
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw XksProxyError("cannot open the lock file \(lockPath): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buffer, buffer.count, 0)
            let owner = n > 0 ? String(decoding: buffer[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            close(fd)
            throw XksProxyError("another cks xks-proxy (pid \(owner)) is using the data directory \(url.path); "
                + "stop it first, or give this one its own --data-dir")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
        self.url = url
        self.lockDescriptor = fd
    }

    deinit { close(lockDescriptor) }

    /// Creates `path` (and its parents) with mode 0700 when missing; refuses an existing one that group or
    /// others can reach.
    static func makePrivateDirectory(_ path: String, what: String) throws(XksProxyError) {
        var info = stat()
        if stat(path, &info) != 0 {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw XksProxyError("cannot create the \(what) \(path): \(error.localizedDescription)")
            }
            return
        }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw XksProxyError("the \(what) \(path) is not a directory") }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw XksProxyError("the \(what) \(path) is accessible by group or others (mode " + String(mode, radix: 8)
                + "); it holds key material. Fix it with: chmod 700 \(path)")
        }
    }

    /// Refuses an existing file that group or others can reach (a secret or key material).
    static func checkPrivateFile(_ path: String, what: String) throws(XksProxyError) {
        var info = stat()
        guard stat(path, &info) == 0 else { return }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw XksProxyError("the \(what) \(path) is accessible by group or others (mode " + String(mode, radix: 8)
                + "). Fix it with: chmod 600 \(path)")
        }
    }

    /// Writes `data` to a new file created with mode 0600 (never readable by others, not even for an instant),
    /// flushed to disk; fails if the file exists.
    static func writePrivateFile(_ path: String, _ data: Data) throws(XksProxyError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw XksProxyError("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == data.count, fsync(fd) == 0 else {
            throw XksProxyError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}
