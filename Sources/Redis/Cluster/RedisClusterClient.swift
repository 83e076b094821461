import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A client of a Redis Cluster: commands go to the master of their key's hash slot, over one
/// pipelined connection per node (a ``RedisClient`` each, which reconnects by itself).
///
/// It learns the slot map with `CLUSTER SLOTS` from the seed nodes (then from the nodes it
/// knows), follows `MOVED` (and reads the map again) and `ASK`, and retries what the cluster
/// refuses for the moment (`TRYAGAIN`, `CLUSTERDOWN`, a master that is down during a failover)
/// until ``retryFor`` has passed. The map is also read again every ``refreshInterval``.
/// A command in flight when its node's connection closes fails with `.connectionClosed`, as
/// with one Redis: it may have run, so it is never sent again.
/// Run ``run()`` for as long as the client is used (it is a service).
///
/// ```swift
/// let cluster = RedisClusterClient(seeds: ["127.0.0.1:7000"], configuration: RedisConfiguration())
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { await cluster.run() }
///     try await cluster.send(RedisCommand("SET", ["user:{42}:name", "Ada"]), key: "user:{42}:name")
///     group.cancelAll()
/// }
/// ```
public final class RedisClusterClient: Sendable {
    public typealias Endpoint = RedisClusterTopology.Endpoint

    /// Credentials, TLS and timeouts for every node (its host and port are each node's).
    public let configuration: RedisConfiguration
    /// Where the slot map is first asked for.
    public let seeds: [Endpoint]
    /// How long a command refused for the moment is retried.
    public let retryFor: Duration
    /// How often the slot map is read again without being asked to.
    public let refreshInterval: Duration

    let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let state = Mutex(State())
    /// Node clients to run, handed from whoever makes one to ``run()``.
    private let started: (stream: AsyncStream<RedisClient>, continuation: AsyncStream<RedisClient>.Continuation)

    private struct State {
        var topology: RedisClusterTopology?
        var clients: [Endpoint: RedisClient] = [:]
        /// The read of the slot map under way, which other callers wait for.
        var refresh: Task<RedisClusterTopology, any Error>?
        /// Whether the last read of the slot map succeeded (nil before the first).
        var lastReadSucceeded: Bool?
        var listeners: [UInt64: AsyncStream<RedisConnectionEvent>.Continuation] = [:]
        var nextListener: UInt64 = 0
        /// Set when ``run()`` ends: a node client made later is shut down at once.
        var stopped = false
    }

