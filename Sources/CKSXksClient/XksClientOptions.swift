import Foundation

/// How the core reaches external key store proxies (`cks serve --xks-resolve/--xks-ca-file/--xks-client-cert/
/// --xks-client-key`).
public struct XksClientOptions: Sendable, Hashable {
    /// Where a proxy host really listens. `https` unless given as `http://ADDR:PORT`, which is accepted only for
    /// a loopback address (as `cks xks-proxy` serves plain HTTP only there).
    public struct Target: Sendable, Hashable, CustomStringConvertible {
        public var secure: Bool
        public var address: String
        public var port: Int
        public init(secure: Bool = true, address: String, port: Int) {
            self.secure = secure
            self.address = address
            self.port = port
        }
        public var description: String {
            let shown = address.contains(":") ? "[\(address)]" : address
            return "\(secure ? "https" : "http")://\(shown):\(port)"
        }
    }

    /// By lower-cased host name of `XksProxyUriEndpoint`.
    public var resolve: [String: Target] = [:]
    /// PEM certificates trusted for proxies besides the system's roots (a private CA, a self-signed proxy).
    public var caFile: String?
    /// The client certificate (PEM chain) and its private key presented to proxies that ask (mTLS).
    public var clientCertificateFile: String?
    public var clientKeyFile: String?
    /// Each call's budget: KMS gives a proxy 250 ms.
    public var timeout: Duration = .milliseconds(250)

    public init(resolve: [String: Target] = [:], caFile: String? = nil, clientCertificateFile: String? = nil,
                clientKeyFile: String? = nil, timeout: Duration = .milliseconds(250)) {
        self.resolve = resolve
        self.caFile = caFile
        self.clientCertificateFile = clientCertificateFile
        self.clientKeyFile = clientKeyFile
        self.timeout = timeout
    }

    /// Reads `HOST=ADDR:PORT`, `HOST=[IPv6]:PORT` or `HOST=http://ADDR:PORT` (loopback only); the error says
    /// what is wrong and what is expected.
    public static func parseResolve(_ text: String) throws(XksClientSetupError) -> (host: String, target: Target) {
        let usage = "--xks-resolve takes HOST=ADDR:PORT (HOST as in XksProxyUriEndpoint, ADDR:PORT where the proxy listens, "
            + "for example xks.example.test=127.0.0.1:8443), got '\(text)'"
        guard let equals = text.firstIndex(of: "=") else { throw XksClientSetupError(usage) }
        let host = text[..<equals].lowercased()
        var rest = Substring(text[text.index(after: equals)...])
        guard !host.isEmpty, host.utf8.allSatisfy({ b in
            (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == UInt8(ascii: "-") || b == UInt8(ascii: ".")
        }) else { throw XksClientSetupError(usage + ": HOST must be a host name of letters, digits, '-' and '.'") }
        var secure = true
        if rest.hasPrefix("https://") { rest = rest.dropFirst(8) } else if rest.hasPrefix("http://") {
            secure = false
            rest = rest.dropFirst(7)
        }
        let address: Substring, portText: Substring
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]"), rest[rest.index(after: close)...].hasPrefix(":") else {
                throw XksClientSetupError(usage)
            }
            address = rest[rest.index(after: rest.startIndex)..<close]
            portText = rest[rest.index(close, offsetBy: 2)...]
        } else {
            guard let colon = rest.lastIndex(of: ":") else { throw XksClientSetupError(usage + ": the port is missing") }
            address = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        }
        guard !address.isEmpty, let port = Int(portText), (1...65535).contains(port) else {
            throw XksClientSetupError(usage + ": the port must be 1-65535")
        }
        let target = Target(secure: secure, address: String(address), port: port)
        if !secure, !isLoopback(target.address) {
            throw XksClientSetupError("--xks-resolve \(text): plain http:// is accepted only for a loopback address (127.x, ::1, "
                + "localhost): SigV4 secrets and key material would cross the network in the clear")
        }
        return (host, target)
    }

    static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased()
        return h == "localhost" || h == "::1" || h.hasPrefix("127.")
    }

    /// Names reserved for documentation and testing (RFC 2606, RFC 6761): never looked up, so a store pointing at
    /// one without an `--xks-resolve` entry is unreachable at once instead of asking the network.
    public static func isReservedName(_ host: String) -> Bool {
        let h = host.lowercased()
        for suffix in ["example", "invalid", "test"] where h == suffix || h.hasSuffix("." + suffix) { return true }
        for domain in ["example.com", "example.net", "example.org"] where h == domain || h.hasSuffix("." + domain) { return true }
        return false
    }
}

/// A problem with the XKS client's settings (a file that cannot be read, a malformed option).
public struct XksClientSetupError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
