import FleetCore
import Synchronization

/// What happens to a node's connections, for Swift code that embeds the node (webhooks,
/// logging, custom logic).
public enum NodeEvent: Sendable, Hashable {
    /// A client connected and got this `_id`.
    case connected(connectionID: String)
    /// A client's connection ended; `id` is the user it was bound to, if any.
    case disconnected(connectionID: String, id: String?)
    /// A connection was bound to user `id` (through the API); a rebind to another user is an
    /// ``unbound(connectionID:id:)`` of the old one, then this.
    case bound(connectionID: String, id: String)
    /// A connection's user binding was removed (through the API, or by a rebind). A
    /// disconnect does not unbind: ``disconnected(connectionID:id:)`` names the user.
    case unbound(connectionID: String, id: String)
    /// A connection joined a room (group), by itself or through the API.
    case joined(connectionID: String, room: String)
    /// A connection left a room, by itself, through the API, or by disconnecting.
    case left(connectionID: String, room: String)
    /// A client sent a text message (any message, including protocol commands).
    case message(connectionID: String, text: String)
    /// A client resumed the session of `previousID` on this connection, with `missed` messages
    /// replayed.
    case reconnected(connectionID: String, previousID: String, missed: Int)
}

/// Fans node events out to every subscriber. Each subscriber has its own bounded buffer: a
/// subscriber that does not keep up loses the oldest events, never slows the node.
final class NodeEventHub: Sendable {
    static let bufferLimit = 10_000
    private struct Subscriber {
        var continuation: AsyncStream<NodeEvent>.Continuation
        /// Whether it gets client messages too.
        var messages: Bool
    }

    private let subscribers = Mutex<[Int: Subscriber]>([:])
    private let nextID = Atomic<Int>(0)
    private let messageSubscribers = Atomic<Int>(0)

    /// - Parameter messages: whether the stream gets client messages too.
    func subscribe(messages: Bool = true) -> AsyncStream<NodeEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: NodeEvent.self, bufferingPolicy: .bufferingNewest(Self.bufferLimit))
        let id = nextID.add(1, ordering: .relaxed).newValue
        continuation.onTermination = { [weak self] _ in
            guard let self, let removed = self.subscribers.withLock({ $0.removeValue(forKey: id) }), removed.messages else { return }
            self.messageSubscribers.subtract(1, ordering: .relaxed)
        }
        subscribers.withLock { $0[id] = Subscriber(continuation: continuation, messages: messages) }
        if messages { messageSubscribers.add(1, ordering: .relaxed) }
        return stream
    }

    var hasSubscribers: Bool { subscribers.withLock { !$0.isEmpty } }

    /// Whether anyone reads client messages (checked on every client message: no lock).
    var hasMessageSubscribers: Bool { messageSubscribers.load(ordering: .relaxed) > 0 }

    func publish(_ event: NodeEvent) {
        let isMessage = if case .message = event { true } else { false }
        subscribers.withLock { subscribers in
            for subscriber in subscribers.values where subscriber.messages || !isMessage { subscriber.continuation.yield(event) }
        }
    }

    /// The events a binding change stands for.
    func publish(_ change: BindingChange) {
        guard hasSubscribers else { return }
        let connectionID = (change.after ?? change.before)?.connectionID ?? ""
        if change.before == nil { publish(.connected(connectionID: connectionID)) }
        if let after = change.after {
            let (old, new) = (change.before?.id ?? "", after.id ?? "")
            if old != new {
                if !old.isEmpty { publish(.unbound(connectionID: connectionID, id: old)) }
                if !new.isEmpty { publish(.bound(connectionID: connectionID, id: new)) }
            }
        }
        let before = change.before?.groups ?? []
        let after = change.after?.groups ?? []
        for room in after.subtracting(before).sorted() { publish(.joined(connectionID: connectionID, room: room)) }
        for room in before.subtracting(after).sorted() { publish(.left(connectionID: connectionID, room: room)) }
        if change.after == nil { publish(.disconnected(connectionID: connectionID, id: change.before?.id)) }
    }
}
