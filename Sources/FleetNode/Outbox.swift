import NIOCore
import Synchronization

/// The queue of text messages waiting to be written to one WebSocket, in order. Bounded: a
/// client that does not read falls behind by at most `limit` messages; the next one calls
/// `onOverflow` (which closes the connection) instead of letting the node's memory grow.
public final class Outbox: Sendable {
    public static let defaultLimit = 4_096

    private let continuation: AsyncStream<ByteBuffer>.Continuation
    private let overflow = Atomic<Bool>(false)
    private let onOverflow: @Sendable () -> Void

    /// The messages to write, for the connection's writer task.
    public let messages: AsyncStream<ByteBuffer>

    public init(limit: Int = Outbox.defaultLimit, onOverflow: @escaping @Sendable () -> Void = {}) {
        self.onOverflow = onOverflow
        (messages, continuation) = AsyncStream.makeStream(of: ByteBuffer.self, bufferingPolicy: .bufferingOldest(max(1, limit)))
    }

    /// Queues a message; false if the connection is gone or has fallen too far behind.
    @discardableResult
    public func send(_ message: ByteBuffer) -> Bool {
        switch continuation.yield(message) {
        case .enqueued:
            return true
        case .dropped:
            if !overflow.exchange(true, ordering: .relaxed) { onOverflow() }
            continuation.finish()
            return false
        case .terminated:
            return false
        @unknown default:
            return false
        }
    }

    /// Whether messages were refused because the client did not keep up.
    public var overflowed: Bool { overflow.load(ordering: .relaxed) }

    /// Ends the stream: the writer finishes what is queued, then stops.
    public func finish() { continuation.finish() }
}
