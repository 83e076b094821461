import Logging
import NIOCore
import Synchronization

/// Keeps one ``RedisConnection`` alive: connects, runs the owner's restore step, waits for
/// the connection to close, backs off and reconnects, until its `run()` task is cancelled.
///
/// While a connection attempt is under way, callers of ``connection()`` wait for it (or until
/// their task is cancelled); while backing off, they fail fast with `.notConnected`. After
/// ``shutdown()``, or once `run()` has returned, they fail with `.shutdown`.
final class ConnectionKeeper: Sendable {
    typealias Restore = @Sendable (RedisConnection, ReconnectStateMachine<SystemRandomNumberGenerator>.Established) async throws -> Void

    private struct Shared: ~Copyable {
        var machine: ReconnectStateMachine<SystemRandomNumberGenerator>
        var connection: RedisConnection?
        var lastError: RedisError?
        var waiters: [UInt64: CheckedContinuation<RedisConnection, any Error>] = [:]
        var nextWaiter: UInt64 = 0
        var listeners: [UInt64: AsyncStream<RedisConnectionEvent>.Continuation] = [:]
        var nextListener: UInt64 = 0

        /// The connection, or the error to fail with at once; `nil` when a caller must wait
        /// for the attempt under way (or for `run()` to start one).
        func settledConnection() -> Result<RedisConnection, RedisError>? {
            switch machine.state {
            case .connected:
                return connection.map { .success($0) }
            case .connecting, .idle:
                return nil
            case .backingOff:
                return .failure(RedisError(.notConnected, "not connected to Redis (reconnecting)", underlying: lastError))
            case .shutdown:
                return .failure(RedisError(.shutdown, "the Redis client has shut down"))
            }
        }
    }

    private let shared: Mutex<Shared>
    private let configuration: RedisConfiguration
    private let onPush: (@Sendable (RESPValue) -> Void)?
    private let restore: Restore?
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger

    init(
        configuration: RedisConfiguration,
        onPush: (@Sendable (RESPValue) -> Void)?,
        restore: Restore?,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger
    ) {
        self.configuration = configuration
        self.onPush = onPush
        self.restore = restore
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        let machine = ReconnectStateMachine(
            base: configuration.reconnectBase,
            cap: configuration.reconnectCap,
            random: SystemRandomNumberGenerator()
        )
        self.shared = Mutex(Shared(machine: machine))
    }

