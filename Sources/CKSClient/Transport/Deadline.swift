import Foundation
import Synchronization

/// Runs an operation against a deadline and returns as soon as either finishes. Unlike a task group, it does not
/// wait for an operation that ignores cancellation: the loser is cancelled and left to end on its own.
enum Deadline {
    static func race<T: Sendable>(seconds: TimeInterval, operation: @escaping @Sendable () async throws -> T,
                                  onTimeout: @escaping @Sendable () -> any Error) async throws -> T {
        let race = Race<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                let work = Task {
                    do { race.finish(.success(try await operation())) } catch { race.finish(.failure(error)) }
                }
                let timer = Task {
                    try? await Task.sleep(for: .milliseconds(Int64(max(seconds, 0) * 1000)))
                    if !Task.isCancelled { race.finish(.failure(onTimeout())) }
                }
                race.register(continuation, tasks: [work, timer])
            }
        } onCancel: {
            race.finish(.failure(CancellationError()))
        }
    }
}

/// The shared state of one race: the first result wins, later ones are dropped.
private final class Race<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var tasks: [Task<Void, Never>] = []
        /// A result that arrived before the continuation was registered.
        var early: Result<T, any Error>?
        var done = false
    }

    private let state = Mutex(State())

    func register(_ continuation: CheckedContinuation<T, any Error>, tasks: [Task<Void, Never>]) {
        let early: Result<T, any Error>? = state.withLock { s in
            s.continuation = continuation
            s.tasks = tasks
            return s.early
        }
        if let early { finish(early) }
    }

    func finish(_ result: Result<T, any Error>) {
        let winner: (CheckedContinuation<T, any Error>, [Task<Void, Never>])? = state.withLock { s in
            if s.done { return nil }
            guard let c = s.continuation else {
                if s.early == nil { s.early = result }
                return nil
            }
            s.done = true
            s.continuation = nil
            defer { s.tasks = [] }
            return (c, s.tasks)
        }
        guard let (continuation, tasks) = winner else { return }
        for task in tasks { task.cancel() }
        continuation.resume(with: result)
    }
}
