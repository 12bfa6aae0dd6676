import ArgumentParser
import CKSWire
import CKSXksProxy
import Foundation
import Logging

/// `cks xks-proxy`: an XKS proxy (AWS External Key Store Proxy API v1.0.3) over software keys or a PKCS#11 token.
struct XksProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xks-proxy",
        abstract: "Run an XKS proxy (the AWS External Key Store Proxy API) over software keys or a PKCS#11 token.",
        subcommands: [XksProxyServeCommand.self, XksProxyKeysCommand.self],
        defaultSubcommand: XksProxyServeCommand.self
    )
}

struct XksProxyServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the XKS Proxy API (the default).",
        discussion: """
            Prints 'xks proxy listening on http(s)://HOST:PORT' when ready and, with TLS on, 'certificate FILE' \
            (the server certificate, generated self-signed in the data directory when the config names none). \
            The config file (JSON, mode 0600) lists key stores, their SigV4 credentials and keys; see the README, \
            'Running an XKS proxy'. SIGHUP re-reads it (credential rotation, keys added, disabled or removed); \
            SIGTERM and SIGINT stop the proxy after in-flight requests.
            """
    )

    @Option(help: "The proxy's JSON configuration (mode 0600).")
    var config: String

    @Option(help: "Data directory: software keys (keys.sqlite), the generated TLS certificate, the lock.")
    var dataDir: String

    @Option(help: "HOST:PORT to listen on (':PORT' is 127.0.0.1); port 0 picks a free port.")
    var listen = "127.0.0.1:8443"

    @Option(help: "PKCS#11 module (shared library) holding the keys; without it, software keys are used.")
    var pkcs11Module: String?

    @Option(help: "Label of the PKCS#11 token (with --pkcs11-module).")
    var tokenLabel: String?

    @Option(help: "File holding the token's user PIN, mode 0600 (with --pkcs11-module).")
    var pinFile: String?

    @Option(help: "Log level on stderr: trace, debug, info (one line per request), notice, warning, error.")
    var logLevel = "info"

    func validate() throws {
        guard (try? Self.parseListen(listen)) != nil else {
            throw ValidationError("--listen must be HOST:PORT or :PORT (for example 127.0.0.1:8443, [::1]:0 or :0), got '\(listen)'")
        }
        let pkcs11 = [pkcs11Module, tokenLabel, pinFile]
        if pkcs11.contains(where: { $0 != nil }), pkcs11.contains(where: { $0 == nil }) {
            throw ValidationError("--pkcs11-module, --token-label and --pin-file go together")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }

    func run() async throws {
        let (host, port) = try Self.parseListen(listen)
        var options = XksProxyOptions(configFile: config, dataDirectory: dataDir)
        options.host = host
        options.port = port
        if let pkcs11Module, let tokenLabel, let pinFile {
            options.pkcs11 = .init(modulePath: pkcs11Module, tokenLabel: tokenLabel, pinFile: pinFile)
        }
        // Logs go to stderr: stdout carries only the listening and certificate lines.
        var logger = Logger(label: "cks.xks-proxy") { label in StreamLogHandler.standardError(label: label) }
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info

        let server: XksProxyServer
        do {
            server = try await XksProxyServer.start(options, handleSignals: true, logger: logger)
        } catch {
            ServeCommand.writeLine("cks xks-proxy: \(error)", to: 2)
            throw ExitCode(1)
        }
        ServeCommand.writeLine("xks proxy listening on \(server.endpoint)")
        if let certificate = server.certificateFile { ServeCommand.writeLine("certificate \(certificate)") }
        for notice in server.notices { ServeCommand.writeLine("cks xks-proxy: \(notice)", to: 2) }
        await server.waitUntilStopped()
    }

    /// `HOST:PORT`, `[IPv6]:PORT`, or `:PORT` for 127.0.0.1.
    static func parseListen(_ text: String) throws -> (String, Int) {
        if text.hasPrefix(":") { return try ServeCommand.parseListen("127.0.0.1" + text) }
        return try ServeCommand.parseListen(text)
    }
}

struct XksProxyKeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Manage the proxy's software keys (AES-256 in <data-dir>/keys.sqlite).",
        subcommands: [Create.self, List.self]
    )

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate software keys (a proxy also generates the keys its config names on start and on SIGHUP).",
            discussion: "Stop a proxy that uses the data directory first: one process owns it at a time."
        )

        @Option(help: "Data directory of the proxy.")
        var dataDir: String

        @Argument(help: "Key ids: 1-128 characters of A-Z, a-z, 0-9, '.', '-' and '_'.")
        var ids: [String]

        func validate() throws {
            guard !ids.isEmpty else { throw ValidationError("name at least one key id") }
            for id in ids where !XKSPath.isValidKeyId(id) {
                throw ValidationError("key id '\(id)' must be 1-128 characters of A-Z, a-z, 0-9, '.', '-' and '_'")
            }
        }

        func run() throws {
            do {
                let directory = try ProxyDataDirectory(path: dataDir)
                let store = try SoftwareKeyStore(path: directory.keyDatabase.path)
                let created = try store.createMissing(ids)
                for id in ids {
                    ServeCommand.writeLine(created.contains(id) ? "created \(id)" : "exists \(id) (kept)")
                }
            } catch {
                ServeCommand.writeLine("cks xks-proxy keys create: \(error.message)", to: 2)
                throw ExitCode(1)
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the software keys (ids and creation times, never material).")

        @Option(help: "Data directory of the proxy.")
        var dataDir: String

        func run() throws {
            do {
                let directory = try ProxyDataDirectory(path: dataDir)
                let store = try SoftwareKeyStore(path: directory.keyDatabase.path)
                for key in try store.list() { ServeCommand.writeLine("\(key.id)\t\(key.createdAt)") }
            } catch {
                ServeCommand.writeLine("cks xks-proxy keys list: \(error.message)", to: 2)
                throw ExitCode(1)
            }
        }
    }
}