    /// - Parameters:
    ///   - seeds: `host:port` of one or more nodes of the cluster.
    ///   - configuration: credentials, TLS and timeouts, used for every node; its host and
    ///     port are not used.
    /// - Throws: ``RedisError`` `.invalidURL` when a seed is not `host:port`.
    public init(
        seeds: [String],
        configuration: RedisConfiguration,
        retryFor: Duration = .seconds(10),
        refreshInterval: Duration = .seconds(10),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "redis.cluster")
    ) throws {
        var endpoints: [Endpoint] = []
        for seed in seeds {
            guard let endpoint = Endpoint(seed) else { throw RedisError(.invalidURL, "not host:port: \(seed)") }
            endpoints.append(endpoint)
        }
        guard !endpoints.isEmpty else { throw RedisError(.invalidURL, "no seed node") }
        self.seeds = endpoints
        self.configuration = configuration
        self.retryFor = retryFor
        self.refreshInterval = refreshInterval
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.started = AsyncStream.makeStream(of: RedisClient.self)
    }

    /// Runs the node clients and reads the slot map every ``refreshInterval``, until the
    /// calling task is cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask {
                while !Task.isCancelled {
                    _ = try? await self.refreshTopology()
                    try? await Task.sleep(for: self.refreshInterval)
                }
            }
            for await client in started.stream {
                group.addTask { await client.run() }
            }
            group.cancelAll()
            // A client made from now on (or handed over but not started) is never run: shut
            // them all down, so that nothing waits for a connection that will not come.
            let clients = state.withLock { state in
                state.stopped = true
                return Array(state.clients.values)
            }
            for client in clients { client.shutdown() }
        }
    }

    /// The slot map as last read; nil before the first read.
    public var topology: RedisClusterTopology? { state.withLock { $0.topology } }

    /// The client of the node at `endpoint` (made on first use, run by ``run()``): for what is
    /// not routed by key, such as one node's pub/sub or `SCAN`.
    public func client(for endpoint: Endpoint) -> RedisClient {
        let (client, isNew, stopped) = state.withLock { state -> (RedisClient, Bool, Bool) in
            if let client = state.clients[endpoint] { return (client, false, state.stopped) }
            let client = RedisClient(
                configuration: configuration(for: endpoint), eventLoopGroup: eventLoopGroup, logger: logger(for: endpoint, logger)
            )
            state.clients[endpoint] = client
            return (client, true, state.stopped)
        }
        if stopped {
            client.shutdown()
        } else if isNew {
            started.continuation.yield(client)
        }
        return client
    }

    /// ``configuration`` pointed at the node at `endpoint`.
    func configuration(for endpoint: Endpoint) -> RedisConfiguration {
        var configuration = self.configuration
        configuration.host = endpoint.host
        configuration.port = endpoint.port
        return configuration
    }

    /// `logger` naming the node at `endpoint`.
    func logger(for endpoint: Endpoint, _ logger: Logger) -> Logger {
        var logger = logger
        logger[metadataKey: "redis"] = "\(endpoint)"
        return logger
    }

    // MARK: Slot map

    /// Reads the slot map again, from the first node that answers (masters known, then
    /// replicas, then seeds); callers meanwhile wait for the same read.
    @discardableResult
    public func refreshTopology() async throws -> RedisClusterTopology {
        let task = state.withLock { state -> Task<RedisClusterTopology, any Error> in
            if let running = state.refresh { return running }
            let candidates = (state.topology?.endpoints ?? []) + seeds
            let task = Task { try await self.readTopology(from: candidates) }
            state.refresh = task
            return task
        }
        do {
            let topology = try await task.value
            let (event, listeners) = state.withLock { state in
                state.topology = topology
                state.refresh = nil
                defer { state.lastReadSucceeded = true }
                let event: RedisConnectionEvent? = switch state.lastReadSucceeded {
                case nil: .connected
                case false?: .reconnected
                case true?: nil
                }
                return (event, Array(state.listeners.values))
            }
            if let event { for listener in listeners { listener.yield(event) } }
            return topology
        } catch {
            let redisError = error as? RedisError ?? RedisError(.connectFailed, "reading the slot map failed", underlying: error)
            let (wasUp, listeners) = state.withLock { state in
                state.refresh = nil
                defer { if state.lastReadSucceeded == true { state.lastReadSucceeded = false } }
                return (state.lastReadSucceeded == true, Array(state.listeners.values))
            }
            if wasUp { for listener in listeners { listener.yield(.disconnected(redisError)) } }
            throw error
        }
    }

    /// The cluster's events: ``RedisConnectionEvent/connected`` once the slot map was first
    /// read, ``RedisConnectionEvent/disconnected(_:)`` when no node gave it, then
    /// ``RedisConnectionEvent/reconnected`` when one does again. (One master down while the
    /// others answer is not a disconnection: its slots are retried until its replica takes over.)
    public func events() -> AsyncStream<RedisConnectionEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: RedisConnectionEvent.self, bufferingPolicy: .bufferingNewest(64))
        state.withLock { state in
            let id = state.nextListener
            state.nextListener += 1
            state.listeners[id] = continuation
            if state.lastReadSucceeded != nil { continuation.yield(.connected) }
            if state.lastReadSucceeded == false { continuation.yield(.disconnected(RedisError(.connectFailed, "no cluster node gave the slot map"))) }
            continuation.onTermination = { [weak self] _ in self?.state.withLock { _ = $0.listeners.removeValue(forKey: id) } }
        }
        return stream
    }

    /// Runs `script` with `keys` (all in one slot) and `arguments` on the master of their
    /// slot: `EVALSHA`, and `EVAL` with `SCRIPT LOAD` on a node that does not know it yet.
    @discardableResult
    public func evaluate(_ script: RedisScript, keys: [String], arguments: [RedisArgument] = []) async throws -> RESPValue {
        let slot = keys.first.map(RedisClusterSlot.of) ?? 0
        let keyArguments = [.int(keys.count)] + keys.map { RedisArgument.string($0) } + arguments
        if let sha = script.loadedSHA {
            do {
                return try await send(RedisCommand("EVALSHA", [.string(sha)] + keyArguments), slot: slot)
            } catch let error as RedisError where error.code == .serverError && error.message.hasPrefix("NOSCRIPT") {}
        }
        let replies = try await pipeline([
            RedisCommand("EVAL", [.string(script.source)] + keyArguments), RedisCommand("SCRIPT", ["LOAD", .string(script.source)]),
        ], slot: slot)
        if let sha = replies[1].string { script.remember(sha) }
        if let message = replies[0].errorMessage { throw RedisError(.serverError, message, command: "EVAL") }
        return replies[0]
    }

    private func readTopology(from candidates: [Endpoint]) async throws -> RedisClusterTopology {
        var seen = Set<Endpoint>()
        var lastError: (any Error)?
        for endpoint in candidates where seen.insert(endpoint).inserted {
            do {
                let reply = try await client(for: endpoint).send(RedisCommand("CLUSTER", ["SLOTS"]))
                let topology = try RedisClusterTopology(slotsReply: reply, queried: endpoint)
                // A node that has lost its cluster (or is not in one) lists no slot: ask another.
                guard !topology.shards.isEmpty else { continue }
                return topology
            } catch {
                lastError = error
            }
        }
        throw RedisError(.connectFailed, "no cluster node gave the slot map", underlying: lastError)
    }

    /// The master of `slot`, reading the slot map first when it is not known.
    func master(ofSlot slot: Int) async throws -> Endpoint {
        if let master = topology?.master(ofSlot: slot) { return master }
        if let master = try await refreshTopology().master(ofSlot: slot) { return master }
        throw RedisError(.serverError, "CLUSTERDOWN no master serves slot \(slot)")
    }

    /// Reads the slot map again without waiting for it (after a `MOVED`).
    private func refreshSoon() {
        Task { _ = try? await self.refreshTopology() }
    }

    // MARK: Commands

    /// Sends `command` to the master of `key`'s slot.
    @discardableResult
    public func send(_ command: RedisCommand, key: String) async throws -> RESPValue {
        try await send(command, slot: RedisClusterSlot.of(key))
    }

    /// Sends `command` to the master of `slot`. Error replies throw ``RedisError`` `.serverError`.
    @discardableResult
    public func send(_ command: RedisCommand, slot: Int) async throws -> RESPValue {
        let reply = try await pipeline([command], slot: slot)[0]
        if let message = reply.errorMessage { throw RedisError(.serverError, message, command: command.name) }
        return reply
    }

    /// Sends `commands`, whose keys are all in `slot`, in one write; replies in order, error
    /// replies as `.error` values. During a slot's migration, each command goes where its key
    /// is: those the old master ran are not sent again.
    public func pipeline(_ commands: [RedisCommand], slot: Int) async throws -> [RESPValue] {
        guard !commands.isEmpty else { return [] }
        var routing = RedisClusterRouting(startedAt: .now, retryFor: retryFor)
        var results = [RESPValue?](repeating: nil, count: commands.count)
        var pending = Array(commands.indices)
        var target = try await master(ofSlot: slot)
        var asking = false
        while true {
            let batch = pending.flatMap { asking ? [RedisCommand("ASKING"), commands[$0]] : [commands[$0]] }
            let replies: [RESPValue]
            do {
                replies = try await client(for: target).pipeline(batch)
            } catch let error as RedisError {
                if case .retryAfter(let pause) = try routing.failed(error, at: .now) {
                    try await Task.sleep(for: pause)
                    _ = try? await refreshTopology()
                }
                (target, asking) = (try await master(ofSlot: slot), false)
                continue
            }
            let answers = asking ? stride(from: 1, to: replies.count, by: 2).map { replies[$0] } : replies
            var redirect: RedisClusterRedirect?
            var stillPending: [Int] = []
            for (index, answer) in zip(pending, answers) {
                if let found = answer.errorMessage.flatMap(RedisClusterRedirect.init(errorMessage:)) {
                    redirect = redirect ?? found
                    stillPending.append(index)
                } else {
                    results[index] = answer
                }
            }
            guard let redirect else { return results.map { $0 ?? .null } }
            pending = stillPending
            (target, asking) = try await follow(redirect, routing: &routing, slot: slot)
        }
    }

    /// Runs `commands`, whose keys are all in `slot`, atomically (`MULTI` … `EXEC`) on its master.
    /// - Returns: one reply per command (error replies as `.error` values).
    /// - Throws: `.serverError` when the transaction was refused for another reason than where
    ///   its slot is. During the slot's migration it is retried until the migration is over.
    public func transaction(_ commands: [RedisCommand], slot: Int) async throws -> [RESPValue] {
        guard !commands.isEmpty else { return [] }
        var routing = RedisClusterRouting(startedAt: .now, retryFor: retryFor)
        var target = try await master(ofSlot: slot)
        while true {
            do {
                return try await client(for: target).transaction(commands)
            } catch let error as RedisError where error.code == .serverError {
                // EXECABORT names its first queued command's error in parentheses.
                guard let redirect = Self.redirect(in: error.message) else { throw error }
                switch redirect {
                case .moved:
                    (target, _) = try await follow(redirect, routing: &routing, slot: slot)
                case .ask, .tryAgain, .clusterDown:
                    // The keys are split between two nodes for the moment: wait for the move.
                    _ = try routing.redirected(.tryAgain, at: .now)
                    try await Task.sleep(for: RedisClusterRouting.retryPause)
                    target = try await master(ofSlot: slot)
                }
            } catch let error as RedisError {
                if case .retryAfter(let pause) = try routing.failed(error, at: .now) {
                    try await Task.sleep(for: pause)
                    _ = try? await refreshTopology()
                }
                target = try await master(ofSlot: slot)
            }
        }
    }

    /// Where to send next after `redirect`: follows `MOVED` (and notes it), `ASK`, or waits.
    private func follow(_ redirect: RedisClusterRedirect, routing: inout RedisClusterRouting, slot: Int) async throws -> (Endpoint, Bool) {
        if case .moved = redirect { refreshSoon() }
        switch try routing.redirected(redirect, at: .now) {
        case .send(let endpoint, let asking):
            return (endpoint, asking)
        case .retryAfter(let pause):
            try await Task.sleep(for: pause)
            _ = try? await refreshTopology()
            return (try await master(ofSlot: slot), false)
        }
    }

    /// The redirection an error message carries, at its start or (EXECABORT) in parentheses.
    static func redirect(in message: String) -> RedisClusterRedirect? {
        if let redirect = RedisClusterRedirect(errorMessage: message) { return redirect }
        guard let open = message.firstIndex(of: "("), let close = message.lastIndex(of: ")"), open < close else { return nil }
        return RedisClusterRedirect(errorMessage: String(message[message.index(after: open)..<close]))
    }
}
