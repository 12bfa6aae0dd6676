import CKSDomain
import CKSWire

/// Why a call to an external key store proxy did not give a usable answer.
public enum XksCallFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// The proxy answered with an XKS error body (`errorName`); its `errorMessage` is kept for the log only.
    case proxy(XKSErrorName, message: String?)
    /// The answer was not one the spec allows (not JSON, an unknown error name, missing or invalid members).
    case malformed(String)
    /// No TCP connection, or the connection closed before an answer.
    case unreachable(String)
    /// The TLS handshake failed (untrusted or mismatched certificate, a protocol KMS does not speak).
    case tls(String)
    /// No complete answer within the per-call budget.
    case timedOut
    /// GetHealthStatus answered, but every external key manager in it is UNAVAILABLE.
    case allKeyManagersUnavailable

    public var description: String {
        switch self {
        case let .proxy(name, message): message.map { "\(name.rawValue): \($0)" } ?? name.rawValue
        case let .malformed(why): "malformed answer: \(why)"
        case let .unreachable(why): "unreachable: \(why)"
        case let .tls(why): "TLS handshake failed: \(why)"
        case .timedOut: "no answer in time"
        case .allKeyManagersUnavailable: "every external key manager is UNAVAILABLE"
        }
    }
}

/// The KMS operations whose proxy failures the spec maps ("KMS considerations").
public enum XksCallingOperation: String, Sendable {
    case createCustomKeyStore = "CreateCustomKeyStore"
    case updateCustomKeyStore = "UpdateCustomKeyStore"
    case connectCustomKeyStore = "ConnectCustomKeyStore"
    case kmsHealthCheck = "KmsHealthCheck"
    case createKey = "CreateKey"
    case encrypt = "Encrypt"
    case decrypt = "Decrypt"
    case generateDataKey = "GenerateDataKey"
    case generateDataKeyWithoutPlaintext = "GenerateDataKeyWithoutPlaintext"
    case reEncrypt = "ReEncrypt"
}

/// How KMS reports proxy failures: the exception per operation from the spec's table, its message (the same
/// for every operation), and the ConnectionErrorCode a failed Connect ends with.
public enum XksFailureMapping {
    static let cannotInterpret = "AWS KMS cannot interpret the response from the external key store proxy. If you see "
        + "this error repeatedly, report it to your external key store proxy administrator."

    /// The spec's message for the failure (KMS never passes the proxy's own errorMessage on).
    public static func message(_ failure: XksCallFailure) -> String {
        switch failure {
        case let .proxy(name, _):
            switch name {
            case .validation: return cannotInterpret
            case .invalidState:
                return "The external key associated with this KMS key in an external key store is not enabled in the external key "
                    + "manager. Enable the external key in the external key manager and retry the request."
            case .invalidCiphertext:
                return "The external key store proxy rejected the request because the specified ciphertext or encryption context "
                    + "is corrupted, missing, or otherwise invalid."
            case .invalidKeyUsage:
                return "The external key associated with this KMS key in an external key store does not support the requested "
                    + "operation. Enable the operation on the key in your external key manager, and try the request again."
            case .authenticationFailed:
                return "The external key store proxy rejected the request because it could not authenticate AWS KMS. Verify the "
                    + "XKS proxy authentication credentials for your external key store and update if necessary."
            case .accessDenied:
                return "The external key store proxy denied access to the operation. Verify that the user and the external key "
                    + "are both authorized for this operation, and try the request again."
            case .keyNotFound:
                return "The external key associated with this KMS key in an external key store was not found in its external key "
                    + "manager. If the external key ID associated with this KMS key is incorrect, create a new KMS key with the "
                    + "correct external key ID."
            case .invalidUriPath:
                return "The external key store proxy rejected the request because of an invalid URI path. Verify the URI path "
                    + "for your external key store and update if necessary."
            case .unsupportedOperation:
                return "The external key store proxy rejected the request because it does not support the requested operation. "
                    + "If you see this error repeatedly, report it to your external key store proxy administrator."
            case .dependencyTimeout:
                return "The external key store proxy did not respond to the request in the time allotted. Retry the request. If "
                    + "you see this error repeatedly, report it to your external key store proxy administrator."
            case .throttling:
                return "The external key store proxy rejected the request due to a very high request rate. Reduce the frequency "
                    + "of your calls using KMS keys in this external key store."
            case .internalFailure:
                return "The external key store proxy rejected the request because it cannot communicate with the external key "
                    + "manager. Verify that the external key store proxy configuration is correct and that the external key "
                    + "manager is available."
            }
        case .malformed: return cannotInterpret
        case .unreachable, .allKeyManagersUnavailable:
            return "AWS KMS cannot communicate with the external key store proxy. This might be a transient network issue. If "
                + "you see this error repeatedly, verify that your external key store proxy is active and is connected to the "
                + "network, and that its endpoint URI is correct in your external keystore."
        case .tls:
            return "AWS KMS cannot establish a TLS connection to the external key store proxy. Verify the TLS configuration, "
                + "including its certificate."
        case .timedOut:
            return "AWS KMS rejected the request because the external key store proxy did not respond in time. Retry the "
                + "request. If you see this error repeatedly, report it to your external key store proxy administrator."
        }
    }