    /// The current connection, or the one being made.
    func connection() async throws -> RedisConnection {
        // Fast path without a continuation: connected, or failing fast.
        if let result = shared.withLock({ $0.settledConnection() }) {
            return try result.get()
        }
        let id = shared.withLock { shared in
            defer { shared.nextWaiter += 1 }
            return shared.nextWaiter
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let result: Result<RedisConnection, any Error>? = shared.withLock { shared in
                    if let result = shared.settledConnection() { return result.mapError { $0 } }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    shared.waiters[id] = continuation
                    return nil
                }
                if let result { continuation.resume(with: result) }
            }
        } onCancel: {
            shared.withLock { $0.waiters.removeValue(forKey: id) }?.resume(throwing: CancellationError())
        }
    }

    /// Shuts down now, whether or not `run()` is running (it then returns soon) or will ever
    /// run (it then returns at once): waiters fail with `.shutdown`, event streams end, and the
    /// connection is closed.
    func shutdown() {
        let (connection, waiters, listeners) = takeForShutdown()
        for waiter in waiters { waiter.resume(throwing: RedisError(.shutdown, "the Redis client has shut down")) }
        connection?.channel.close(promise: nil)
        for listener in listeners { listener.finish() }
    }

    private func takeForShutdown() -> (RedisConnection?, [CheckedContinuation<RedisConnection, any Error>], [AsyncStream<RedisConnectionEvent>.Continuation]) {
        shared.withLock { shared in
            shared.machine.shutdown()
            defer {
                shared.connection = nil
                shared.waiters = [:]
                shared.listeners = [:]
            }
            return (shared.connection, Array(shared.waiters.values), Array(shared.listeners.values))
        }
    }

    /// The connection if one is established now (never waits).
    var currentConnection: RedisConnection? {
        shared.withLock { $0.machine.state == .connected ? $0.connection : nil }
    }

    /// A new stream of connection events, ended when the keeper shuts down.
    func events() -> AsyncStream<RedisConnectionEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: RedisConnectionEvent.self, bufferingPolicy: .bufferingNewest(64))
        let alreadyShutdown = shared.withLock { shared -> Bool in
            if shared.machine.state == .shutdown { return true }
            let id = shared.nextListener
            shared.nextListener += 1
            shared.listeners[id] = continuation
            continuation.onTermination = { [weak self] _ in
                self?.shared.withLock { _ = $0.listeners.removeValue(forKey: id) }
            }
            return false
        }
        if alreadyShutdown { continuation.finish() }
        return stream
    }

    /// Connects and reconnects until the calling task is cancelled; then closes the connection.
    func run() async {
        var failures = 0
        while !Task.isCancelled {
            guard shared.withLock({ $0.machine.startConnecting() }) else { break }
            let delay: Duration
            do {
                let connection = try await RedisConnection.connect(
                    configuration: configuration, onPush: onPush, eventLoopGroup: eventLoopGroup
                )
                do {
                    let upcoming = shared.withLock { $0.machine.nextEstablished }
                    try await restore?(connection, upcoming)
                } catch {
                    await connection.close()
                    throw error
                }
                let settled = shared.withLock { shared -> (ReconnectStateMachine<SystemRandomNumberGenerator>.Established, [CheckedContinuation<RedisConnection, any Error>])? in
                    // Shut down while connecting: this connection is not kept.
                    guard shared.machine.state != .shutdown else { return nil }
                    shared.connection = connection
                    shared.lastError = nil
                    defer { shared.waiters = [:] }
                    return (shared.machine.connected(), Array(shared.waiters.values))
                }
                guard let (established, waiters) = settled else {
                    await connection.close()
                    break
                }
                for waiter in waiters { waiter.resume(returning: connection) }
                failures = 0
                logger.info("redis connected", metadata: ["redis": "\(connection.description)", "reconnect": "\(established == .reconnect)"])
                emit(established == .first ? .connected : .reconnected)

                await withTaskCancellationHandler {
                    await watch(connection)
                } onCancel: {
                    connection.channel.close(promise: nil)
                }
                if Task.isCancelled { break }
                let lost = RedisError(.connectionClosed, "the connection to \(connection.description) was lost")
                let next = shared.withLock { shared -> Duration? in
                    guard shared.machine.state != .shutdown else { return nil }
                    shared.connection = nil
                    shared.lastError = lost
                    return shared.machine.connectionLost()
                }
                guard let next else { break }
                delay = next
                logger.warning("redis connection lost", metadata: ["redis": "\(connection.description)"])
                emit(.disconnected(lost))
            } catch {
                let redisError = (error as? RedisError) ?? RedisError(.connectFailed, "connecting failed", underlying: error)
                let (next, waiters) = shared.withLock { shared in
                    shared.lastError = redisError
                    defer { shared.waiters = [:] }
                    return (shared.machine.connectFailed(), Array(shared.waiters.values))
                }
                for waiter in waiters { waiter.resume(throwing: redisError) }
                // One warning per outage, then one every 20 attempts; the rest at debug level.
                failures += 1
                logger.log(
                    level: failures == 1 || failures % 20 == 0 ? .warning : .debug,
                    "redis connect failed",
                    metadata: ["error": "\(String(reflecting: redisError))", "attempt": "\(failures)", "retry_in": "\(next)"]
                )
                delay = next
            }
            do {
                try await Task.sleep(for: delay)
            } catch {
                break
            }
        }
        let (connection, waiters, listeners) = takeForShutdown()
        for waiter in waiters { waiter.resume(throwing: RedisError(.shutdown, "the Redis client has shut down")) }
        await connection?.close()
        for listener in listeners { listener.finish() }
    }

    /// Returns when `connection` has closed; meanwhile PINGs it every `healthCheckInterval`
    /// (an unanswered PING times out, which closes the connection).
    private func watch(_ connection: RedisConnection) async {
        guard let interval = configuration.healthCheckInterval else {
            _ = try? await connection.closeFuture.get()
            return
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { _ = try? await connection.closeFuture.get() }
            group.addTask {
                while (try? await Task.sleep(for: interval)) != nil {
                    _ = try? await connection.send(RedisCommand("PING"))
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    private func emit(_ event: RedisConnectionEvent) {
        let listeners = shared.withLock { Array($0.listeners.values) }
        for listener in listeners { listener.yield(event) }
    }
}
