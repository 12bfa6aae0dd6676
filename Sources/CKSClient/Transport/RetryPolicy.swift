import CKSDomain
import Foundation

/// When to try a call again, and how long to wait first.
///
/// Retried: HTTP 5xx answers, `ThrottlingException`, and connection failures. Never retried: any other 4xx.
/// A call that is not idempotent (see `KMSClient.idempotentTargets`) is never sent again once it may have reached
/// the server: it is retried only for a refused connection (the request never left) or for `ThrottlingException`
/// (KMS rejects a throttled request before doing anything). Waits use "full jitter" exponential backoff:
/// a random delay in `0 ... min(maxDelay, baseDelay × 2^retry)`.
public struct RetryPolicy: Sendable {
    /// Total attempts including the first; 1 disables retries.
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration

    public init(maxAttempts: Int = 4, baseDelay: Duration = .milliseconds(100), maxDelay: Duration = .seconds(5)) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// No retries at all.
    public static let none = RetryPolicy(maxAttempts: 1)

    /// Whether `error`, met on attempt number `attempt` (1-based), allows another attempt.
    public func shouldRetry(_ error: KMSClientError, idempotent: Bool, attempt: Int) -> Bool {
        guard attempt < maxAttempts else { return false }
        return Self.isRetryable(error, idempotent: idempotent)
    }

    /// The classification on its own, without the attempt budget.
    public static func isRetryable(_ error: KMSClientError, idempotent: Bool) -> Bool {
        switch error.kind {
        case .service(.throttling):
            return true
        case .cannotReachEndpoint:
            return true
        case .connectionLost, .timedOut:
            return idempotent
        case .service, .unknownService, .invalidResponse:
            return idempotent && (error.httpStatus ?? 0) >= 500
        case .noCredentials, .cancelled:
            return false
        }
    }

    /// The upper bound of the wait before retry number `retry` (1-based): `min(maxDelay, baseDelay × 2^(retry-1))`.
    public func backoffCeiling(retry: Int) -> Duration {
        let exponent = min(max(retry - 1, 0), 30)
        let ceiling = baseDelay * (1 << exponent)
        return ceiling > maxDelay ? maxDelay : ceiling
    }

    /// A jittered wait for retry number `retry`; `unit` is a random number in [0, 1).
    public func delay(retry: Int, unit: Double) -> Duration {
        backoffCeiling(retry: retry) * min(max(unit, 0), 1)
    }
}