    /// The exception KMS throws for `failure` during `operation`. Where the spec's table has no row for an
    /// operation (AccessDenied or InvalidState on a health check), the closest row decides: an answer a health
    /// check should not get is an invalid response.
    public static func error(_ failure: XksCallFailure, during operation: XksCallingOperation) -> KMSError {
        KMSError(code(failure, during: operation), message(failure), cause: "external key store proxy: \(failure)")
    }

    static func code(_ failure: XksCallFailure, during operation: XksCallingOperation) -> KMSErrorCode {
        switch operation {
        case .createCustomKeyStore, .updateCustomKeyStore, .connectCustomKeyStore, .kmsHealthCheck:
            switch failure {
            case .proxy(.authenticationFailed, _): .xksProxyIncorrectAuthenticationCredential
            case .proxy(.invalidUriPath, _): .xksProxyInvalidConfiguration
            case .proxy(.throttling, _), .proxy(.dependencyTimeout, _), .unreachable, .tls, .timedOut, .allKeyManagersUnavailable:
                .xksProxyUriUnreachable
            case .proxy, .malformed: .xksProxyInvalidResponse
            }
        case .createKey:
            switch failure {
            case .proxy(.keyNotFound, _): .xksKeyNotFound
            case .proxy(.invalidState, _), .proxy(.invalidKeyUsage, _): .xksKeyInvalidConfiguration
            case .proxy(.accessDenied, _): .kmsInvalidState
            default: .customKeyStoreInvalidState
            }
        case .encrypt, .decrypt, .generateDataKey, .generateDataKeyWithoutPlaintext, .reEncrypt:
            .kmsInvalidState
        }
    }

    /// The ConnectionErrorCode of a Connect whose GetHealthStatus failed this way. Stated by AWS: bad
    /// credentials → INVALID_CREDENTIALS, every EKM UNAVAILABLE → XKS_PROXY_NOT_REACHABLE; the rest follows the
    /// codes' descriptions (a throttled proxy is not reachable for KMS; a dependency timeout is a time-out).
    public static func connectionErrorCode(_ failure: XksCallFailure) -> ConnectionErrorCode {
        switch failure {
        case .proxy(.authenticationFailed, _): .invalidCredentials
        case .proxy(.accessDenied, _): .xksProxyAccessDenied
        case .proxy(.invalidUriPath, _): .xksProxyInvalidConfiguration
        case .proxy(.dependencyTimeout, _), .timedOut: .xksProxyTimedOut
        case .proxy(.throttling, _), .unreachable, .allKeyManagersUnavailable: .xksProxyNotReachable
        case .tls: .xksProxyInvalidTlsConfiguration
        case .proxy, .malformed: .xksProxyInvalidResponse
        }
    }
}
