import NIOCore
import NIOWebSocket
import Observability
import Synchronization
import WebSocketCore

/// What one event loop has to write to its sockets, in the order the hub decided it: a
/// broadcast to ten thousand sockets on two loops is two hops, not ten thousand, and every
/// socket written to in one batch is flushed once, after the batch.
///
/// The hub enqueues under its own lock (so the order of deliveries is the order of the
/// hub's operations); the loop takes the whole queue under the shard's lock and writes
/// outside it.
final class DeliveryShard: Sendable {
    enum Delivery {
        /// One encoded frame (of a `payload`-byte message), the same buffer for every socket.
        case frame(ByteBuffer, payload: Int, [HubSocket])
        /// A close after what was queued before it.
        case close(HubSocket, WebSocketErrorCode, String)
    }

    private struct Queue {
        var deliveries: [Delivery] = []
        var scheduled = false
    }

    let eventLoop: any EventLoop
    private let queue = Mutex(Queue())
    private let meter: SocketMeter?

    /// - Parameter meter: counts the messages written (one per socket) and their payload bytes.
    init(eventLoop: any EventLoop, meter: SocketMeter?) {
        self.eventLoop = eventLoop
        self.meter = meter
    }

    /// Queues `delivery`; the loop writes it in the next batch.
    func enqueue(_ delivery: Delivery) {
        let schedule = queue.withLock { queue in
            queue.deliveries.append(delivery)
            defer { queue.scheduled = true }
            return !queue.scheduled
        }
        if schedule { eventLoop.execute { self.writeBatch() } }
    }

    /// On the loop: writes every delivery queued so far, then flushes each socket once.
    private func writeBatch() {
        let deliveries = queue.withLock { queue in
            queue.scheduled = false
            var taken: [Delivery] = []
            swap(&taken, &queue.deliveries)
            return taken
        }
        var touched: [HubSocket] = []
        var messages = 0
        var bytes = 0
        for delivery in deliveries {
            switch delivery {
            case .frame(let frame, let payload, let sockets):
                for target in sockets where !target.socket.isClosing {
                    target.socket.write(frame: frame)
                    messages += 1
                    bytes += payload
                    if !target.flushPending {
                        target.flushPending = true
                        touched.append(target)
                    }
                }
            case .close(let target, let code, let reason):
                if target.flushPending {
                    target.flushPending = false
                    target.socket.flush()
                }
                target.socket.close(code: code, reason: reason)
            }
        }
        for target in touched where target.flushPending {
            target.flushPending = false
            target.socket.flush()
        }
        if messages > 0 { meter?.sent(messages: messages, bytes: bytes) }
    }
}
