import Logging
import NIOCore
import NIOPosix

/// A Redis client for commands: one multiplexed, pipelined connection that reconnects by
/// itself. Run ``run()`` for as long as the client is used (it is a service).
///
/// ```swift
/// let client = RedisClient(configuration: try RedisConfiguration(url: "redis://127.0.0.1:6379"))
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { await client.run() }
///     _ = try await client.send(RedisCommand("PING"))
///     group.cancelAll()
/// }
/// ```
public final class RedisClient: Sendable {
    private let keeper: ConnectionKeeper
    public let configuration: RedisConfiguration
    /// The event loop every connection of this client lives on, across reconnections.
    public let eventLoop: any EventLoop
    /// Runs tasks on ``eventLoop``: a task that prefers it sends and receives without
    /// changing threads (see ``EventLoopTaskExecutor``).
    public let taskExecutor: EventLoopTaskExecutor

    public init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "redis")
    ) {
        let eventLoop = eventLoopGroup.next()
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.taskExecutor = EventLoopTaskExecutor(eventLoop)
        self.keeper = ConnectionKeeper(
            configuration: configuration, onPush: nil, restore: nil,
            eventLoopGroup: eventLoop, logger: logger
        )
    }

    /// Keeps the connection up until the calling task is cancelled.
    public func run() async {
        await keeper.run()
    }

    /// Shuts the client down now, whether or not ``run()`` runs: commands fail with
    /// `.shutdown`, and ``run()`` returns (at once if it starts later).
    public func shutdown() {
        keeper.shutdown()
    }

    /// Whether a connection is established and open right now.
    public var isConnected: Bool { keeper.currentConnection?.isActive ?? false }

    /// Connection events: connected, disconnected, reconnected.
    public func events() -> AsyncStream<RedisConnectionEvent> {
        keeper.events()
    }

    /// Sends one command. Error replies throw ``RedisError`` `.serverError`.
    /// While reconnecting this fails fast with `.notConnected`.
    @discardableResult
    public func send(_ command: RedisCommand) async throws -> RESPValue {
        try await keeper.connection().send(command)
    }

    /// Sends one command built from its words.
    @discardableResult
    public func send(_ name: String, _ arguments: RedisArgument...) async throws -> RESPValue {
        try await send(RedisCommand(name, arguments))
    }

    /// Sends `commands` in one write; replies in order, error replies as `.error` values.
    public func pipeline(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        try await keeper.connection().pipeline(commands)
    }

    /// Runs `commands` atomically (`MULTI` … `EXEC`).
    /// - Returns: one reply per command (error replies as `.error` values).
    /// - Throws: `.serverError` when the transaction was refused (`EXECABORT`, e.g. a syntax error).
    public func transaction(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        guard !commands.isEmpty else { return [] }
        let replies = try await pipeline([RedisCommand("MULTI")] + commands + [RedisCommand("EXEC")])
        guard let exec = replies.last else {
            throw RedisError(.protocolError, "no reply to EXEC", command: "EXEC")
        }
        switch exec {
        case .array(let results) where results.count == commands.count:
            return results
        case .error(let message):
            // The first queued command's error explains an EXECABORT best.
            let cause = replies.dropFirst().dropLast().lazy.compactMap(\.errorMessage).first
            throw RedisError(.serverError, cause.map { "\(message) (\($0))" } ?? message, command: "EXEC")
        case .null:
            throw RedisError(.serverError, "transaction aborted (a watched key changed)", command: "EXEC")
        default:
            throw RedisError(.protocolError, "unexpected EXEC reply", command: "EXEC")
        }
    }
}
