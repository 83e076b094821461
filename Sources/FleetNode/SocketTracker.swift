import Synchronization

/// The node's open WebSockets, so that a drain reaches every one of them: each registers
/// what closing it for a drain takes, and a socket that opens once the drain has begun is
/// drained at once.
final class SocketTracker: Sendable {
    private struct State {
        var next = 0
        var drains: [Int: @Sendable () -> Void] = [:]
        var draining = false
    }

    private let state = Mutex(State())

    /// Registers a socket with its `drain`; returns its ticket for ``close(_:)``.
    func open(drain: @escaping @Sendable () -> Void) -> Int {
        let (ticket, drainNow) = state.withLock { state in
            let ticket = state.next
            state.next += 1
            state.drains[ticket] = drain
            return (ticket, state.draining)
        }
        if drainNow { drain() }
        return ticket
    }

    /// The socket has ended.
    func close(_ ticket: Int) {
        state.withLock { _ = $0.drains.removeValue(forKey: ticket) }
    }

    /// Starts the drain: runs every open socket's drain, and from now on every new one's.
    /// - Returns: false if the drain had already begun.
    @discardableResult
    func drainAll() -> Bool {
        let drains = state.withLock { state -> [@Sendable () -> Void]? in
            guard !state.draining else { return nil }
            state.draining = true
            return Array(state.drains.values)
        }
        guard let drains else { return false }
        for drain in drains { drain() }
        return true
    }

    /// Sockets still open.
    var count: Int { state.withLock { $0.drains.count } }

    var isDraining: Bool { state.withLock { $0.draining } }
}

/// Set once, read by a socket's writer: the socket is being drained.
final class DrainFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
