import Synchronization

/// The node's open WebSockets, so that a drain reaches every one of them: each registers
/// what closing it for a drain takes (and how to cut it off when its client does not answer
/// the close), and a socket that opens once the drain has begun is drained at once.
final class SocketTracker: Sendable {
    private struct Entry {
        var drain: @Sendable () -> Void
        var cut: @Sendable () -> Void
    }

    private struct State {
        var next = 0
        var entries: [Int: Entry] = [:]
        var draining = false
    }

    private let state = Mutex(State())

    /// Registers a socket with its `drain` and its `cut`; returns its ticket for ``close(_:)``.
    func open(drain: @escaping @Sendable () -> Void, cut: @escaping @Sendable () -> Void) -> Int {
        let (ticket, drainNow) = state.withLock { state in
            let ticket = state.next
            state.next += 1
            state.entries[ticket] = Entry(drain: drain, cut: cut)
            return (ticket, state.draining)
        }
        if drainNow { drain() }
        return ticket
    }

    /// The socket has ended.
    func close(_ ticket: Int) {
        state.withLock { _ = $0.entries.removeValue(forKey: ticket) }
    }

    /// Starts the drain: runs every open socket's drain, and from now on every new one's.
    /// - Returns: false if the drain had already begun.
    @discardableResult
    func drainAll() -> Bool {
        let drains = state.withLock { state -> [@Sendable () -> Void]? in
            guard !state.draining else { return nil }
            state.draining = true
            return state.entries.values.map(\.drain)
        }
        guard let drains else { return false }
        for drain in drains { drain() }
        return true
    }

    /// Cuts off every socket still open (their clients did not answer the close).
    func cutAll() {
        for cut in state.withLock({ $0.entries.values.map(\.cut) }) { cut() }
    }

    /// Sockets still open.
    var count: Int { state.withLock { $0.entries.count } }

    var isDraining: Bool { state.withLock { $0.draining } }
}

/// Set once, read by a socket's writer: the socket is being drained.
final class DrainFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
