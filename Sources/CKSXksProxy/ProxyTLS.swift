import Crypto
import Foundation
import NIOSSL
import SwiftASN1
@_spi(FixedExpiryValidationTime) import X509

/// TLS of the proxy: the server certificate (configured, or self-signed and kept in the data directory), and
/// mTLS client checks (chained to the configured CA, subject CN among the accepted names).
public enum ProxyTLS {
    /// The certificate and key files to serve, generating a self-signed pair in `directory` on first use.
    /// Returns the certificate path and whether it was generated now.
    public static func serverFiles(_ tls: ProxyConfiguration.TLS, directory: URL, hostNames: [String]) throws(XksProxyError)
        -> (certificate: String, privateKey: String, generated: Bool) {
        if let certificate = tls.certificateFile, let key = tls.privateKeyFile {
            try ProxyDataDirectory.checkPrivateFile(key, what: "TLS private key")
            return (certificate, key, false)
        }
        let certificatePath = directory.appendingPathComponent("certificate.pem").path
        let keyPath = directory.appendingPathComponent("private-key.pem").path
        let fm = FileManager.default
        if fm.fileExists(atPath: certificatePath), fm.fileExists(atPath: keyPath) {
            try ProxyDataDirectory.checkPrivateFile(keyPath, what: "TLS private key")
            return (certificatePath, keyPath, false)
        }
        try ProxyDataDirectory.makePrivateDirectory(directory.path, what: "TLS directory")
        try? fm.removeItem(atPath: certificatePath)
        try? fm.removeItem(atPath: keyPath)
        let (certificatePEM, keyPEM) = try selfSigned(hostNames: hostNames)
        try ProxyDataDirectory.writePrivateFile(keyPath, Data(keyPEM.utf8))
        try ProxyDataDirectory.writePrivateFile(certificatePath, Data(certificatePEM.utf8))
        return (certificatePath, keyPath, true)
    }

    /// A P-256 self-signed server certificate for `hostNames` (DNS names and IP addresses), valid 825 days, that a
    /// client can trust as it is.
    public static func selfSigned(hostNames: [String], now: Date = Date()) throws(XksProxyError) -> (certificate: String, privateKey: String) {
        do {
            let key = P256.Signing.PrivateKey()
            let name = try DistinguishedName {
                CommonName(hostNames.first ?? "localhost")
                OrganizationName("cks xks-proxy (self-signed)")
            }
            var alternatives: [GeneralName] = []
            for host in hostNames {
                if let address = ipAddressBytes(host) {
                    alternatives.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(address))))
                } else {
                    alternatives.append(.dnsName(host))
                }
            }
            let extensions = try Certificate.Extensions {
                // Its own trust anchor (a client trusts this very file: `cks serve --xks-ca-file`, `curl --cacert`),
                // so marked as able to sign certificates, as `openssl req -x509` marks them: BoringSSL does not
                // take a certificate without keyCertSign as the issuer of itself.
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(alternatives)
            }
            let certificate = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(),
                publicKey: Certificate.PublicKey(key.publicKey),
                notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(825 * 86_400),
                issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
                issuerPrivateKey: Certificate.PrivateKey(key))
            return (try certificate.serializeAsPEM().pemString, key.pemRepresentation)
        } catch {
            throw XksProxyError("cannot make a self-signed certificate: \(error)")
        }
    }

    /// The four address bytes of an IPv4 literal or sixteen of an IPv6 one; nil for a DNS name.
    static func ipAddressBytes(_ host: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return withUnsafeBytes(of: v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 { return withUnsafeBytes(of: v6) { Array($0) } }
        return nil
    }

    /// The server's TLS configuration: TLS 1.2 or later (the spec's floor), HTTP/1.1 by ALPN; with mTLS, a
    /// client certificate is required and checked by `ClientCertificateCheck`.
    public static func serverConfiguration(certificateFile: String, privateKeyFile: String, mutual: Bool) throws(XksProxyError)
        -> TLSConfiguration {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { NIOSSLCertificateSource.certificate($0) }
            guard !chain.isEmpty else { throw XksProxyError("the certificate file \(certificateFile) holds no certificate") }
            let key = try NIOSSLPrivateKey(file: privateKeyFile, format: .pem)
            var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            configuration.minimumTLSVersion = .tlsv12
            configuration.applicationProtocols = ["http/1.1"]
            if mutual { configuration.certificateVerification = .noHostnameVerification }
            return configuration
        } catch let error as XksProxyError {
            throw error
        } catch {
            throw XksProxyError("cannot use the TLS certificate \(certificateFile) and key \(privateKeyFile): \(error)")
        }
    }
}

/// mTLS: the client's chain must lead to one of the configured CA certificates (RFC 5280 path validation,
/// validity dates included) and the leaf's subject common name must be accepted; otherwise the handshake fails.
public struct ClientCertificateCheck: Sendable {
    let roots: [Certificate]
    /// Exact names; when nil, any `cks.kms.<region>.amazonaws.com` (what AWS KMS presents).
    let commonNames: [String]?

    public init(caFile: String, commonNames: [String]?) throws(XksProxyError) {
        guard let text = try? String(contentsOfFile: caFile, encoding: .utf8) else {
            throw XksProxyError("cannot read the client CA file \(caFile)")
        }
        do {
            let documents = try PEMDocument.parseMultiple(pemString: text)
            roots = try documents.map { try Certificate(pemDocument: $0) }
        } catch {
            throw XksProxyError("the client CA file \(caFile) is not PEM certificates: \(error)")
        }
        guard !roots.isEmpty else { throw XksProxyError("the client CA file \(caFile) holds no certificate") }
        self.commonNames = commonNames
    }

    public func accepts(commonName: String) -> Bool {
        if let commonNames { return commonNames.contains(commonName) }
        let parts = commonName.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 5 && parts[0] == "cks" && parts[1] == "kms" && !parts[2].isEmpty
            && parts[3] == "amazonaws" && parts[4] == "com"
    }

    /// The verdict on a presented chain (leaf first).
    public func verify(_ presented: [NIOSSLCertificate], now: Date = Date()) async -> NIOSSLVerificationResult {
        do {
            let chain = try presented.map { try Certificate(derEncoded: try $0.toDERBytes()) }
            guard let leaf = chain.first else { return .failed }
            var verifier = Verifier(rootCertificates: CertificateStore(roots)) { RFC5280Policy(fixedExpiryValidationTime: now) }
            guard case .validCertificate = await verifier.validate(leaf: leaf, intermediates: CertificateStore(Array(chain.dropFirst())))
            else { return .failed }
            let names = leaf.subject.flatMap { $0 }.filter { $0.type == .RDNAttributeType.commonName }.compactMap { String($0.value) }
            guard names.count == 1, accepts(commonName: names[0]) else { return .failed }
            return .certificateVerified
        } catch {
            return .failed
        }
    }
}
