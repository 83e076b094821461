import NIOCore
import Synchronization

/// The queue of text messages waiting to be written to one WebSocket, in order. Bounded: a
/// client that does not read falls behind by at most `limit` messages; the next one closes
/// the connection instead of letting the node's memory grow.
public final class Outbox: Sendable {
    public static let defaultLimit = 4_096

    private let continuation: AsyncStream<ByteBuffer>.Continuation
    private let overflow = Atomic<Bool>(false)
    private let closeConnection: @Sendable () -> Void

    /// The messages to write, for the connection's writer task.
    public let messages: AsyncStream<ByteBuffer>

    /// - Parameter closeConnection: cuts the client off (on overflow, or ``kick()``).
    public init(limit: Int = Outbox.defaultLimit, closeConnection: @escaping @Sendable () -> Void = {}) {
        self.closeConnection = closeConnection
        (messages, continuation) = AsyncStream.makeStream(of: ByteBuffer.self, bufferingPolicy: .bufferingOldest(max(1, limit)))
    }

    /// Queues a message; false if the connection is gone or has fallen too far behind.
    @discardableResult
    public func send(_ message: ByteBuffer) -> Bool {
        switch continuation.yield(message) {
        case .enqueued:
            return true
        case .dropped:
            if !overflow.exchange(true, ordering: .relaxed) { closeConnection() }
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

    /// Closes the client's connection at once.
    public func kick() { closeConnection() }
}
