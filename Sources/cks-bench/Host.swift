import Foundation
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Things the benchmark asks of this machine: tools, free ports, child processes, /proc counters.
enum Host {
    /// Prints a progress line to stderr at once (stdout carries the table).
    /// The 1-minute load average, from /proc/loadavg.
    static func loadAverage() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
        return text.split(separator: " ").first.flatMap { Double($0) }
    }

    static func log(_ text: String) {
        FileHandle.standardError.write(Data("[cks-bench] \(text)\n".utf8))
    }

    /// The full path of `name` on PATH, or nil.
    static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
        for dir in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"] {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Installs wrk and nginx from Debian's packages when missing (`apt-get update` once, then install).
    static func ensureTools() throws -> (wrk: String, nginx: String) {
        if let wrk = which("wrk"), let nginx = which("nginx") { return (wrk, nginx) }
        log("installing wrk and nginx from Debian's packages (apt-get)")
        var env = ProcessInfo.processInfo.environment
        env["DEBIAN_FRONTEND"] = "noninteractive"
        // policy-rc.d is not touched: nginx's postinst cannot start a service without an init system here, and
        // the benchmark runs its own nginx with its own configuration on a free loopback port.
        guard run("/usr/bin/apt-get", ["update", "-qq"], environment: env, outputToStandardError: true) == 0,
              run("/usr/bin/apt-get", ["install", "-y", "-qq", "wrk", "nginx"], environment: env,
                  outputToStandardError: true) == 0,
              let wrk = which("wrk"), let nginx = which("nginx") else {
            throw BenchError("could not install wrk and nginx with apt-get (run as root: apt-get install -y wrk nginx)")
        }
        return (wrk, nginx)
    }

    /// Runs a program to completion with inherited output; returns its exit status.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                    outputToStandardError: Bool = false) -> Int32 {
        let p = Process()
        // stdout carries the results document; a build's chatter goes to stderr.
        if outputToStandardError { p.standardOutput = FileHandle.standardError }
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if let environment { p.environment = environment }
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch { return 127 }
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// Runs a program and returns its standard output (stderr goes to `errorLog` or is discarded).
    static func capture(_ executable: String, _ arguments: [String], errorLog: URL? = nil) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardInput = FileHandle.nullDevice
        if let errorLog {
            _ = FileManager.default.createFile(atPath: errorLog.path, contents: nil)
            p.standardError = try FileHandle(forWritingTo: errorLog)
        } else {
            p.standardError = FileHandle.nullDevice
        }
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// A port nobody listens on right now on 127.0.0.1 (the kernel's pick).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError("socket() failed") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw BenchError("bind() failed") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Whether something accepts TCP connections on 127.0.0.1:port.
    static func isListening(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return rc == 0
    }

    /// Waits until `condition` holds, polling every `every`; false at the deadline.
    static func waitFor(_ seconds: Double, every: Double = 0.01, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(useconds_t(every * 1_000_000))
        }
        return condition()
    }

    // MARK: /proc

    /// Resident set size and its high-water mark of a process, in MiB.
    static func memory(pid: Int32) -> (rss: Double, hwm: Double)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        func field(_ name: String) -> Double? {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return nil }
            let kb = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Double($0) }
            return kb.map { $0 / 1024 }
        }
        guard let rss = field("VmRSS") else { return nil }
        return (rss, field("VmHWM") ?? rss)
    }

    /// CPU seconds (user + system) of a process and its direct children (nginx's worker, for instance).
    static func cpuSeconds(pid: Int32) -> Double {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        func own(_ p: Int32) -> (ppid: Int32, cpu: Double)? {
            guard let text = try? String(contentsOfFile: "/proc/\(p)/stat", encoding: .utf8),
                  let close = text.lastIndex(of: ")") else { return nil }
            let fields = text[text.index(after: close)...].split(separator: " ")
            // After the command: state(0) ppid(1) ... utime(11) stime(12).
            guard fields.count > 12, let ppid = Int32(fields[1]), let u = Double(fields[11]), let s = Double(fields[12])
            else { return nil }
            return (ppid, (u + s) / ticks)
        }
        var total = own(pid)?.cpu ?? 0
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") {
            for entry in entries {
                guard let child = Int32(entry), child != pid, let info = own(child), info.ppid == pid else { continue }
                total += info.cpu
            }
        }
        return total
    }

    /// The kernel's count of TCP connections opened actively (connect()) so far, machine-wide.
    static func tcpActiveOpens() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/net/snmp", encoding: .utf8) else { return 0 }
        let lines = text.split(separator: "\n").filter { $0.hasPrefix("Tcp:") }
        guard lines.count >= 2 else { return 0 }
        let names = lines[0].split(separator: " "), values = lines[1].split(separator: " ")
        guard let i = names.firstIndex(of: "ActiveOpens"), i < values.count else { return 0 }
        return Int(values[i]) ?? 0
    }

    /// A short description of the machine for the report.
    static func machine() -> MachineInfo {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces) } ?? "unknown"
        let meminfo = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
        let memKB = meminfo.split(separator: "\n").first { $0.hasPrefix("MemTotal") }
            .flatMap { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first }.flatMap { Double($0) } ?? 0
        var uts = utsname()
        uname(&uts)
        let kernel = withUnsafeBytes(of: &uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?
            .split(separator: " ").prefix(3).joined(separator: " ") ?? ""
        let wrkVersion = (try? capture(which("wrk") ?? "/usr/bin/wrk", ["-v"]).1)?
            .split(separator: "\n").first.map(String.init) ?? ""
        return MachineInfo(cpus: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), cpuModel: model,
                           memoryGiB: (memKB / 1024 / 1024 * 10).rounded() / 10, kernel: kernel,
                           loadAverageAtStart: load, wrk: wrkVersion.trimmingCharacters(in: .whitespaces))
    }
}

/// A failure of the benchmark itself (not of a measured server).
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A process the benchmark started; stopped by its PID (SIGTERM, then SIGKILL after a grace period).
final class ChildProcess: @unchecked Sendable {
    let name: String
    let process: Process
    let logFile: URL

    var pid: Int32 { process.processIdentifier }

    /// Starts `executable` with output to `logFile`.
    /// With `terminal`, the program's standard input, output and error are that (pseudo-)terminal.
    init(name: String, executable: String, arguments: [String], environment: [String: String]? = nil,
         logFile: URL, currentDirectory: URL? = nil, terminal: FileHandle? = nil) throws {
        self.name = name
        self.logFile = logFile
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        if let terminal {
            process.standardOutput = terminal
            process.standardError = terminal
            process.standardInput = terminal
        } else {
            _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
            let handle = try FileHandle(forWritingTo: logFile)
            process.standardOutput = handle
            process.standardError = handle
            process.standardInput = FileHandle.nullDevice
        }
        try process.run()
    }

    var isRunning: Bool { process.isRunning }

    /// The signal that asks it to stop (moto's werkzeug reacts to SIGINT at once, to SIGTERM only slowly).
    var stopSignal = SIGTERM

    /// `stopSignal`, wait up to `grace` seconds, then SIGKILL. Returns the seconds it took to exit.
    @discardableResult
    func stop(grace: Double = 10) -> Double {
        let start = Date()
        guard process.isRunning else { return 0 }
        kill(pid, stopSignal)
        if !Host.waitFor(grace, every: 0.005, { !process.isRunning }) {
            Host.log("\(name) (pid \(pid)) did not stop within \(grace)s; sending SIGKILL")
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
        return Date().timeIntervalSince(start)
    }

    /// The last lines of its log, for error messages.
    func logTail(_ lines: Int = 20) -> String {
        let text = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }
}
