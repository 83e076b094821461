import BrokerCore
import Logging
import NIOCore
import NIOPosix
import Redis
import Synchronization

/// The broker on a Redis Cluster (`REDIS_CLUSTER_NODES`): every command goes to the master of
/// its key's slot, pub/sub is sharded (`SPUBLISH`/`SSUBSCRIBE`, Redis 7), and slot
/// migrations and failovers are followed (see ``RedisClusterClient`` and
/// ``RedisClusterSubscriber``).
///
/// What a cluster cannot do, it refuses with ``BrokerError/Code/invalidArgument``: an atomic
/// batch or a script whose keys are in more than one slot (give them a common hash tag,
/// `{…}`), and pattern subscriptions (sharded pub/sub has none). A non-atomic batch may span
/// slots: each slot's commands go to their master in one write, all at once.
public final class RedisClusterBroker: Broker {
    let cluster: RedisClusterClient
    let subscriber: RedisClusterSubscriber
    let bufferLimit: Int
    private let listeners = Mutex<[UInt64: AsyncStream<BrokerEvent>.Continuation]>([:])
    private let nextListener = Atomic<UInt64>(0)
    private let link = Mutex(LinkState())

    /// - Parameters:
    ///   - seeds: `host:port` of nodes of the cluster.
    ///   - configuration: credentials, TLS and timeouts for every node (its host and port are
    ///     not used).
    /// - Throws: ``BrokerError`` `.invalidArgument` when a seed is not `host:port`.
    public init(
        seeds: [String],
        configuration: RedisConfiguration,
        bufferLimit: Int = BrokerSubscription.defaultBufferLimit,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "broker.redis-cluster")
    ) throws {
        var configuration = configuration
        configuration.clientName = configuration.clientName ?? "wscenter"
        do {
            cluster = try RedisClusterClient(seeds: seeds, configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
        } catch let error as RedisError {
            throw BrokerError(.invalidArgument, "REDIS_CLUSTER_NODES: \(error.message)")
        }
        subscriber = RedisClusterSubscriber(cluster: cluster, logger: logger)
        self.bufferLimit = bufferLimit
    }

    public func run() async throws {
        let events = cluster.events()
        await withDiscardingTaskGroup { group in
            group.addTask { await self.cluster.run() }
            group.addTask { await self.subscriber.run() }
            group.addTask {
                for await event in events {
                    var reason = ""
                    if case .disconnected(let error) = event { reason = "cluster: \(error.message)" }
                    let up: Bool = if case .disconnected = event { false } else { true }
                    let brokerEvent = self.link.withLock { $0.update(commandsUp: up, subscriberUp: up, reason: reason) }
                    guard let brokerEvent else { continue }
                    for listener in self.listeners.withLock({ Array($0.values) }) { listener.yield(brokerEvent) }
                }
            }
        }
        for listener in listeners.withLock({ listeners in defer { listeners = [:] }; return Array(listeners.values) }) {
            listener.finish()
        }
    }

    public func events() -> AsyncStream<BrokerEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: BrokerEvent.self, bufferingPolicy: .bufferingNewest(64))
        let id = nextListener.add(1, ordering: .relaxed).oldValue
        continuation.onTermination = { [weak self] _ in self?.listeners.withLock { _ = $0.removeValue(forKey: id) } }
        link.withLock { link in
            listeners.withLock { $0[id] = continuation }
            if link.isUp { continuation.yield(.connected) }
        }
        return stream
    }

    // MARK: Commands

    public var isSharded: Bool { true }

    public func execute(_ commands: [BrokerCommand], atomically: Bool) async throws -> [BrokerValue] {
        guard !commands.isEmpty else { return [] }
        for command in commands { try command.validate() }
        if commands.count == 1, case .script(let script, let keys, let arguments) = commands[0] {
            try Self.requireOneSlot(keys, for: "a script")
            let reply = try await RedisBroker.mapErrors(commands[0].name) {
                try await cluster.evaluate(RedisBroker.cached(script), keys: keys, arguments: arguments.map { .string($0) })
            }
            return [try RedisBroker.decode(reply, for: commands[0])]
        }
        if atomically {
            try Self.requireOneSlot(commands.flatMap(\.keys), for: "an atomic batch")
            let replies = try await RedisBroker.mapErrors(commands[0].name) {
                try await cluster.transaction(commands.map(RedisBroker.redisCommand(for:)), slot: Self.slot(of: commands[0].keys))
            }
            return try zip(commands, replies).map { try RedisBroker.decode($1, for: $0) }
        }
        return try await runBySlot(commands) { slot, batch in try await self.cluster.pipeline(batch, slot: slot) }
    }

    /// One `MULTI`/`EXEC` per slot, all at once.
    public func executeAtomicallyPerSlot(_ commands: [BrokerCommand]) async throws -> [BrokerValue] {
        guard !commands.isEmpty else { return [] }
        for command in commands { try command.validate() }
        if commands.contains(where: { if case .script = $0 { true } else { false } }) {
            guard commands.count == 1 else { throw BrokerError(.invalidArgument, "a script runs alone, not in a batch per slot") }
            return try await execute(commands, atomically: true)
        }
        return try await runBySlot(commands) { slot, batch in try await self.cluster.transaction(batch, slot: slot) }
    }

    /// Runs `commands` grouped by slot (a `DEL` over several slots split, its counts added),
    /// each group with `send` on its slot's master, the groups at once; results in order.
    private func runBySlot(
        _ commands: [BrokerCommand], _ send: @escaping @Sendable (Int, [RedisCommand]) async throws -> [RESPValue]
    ) async throws -> [BrokerValue] {
        let expanded = commands.map(Self.splitBySlot)
        let flat = expanded.flatMap { $0 }
        var bySlot: [Int: [Int]] = [:]
        for (index, command) in flat.enumerated() { bySlot[Self.slot(of: command.keys), default: []].append(index) }
        var replies = [RESPValue](repeating: .null, count: flat.count)
        try await RedisBroker.mapErrors(commands[0].name) {
            try await withThrowingTaskGroup(of: [(Int, RESPValue)].self) { group in
                for (slot, indices) in bySlot {
                    group.addTask {
                        let answers = try await send(slot, indices.map { RedisBroker.redisCommand(for: flat[$0]) })
                        return Array(zip(indices, answers))
                    }
                }
                for try await answers in group {
                    for (index, reply) in answers { replies[index] = reply }
                }
            }
        }
        var values: [BrokerValue] = []
        var position = 0
        for (command, parts) in zip(commands, expanded) {
            let decoded = try parts.indices.map { try RedisBroker.decode(replies[position + $0], for: parts[$0]) }
            position += parts.count
            if parts.count > 1, case .delete = command {
                values.append(.int(decoded.reduce(0) { total, value in if case .int(let count) = value { total + count } else { total } }))
            } else {
                values.append(decoded[0])
            }
        }
        return values
    }

    public func scanKeys(matching pattern: String) async throws -> [String] {
        let topology = try await RedisBroker.mapErrors("SCAN") { try await cluster.refreshTopology() }
        var seen = Set<[UInt8]>()
        var keys: [String] = []
        for shard in topology.shards {
            try await RedisBroker.scan(cluster.client(for: shard.master), matching: pattern, seen: &seen, into: &keys)
        }
        return keys
    }

    // MARK: Pub/sub

    @discardableResult
    public func publish(_ message: String, to channel: String) async throws -> Int {
        try await RedisBroker.mapErrors("SPUBLISH") {
            try await cluster.send(RedisCommand("SPUBLISH", [.string(channel), .string(message)]), key: channel).int ?? 0
        }
    }

    public func subscribe(to channels: [String]) async throws -> BrokerSubscription {
        guard !channels.isEmpty else { throw BrokerError(.invalidArgument, "SUBSCRIBE needs at least one channel") }
        return try await RedisBroker.makeSubscription(bufferLimit: bufferLimit) { handler in
            try await self.subscriber.subscribe(to: channels, handler: handler)
        }
    }

    public func subscribe(toPatterns patterns: [String]) async throws -> BrokerSubscription {
        guard !patterns.isEmpty else { throw BrokerError(.invalidArgument, "PSUBSCRIBE needs at least one pattern") }
        throw BrokerError(.invalidArgument, "pattern subscriptions are not available on a Redis Cluster: sharded pub/sub has none")
    }

    // MARK: Slots

    static func slot(of keys: [String]) -> Int {
        keys.first.map(RedisClusterSlot.of) ?? 0
    }

    static func requireOneSlot(_ keys: [String], for what: String) throws {
        let slots = Set(keys.map(RedisClusterSlot.of))
        guard slots.count <= 1 else {
            throw BrokerError(.invalidArgument, "CROSSSLOT: \(what) on a Redis Cluster must keep its keys in one hash slot (give them a common {hash tag})")
        }
    }

    /// `command`, or one `DEL` per slot for a `DEL` of keys in several slots.
    static func splitBySlot(_ command: BrokerCommand) -> [BrokerCommand] {
        guard case .delete(let keys) = command else { return [command] }
        var bySlot: [Int: [String]] = [:]
        var order: [Int] = []
        for key in keys {
            let slot = RedisClusterSlot.of(key)
            if bySlot[slot] == nil { order.append(slot) }
            bySlot[slot, default: []].append(key)
        }
        return order.count <= 1 ? [command] : order.map { .delete(keys: bySlot[$0] ?? []) }
    }
}

extension BrokerCommand {
    /// The keys the command touches, first the one that routes it.
    var keys: [String] {
        switch self {
        case .get(let key), .set(let key, _, _), .setIfAbsent(let key, _, _), .deleteIfEquals(let key, _), .expire(let key, _),
            .ttl(let key), .incrementBy(let key, _), .hashSet(let key, _), .hashSetIfExists(let key, _), .hashGet(let key, _),
            .hashGetAll(let key), .hashDelete(let key, _), .hashIncrementBy(let key, _, _), .hashLength(let key),
            .setAdd(let key, _), .setRemove(let key, _), .setMembers(let key), .setCardinality(let key), .setIsMember(let key, _),
            .streamAdd(let key, _, _), .streamCreateGroup(let key, _), .streamReadGroup(let key, _, _, _),
            .streamAcknowledge(let key, _, _), .streamAutoClaim(let key, _, _, _, _), .streamClaim(let key, _, _, _),
            .streamLength(let key), .streamRange(let key, _):
            [key]
        case .delete(let keys), .script(_, let keys, _):
            keys
        }
    }
}
