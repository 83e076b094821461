import BrokerCore
import Logging
import NIOCore
import NIOPosix
import Redis
import Synchronization

/// The broker on a real Redis: a command connection (pipelined) and a pub/sub connection,
/// both reconnecting by themselves; subscriptions are restored after a reconnection and
/// ``BrokerEvent/reconnected`` is reported only then.
public final class RedisBroker: Broker {
    let client: RedisClient
    let subscriber: RedisSubscriber
    let bufferLimit: Int
    private let logger: Logger
    private let link = Mutex(LinkState())
    private let listeners = Mutex<[UInt64: AsyncStream<BrokerEvent>.Continuation]>([:])
    private let nextListener = Atomic<UInt64>(0)
    static let deleteIfEqualsScript = RedisScript(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"
    )

    /// - Parameters:
    ///   - configuration: where Redis is (see `RedisConfiguration(url:)`).
    ///   - commandTimeout: when set, replaces `configuration`'s command timeout and caps its
    ///     connect timeout on the command connection only (commands and publishes; the pub/sub
    ///     connection keeps `configuration`'s). A frozen Redis then fails a command after this
    ///     long instead of the default 5 s: the connection is dropped and made again, as for
    ///     any command timeout. A gateway sets it to bound its requests' waits for Redis.
    ///   - bufferLimit: messages buffered per subscription before new ones are dropped.
    public init(
        configuration: RedisConfiguration,
        commandTimeout: Duration? = nil,
        bufferLimit: Int = BrokerSubscription.defaultBufferLimit,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "broker.redis")
    ) {
        var commandConfiguration = configuration
        commandConfiguration.clientName = configuration.clientName ?? "wscenter"
        if let commandTimeout {
            commandConfiguration.commandTimeout = commandTimeout
            commandConfiguration.connectTimeout = min(configuration.connectTimeout, commandTimeout)
        }
        var pubsubConfiguration = configuration
        pubsubConfiguration.clientName = (configuration.clientName ?? "wscenter") + "-pubsub"
        let client = RedisClient(configuration: commandConfiguration, eventLoopGroup: eventLoopGroup, logger: logger)
        self.client = client
        // Both connections on one event loop: a message received, the work it causes and the
        // commands that work sends stay on one thread for a task that prefers it.
        self.subscriber = RedisSubscriber(configuration: pubsubConfiguration, eventLoopGroup: client.eventLoop, logger: logger)
        self.bufferLimit = bufferLimit
        self.logger = logger
    }

    public func run() async throws {
        let commandEvents = client.events()
        let subscriberEvents = subscriber.events()
        await withDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            group.addTask { await self.subscriber.run() }
            group.addTask { await self.follow(commandEvents, as: "commands") }
            group.addTask { await self.follow(subscriberEvents, as: "pub/sub") }
        }
        let remaining = listeners.withLock { listeners in
            defer { listeners = [:] }
            return Array(listeners.values)
        }
        for listener in remaining { listener.finish() }
    }

    private func follow(_ events: AsyncStream<RedisConnectionEvent>, as name: String) async {
        for await event in events {
            var reason = ""
            if case .disconnected(let error) = event { reason = "\(name): \(error.message)" }
            let brokerEvent: BrokerEvent? = link.withLock { link in
                link.update(commandsUp: client.isConnected, subscriberUp: subscriber.isConnected, reason: reason)
            }
            guard let brokerEvent else { continue }
            let current = listeners.withLock { Array($0.values) }
            for listener in current { listener.yield(brokerEvent) }
        }
    }

    /// The event loop of both connections.
    public var preferredTaskExecutor: (any TaskExecutor)? {
        client.taskExecutor
    }

    public func events() -> AsyncStream<BrokerEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: BrokerEvent.self, bufferingPolicy: .bufferingNewest(64))
        let id = nextListener.add(1, ordering: .relaxed).oldValue
        continuation.onTermination = { [weak self] _ in
            self?.listeners.withLock { _ = $0.removeValue(forKey: id) }
        }
        // Register and read the current state under one lock order (link, then listeners)
        // so no event is lost or doubled between the two.
        link.withLock { link in
            listeners.withLock { $0[id] = continuation }
            if link.isUp { continuation.yield(.connected) }
        }
        return stream
    }

    public func scanKeys(matching pattern: String) async throws -> [String] {
        var seen = Set<[UInt8]>()
        var keys: [String] = []
        try await Self.scan(client, matching: pattern, seen: &seen, into: &keys)
        return keys
    }

    /// Every key of `client`'s server that matches `pattern`, appended to `keys` once each.
    /// SCAN may repeat keys: they are deduplicated by bytes, as Redis compares them (Swift's
    /// String equality would merge canonically equivalent keys).
    static func scan(_ client: RedisClient, matching pattern: String, seen: inout Set<[UInt8]>, into keys: inout [String]) async throws {
        var cursor = "0"
        repeat {
            let reply = try await mapErrors("SCAN") {
                try await client.send(RedisCommand("SCAN", [.string(cursor), "MATCH", .string(pattern), "COUNT", 1000]))
            }
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let batch = parts[1].array else {
                throw BrokerError(.commandFailed, "SCAN returned an unexpected reply")
            }
            for case .bulkString(let bytes) in batch where seen.insert(Array(bytes.readableBytesView)).inserted {
                keys.append(String(buffer: bytes))
            }
            cursor = next
        } while cursor != "0"
    }

    @discardableResult
    public func publish(_ message: String, to channel: String) async throws -> Int {
        try await mapErrors("PUBLISH") { try await client.publish(message, to: channel) }
    }

    public func subscribe(to channels: [String]) async throws -> BrokerSubscription {
        guard !channels.isEmpty else { throw BrokerError(.invalidArgument, "SUBSCRIBE needs at least one channel") }
        return try await makeSubscription { handler in try await self.subscriber.subscribe(to: channels, handler: handler) }
    }

    public func subscribe(toPatterns patterns: [String]) async throws -> BrokerSubscription {
        guard !patterns.isEmpty else { throw BrokerError(.invalidArgument, "PSUBSCRIBE needs at least one pattern") }
        return try await makeSubscription { handler in try await self.subscriber.subscribe(toPatterns: patterns, handler: handler) }
    }

    private func makeSubscription(
        _ subscribe: (@escaping RedisSubscriber.Handler) async throws -> RedisSubscription
    ) async throws -> BrokerSubscription {
        try await Self.makeSubscription(bufferLimit: bufferLimit, subscribe)
    }

    /// A broker subscription fed by the Redis subscription `subscribe` makes.
    static func makeSubscription(
        bufferLimit: Int, _ subscribe: (@escaping RedisSubscriber.Handler) async throws -> RedisSubscription
    ) async throws -> BrokerSubscription {
        let holder = SubscriptionHolder()
        let (subscription, sink) = BrokerSubscription.make(bufferLimit: bufferLimit) { holder.cancel() }
        do {
            let redisSubscription = try await mapErrors("SUBSCRIBE") {
                try await subscribe { message in
                    sink.deliver(BrokerMessage(channel: message.channel, pattern: message.pattern, payload: String(buffer: message.payload)))
                }
            }
            holder.set(redisSubscription)
        } catch {
            sink.finish()
            throw error
        }
        return subscription
    }
}

/// Connects a `BrokerSubscription`'s termination to the Redis subscription made after it.
private final class SubscriptionHolder: Sendable {
    private let state = Mutex<(subscription: RedisSubscription?, cancelled: Bool)>((nil, false))

    func set(_ subscription: RedisSubscription) {
        let cancelNow = state.withLock { state in
            state.subscription = subscription
            return state.cancelled
        }
        if cancelNow { subscription.cancel() }
    }

    func cancel() {
        let subscription = state.withLock { state in
            state.cancelled = true
            return state.subscription
        }
        subscription?.cancel()
    }
}
