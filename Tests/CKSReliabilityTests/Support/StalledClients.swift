import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Many connections to 127.0.0.1:`port`, each of which sends the start of a request head and then nothing:
/// a neighbour tying up the core's connection slots. Non-blocking sockets driven by `poll` from one thread.
final class StalledClients: @unchecked Sendable {
    let port: Int
    let partialHead: Data
    private var connecting: Set<Int32> = []
    private var stalled: Set<Int32> = []
    /// Connections the server closed (seen by `reapClosed`), over the whole run.
    private(set) var closedByServer = 0

    init(port: Int, partialHead: Data) {
        self.port = port
        self.partialHead = partialHead
    }

    var openCount: Int { connecting.count + stalled.count }
    var stalledCount: Int { stalled.count }

    /// The file-descriptor limit needed for `count` connections, raised towards the hard limit; false when it cannot be.
    static func ensureDescriptors(_ count: Int) -> Bool {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return false }
        let needed = rlim_t(count + 256)
        if limit.rlim_cur >= needed { return true }
        guard limit.rlim_max >= needed else { return false }
        limit.rlim_cur = needed
        return setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0
    }

    /// Opens connections until `count` are open, and waits up to `timeout` for them to connect and send their
    /// half-request. Returns how many are stalled (connected, half-request sent) at the end.
    @discardableResult
    func topUp(to count: Int, timeout: TimeInterval) -> Int {
        while openCount < count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard fd >= 0 else { break }
            let result = connectLoopback(fd, port: port)
            if result == 0 || errno == EINPROGRESS { connecting.insert(fd) } else { close(fd) }
        }
        let deadline = Date().addingTimeInterval(timeout)
        while !connecting.isEmpty, Date() < deadline {
            var fds = connecting.map { pollfd(fd: $0, events: Int16(POLLOUT), revents: 0) }
            guard poll(&fds, nfds_t(fds.count), 50) > 0 else { continue }
            for entry in fds where entry.revents != 0 {
                connecting.remove(entry.fd)
                var error: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(entry.fd, SOL_SOCKET, SO_ERROR, &error, &length)
                let sent = error == 0 && partialHead.withUnsafeBytes {
                    send(entry.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) == $0.count
                }
                if sent { stalled.insert(entry.fd) } else { close(entry.fd) }
            }
        }
        return stalled.count
    }

    /// Closes (on this side) the connections the server has closed; returns how many.
    @discardableResult
    func reapClosed() -> Int {
        var fds = stalled.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        guard poll(&fds, nfds_t(fds.count), 0) > 0 else { return 0 }
        var reaped = 0
        var sink = [UInt8](repeating: 0, count: 4096)
        for entry in fds where entry.revents != 0 {
            if recv(entry.fd, &sink, sink.count, Int32(MSG_DONTWAIT)) <= 0 {
                stalled.remove(entry.fd)
                close(entry.fd)
                reaped += 1
            }
        }
        closedByServer += reaped
        return reaped
    }

    func closeAll() {
        for fd in connecting.union(stalled) { close(fd) }
        connecting.removeAll()
        stalled.removeAll()
    }

    deinit { closeAll() }
}
