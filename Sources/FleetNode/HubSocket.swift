import NIOCore
import WebSocketCore

/// A socket as a delivery target (of the hub, or of a protocol's ``SocketDeliveries``): its
/// connection's id, its WebSocket and the delivery shard of the socket's event loop.
/// Everything written to it goes through that shard, so that the messages of every sender
/// reach it in the order they were queued. What the hub knows of the connection (its session,
/// the message ids it got) lives in the hub's state machine, not here.
public final class HubSocket: @unchecked Sendable {
    package let id: String
    let socket: ServerWebSocket
    let shard: DeliveryShard
    /// Written to since the shard's last flush (touched only on the socket's event loop).
    var flushPending = false

    init(id: String, socket: ServerWebSocket, shard: DeliveryShard) {
        self.id = id
        self.socket = socket
        self.shard = shard
    }
}
