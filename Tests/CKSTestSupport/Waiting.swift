import Testing

/// Polls `condition` every `interval` until it holds or `timeout` passes; returns whether it held. The one way the
/// suites wait for something to happen: no fixed sleeps where a condition exists, no `Task.yield` spin.
public func poll(timeout: Duration = .seconds(10), every interval: Duration = .milliseconds(20),
                 _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: interval)
    }
}

/// `poll`, with a timeout recorded as an issue naming `what`; returns whether the condition held.
@discardableResult
public func eventually(_ what: String, timeout: Duration = .seconds(10), every interval: Duration = .milliseconds(20),
                       sourceLocation: SourceLocation = #_sourceLocation,
                       _ condition: () async throws -> Bool) async rethrows -> Bool {
    if try await poll(timeout: timeout, every: interval, condition) { return true }
    Issue.record("timed out after \(timeout) waiting for \(what)", sourceLocation: sourceLocation)
    return false
}
