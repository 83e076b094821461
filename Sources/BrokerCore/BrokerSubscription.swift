import Synchronization

/// One message received on a subscription.
public struct BrokerMessage: Sendable, Hashable {
    /// The channel it was published on.
    public var channel: String
    /// The pattern that matched, for pattern subscriptions.
    public var pattern: String?
    public var payload: String

    package init(channel: String, pattern: String? = nil, payload: String) {
        self.channel = channel
        self.pattern = pattern
        self.payload = payload
    }
}

/// An active subscription: an async sequence of messages with a bounded buffer.
///
/// Memory is bounded: when the consumer falls more than `bufferLimit` messages behind,
/// newer messages are dropped and counted in ``droppedCount`` (a slow consumer must never
/// grow the process without bound). Cancel it (or let the iterating task end) to unsubscribe.
public final class BrokerSubscription: AsyncSequence, Sendable {
    public typealias Element = BrokerMessage

    /// The default number of messages buffered per subscription.
    public static let defaultBufferLimit = 65_536

    private let stream: AsyncStream<BrokerMessage>
    private let sink: Sink

    /// Where an implementation pushes messages for one subscription.
    package final class Sink: Sendable {
        let continuation: AsyncStream<BrokerMessage>.Continuation
        let dropped = Atomic<Int>(0)

        init(continuation: AsyncStream<BrokerMessage>.Continuation) {
            self.continuation = continuation
        }

        /// Delivers `message`; drops and counts it when the buffer is full.
        /// - Returns: `false` once the subscription has ended (the implementation may forget it).
        @discardableResult
        package func deliver(_ message: BrokerMessage) -> Bool {
            switch continuation.yield(message) {
            case .enqueued:
                return true
            case .dropped:
                dropped.add(1, ordering: .relaxed)
                return true
            case .terminated:
                return false
            @unknown default:
                return true
            }
        }

        /// Ends the sequence (the consumer's loop finishes after the buffered messages).
        package func finish() {
            continuation.finish()
        }
    }

    /// Creates a subscription for an implementation.
    /// - Parameters:
    ///   - bufferLimit: messages buffered before new ones are dropped.
    ///   - onTermination: called once when the consumer cancels or the sequence ends;
    ///     the implementation unsubscribes there. It must not block.
    /// - Returns: the subscription to hand out and the sink to deliver into.
    package static func make(
        bufferLimit: Int = BrokerSubscription.defaultBufferLimit,
        onTermination: @escaping @Sendable () -> Void
    ) -> (BrokerSubscription, Sink) {
        let (stream, continuation) = AsyncStream.makeStream(
            of: BrokerMessage.self,
            bufferingPolicy: .bufferingOldest(Swift.max(1, bufferLimit))
        )
        continuation.onTermination = { _ in onTermination() }
        let sink = Sink(continuation: continuation)
        return (BrokerSubscription(stream: stream, sink: sink), sink)
    }

    private init(stream: AsyncStream<BrokerMessage>, sink: Sink) {
        self.stream = stream
        self.sink = sink
    }

    /// Messages dropped because the consumer was too slow.
    public var droppedCount: Int { sink.dropped.load(ordering: .relaxed) }

    /// Ends the subscription: the broker stops delivering and unsubscribes.
    public func cancel() {
        sink.finish()
    }

    public func makeAsyncIterator() -> AsyncStream<BrokerMessage>.Iterator {
        stream.makeAsyncIterator()
    }
}
