import Logging
import NIOCore
import Synchronization

/// Sharded pub/sub on a Redis Cluster (`SSUBSCRIBE`, Redis 7): each channel is subscribed on
/// the master of its slot, over one connection per master, and kept there as the cluster
/// changes.
///
/// A channel's subscription moves when its slot does: the server ends it with a
/// `sunsubscribe` push when the slot migrates, a master's connection drops when it dies, and
/// the slot map says where the slot is now; a reconciliation (on those events, and every
/// second) subscribes each wanted channel where its slot is. Messages published meanwhile on
/// the new master are not seen: sharded pub/sub, like pub/sub, delivers at most once.
/// Run ``run()`` for as long as it is used; the ``RedisClusterClient`` must run too.
public final class RedisClusterSubscriber: Sendable {
    public typealias Endpoint = RedisClusterTopology.Endpoint
    public typealias Handler = RedisSubscriber.Handler

    private let cluster: RedisClusterClient
    private let logger: Logger
    private let state = Mutex(State())
    private let wake: (stream: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation)
    private let started: (stream: AsyncStream<ConnectionKeeper>, continuation: AsyncStream<ConnectionKeeper>.Continuation)

    private struct State {
        var handlers: [String: [UInt64: Handler]] = [:]
        var nextID: UInt64 = 0
        /// Where each wanted channel is subscribed (or being subscribed).
        var placement: [String: Endpoint] = [:]
        var shards: [Endpoint: ConnectionKeeper] = [:]
        /// Set when ``run()`` ends: a connection made later is shut down at once.
        var stopped = false
        /// How many reconciliations ran (for tests: about one a second when nothing moves).
        var reconciliations = 0
    }

    /// How many reconciliations have run: about one a second while nothing moves.
    package var reconciliationCount: Int { state.withLock { $0.reconciliations } }

    public init(cluster: RedisClusterClient, logger: Logger = Logger(label: "redis.cluster.pubsub")) {
        self.cluster = cluster
        self.logger = logger
        self.wake = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        self.started = AsyncStream.makeStream(of: ConnectionKeeper.self)
    }

