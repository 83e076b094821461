import BrokerCore
import FleetCore
import Foundation
import Logging
import NIOCore
import Observability
import Synchronization

// Events for embedders, and rooms for client protocols.
extension NodeService {
    // MARK: Events, for embedders

    /// The node's events from now on: connects, disconnects, joins, leaves and client
    /// messages, in the order they happen. Each call gives an independent stream; end it by
    /// ending its iteration. A reader that falls 10,000 events behind loses the oldest.
    public func events() -> AsyncStream<NodeEvent> {
        eventHub.subscribe()
    }

    /// The node's events without client messages (``NodeEvent/message(connectionID:text:)``):
    /// for a reader that has no use for them, such as the webhook producer, so that client
    /// messages cost nothing more while it reads.
    package func connectionEvents() -> AsyncStream<NodeEvent> {
        eventHub.subscribe(messages: false)
    }

    /// Reports a client's text message to ``events()`` readers (called by client protocols).
    package func received(_ text: String, from connectionID: String) {
        hub.countReceived()
        if eventHub.hasMessageSubscribers { eventHub.publish(.message(connectionID: connectionID, text: text)) }
    }

    // MARK: Rooms, for client protocols

    /// Sends `message` to every member of `room` on every live node, except `excluding`;
    /// returns how many connections it reached (nodes that do not answer in time count 0).
    /// - Throws: when the broker is unreachable.
    package func broadcast(toRoom room: String, message: String, excluding: String?) async throws -> Int {
        guard let requester = self.requester else { throw BrokerError(.unavailable, "the node is not running") }
        let answers = try await requester.call(
            [.sendToGroups([room], message: message, excluding: excluding, messageID: EventArguments.makeMessageID())],
            on: keys.broadcastChannel(from: configuration.nodeID), awaiting: Set(try await directory.liveNodes()), timeout: configuration.callTimeout
        )
        return answers.values.reduce(0) { total, results in
            guard case .int(let reached)? = results.first else { return total }
            return total + reached
        }
    }

    /// Connections in `room` across the fleet, as the broker's `group:<room>` hash holds them
    /// (changes reach it asynchronously, so a join made a moment ago may not count yet).
    package func roomSize(_ room: String) async throws -> Int {
        try await broker.hashLength(keys.group(room))
    }
}
