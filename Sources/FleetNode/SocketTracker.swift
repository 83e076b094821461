import Synchronization

/// What the drain does to one open WebSocket. Called from any thread.
package protocol DrainableSocket: AnyObject, Sendable {
    /// Closes it for a drain (1012), after what was queued for it, with the protocol's last
    /// words first.
    func drain()
    /// Cuts it off: its client did not answer the close.
    func cut()
}

/// The node's open WebSockets, so that a drain reaches every one of them; a socket that
/// opens once the drain has begun is drained at once.
final class SocketTracker: Sendable {
    private enum Waiter {
        /// The wait has begun; its continuation is not parked yet.
        case arriving
        case parked(CheckedContinuation<Void, Never>)
        /// Cancelled before it could park.
        case gaveUp
    }

    private struct State {
        var sockets: [ObjectIdentifier: any DrainableSocket] = [:]
        var draining = false
        /// Who waits until no socket is open.
        var waiters: [Int: Waiter] = [:]
        var nextWaiter = 0

        /// Removes the parked waiters once no socket is open, for resuming outside the lock.
        mutating func takeParkedIfEmpty() -> [CheckedContinuation<Void, Never>] {
            guard sockets.isEmpty else { return [] }
            var parked: [CheckedContinuation<Void, Never>] = []
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

    /// Registers an open socket.
    func open(_ socket: any DrainableSocket) {
        let drainNow = state.withLock { state in
            state.sockets[ObjectIdentifier(socket)] = socket
            return state.draining
        }
        if drainNow { socket.drain() }
    }

    /// The socket has ended.
    func close(_ socket: any DrainableSocket) {
        let parked = state.withLock { state in
            _ = state.sockets.removeValue(forKey: ObjectIdentifier(socket))
            return state.takeParkedIfEmpty()
        }
        for continuation in parked { continuation.resume() }
    }

    /// Starts the drain: drains every open socket, and from now on every new one.
    /// - Returns: false if the drain had already begun.
    @discardableResult
    func drainAll() -> Bool {
        let sockets = state.withLock { state -> [any DrainableSocket]? in
            guard !state.draining else { return nil }
            state.draining = true
            return Array(state.sockets.values)
        }
        guard let sockets else { return false }
        for socket in sockets { socket.drain() }
        return true
    }

    /// Cuts off every socket still open (their clients did not answer the close).
    func cutAll() {
        for socket in state.withLock({ Array($0.sockets.values) }) { socket.cut() }
    }

    /// Waits until no socket is open, or `deadline` passes, or the calling task is cancelled
    /// (then it returns at once: a stop that is not graceful does not wait for clients).
    /// - Returns: whether every socket has closed.
    @discardableResult
    func waitUntilClosed(before deadline: ContinuousClock.Instant) async -> Bool {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitUntilEmpty() }
            group.addTask { try? await Task.sleep(until: deadline) }
            await group.next()
            group.cancelAll()
        }
        return count == 0
    }

    /// Returns once no socket is open, or when the calling task is cancelled.
    private func waitUntilEmpty() async {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            state.waiters[state.nextWaiter] = .arriving
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.sockets.isEmpty { state.waiters[id] = nil; return true }
                    if case .gaveUp? = state.waiters[id] { state.waiters[id] = nil; return true }
                    state.waiters[id] = .parked(continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let parked = state.withLock { state -> CheckedContinuation<Void, Never>? in
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
            parked?.resume()
        }
    }

    /// Sockets still open.
    var count: Int { state.withLock { $0.sockets.count } }

    var isDraining: Bool { state.withLock { $0.draining } }
}
