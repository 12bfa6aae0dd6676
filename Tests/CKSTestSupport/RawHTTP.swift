import CKSClient
import CKSWire
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `connect(2)` to 127.0.0.1:`port`; returns its result (errno tells why when it is not 0).
public func connectLoopback(_ fd: Int32, port: Int) -> Int32 {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
}

/// An HTTP answer as read off the socket.
public struct RawResponse: Sendable, CustomStringConvertible {
    public var status: Int
    public var headers: [(String, String)]
    public var body: Data

    public func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    public var bodyText: String { String(decoding: body.prefix(600), as: UTF8.self) }
    public var description: String { "HTTP \(status) \(bodyText)" }
    /// The body as a JSON object (empty when it is not one).
    public var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    /// The `__type` of an AWS JSON error body.
    public var errorType: String? { json["__type"] as? String }
    /// The `message` of an AWS JSON error body.
    public var message: String? { json["message"] as? String }

    /// The `__type` and `message` of an AWS JSON error body, nil when the body is not one.
    public var awsError: (type: String, message: String)? {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
              let type = object["__type"] as? String, !type.isEmpty,
              let message = (object["message"] ?? object["Message"]) as? String else { return nil }
        return (type, message)
    }
}

/// A plain TCP connection speaking HTTP/1.1 by hand, so tests can send what no HTTP library would:
/// truncated and oversized bodies, bytes dribbled one at a time, garbage, connections left idle.
/// Blocking; use it from `onThread`.
public final class RawConnection: @unchecked Sendable {
    public let fd: Int32
    private var buffer = [UInt8]()

    /// Connects to 127.0.0.1:`port`; `timeout` bounds every later read and write. The default is long because an
    /// in-process server shares two cores with the whole test suite; tests about time-outs pass their own.
    public init(port: Int, timeout: TimeInterval = 30) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: errno \(errno)") }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - floor(timeout)) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        guard connectLoopback(fd, port: port) == 0 else {
            let code = errno
            Glibc.close(fd)
            throw HarnessError("connect to 127.0.0.1:\(port): errno \(code)")
        }
    }

    deinit { Glibc.close(fd) }

    /// Writes all of `data`; false when the peer closed (EPIPE/ECONNRESET), which servers may do to bad input.
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool { send(Data(bytes)) }

    @discardableResult
    public func send(_ text: String) -> Bool { send(Data(text.utf8)) }

    @discardableResult
    public func send(_ data: Data) -> Bool {
        data.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
    }

    /// Sends `data` `chunk` bytes at a time with `pause` between them: a slow client.
    @discardableResult
    public func dribble(_ data: Data, chunk: Int = 1, pause: TimeInterval) -> Bool {
        var offset = 0
        while offset < data.count {
            let end = min(data.count, offset + chunk)
            if !send(data.subdata(in: offset..<end)) { return false }
            offset = end
            if pause > 0 { Thread.sleep(forTimeInterval: pause) }
        }
        return true
    }

    /// Half-closes the sending side (the server sees end of input).
    public func shutdownWrite() { Glibc.shutdown(fd, Int32(SHUT_WR)) }

    /// Reads one response. nil when the connection closed (or timed out) before a complete response.
    public func readResponse(headRequest: Bool = false) -> RawResponse? {
        guard let headEnd = fill(until: { self.find([13, 10, 13, 10]) }) else { return nil }
        let head = String(decoding: buffer[0..<headEnd], as: UTF8.self)
        buffer.removeFirst(headEnd + 4)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        let headers: [(String, String)] = lines.compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var response = RawResponse(status: status, headers: headers, body: Data())
        if headRequest || status == 204 || status == 304 || (100..<200).contains(status) { return response }
        if let length = response.header("content-length").flatMap(Int.init) {
            guard fill(until: { self.buffer.count >= length ? length : nil }) != nil else { return nil }
            response.body = Data(buffer[0..<length])
            buffer.removeFirst(length)
        } else if response.header("transfer-encoding")?.lowercased().contains("chunked") == true {
            var body = Data()
            while true {
                guard let lineEnd = fill(until: { self.find([13, 10]) }) else { return nil }
                let sizeText = String(decoding: buffer[0..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
                buffer.removeFirst(lineEnd + 2)
                guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { return nil }
                guard fill(until: { self.buffer.count >= size + 2 ? size : nil }) != nil else { return nil }
                body.append(contentsOf: buffer[0..<size])
                buffer.removeFirst(size + 2)
                if size == 0 { break }
            }
            response.body = body
        } else {
            // No framing: the body runs to the end of the connection.
            _ = fill(until: { nil })
            response.body = Data(buffer)
            buffer.removeAll()
        }
        return response
    }

    /// Reads one response; throws when the connection closed (or timed out) before a complete one.
    public func response(headRequest: Bool = false) throws -> RawResponse {
        guard let response = readResponse(headRequest: headRequest) else {
            throw HarnessError("the connection closed (or timed out) before a complete response")
        }
        return response
    }

    /// Whether the peer has closed the connection (a read returns end of file) within `timeout`.
    public func peerClosed(within timeout: TimeInterval) -> Bool {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let ms = Int32(max(1, deadline.timeIntervalSinceNow * 1000))
            if Glibc.poll(&pfd, 1, ms) > 0 {
                var byte: UInt8 = 0
                let n = recv(fd, &byte, 1, Int32(MSG_PEEK))
                if n <= 0 { return true }
                // Data waiting (an answer): consume and keep watching.
                var sink = [UInt8](repeating: 0, count: 65536)
                _ = recv(fd, &sink, sink.count, 0)
            }
        }
        return false
    }

    /// Whether bytes (or end of file) are waiting to be read within `timeout`; consumes nothing.
    public func readable(within timeout: TimeInterval) -> Bool {
        if !buffer.isEmpty { return true }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return Glibc.poll(&pfd, 1, Int32(max(0, timeout * 1000))) > 0
    }

    private func find(_ pattern: [UInt8]) -> Int? {
        guard buffer.count >= pattern.count else { return nil }
        for i in 0...(buffer.count - pattern.count) where buffer[i] == pattern[0] {
            if Array(buffer[i..<(i + pattern.count)]) == pattern { return i }
        }
        return nil
    }

    /// Reads until `done` returns a value, or the connection ends / times out (then nil).
    private func fill(until done: () -> Int?) -> Int? {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if let value = done() { return value }
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { return done() }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }
}

