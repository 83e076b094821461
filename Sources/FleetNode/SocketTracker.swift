import Synchronization

/// What the drain does to one open WebSocket. Called from any thread.
public protocol DrainableSocket: AnyObject, Sendable {
    /// Closes it for a drain (1012), after what was queued for it, with the protocol's last
    /// words first.
    func drain()
    /// Cuts it off: its client did not answer the close.
    func cut()
}

/// The node's open WebSockets, so that a drain reaches every one of them; a socket that
/// opens once the drain has begun is drained at once.
final class SocketTracker: Sendable {
    private struct State {
        var sockets: [ObjectIdentifier: any DrainableSocket] = [:]
        var draining = false
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
        state.withLock { _ = $0.sockets.removeValue(forKey: ObjectIdentifier(socket)) }
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

    /// Sockets still open.
    var count: Int { state.withLock { $0.sockets.count } }

    var isDraining: Bool { state.withLock { $0.draining } }
}