    /// Runs the masters' connections and keeps every subscription on its slot's master,
    /// until the calling task is cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            // Woken by a moved channel or a lost connection, and once a second. (One iterator
            // for the run: cancelling a wait on an AsyncStream would end the stream, and the
            // loop would then spin.)
            group.addTask {
                while (try? await Task.sleep(for: .seconds(1))) != nil { self.wake.continuation.yield() }
            }
            group.addTask {
                await self.reconcile()
                for await _ in self.wake.stream {
                    await self.reconcile()
                }
            }
            for await keeper in started.stream {
                group.addTask { await keeper.run() }
            }
            group.cancelAll()
            // One made from now on (or handed over but not started) is never run: shut them
            // all down, so that nothing waits for a connection that will not come.
            let keepers = state.withLock { state in
                state.stopped = true
                return Array(state.shards.values)
            }
            for keeper in keepers { keeper.shutdown() }
        }
    }

    /// Subscribes `handler` to sharded channels. Returns once each channel's master confirmed.
    /// - Throws: ``RedisError`` when a master cannot be reached within the cluster client's
    ///   `retryFor`, or refuses.
    public func subscribe(to channels: [String], handler: @escaping Handler) async throws -> RedisSubscription {
        guard !channels.isEmpty else { throw RedisError(.protocolError, "subscribe needs at least one channel") }
        let (id, added) = state.withLock { state -> (UInt64, [String]) in
            let id = state.nextID
            state.nextID += 1
            var added: [String] = []
            for channel in Set(channels) {
                if state.handlers[channel] == nil { added.append(channel) }
                state.handlers[channel, default: [:]][id] = handler
            }
            return (id, added)
        }
        let subscription = RedisSubscription { [weak self] in self?.remove(id, channels) }
        do {
            var routing = RedisClusterRouting(startedAt: .now, retryFor: cluster.retryFor)
            var left = added
            while !left.isEmpty {
                left = await place(left)
                guard !left.isEmpty else { break }
                _ = try routing.redirected(.clusterDown, at: .now)
                try await Task.sleep(for: RedisClusterRouting.retryPause)
                _ = try? await cluster.refreshTopology()
            }
        } catch {
            subscription.cancel()
            throw error
        }
        return subscription
    }

    // MARK: Placing channels

    /// Subscribes `channels` on their slots' masters (one `SSUBSCRIBE` per slot, as Redis
    /// wants). - Returns: those that are not subscribed (to try again).
    private func place(_ channels: [String]) async -> [String] {
        var bySlot: [Int: [String]] = [:]
        for channel in channels { bySlot[RedisClusterSlot.of(channel), default: []].append(channel) }
        var failed: [String] = []
        for (slot, names) in bySlot {
            guard let master = try? await cluster.master(ofSlot: slot) else {
                failed += names
                continue
            }
            if await !subscribe(names, on: master) { failed += names }
        }
        return failed
    }

    /// `SSUBSCRIBE names` on `endpoint`, the names still wanted at the time. - Returns: whether
    /// it was confirmed.
    private func subscribe(_ names: [String], on endpoint: Endpoint) async -> Bool {
        let keeper = shard(endpoint)
        guard let connection = try? await keeper.connection() else { return false }
        let (wanted, future) = state.withLock { state -> ([String], EventLoopFuture<RESPValue>?) in
            let wanted = names.filter { state.handlers[$0] != nil }
            guard !wanted.isEmpty else { return ([], nil) }
            for name in wanted {
                if let previous = state.placement[name], previous != endpoint { Self.unsubscribe([name], on: state.shards[previous]?.currentConnection) }
                state.placement[name] = endpoint
            }
            let command = RedisCommand("SSUBSCRIBE", wanted.map { .string($0) }, replyCount: wanted.count)
            return (wanted, connection.enqueue(command.encoded, replyCount: command.replyCount, command: command.name))
        }
        guard let future else { return true }
        do {
            let reply = try await future.get()
            let confirmations = wanted.count == 1 ? [reply] : (reply.array ?? [])
            guard confirmations.count == wanted.count, confirmations.allSatisfy({ $0.array?.first?.string == "ssubscribe" }) else {
                throw RedisError(.serverError, confirmations.compactMap(\.errorMessage).first ?? "unexpected confirmation", command: "SSUBSCRIBE")
            }
            return true
        } catch {
            logger.debug("sharded subscribe failed", metadata: ["redis": "\(endpoint)", "error": "\(String(reflecting: error))"])
            unplace(wanted, from: endpoint)
            return false
        }
    }

    /// The connection to the master at `endpoint` (made and started on first use).
    private func shard(_ endpoint: Endpoint) -> ConnectionKeeper {
        let (keeper, isNew, stopped) = state.withLock { state -> (ConnectionKeeper, Bool, Bool) in
            if let keeper = state.shards[endpoint] { return (keeper, false, state.stopped) }
            let keeper = ConnectionKeeper(
                configuration: cluster.configuration(for: endpoint),
                onPush: { [weak self] push in self?.dispatch(push, from: endpoint) },
                restore: { [weak self] connection, _ in
                    self?.restore(on: connection, endpoint: endpoint)
                },
                eventLoopGroup: cluster.eventLoopGroup.next(),
                logger: cluster.logger(for: endpoint, logger)
            )
            state.shards[endpoint] = keeper
            return (keeper, true, state.stopped)
        }
        if stopped {
            keeper.shutdown()
        } else if isNew {
            started.continuation.yield(keeper)
        }
        return keeper
    }

    /// On a new connection to `endpoint`: the channels placed there are subscribed again
    /// without waiting (a refusal, such as `MOVED` after a failover, unplaces them).
    private func restore(on connection: RedisConnection, endpoint: Endpoint) {
        let names = state.withLock { state in state.placement.filter { $0.value == endpoint }.map(\.key) }
        var bySlot: [Int: [String]] = [:]
        for name in names { bySlot[RedisClusterSlot.of(name), default: []].append(name) }
        for group in bySlot.values {
            let command = RedisCommand("SSUBSCRIBE", group.map { .string($0) }, replyCount: group.count)
            connection.enqueue(command.encoded, replyCount: command.replyCount, command: command.name).whenComplete { [weak self] result in
                let confirmed = (try? result.get()).map { reply in
                    (group.count == 1 ? [reply] : reply.array ?? []).allSatisfy { $0.array?.first?.string == "ssubscribe" }
                } ?? false
                if !confirmed { self?.unplace(group, from: endpoint) }
            }
        }
    }

    /// Forgets that `names` are subscribed on `endpoint`, and wakes the reconciliation.
    private func unplace(_ names: [String], from endpoint: Endpoint) {
        state.withLock { state in
            for name in names where state.placement[name] == endpoint { state.placement[name] = nil }
        }
        wake.continuation.yield()
    }

    /// Subscribes every wanted channel where its slot is now: the unplaced ones, those whose
    /// slot has moved, and those whose master's connection is down (reading the map first).
    private func reconcile() async {
        let (placement, wanted, down) = state.withLock { state in
            state.reconciliations += 1
            return (state.placement, Array(state.handlers.keys), Set(state.shards.filter { $0.value.currentConnection == nil }.keys))
        }
        guard !wanted.isEmpty else { return }
        let unplaced = wanted.filter { placement[$0] == nil }
        let onDown = wanted.filter { placement[$0].map(down.contains) ?? false }
        if !unplaced.isEmpty || !onDown.isEmpty { _ = try? await cluster.refreshTopology() }
        guard let topology = cluster.topology else { return }
        let misplaced = wanted.filter { channel in
            guard let master = topology.master(ofSlot: RedisClusterSlot.of(channel)) else { return false }
            return placement[channel] != master
        }
        guard !misplaced.isEmpty else { return }
        logger.debug("moving sharded subscriptions", metadata: ["channels": "\(misplaced.count)"])
        _ = await place(misplaced)
    }

    // MARK: Messages

    private func dispatch(_ push: RESPValue, from endpoint: Endpoint) {
        guard case .array(let parts) = push, parts.count == 3, let kind = parts[0].string, let channel = parts[1].string else { return }
        switch kind {
        case "smessage":
            guard case .bulkString(let payload) = parts[2] else { return }
            let message = RedisPubSubMessage(channel: channel, pattern: nil, payload: payload)
            let handlers = state.withLock { Array(($0.handlers[channel] ?? [:]).values) }
            for handler in handlers { handler(message) }
        case "sunsubscribe":
            // Ours, for a channel no longer wanted or moved: nothing to do. The server's own
            // (the slot moved): subscribe it where the slot is now.
            unplace([channel], from: endpoint)
        default:
            break
        }
    }

    // MARK: Unsubscribing

    private func remove(_ id: UInt64, _ channels: [String]) {
        state.withLock { state in
            var abandoned: [Endpoint: [String]] = [:]
            for channel in Set(channels) {
                guard var handlers = state.handlers[channel], handlers.removeValue(forKey: id) != nil else { continue }
                if handlers.isEmpty {
                    state.handlers[channel] = nil
                    if let endpoint = state.placement.removeValue(forKey: channel) { abandoned[endpoint, default: []].append(channel) }
                } else {
                    state.handlers[channel] = handlers
                }
            }
            for (endpoint, names) in abandoned {
                Self.unsubscribe(names, on: state.shards[endpoint]?.currentConnection)
            }
        }
    }

    /// `SUNSUBSCRIBE` one per channel (channels of several slots cannot share one), without
    /// waiting: the confirmations come back as pushes, which ``dispatch(_:from:)`` ignores.
    private static func unsubscribe(_ names: [String], on connection: RedisConnection?) {
        guard let connection else { return }
        for name in names {
            let command = RedisCommand("SUNSUBSCRIBE", [.string(name)], replyCount: 0)
            _ = connection.enqueue(command.encoded, replyCount: 0, command: command.name)
        }
    }
}
