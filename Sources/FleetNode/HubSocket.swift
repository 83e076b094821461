import NIOCore
import WebSocketCore

/// A socket as a delivery target (of the hub, or of a protocol's ``SocketDeliveries``): its
/// connection's id, its WebSocket and the delivery shard of the socket's event loop.
/// Everything written to it goes through that shard, so that the messages of every sender
/// reach it in the order they were queued.
public final class HubSocket: @unchecked Sendable {
    public let id: String
    let socket: ServerWebSocket
    let shard: DeliveryShard
    /// Written to since the shard's last flush (touched only on the socket's event loop).
    var flushPending = false
    /// The hub's, under its lock: the message ids delivered while the connection may still
    /// resume a session (nil once it claims one or settles), so that the replay skips what it
    /// already got; and, while it resumes one, its live messages held until the replay.
    /// Fields of the socket rather than maps by id: a delivery looks up nothing more.
    var fresh: [String]? = []
    var holding: [(frame: ByteBuffer, payload: Int)]?
    /// The hub's, under its lock: the connection's resumable session, if it has one, and its
    /// client's address (for the away sessions' per-address cap).
    var sessionToken: String?
    var address = ""

    init(id: String, socket: ServerWebSocket, shard: DeliveryShard) {
        self.id = id
        self.socket = socket
        self.shard = shard
    }
}
