import Synchronization

/// Runs `operation` and returns its result, or throws `timeoutError()` once `timeout` has
/// passed, whichever comes first, without waiting for `operation` to end.
///
/// A task group cannot give that bound: it waits for all its children before it returns, and
/// an operation that does not honour cancellation, such as a Redis command waiting for its
/// reply (it ends only at the client's own command timeout, or when the connection closes),
/// would hold the caller until then. Here the operation runs in a task of its own, which is
/// cancelled at the deadline and left to end by itself; its result is then dropped.
///
/// Cancelling the caller ends the wait at once with `CancellationError`.
package func withDeadline<Value: Sendable>(
    _ timeout: Duration,
    timeoutError: @escaping @Sendable () -> any Error,
    _ operation: @escaping @Sendable () async throws -> Value
) async throws -> Value {
    let race = DeadlineRace<Value>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            race.start(continuation, timeout: timeout, timeoutError: timeoutError, operation)
        }
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}

/// The operation and the timer racing to resume one continuation.
private final class DeadlineRace<Value: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Value, any Error>?
        var tasks: [Task<Void, Never>] = []
        /// Settled before the continuation arrived (the caller was cancelled first).
        var early: Result<Value, any Error>?
        var finished = false
    }

    private let state = Mutex(State())

    func start(
        _ continuation: CheckedContinuation<Value, any Error>,
        timeout: Duration,
        timeoutError: @escaping @Sendable () -> any Error,
        _ operation: @escaping @Sendable () async throws -> Value
    ) {
        let early = state.withLock { state -> Result<Value, any Error>? in
            if let early = state.early { return early }
            state.continuation = continuation
            return nil
        }
        if let early {
            continuation.resume(with: early)
            return
        }
        let work = Task {
            let result: Result<Value, any Error>
            do {
                result = .success(try await operation())
            } catch {
                result = .failure(error)
            }
            self.finish(result)
        }
        let timer = Task {
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            self.finish(.failure(timeoutError()))
        }
        let done = state.withLock { state in
            state.tasks = [work, timer]
            return state.finished
        }
        if done {
            work.cancel()
            timer.cancel()
        }
    }

    /// Resumes the caller with `result` if nothing did yet; cancels what is still running.
    func finish(_ result: Result<Value, any Error>) {
        let (continuation, tasks) = state.withLock { state -> (CheckedContinuation<Value, any Error>?, [Task<Void, Never>]) in
            guard !state.finished else { return (nil, []) }
            state.finished = true
            guard let continuation = state.continuation else {
                state.early = result
                return (nil, [])
            }
            state.continuation = nil
            return (continuation, state.tasks)
        }
        for task in tasks { task.cancel() }
        continuation?.resume(with: result)
    }
}
