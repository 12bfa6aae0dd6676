import Foundation
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A program on a pseudo-terminal (the console as a person runs it): the benchmark reads what it draws and types
/// keys into it. Stopped by its PID.
final class PtySession {
    let child: ChildProcess
    let master: Int32
    /// Everything drawn so far, escape sequences removed.
    private(set) var text = ""
    private(set) var rawBytes = 0
    let started: Date

    init(executable: String, arguments: [String], environment: [String: String], rows: Int, columns: Int,
         logFile: URL) throws {
        // glibc declares these only under _XOPEN_SOURCE, which Swift's Glibc module does not set: look them up.
        typealias OpenPT = @convention(c) (Int32) -> Int32
        typealias PTOp = @convention(c) (Int32) -> Int32
        typealias PTSName = @convention(c) (Int32, UnsafeMutablePointer<CChar>?, Int) -> Int32
        func symbol<T>(_ name: String, _ type: T.Type) throws -> T {
            guard let handle = dlopen(nil, RTLD_NOW), let pointer = dlsym(handle, name) else {
                throw BenchError("\(name) is not available")
            }
            return unsafeBitCast(pointer, to: type)
        }
        let openpt = try symbol("posix_openpt", OpenPT.self)
        let grant = try symbol("grantpt", PTOp.self), unlock = try symbol("unlockpt", PTOp.self)
        let ptsname = try symbol("ptsname_r", PTSName.self)
        master = openpt(O_RDWR | O_NOCTTY)
        guard master >= 0, grant(master) == 0, unlock(master) == 0 else { throw BenchError("no pseudo-terminal") }
        var name = [CChar](repeating: 0, count: 128)
        guard ptsname(master, &name, name.count) == 0 else { throw BenchError("ptsname failed") }
        let slavePath = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        _ = Host.run("/bin/stty", ["-F", slavePath, "rows", "\(rows)", "cols", "\(columns)"])
        let slave = open(slavePath, O_RDWR | O_NOCTTY)
        guard slave >= 0 else { throw BenchError("cannot open \(slavePath)") }
        let handle = FileHandle(fileDescriptor: slave, closeOnDealloc: true)
        var env = environment
        env["LINES"] = "\(rows)"
        env["COLUMNS"] = "\(columns)"
        started = Date()
        child = try ChildProcess(name: "cks console", executable: executable, arguments: arguments, environment: env,
                                 logFile: logFile, terminal: handle)
        try? handle.close()
    }

    deinit { close(master) }

    var pid: Int32 { child.pid }

    /// Reads what is available for up to `seconds`; returns the new (stripped) text.
    @discardableResult
    func pump(_ seconds: Double) -> String {
        var pfd = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
        var buffer = [UInt8](repeating: 0, count: 65536)
        var fresh = [UInt8]()
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            let wait = max(0, Int32(deadline.timeIntervalSinceNow * 1000))
            guard poll(&pfd, 1, wait) > 0 else { break }
            let n = buffer.withUnsafeMutableBytes { read(master, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            fresh += buffer[0..<n]
            // Return as soon as something arrived and nothing more is pending.
            if poll(&pfd, 1, 0) <= 0 { break }
        } while Date() < deadline
        rawBytes += fresh.count
        let stripped = Self.strip(fresh)
        text += stripped
        return stripped
    }

    /// Reads until `needle` shows up in the drawn text; the seconds since start, or nil at the deadline.
    func waitFor(_ needle: String, timeout: Double) -> Double? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline, child.isRunning {
            pump(min(0.05, max(0, deadline.timeIntervalSinceNow)))
            if text.contains(needle) { return Date().timeIntervalSince(started) }
        }
        return text.contains(needle) ? Date().timeIntervalSince(started) : nil
    }

    func type(_ keys: String) {
        let bytes = Array(keys.utf8)
        _ = bytes.withUnsafeBytes { write(master, $0.baseAddress, $0.count) }
    }

    /// Seconds from typing `key` to the first byte of the redraw.
    func keystrokeLatency(_ key: String, timeout: Double = 2) -> Double? {
        // Wait for 200 ms without output (a loading console redraws by itself), else the next byte is not ours.
        let quietDeadline = Date().addingTimeInterval(5)
        while Date() < quietDeadline {
            let before = rawBytes
            pump(0.2)
            if rawBytes == before { break }
        }
        let t0 = Date()
        type(key)
        var pfd = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, Int32(timeout * 1000)) > 0 else { return nil }
        let latency = Date().timeIntervalSince(t0)
        pump(0.02)
        return latency
    }

    /// Removes ANSI escape sequences and control characters from terminal output.
    static func strip(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == 0x1B {
                i += 1
                guard i < bytes.count else { break }
                if bytes[i] == UInt8(ascii: "[") {
                    i += 1
                    while i < bytes.count, !(0x40...0x7E).contains(bytes[i]) { i += 1 }
                    i += 1
                } else if bytes[i] == UInt8(ascii: "]") {
                    while i < bytes.count, bytes[i] != 0x07 { i += 1 }
                    i += 1
                } else if [UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "#")].contains(bytes[i]) {
                    i += 2
                } else {
                    i += 1
                }
                continue
            }
            if b == 0x0A || b == 0x0D { out.append(0x0A) } else if b >= 0x20 || b >= 0x80 { out.append(b) }
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}
