import Foundation

/// A key store's request quota: a token bucket holding one second's worth of requests, refilled continuously.
/// The spec lets a proxy answer 429 ThrottlingException when a path prefix exceeds its quota; KMS then reports
/// the store as unreachable (Create/Update), CustomKeyStoreInvalidStateException (CreateKey) or
/// KMSInvalidStateException (cryptographic operations).
struct RequestQuota: Sendable {
    let requestsPerSecond: Int
    private var tokens: Double
    private var refilledAt: Date?

    init(requestsPerSecond: Int) {
        self.requestsPerSecond = requestsPerSecond
        self.tokens = Double(requestsPerSecond)
    }

    /// Takes one request's token at `now`; false when the bucket is empty.
    mutating func admit(at now: Date) -> Bool {
        let capacity = Double(requestsPerSecond)
        if let refilledAt {
            let elapsed = max(0, now.timeIntervalSince(refilledAt))
            tokens = min(capacity, tokens + elapsed * capacity)
        }
        refilledAt = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