/// Builds signed raw requests exactly as the KMS client would, with hooks to break them.
public struct RawRequestBuilder: Sendable {
    public var port: Int
    public var credentials: AWSCredentials
    public var region = "us-east-1"

    public init(port: Int, credentials: AWSCredentials, region: String = "us-east-1") {
        self.port = port
        self.credentials = credentials
        self.region = region
    }

    public var host: String { "127.0.0.1:\(port)" }

    /// The head and body of `POST /` for `target`, SigV4-signed over `signedBody` (the body itself by default),
    /// at `date`, for `service`; `contentType`, `method` and extra headers can be overridden.
    public func request(target: String?, body: Data, signedBody: Data? = nil, date: Date = Date(), service: String = "kms",
                 secret: String? = nil, method: String = "POST", path: String = "/",
                 contentType: String? = WireCodec.contentType, extraHeaders: [(String, String)] = [],
                 authorization: AuthorizationChoice = .signed, contentLength: Int? = nil,
                 leftUnsigned: Set<String> = []) -> Data {
        var headers: [(String, String)] = [("Host", host)]
        if let contentType { headers.append(("Content-Type", contentType)) }
        if let target { headers.append(("X-Amz-Target", target)) }
        switch authorization {
        case .signed:
            var creds = credentials
            if let secret { creds.secretAccessKey = secret }
            if leftUnsigned.isEmpty {
                headers += SigV4.sign(method: method, path: path, query: "", headers: headers, body: signedBody ?? body,
                                      credentials: creds, region: region, service: service, date: date)
            } else {
                // A correct signature over fewer headers than botocore signs: what an attacker who captured a
                // request could reuse while changing the headers left out.
                headers.append(("X-Amz-Date", SigV4.amzDate(date)))
                if let token = creds.sessionToken { headers.append(("X-Amz-Security-Token", token)) }
                let names = headers.map { $0.0.lowercased() }.filter { !leftUnsigned.contains($0) }
                headers.append(("Authorization", SigV4.authorizationHeader(
                    method: method, path: path, query: "", headers: headers, signedHeaders: names,
                    payloadHash: SigV4.hexSHA256(signedBody ?? body), credentials: creds, region: region,
                    service: service, amzDate: SigV4.amzDate(date))))
            }
        case .none:
            break
        case .literal(let value):
            headers.append(("X-Amz-Date", Self.amzDate(date)))
            headers.append(("Authorization", value))
        }
        headers += extraHeaders
        headers.append(("Content-Length", String(contentLength ?? body.count)))
        var text = "\(method) \(path) HTTP/1.1\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        return Data(text.utf8) + body
    }

    public enum AuthorizationChoice: Sendable {
        case signed
        case none
        case literal(String)
    }

    public static func amzDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter.string(from: date)
    }
}

/// Sends one request on a fresh connection and reads the answer (blocking; use from `onThread`).
public func exchange(port: Int, _ request: Data, timeout: TimeInterval = 30) throws -> RawResponse {
    let connection = try RawConnection(port: port, timeout: timeout)
    connection.send(request)
    guard let response = connection.readResponse() else {
        throw HarnessError("no answer from 127.0.0.1:\(port) to \(String(decoding: request.prefix(300), as: UTF8.self))")
    }
    return response
}

/// Runs blocking work (sockets, waits) on a thread of its own, never on Swift's small cooperative pool (on Linux
/// Dispatch's global queues share their threads with it, so blocked reads there would starve the server under test).
public func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
        thread.stackSize = 4 << 20
        thread.start()
    }
}
