import NIOCore
import Observability
import Synchronization
import WebSocketCore

/// Batched writes to sockets that a protocol tracks itself (Pusher keeps its own
/// subscribers), the way the hub writes to its own: one ``DeliveryShard`` per event loop, so
/// that a message for thousands of sockets is one hop per loop, the same encoded frame for
/// every socket, and one flush per socket per batch.
///
/// Writes reach each socket in the order they were queued; a close queued after them goes
/// out after them. Work queued on a socket's event loop with `execute` after a delivery runs
/// after it too (the shard's batch is an `execute` of its own).
package final class SocketDeliveries: Sendable {
    private let shards = Mutex<[ObjectIdentifier: DeliveryShard]>([:])
    private let meter: SocketMeter?

    /// - Parameter meter: counts the messages written (one per socket) and their payload bytes.
    package init(meter: SocketMeter?) {
        self.meter = meter
    }

    /// The delivery target of `socket`, on the shard of its event loop.
    /// - Parameters:
    ///   - id: The connection's id in the protocol (for logs).
    ///   - socket: The socket.
    /// - Returns: What ``send(_:payload:to:)`` writes to.
    package func target(id: String, socket: ServerWebSocket) -> HubSocket {
        let loop = socket.eventLoop
        let shard = shards.withLock { shards in
            if let shard = shards[ObjectIdentifier(loop)] { return shard }
            let shard = DeliveryShard(eventLoop: loop, meter: meter)
            shards[ObjectIdentifier(loop)] = shard
            return shard
        }
        return HubSocket(id: id, socket: socket, shard: shard)
    }

    /// Queues one encoded frame for every target, grouped by event loop. Targets that are
    /// closing when their loop writes are skipped.
    /// - Parameters:
    ///   - frame: The encoded frame (``WebSocketFrames``), written unchanged to each socket.
    ///   - payload: The message's size in bytes, for the metrics.
    ///   - targets: Where it goes.
    package func send(_ frame: ByteBuffer, payload: Int, to targets: [HubSocket]) {
        guard let first = targets.first else { return }
        // One recipient, or all on one loop: the list goes to the shard as it is.
        if targets.allSatisfy({ $0.shard === first.shard }) {
            first.shard.enqueue(.frame(frame, payload: payload, targets))
            return
        }
        // A node has a handful of event loops: a short list of batches.
        var batches: [(shard: DeliveryShard, sockets: [HubSocket])] = [(first.shard, [first])]
        for target in targets.dropFirst() {
            if let index = batches.firstIndex(where: { $0.shard === target.shard }) {
                batches[index].sockets.append(target)
            } else {
                batches.append((target.shard, [target]))
            }
        }
        for batch in batches { batch.shard.enqueue(.frame(frame, payload: payload, batch.sockets)) }
    }
}
