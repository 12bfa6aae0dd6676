import CKSWire
import Foundation
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Builds the raw requests wrk sends: SigV4-signed with the project's signer for the core (valid ±5 minutes, so
/// rebuilt before every run), or with a static, syntactically valid SigV4 header for moto (which does not verify,
/// but routes a request without `Authorization` to its S3 backend).
struct RequestFactory: Sendable {
    enum Signing: Sendable {
        case sigV4(AWSCredentials, region: String)
        case staticHeader
    }

    let port: Int
    let signing: Signing

    static let staticAuthorization = "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/kms/aws4_request, "
        + "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
        + "Signature=0000000000000000000000000000000000000000000000000000000000000000"

    var host: String { "127.0.0.1:\(port)" }

    func make(_ target: String, _ body: String, date: Date = Date(), service: String = "kms") -> RawRequest {
        var headers: [(String, String)] = [("Host", host), ("Content-Type", "application/x-amz-json-1.1"),
                                           ("X-Amz-Target", target)]
        switch signing {
        case .sigV4(let credentials, let region):
            headers += SigV4.sign(method: "POST", path: "/", query: "", headers: headers, body: Data(body.utf8),
                                  credentials: credentials, region: region, service: service, date: date)
        case .staticHeader:
            headers += [("X-Amz-Date", "20250101T000000Z"), ("Authorization", Self.staticAuthorization)]
        }
        return RawRequest(target: target, body: body, headers: headers)
    }

    /// A JSON string literal.
    static func json(_ text: String) -> String {
        let data = try! JSONEncoder().encode(text)
        return String(decoding: data, as: UTF8.self)
    }
}

/// A blocking HTTP/1.1 connection over a plain socket (keep-alive; reconnects when the server closes). No client
/// library warm-up in the way when timing a server's first answer, and cheap enough to seed 100,000 keys.
final class RawConnection {
    struct Answer {
        var status: Int
        var body: Data
        var text: String { String(decoding: body, as: UTF8.self) }
        /// The parsed JSON object of the body, or nil.
        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] }
    }

    let port: Int
    let timeout: Double
    private var fd: Int32 = -1
    private var buffer = [UInt8]()

    init(port: Int, timeout: Double = 30) {
        self.port = port
        self.timeout = timeout
    }

    deinit { disconnect() }

    func disconnect() {
        if fd >= 0 { close(fd) }
        fd = -1
        buffer.removeAll(keepingCapacity: true)
    }

    private func connectSocket() -> Bool {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard s >= 0 else { return false }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { close(s); return false }
        fd = s
        return true
    }

    /// Sends the request and reads its answer; nil when the server cannot be reached or the answer is cut.
    /// A request on a kept-alive connection the server had closed is retried once on a new connection.
    func exchange(_ request: RawRequest) -> Answer? {
        let reused = fd >= 0
        if let answer = attempt(request.wire) { return answer }
        return reused ? attempt(request.wire) : nil
    }

    private func attempt(_ wire: String) -> Answer? {
        if fd < 0, !connectSocket() { return nil }
        let bytes = Array(wire.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { disconnect(); return nil }
            sent += n
        }
        buffer.removeAll(keepingCapacity: true)
        var chunk = [UInt8](repeating: 0, count: 65536)
        var headEnd: Int?
        var scanFrom = 0
        var status = 0, length: Int?, closeAfter = false
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 {
                // Without Content-Length the body runs to the end of the connection.
                if let headEnd, length == nil, status > 0 {
                    let body = Data(buffer[(headEnd + 4)...])
                    disconnect()
                    return Answer(status: status, body: body)
                }
                disconnect()
                return nil
            }
            buffer += chunk[0..<n]
            if headEnd == nil {
                var i = max(0, scanFrom - 3)
                while i + 3 < buffer.count {
                    if buffer[i] == 13, buffer[i + 1] == 10, buffer[i + 2] == 13, buffer[i + 3] == 10 { headEnd = i; break }
                    i += 1
                }
                scanFrom = buffer.count
                guard let end = headEnd else { continue }
                let head = String(decoding: buffer[0..<end], as: UTF8.self)
                let lines = head.components(separatedBy: "\r\n")
                status = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
                for line in lines.dropFirst() {
                    let parts = line.split(separator: ":", maxSplits: 1)
                    guard parts.count == 2 else { continue }
                    let name = parts[0].lowercased(), value = parts[1].trimmingCharacters(in: .whitespaces)
                    if name == "content-length" { length = Int(value) }
                    if name == "connection", value.lowercased() == "close" { closeAfter = true }
                }
            }
            if let end = headEnd, let length, buffer.count >= end + 4 + length {
                let body = Data(buffer[(end + 4)..<(end + 4 + length)])
                if closeAfter { disconnect() }
                return Answer(status: status, body: body)
            }
        }
    }

    /// One request on a fresh connection.
    static func once(port: Int, _ request: RawRequest, timeout: Double = 10) -> Answer? {
        RawConnection(port: port, timeout: timeout).exchange(request)
    }

    /// Sends `count` requests over `workers` kept-alive connections at once; `make(i)` builds request i.
    /// Answers come back in request order (nil where the exchange failed).
    static func parallel(port: Int, count: Int, workers: Int, make: @escaping @Sendable (Int) -> RawRequest) -> [Answer?] {
        let results = ResultBox(count: count)
        let next = Counter()
        // Real threads: GCD's concurrentPerform would run only as many blocking workers as there are CPUs.
        let done = DispatchSemaphore(value: 0)
        let width = max(1, workers)
        for _ in 0..<width {
            let thread = Thread {
                let connection = RawConnection(port: port)
                while true {
                    let i = next.take()
                    guard i < count else { break }
                    results.set(i, connection.exchange(make(i)))
                }
                done.signal()
            }
            thread.start()
        }
        for _ in 0..<width { done.wait() }
        return results.values
    }
}

/// A shared index for `RawConnection.parallel`.
private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func take() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value - 1 }
}

private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [RawConnection.Answer?]
    init(count: Int) { items = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ answer: RawConnection.Answer?) { lock.lock(); items[i] = answer; lock.unlock() }
    var values: [RawConnection.Answer?] { lock.lock(); defer { lock.unlock() }; return items }
}
