import ArgumentParser
import CKSDomain
import CKSPersistence
import CKSEmbedded
import CKSServer
import CKSXksClient
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// `cks serve`: runs the core, a local AWS KMS custom key store service, until SIGTERM or SIGINT.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the core: the local KMS custom key store service.",
        discussion: """
            Prints one line 'listening on http://HOST:PORT' when ready. Without --principals it uses \
            <data-dir>/principals.json, creating it (mode 0600) with a fresh admin principal if absent.
            """
    )

    @Option(help: "HOST:PORT to listen on; port 0 picks a free port.")
    var listen = "127.0.0.1:7911"

    @Option(help: "Data directory (default: $XDG_DATA_HOME/cks, else ~/.local/share/cks).")
    var dataDir: String?

    @Option(help: "Principals file (default: <data-dir>/principals.json, created if absent).")
    var principals: String?

    @Option(help: "Region the core advertises; each request's region comes from its SigV4 scope.")
    var region = "us-east-1"

    @Option(help: "Simulated seconds per wall-clock second, from 0.001 to 86400 (a simulated day per second).")
    var timeScale: Double = 1

    @Option(help: "Custom key stores per account and region.")
    var storeQuota: Int = 10

    @Flag(help: "Allow listening on a non-loopback address.")
    var allowRemote = false

    @Option(help: "Commit durability: 'normal' survives kill -9 of the core; 'full' also survives a power loss, with an fsync per write (much slower writes).")
    var durability = "normal"

    @Option(help: "Seconds a connection may sit without a request (or take to send one) before it is closed; 0 never closes.")
    var idleTimeout: Double = 60

    @Option(help: "Seconds a request's head and body may take to arrive once its first byte has; 0 never cuts one off.")
    var readTimeout: Double = 10

    @Option(help: "Connections open at once; at the limit, the one longest without a complete request (stalled or idle) is closed to make room.")
    var maxConnections = 1024

    @Flag(help: ArgumentHelp("Benchmarks only: do not record calls (the cost of the use record, A/B).", visibility: .hidden))
    var benchWithoutUseRecord = false

    @Flag(help: "Create a new, empty database where one was expected but is empty or missing (what it held is gone).")
    var `init` = false

    @Flag(help: "Serve a damaged database read-only without checking it, to read out what it still holds.")
    var skipIntegrityCheck = false

    @Flag(help: "Continue from the database file when the write-ahead log of a core that crashed is missing.")
    var acceptLostWal = false

    @Flag(help: "Set a stored simulated clock that reads outside 1970-01-01 to 9999-12-01 back to the wall clock.")
    var resetClock = false

    @Option(name: .customLong("xks-resolve"),
            help: ArgumentHelp("Where the XKS proxy named HOST in XksProxyUriEndpoint really listens (repeatable).",
                               discussion: "HOST=ADDR:PORT, or HOST=http://ADDR:PORT for a plain-HTTP proxy on a loopback address.",
                               valueName: "HOST=ADDR:PORT"))
    var xksResolve: [String] = []

    @Option(name: .customLong("xks-ca-file"), help: ArgumentHelp("PEM certificates to trust for XKS proxies, besides the system's.", valueName: "FILE"))
    var xksCaFile: String?

    @Option(name: .customLong("xks-client-cert"), help: ArgumentHelp("PEM client certificate chain presented to XKS proxies that ask (mTLS).", valueName: "FILE"))
    var xksClientCert: String?

    @Option(name: .customLong("xks-client-key"), help: ArgumentHelp("PEM private key of --xks-client-cert.", valueName: "FILE"))
    var xksClientKey: String?

    @Option(name: .customLong("xks-timeout-ms"), help: "Milliseconds each call to an XKS proxy may take (KMS allows 250).")
    var xksTimeoutMs = 250

    /// The XKS client's settings from the `--xks-*` options.
    func xksOptions() throws -> XksClientOptions {
        var options = XksClientOptions(caFile: xksCaFile, clientCertificateFile: xksClientCert, clientKeyFile: xksClientKey,
                                       timeout: .milliseconds(xksTimeoutMs))
        do {
            for entry in xksResolve {
                let (host, target) = try XksClientOptions.parseResolve(entry)
                if let earlier = options.resolve[host], earlier != target {
                    throw ValidationError("--xks-resolve names \(host) twice (\(earlier) and \(target)): give each host once")
                }
                options.resolve[host] = target
            }
        } catch let error as XksClientSetupError {
            throw ValidationError(error.message)
        }
        if (xksClientCert == nil) != (xksClientKey == nil) {
            throw ValidationError("--xks-client-cert and --xks-client-key go together: give both for mTLS, or neither")
        }
        return options
    }

    func validate() throws {
        guard (1...60_000).contains(xksTimeoutMs) else { throw ValidationError("--xks-timeout-ms must be 1 to 60000") }
        _ = try xksOptions()
        guard (try? Self.parseListen(listen)) != nil else {
            throw ValidationError("--listen must be HOST:PORT (for example 127.0.0.1:7911 or [::1]:0), got '\(listen)'")
        }
        if let problem = SimulatedClock.problem(withTimeScale: timeScale) { throw ValidationError("--time-scale: \(problem)") }
        guard idleTimeout >= 0, idleTimeout.isFinite else { throw ValidationError("--idle-timeout must be 0 or more seconds") }
        guard readTimeout >= 0, readTimeout.isFinite else { throw ValidationError("--read-timeout must be 0 or more seconds") }
        guard maxConnections >= 1 else { throw ValidationError("--max-connections must be at least 1") }
        guard storeQuota >= 0 else { throw ValidationError("--store-quota must not be negative") }
        guard Durability(rawValue: durability.uppercased()) != nil else {
            throw ValidationError("--durability must be 'normal' or 'full', got '\(durability)'")
        }
    }

    func run() async throws {
        MallocArenas.limitForServer()
        let (host, port) = try Self.parseListen(listen)
        var configuration = CoreConfiguration(dataDirectory: dataDir.map { URL(fileURLWithPath: $0) } ?? CKSPaths().dataDirectory)
        configuration.host = host
        configuration.port = port
        configuration.principalsFile = principals.map { URL(fileURLWithPath: $0) }
        configuration.region = region
        configuration.allowRemote = allowRemote
        configuration.limits = ConnectionLimits(
            idleTimeout: idleTimeout > 0 ? .milliseconds(Int64((idleTimeout * 1000).rounded())) : nil,
            readTimeout: readTimeout > 0 ? .milliseconds(Int64((readTimeout * 1000).rounded())) : nil,
            maxConnections: maxConnections)
        configuration.engine.timeScale = timeScale
        configuration.engine.storeQuota = storeQuota
        configuration.engine.xks = try xksOptions()
        configuration.engine.recordsUse = !benchWithoutUseRecord
        configuration.engine.durability = Durability(rawValue: durability.uppercased()) ?? .normal
        configuration.engine.recovery = RecoveryChoices(initialize: `init`, readOnly: skipIntegrityCheck,
                                                        acceptLostWriteAheadLog: acceptLostWal, resetClock: resetClock)

        // Notices (a file's mode tightened), warnings and errors only: the one line below says the core is ready, without
        // the libraries' start-up chatter (Hummingbird logs its own "server started" at info).
        var logger = Logger(label: "cks")
        logger.logLevel = .notice
        let server: CoreServer
        do {
            server = try await CoreServer.start(configuration, handleSignals: true, logger: logger)
        } catch let error as CoreStartError {
            Self.writeLine("cks serve: \(error.message)", to: 2)
            throw ExitCode(1)
        }
        if server.createdPrincipalsFile {
            Self.writeLine("created principals file \(server.principalsFile.path) "
                           + "(admin access key id \(server.adminPrincipal.accessKeyId))")
        }
        Self.writeLine("cks core listening on \(server.endpoint.absoluteString) (region \(region), data \(configuration.dataDirectory.path))")
        await server.waitUntilStopped()
    }

    /// `HOST:PORT`, `[IPv6]:PORT`.
    static func parseListen(_ text: String) throws -> (String, Int) {
        struct Bad: Error {}
        let host: Substring, portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { throw Bad() }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw Bad() }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else { throw Bad() }
        return (String(host), port)
    }

    /// Writes straight to the file descriptor: stdout into a pipe is block-buffered, and scripts wait for the line.
    static func writeLine(_ text: String, to fd: Int32 = 1) {
        let bytes = Array((text + "\n").utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            offset += n
        }
    }
}
