import NIOCore
import Synchronization

/// The messages waiting to be written to one client, bounded twice: by count (`limit`) and by
/// bytes (`maxBytes`). A client that lets either fill up is not reading: neither more
/// messages nor a close frame would reach it, so its connection is cut off. (A single message
/// larger than `maxBytes` still goes out when nothing else waits.)
public final class Outbox: Sendable {
    public static let defaultLimit = 4_096
    /// 4 MiB by default (`MAX_QUEUED_BYTES`).
    public static let defaultMaxBytes = 4 << 20

    private let continuation: AsyncStream<ByteBuffer>.Continuation
    private let overflow = Atomic<Bool>(false)
    private let pendingBytes = Atomic<Int>(0)
    private let maxBytes: Int
    private let closeConnection: @Sendable () -> Void

    /// The messages to write, for the connection's writer task, which reports each one
    /// written with ``written(_:)``.
    public let messages: AsyncStream<ByteBuffer>

    /// - Parameter closeConnection: cuts the client off (on overflow, or ``kick()``).
    public init(limit: Int = Outbox.defaultLimit, maxBytes: Int = Outbox.defaultMaxBytes, closeConnection: @escaping @Sendable () -> Void = {}) {
        self.closeConnection = closeConnection
        self.maxBytes = max(1, maxBytes)
        (messages, continuation) = AsyncStream.makeStream(of: ByteBuffer.self, bufferingPolicy: .bufferingOldest(max(1, limit)))
    }

    /// Queues a message; false if the connection is gone or has fallen too far behind.
    @discardableResult
    public func send(_ message: ByteBuffer) -> Bool {
        let size = message.readableBytes
        let waiting = pendingBytes.wrappingAdd(size, ordering: .relaxed).newValue
        if waiting > maxBytes, waiting != size {
            pendingBytes.wrappingSubtract(size, ordering: .relaxed)
            cutOff()
            return false
        }
        switch continuation.yield(message) {
        case .enqueued:
            return true
        case .dropped:
            pendingBytes.wrappingSubtract(size, ordering: .relaxed)
            cutOff()
            return false
        case .terminated:
            pendingBytes.wrappingSubtract(size, ordering: .relaxed)
            return false
        @unknown default:
            return false
        }
    }

    /// The writer wrote `message`: its bytes no longer count as waiting.
    public func written(_ message: ByteBuffer) {
        pendingBytes.wrappingSubtract(message.readableBytes, ordering: .relaxed)
    }

    /// Bytes queued and not yet written.
    public var queuedBytes: Int { pendingBytes.load(ordering: .relaxed) }

    private func cutOff() {
        if !overflow.exchange(true, ordering: .relaxed) { closeConnection() }
        continuation.finish()
    }

    /// Whether messages were refused because the client did not keep up.
    public var overflowed: Bool { overflow.load(ordering: .relaxed) }

    /// Ends the stream: the writer finishes what is queued, then stops.
    public func finish() { continuation.finish() }

    /// Closes the client's connection at once.
    public func kick() { closeConnection() }
}
