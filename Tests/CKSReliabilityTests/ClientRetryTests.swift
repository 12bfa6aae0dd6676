import CKSClient
import CKSWire
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A one-connection HTTP server on a raw socket that answers the first request on a keep-alive connection, then
/// reads the second one whole and dies with it (closes the connection and stops listening): exactly what a core
/// killed mid-request looks like to a client whose connection was pooled.
private final class DyingServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private(set) var requestsRead = 0
    private let done = DispatchSemaphore(value: 0)

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        listen(listener, 16)
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = Int(UInt16(bigEndian: bound.sin_port))
        start()
    }

    private func start() {
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    private func readRequest(_ fd: Int32) -> Bool {
        var data = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if let end = find(data, [13, 10, 13, 10]) {
                let head = String(decoding: data[0..<end], as: UTF8.self).lowercased()
                let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst(15).trimmingCharacters(in: .whitespaces)) } ?? 0
                if data.count >= end + 4 + length { return true }
            }
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { return false }
            data += chunk[0..<n]
        }
    }

    private func find(_ data: [UInt8], _ pattern: [UInt8]) -> Int? {
        guard data.count >= pattern.count else { return nil }
        for i in 0...(data.count - pattern.count) where Array(data[i..<(i + pattern.count)]) == pattern { return i }
        return nil
    }

    private func serve() {
        defer { done.signal() }
        let fd = accept(listener, nil, nil)
        guard fd >= 0 else { return }
        guard readRequest(fd) else { Glibc.close(fd); return }
        requestsRead += 1
        let body = "{}"
        let answer = "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-RequestId: 1\r\n"
            + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        _ = answer.withCString { Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        if readRequest(fd) { requestsRead += 1 }
        // Die: stop listening, then reset the connection, as a process killed with SIGKILL does.
        Glibc.close(listener)
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        Glibc.close(fd)
    }

    func wait() { done.wait() }
}

extension Reliability {
    /// The client's view of a core that dies while it holds a request: the request did arrive, so the error must
    /// say it may have reached the server, and a non-idempotent call must not be sent again.
    @Suite struct ClientRetry {
        @Test func requestThatReachedADyingCoreIsNotReportedAsNeverSent() async throws {
            let server = try DyingServer()
            let client = KMSClient(endpoint: URL(string: "http://127.0.0.1:\(server.port)")!, region: "us-east-1",
                                   credentials: AWSCredentials(accessKeyId: "AKIAEXAMPLE000000001", secretAccessKey: "secret"),
                                   retryPolicy: RetryPolicy(maxAttempts: 4, baseDelay: .milliseconds(10)))
            _ = try await client.describeCustomKeyStores()
            var failure: KMSClientError?
            do {
                _ = try await client.scheduleKeyDeletion(keyId: "1234abcd-12ab-34cd-56ef-1234567890ab", pendingWindowInDays: 7)
            } catch {
                failure = error
            }
            server.wait()
            #expect(server.requestsRead == 2, "the second request reached the server")
            #expect(failure != nil)
            #expect(failure?.requestMayHaveReachedServer == true,
                    "a request the server read was reported as never sent: \(String(describing: failure))")
        }
    }
}

extension Reliability.ClientRetry {
    /// Calls racing the transport's shutdown (the console's poll at the moment it quits): each ends with an error,
    /// the ones after the shutdown as cancelled and unsent; none stops the process. Foundation used to abort with
    /// "Session invalidated" when a task was created on the invalidated session (found by the long outage run).
    @Test(arguments: [false, true]) func callsRacingShutdownFailCleanly(nio: Bool) async throws {
        // A port nothing listens on: every call fails fast, so the calls keep coming while the shutdown lands.
        let listener = try RawListener()
        let url = URL(string: "http://127.0.0.1:\(listener.port)/")!
        listener.close()
        let transport: any KMSTransport = nio ? NIOTransport() : URLSessionTransport()
        let request = TransportRequest(url: url, headers: [("Content-Type", "application/x-amz-json-1.1")], body: Data("{}".utf8))
        let outcomes = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var seen: [String] = []
                    let deadline = ContinuousClock.now + .milliseconds(400)
                    while ContinuousClock.now < deadline {
                        do {
                            _ = try await transport.send(request, timeout: 5)
                            seen.append("answered")
                        } catch let error as KMSClientError {
                            seen.append(error.typeName)
                        } catch {
                            seen.append("\(type(of: error))")
                        }
                    }
                    return seen
                }
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(100))
                transport.shutdown()
                transport.shutdown()  // idempotent
                return []
            }
            var all: [String] = []
            for await part in group { all += part }
            return all
        }
        var afterShutdown = "answered"
        do {
            _ = try await transport.send(request, timeout: 5)
        } catch let error as KMSClientError {
            if case .cancelled = error.kind { afterShutdown = "cancelled" } else { afterShutdown = "\(error.kind)" }
        }
        #expect(!outcomes.isEmpty && !outcomes.contains("answered"))
        #expect(afterShutdown == "cancelled", "a call after shutdown is cancelled, unsent: \(afterShutdown)")
    }
}

/// A listening socket on a free loopback port, closed on request (to get a port nothing answers on).
private final class RawListener {
    let port: Int
    private var fd: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw HarnessError("bind: errno \(errno)") }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.port = Int(UInt16(bigEndian: actual.sin_port))
    }

    func close() {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    deinit { close() }
}
