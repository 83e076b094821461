import ServiceLifecycle
import Synchronization

/// Where a role's service is in its life — starting, running (with what exists only while it
/// runs), stopped — and a way to wait until it runs.
///
/// A `ServiceGroup` starts its services all at once, but a role's HTTP server must not listen
/// before its role has joined the fleet (a node: subscribed to the bus, its first heartbeat
/// written; a gateway: its reply channel subscribed): the server waits here.
package final class LifecycleState<Value: Sendable>: Sendable {
    private enum Phase {
        case starting
        case running(Value)
        case stopped
    }

    private enum Waiter {
        /// The wait has begun; its continuation is not parked yet.
        case arriving
        case parked(CheckedContinuation<Value?, Never>)
        /// Cancelled or shut down before it could park.
        case gaveUp
    }

    private struct State {
        var phase = Phase.starting
        var waiters: [Int: Waiter] = [:]
        var nextWaiter = 0

        /// Removes every parked waiter, for resuming outside the lock. Waiters still arriving
        /// find the new phase when they park.
        mutating func takeParked() -> [CheckedContinuation<Value?, Never>] {
            var parked: [CheckedContinuation<Value?, Never>] = []
            for (id, waiter) in waiters {
                if case .parked(let continuation) = waiter {
                    parked.append(continuation)
                    waiters[id] = nil
                }
            }
            return parked
        }
    }

    private let state = Mutex(State())

    package init() {}

    /// What exists while the service runs; nil before and after.
    package var running: Value? {
        state.withLock { state in
            if case .running(let value) = state.phase { value } else { nil }
        }
    }

    /// The service runs: every waiter, and every later one, gets `value`. Does nothing once stopped.
    package func start(_ value: Value) {
        let parked = state.withLock { state -> [CheckedContinuation<Value?, Never>] in
            guard case .starting = state.phase else { return [] }
            state.phase = .running(value)
            return state.takeParked()
        }
        for continuation in parked { continuation.resume(returning: value) }
    }

    /// The service has stopped (or will never run): waiters get nil from now on.
    package func stop() {
        let parked = state.withLock { state -> [CheckedContinuation<Value?, Never>] in
            state.phase = .stopped
            return state.takeParked()
        }
        for continuation in parked { continuation.resume(returning: nil) }
    }

    /// Waits until the service runs.
    /// - Returns: its value; nil once it has stopped without running, or when the calling
    ///   task is cancelled or shut down gracefully first.
    package func waitUntilRunning() async -> Value? {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            state.waiters[state.nextWaiter] = .arriving
            return state.nextWaiter
        }
        return await withTaskCancellationOrGracefulShutdownHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Value?, Never>) in
                // Some(answer) to resume at once, nil once parked.
                let now = state.withLock { state -> Value?? in
                    switch state.phase {
                    case .running(let value):
                        state.waiters[id] = nil
                        return .some(value)
                    case .stopped:
                        state.waiters[id] = nil
                        return .some(nil)
                    case .starting:
                        if case .gaveUp? = state.waiters[id] {
                            state.waiters[id] = nil
                            return .some(nil)
                        }
                        state.waiters[id] = .parked(continuation)
                        return nil
                    }
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancelOrGracefulShutdown: {
            let parked = self.state.withLock { state -> CheckedContinuation<Value?, Never>? in
                switch state.waiters[id] {
                case .parked(let continuation)?:
                    state.waiters[id] = nil
                    return continuation
                case .arriving?:
                    state.waiters[id] = .gaveUp
                    return nil
                case .gaveUp?, nil:
                    return nil  // already answered
                }
            }
            parked?.resume(returning: nil)
        }
    }
}
