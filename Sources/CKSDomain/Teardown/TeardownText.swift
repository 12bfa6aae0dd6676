import Foundation

/// Wording shared by every teardown front end (console, scripted verb), so they say the same thing.
/// Dates are UTC and formatted by hand: the plan must not depend on the machine's locale or time zone.
public enum TeardownText {
    /// `2026-12-29 21:04 UTC`.
    public static func date(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? TimeZone(secondsFromGMT: 0)!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        func two(_ v: Int?) -> String { let v = v ?? 0; return v < 10 ? "0\(v)" : "\(v)" }
        return "\(c.year ?? 0)-\(two(c.month))-\(two(c.day)) \(two(c.hour)):\(two(c.minute)) UTC"
    }

    /// A duration in its two largest units, the one format of every front end: `14d 4h`, `4h 5m`, `12m 30s`, `45s`.
    /// Rounded up (a countdown never says less than is left); negative counts as 0.
    public static func duration(_ interval: TimeInterval) -> String {
        let total = interval.isFinite ? max(0, Int(interval.rounded(.up))) : 0
        let d = total / 86_400, h = (total % 86_400) / 3_600, m = (total % 3_600) / 60, s = total % 60
        if d > 0 { return "\(d)d \(h)h" }
        if h > 0 { return "\(h)h \(m)m" }
        if m > 0 { return "\(m)m \(s)s" }
        return "\(s)s"
    }

    /// "1 key", "3 keys", "10,000 keys".
    public static func count(_ n: Int, _ singular: String, _ plural: String? = nil) -> String {
        "\(grouped(n)) \(n == 1 ? singular : (plural ?? singular + "s"))"
    }

    /// 1234567 → "1,234,567".
    public static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, ch) in digits.reversed().enumerated() {
            if i > 0, i % 3 == 0 { out.append(",") }
            out.append(ch)
        }
        return (n < 0 ? "-" : "") + String(out.reversed())
    }

    /// At most `limit` ids, then "and N more".
    public static func list(_ items: [String], limit: Int = 5) -> String {
        guard items.count > limit else { return items.joined(separator: ", ") }
        return items.prefix(limit).joined(separator: ", ") + " and \(items.count - limit) more"
    }

    /// What a FAILED store's ConnectionErrorCode means and how to get out of it (semantics §1.4).
    public static func explain(_ code: ConnectionErrorCode, type: CustomKeyStoreType) -> String {
        switch code {
        case .internalError: return "an internal KMS error; disconnect, then connect again"
        case .networkErrors: return "network errors prevented the connection; usually transient: disconnect, wait, connect again"
        case .clusterNotFound: return "the CloudHSM cluster no longer exists; restore it from a backup and update the store's cluster id"
        case .insufficientCloudHsmHsms: return "the cluster has no active HSM; add one (connecting needs at least one)"
        case .insufficientFreeAddressesInSubnet: return "a private subnet of the cluster has no free IP address"
        case .invalidCredentials:
            return type == .awsCloudHsm
                ? "the store's KeyStorePassword does not match the kmsuser password; update it while DISCONNECTED"
                : "the proxy rejected the store's authentication credential; update the credential"
        case .subnetNotFound: return "a subnet of the cluster was deleted"
        case .userLockedOut: return "kmsuser is locked out after too many failed logins"
        case .userLoggedIn: return "kmsuser is logged into the cluster, so KMS cannot rotate its password; log it out"
        case .userNotFound: return "the cluster has no kmsuser crypto user"
        case .xksProxyAccessDenied: return "the proxy denied access to KMS"
        case .xksProxyNotReachable: return "KMS cannot reach the external key store proxy"
        case .xksVpcEndpointServiceNotFound: return "the VPC endpoint service was not found"
        case .xksProxyInvalidResponse: return "the proxy sent a response KMS cannot interpret"
        case .xksProxyInvalidConfiguration: return "the proxy's configuration is invalid"
        case .xksVpcEndpointServiceInvalidConfiguration: return "the VPC endpoint service is misconfigured"
        case .xksProxyTimedOut: return "the proxy did not answer in time"
        case .xksProxyInvalidTlsConfiguration: return "the proxy's TLS configuration is invalid"
        }
    }

    /// The explanation of the reversible alternative, as AWS puts it (seed, last paragraph).
    public static let disconnectOnlyExplanation =
        "Disconnect only (DisconnectCustomKeyStore) is reversible: ConnectCustomKeyStore brings the store back at any time. "
        + "No KMS key is deleted; while disconnected its keys cannot be used or created (they show Unavailable) and "
        + "applications using them fail. AWS recommends considering it instead of deleting the store. Deleting is "
        + "irreversible: data encrypted under a deleted key can never be decrypted."
}
