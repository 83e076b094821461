import FleetCore
import Logging
import NIOCore
import NIOWebSocket
import Observability
import WebSocketCore

/// A client's connection as a protocol sees it: its `_id`, and sending through the hub, in
/// the hub's order. The node's API reaches it through the hub by the same `_id`.
package struct NodeConnection: Sendable {
    package let id: String
    let hub: NodeHub
    let socket: HubSocket

    /// Queues a text message; false if the connection has left the hub.
    @discardableResult
    package func send(_ text: String) -> Bool {
        hub.send(text, to: id)
    }

    /// Closes the connection with `code` once the messages queued so far are written.
    package func close(_ code: WebSocketErrorCode, reason: String) {
        hub.close(socket, code: code, reason: reason)
    }
}

extension NodeService {
    /// The close code a drain sends: 1012, service restart. Clients reconnect (to another
    /// node, behind a load balancer) and resume their session there.
    package static let serviceRestart = WebSocketErrorCode(codeNumber: 1012)

    /// Registers an open socket with the hub under a new `_id` and queues `greeting` first.
    /// Call on the socket's event loop, from the protocol's `webSocketDidOpen`; the
    /// connection leaves the hub with ``closeConnection(_:)``.
    /// - Parameters:
    ///   - greeting: the first messages, given the connection's `_id`.
    ///   - drain: what the drain does to the socket (see ``DrainableSocket``).
    package func openConnection(
        _ socket: ServerWebSocket, greeting: (String) -> [String], sessionToken: String? = nil, drain: any DrainableSocket
    ) -> NodeConnection {
        var hubSocket: HubSocket?
        var connectionID = ""
        while hubSocket == nil {
            connectionID = ConnectionID.make()
            hubSocket = hub.open(
                connectionID, socket: socket, greeting: greeting(connectionID), sessionToken: sessionToken,
                address: socket.remoteAddress?.ipAddress ?? ""
            )
        }
        socketOpened(drain, protocol: "native")
        return NodeConnection(id: connectionID, hub: hub, socket: hubSocket!)
    }

    /// The connection's socket has closed: it leaves the hub (its session, if any, turns
    /// away), and the drain forgets it.
    package func closeConnection(_ connection: NodeConnection, drain: any DrainableSocket) {
        hub.close(connection.id)
        socketClosed(drain, protocol: "native")
    }

    /// A socket of `protocol` opened: the drain knows it and the metrics count it.
    package func socketOpened(_ socket: any DrainableSocket, protocol name: String) {
        meter(named: name).connectionOpened()
        sockets.open(socket)
    }

    /// A socket of `protocol` closed.
    package func socketClosed(_ socket: any DrainableSocket, protocol name: String) {
        sockets.close(socket)
        meter(named: name).connectionClosed()
    }
}
