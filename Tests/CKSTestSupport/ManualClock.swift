import Foundation
import Synchronization

/// A wall clock that moves only when a test moves it: handed to the engine (`EngineOptions.wallClock`) and to the
/// console (`now:`) so simulated time is the test's to decide.
public final class ManualClock: Sendable {
    private let current: Mutex<Date>

    public init(_ start: Date = Date(timeIntervalSince1970: 1_900_000_000)) { current = Mutex(start) }

    public func now() -> Date { current.withLock { $0 } }

    public func advance(by seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}
