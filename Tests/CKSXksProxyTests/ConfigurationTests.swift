import CKSTestSupport
import Foundation
import Testing
@testable import CKSXksProxy

@Suite struct ConfigurationTests {
    static let valid = """
        {"tls": {"enabled": false},
         "keyStores": [{"uriPathPrefix": "example/uri/path/prefix",
                        "credentials": [{"accessKeyId": "MUBSXM6K3KMXHN6RRCXI7TWQH4", "secretAccessKey": "FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE"}],
                        "keys": [{"id": "foo", "usage": ["ENCRYPT", "DECRYPT"], "status": "ENABLED"},
                                 {"id": "bar", "usage": [], "status": "DISABLED"}]}]}
        """

    @Test func theIssuesShapeParses() throws {
        let config = try ProxyConfiguration.parse(Data(Self.valid.utf8))
        #expect(config.tls == .init(enabled: false))
        #expect(config.keyStores.count == 1 && config.keyStores[0].uriPathPrefix == "example/uri/path/prefix")
        #expect(config.keyStores[0].keys == [.init(id: "foo", usage: [.encrypt, .decrypt], status: .enabled),
                                             .init(id: "bar", usage: [], status: .disabled)])
        #expect(config.warnings.isEmpty)
        #expect(config.keyStores[0].requestsPerSecond == nil)
        let limited = Self.valid.replacingOccurrences(of: "\"keys\": [", with: "\"requestsPerSecond\": 1800, \"keys\": [")
        #expect(try ProxyConfiguration.parse(Data(limited.utf8)).keyStores[0].requestsPerSecond == 1800)
        // Slashes around the prefix do not matter; credentials KMS would refuse are a warning, not an error.
        let loose = Self.valid.replacingOccurrences(of: "\"example/uri/path/prefix\"", with: "\"/example/uri/path/prefix/\"")
            .replacingOccurrences(of: "MUBSXM6K3KMXHN6RRCXI7TWQH4", with: "AKIAIOSFODNN7EXAMPL1")
        let parsed = try ProxyConfiguration.parse(Data(loose.utf8))
        #expect(parsed.keyStores[0].uriPathPrefix == "example/uri/path/prefix")
        #expect(parsed.warnings.count == 1 && parsed.warnings[0].contains("AKIAIOSFODNN7EXAMPL1"))
    }

    @Test func mistakesAreNamed() {
        func message(_ text: String) -> String {
            do {
                _ = try ProxyConfiguration.parse(Data(text.utf8))
                return "accepted"
            } catch {
                return error.message
            }
        }
        let v = Self.valid
        #expect(message("{") .contains("not JSON"))
        #expect(message(v.replacingOccurrences(of: "\"uriPathPrefix\"", with: "\"uriPathprefix\"")).contains("unknown member 'uriPathprefix'"))
        #expect(message(v.replacingOccurrences(of: "\"tls\": {\"enabled\": false},", with: "")).contains("missing 'tls'"))
        #expect(message(v.replacingOccurrences(of: "\"bar\"", with: "\"foo\"")).contains("already a key"))
        #expect(message(v.replacingOccurrences(of: "\"bar\"", with: "\"b/r\"")).contains("keyStores[0].keys[1].id"))
        #expect(message(v.replacingOccurrences(of: "\"DISABLED\"", with: "\"PAUSED\"")).contains("ENABLED or DISABLED"))
        #expect(message(v.replacingOccurrences(of: "[\"ENCRYPT\", \"DECRYPT\"]", with: "[\"SIGN\"]")).contains("'SIGN'"))
        #expect(message(v.replacingOccurrences(of: "example/uri/path/prefix", with: "bad prefix!")).contains("uriPathPrefix"))
        #expect(message(v.replacingOccurrences(of: "\"credentials\": [", with: "\"credentials\": [{\"accessKeyId\":\"A\",\"secretAccessKey\":\"B\"},{\"accessKeyId\":\"C\",\"secretAccessKey\":\"D\"},"))
            .contains("one or two"))
        #expect(message(v.replacingOccurrences(of: "{\"enabled\": false}", with: "{\"enabled\": false, \"clientCaFile\": \"ca.pem\"}"))
            .contains("needs tls.enabled"))
        #expect(message(v.replacingOccurrences(of: "{\"enabled\": false}", with: "{\"enabled\": true, \"certificateFile\": \"c.pem\"}"))
            .contains("go together"))
        #expect(message(#"{"tls":{"enabled":true},"keyStores":[]}"#).contains("non-empty"))
        for bad in ["0", "1.5", "\"10\"", "2000000"] {
            #expect(message(v.replacingOccurrences(of: "\"keys\": [", with: "\"requestsPerSecond\": \(bad), \"keys\": ["))
                .contains("keyStores[0].requestsPerSecond must be a whole number"), "\(bad)")
        }
    }

    @Test func aFileOthersCanReadIsRefused() throws {
        let directory = try TemporaryDirectory(prefix: "xks-config")
        defer { directory.remove() }
        let path = directory.url.appendingPathComponent("proxy.json").path
        try Data(Self.valid.utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o644)
        #expect(throws: XksProxyError.self) { try ProxyConfiguration.load(path: path) }
        do { _ = try ProxyConfiguration.load(path: path) } catch { #expect(error.message.contains("chmod 600")) }
        chmod(path, 0o600)
        #expect(try ProxyConfiguration.load(path: path).keyStores.count == 1)
        do { _ = try ProxyConfiguration.load(path: path + ".missing") } catch { #expect(error.message.contains("cannot read the config file")) }
    }

    @Test func theDataDirectoryIsPrivateAndOwnedByOneProxy() throws {
        let directory = try TemporaryDirectory(prefix: "xks-data")
        defer { directory.remove() }
        let path = directory.url.appendingPathComponent("data").path
        let first = try ProxyDataDirectory(path: path)
        var info = stat()
        stat(path, &info)
        #expect(info.st_mode & 0o777 == 0o700)
        do {
            _ = try ProxyDataDirectory(path: path)
            Issue.record("a second owner was accepted")
        } catch {
            #expect(error.message.contains("another cks xks-proxy (pid \(getpid()))"))
        }
        let store = try SoftwareKeyStore(path: first.keyDatabase.path)
        #expect(try store.createMissing(["a", "b"]) == ["a", "b"])
        #expect(try store.createMissing(["a", "c"]) == ["c"])
        stat(first.keyDatabase.path, &info)
        #expect(info.st_mode & 0o777 == 0o600)
        let open = directory.url.appendingPathComponent("open").path
        try FileManager.default.createDirectory(atPath: open, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        #expect(throws: XksProxyError.self) { try ProxyDataDirectory(path: open) }
    }

    @Test func mutualTLSAcceptsKMSNamesByDefault() throws {
        let directory = try TemporaryDirectory(prefix: "xks-ca")
        defer { directory.remove() }
        let ca = directory.url.appendingPathComponent("ca.pem").path
        try Data(try ProxyTLS.selfSigned(hostNames: ["ca.example"]).certificate.utf8).write(to: URL(fileURLWithPath: ca))
        let byDefault = try ClientCertificateCheck(caFile: ca, commonNames: nil)
        #expect(byDefault.accepts(commonName: "cks.kms.eu-west-1.amazonaws.com"))
        #expect(!byDefault.accepts(commonName: "cks.kms.amazonaws.com") && !byDefault.accepts(commonName: "evil.example"))
        let exact = try ClientCertificateCheck(caFile: ca, commonNames: ["client.example"])
        #expect(exact.accepts(commonName: "client.example") && !exact.accepts(commonName: "cks.kms.us-east-1.amazonaws.com"))
    }
}
