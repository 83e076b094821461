import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A message received on a subscribed channel.
public struct RedisPubSubMessage: Sendable {
    public var channel: String
    /// The pattern that matched, for pattern subscriptions.
    public var pattern: String?
    public var payload: ByteBuffer
}

/// The pub/sub side of Redis: one dedicated connection in subscribe mode, shared by every
/// subscription, that reconnects by itself and then restores every subscription before it
/// reports ``RedisConnectionEvent/reconnected``. Run ``run()`` for as long as it is used.
///
/// Handlers are called on the connection's event loop, in the order messages arrive; they must
/// not block (hand the message to a bounded buffer — `BrokerSubscription` does).
public final class RedisSubscriber: Sendable {
    public typealias Handler = @Sendable (RedisPubSubMessage) -> Void

    private let registry: SubscriptionRegistry
    private let keeper: ConnectionKeeper

    public init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "redis.pubsub")
    ) {
        let registry = SubscriptionRegistry()
        self.registry = registry
        self.keeper = ConnectionKeeper(
            configuration: configuration,
            onPush: { registry.dispatch($0) },
            restore: { connection, _ in try await registry.restore(on: connection) },
            eventLoopGroup: eventLoopGroup.next(),
            logger: logger
        )
    }

    /// Keeps the connection up until the calling task is cancelled.
    public func run() async {
        await keeper.run()
    }

    /// Whether the connection is established (subscriptions restored) and open right now.
    public var isConnected: Bool { keeper.currentConnection?.isActive ?? false }

    /// Connection events; ``RedisConnectionEvent/reconnected`` comes after subscriptions are restored.
    public func events() -> AsyncStream<RedisConnectionEvent> {
        keeper.events()
    }

    /// Subscribes `handler` to exact channel names. Returns once Redis confirmed.
    /// - Throws: `.notConnected` while reconnecting, or the server's error.
    public func subscribe(to channels: [String], handler: @escaping Handler) async throws -> RedisSubscription {
        try await subscribe(.channel, channels, handler)
    }

    /// Subscribes `handler` to glob patterns (`PSUBSCRIBE`). Returns once Redis confirmed.
    public func subscribe(toPatterns patterns: [String], handler: @escaping Handler) async throws -> RedisSubscription {
        try await subscribe(.pattern, patterns, handler)
    }

    private func subscribe(_ kind: SubscriptionRegistry.Kind, _ names: [String], _ handler: @escaping Handler) async throws -> RedisSubscription {
        guard !names.isEmpty else {
            throw RedisError(.protocolError, "subscribe needs at least one channel or pattern")
        }
        let connection = try await keeper.connection()
        let (id, confirmation) = registry.add(kind, names, handler, on: connection)
        let subscription = RedisSubscription { [registry, keeper] in
            registry.remove(id, kind, names, on: keeper.currentConnection)
        }
        do {
            let reply = try await confirmation.get()
            try SubscriptionRegistry.checkConfirmation(reply, kind: kind, count: names.count)
        } catch {
            subscription.cancel()
            throw error
        }
        return subscription
    }
}

/// A live subscription. ``cancel()`` unsubscribes (idempotent); Redis is told to
/// unsubscribe a channel once no subscription in this process wants it.
public final class RedisSubscription: Sendable {
    private let onCancel: Mutex<(@Sendable () -> Void)?>

    init(onCancel: @escaping @Sendable () -> Void) {
        self.onCancel = Mutex(onCancel)
    }

    public func cancel() {
        let action = onCancel.withLock { action in
            defer { action = nil }
            return action
        }
        action?()
    }
}
