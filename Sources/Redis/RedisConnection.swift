import Logging
import NIOCore
import NIOPosix
import Synchronization

/// One TCP connection to Redis: many commands in flight, replies matched in order.
///
/// It does not reconnect; ``RedisClient`` and ``RedisSubscriber`` own connections and
/// replace them. Safe to use from any task.
public final class RedisConnection: Sendable {
    let channel: any Channel
    /// The connection's name in logs.
    public let description: String
    /// Requests waiting for the loop to write them, in the order of calls.
    private let outbox = Mutex(Outbox())

    private struct Outbox {
        var requests: [RedisRequest] = []
        var drainScheduled = false
    }

    private init(channel: any Channel, description: String) {
        self.channel = channel
        self.description = description
    }

    /// Connects, then authenticates, selects the database and names the client.
    ///
    /// - Parameters:
    ///   - configuration: where to connect and with which credentials and timeouts.
    ///   - onPush: for a pub/sub connection, receives every `message`/`pmessage` array on the
    ///     connection's event loop; it must not block. `nil` for a command connection.
    ///   - eventLoopGroup: where the connection's I/O runs.
    /// - Throws: ``RedisError`` `.connectFailed`, `.timeout` or `.authenticationFailed`.
    ///   No channel is left open when this throws.
    public static func connect(
        configuration: RedisConfiguration,
        onPush: (@Sendable (RESPValue) -> Void)? = nil,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> RedisConnection {
        let commandTimeout = TimeAmount(configuration.commandTimeout)
        let tls = try configuration.tls.map { settings in (settings, try settings.makeContext()) }
        let host = configuration.host
        let bootstrap = ClientBootstrap(group: eventLoopGroup)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let (settings, context) = tls {
                        try channel.pipeline.syncOperations.addHandler(try settings.makeHandler(context: context, host: host))
                    }
                    try channel.pipeline.syncOperations.addHandler(RESPDecodingHandler())
                    try channel.pipeline.syncOperations.addHandler(
                        RedisCommandHandler(commandTimeout: commandTimeout, onPush: onPush)
                    )
                }
            }
        let endpoint = "\(configuration.host):\(configuration.port)"
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: configuration.host, port: configuration.port).get()
        } catch let error as ChannelError where error == .connectTimeout(TimeAmount(configuration.connectTimeout)) {
            throw RedisError(.timeout, "connecting to \(endpoint) timed out", underlying: error)
        } catch {
            throw RedisError(.connectFailed, "could not connect to \(endpoint)", underlying: error)
        }
        let connection = RedisConnection(channel: channel, description: "redis \(endpoint)")
        do {
            try await connection.handshake(configuration)
        } catch {
            try? await channel.close()
            throw error
        }
        return connection
    }

    private func handshake(_ configuration: RedisConfiguration) async throws {
        var commands: [RedisCommand] = []
        if let password = configuration.password {
            if let username = configuration.username {
                commands.append(RedisCommand("AUTH", [.string(username), .string(password)]))
            } else {
                commands.append(RedisCommand("AUTH", [.string(password)]))
            }
        }
        if configuration.database != 0 {
            commands.append(RedisCommand("SELECT", [.int(configuration.database)]))
        }
        if let name = configuration.clientName {
            commands.append(RedisCommand("CLIENT", ["SETNAME", .string(name)]))
        }
        guard !commands.isEmpty else { return }
        let replies = try await pipeline(commands)
        for (command, reply) in zip(commands, replies) {
            guard let message = reply.errorMessage else { continue }
            if command.name == "AUTH" {
                throw RedisError(.authenticationFailed, message, command: "AUTH")
            }
            throw RedisError(.serverError, message, command: command.name)
        }
    }

    /// Whether the connection is open.
    public var isActive: Bool { channel.isActive }

    /// Completes when the connection has closed, for whatever reason.
    public var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    /// Sends one command and waits for its reply.
    /// - Throws: ``RedisError`` `.serverError` for an error reply (with the server's message),
    ///   `.timeout`, `.connectionClosed` or `.protocolError`.
    public func send(_ command: RedisCommand) async throws -> RESPValue {
        let reply = try await enqueue(command.encoded, replyCount: command.replyCount, command: command.name).get()
        if case .error(let message) = reply {
            throw RedisError(.serverError, message, command: command.name)
        }
        return reply
    }

    /// Sends `commands` in one write and returns their replies in order. Error replies are
    /// returned as `.error` values, so one failing command does not hide the others.
    public func pipeline(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        guard let first = commands.first else { return [] }
        if commands.count == 1 {
            return [try await enqueue(first.encoded, replyCount: first.replyCount, command: first.name).get()]
        }
        var bytes = channel.allocator.buffer(capacity: commands.reduce(0) { $0 + $1.encoded.readableBytes })
        var replyCount = 0
        for command in commands {
            var encoded = command.encoded
            bytes.writeBuffer(&encoded)
            replyCount += command.replyCount
        }
        let reply = try await enqueue(bytes, replyCount: replyCount, command: first.name).get()
        guard case .array(let flat) = reply, flat.count == replyCount else {
            throw RedisError(.protocolError, "pipeline reply count mismatch", command: first.name)
        }
        if replyCount == commands.count { return flat }
        // Group multi-reply commands (SUBSCRIBE a b) back into one value each.
        var grouped: [RESPValue] = []
        grouped.reserveCapacity(commands.count)
        var index = 0
        for command in commands {
            let count = command.replyCount
            grouped.append(count == 1 ? flat[index] : .array(Array(flat[index..<index + count])))
            index += count
        }
        return grouped
    }

    /// Writes bytes holding `replyCount` replies' worth of commands. Usable under a lock:
    /// it never blocks, and writes keep the order of calls.
    ///
    /// Requests are queued and written by one task on the connection's event loop, all those
    /// queued by then in one flush: concurrent callers share a `write` system call and a
    /// loop wake-up instead of paying one each.
    func enqueue(_ bytes: ByteBuffer, replyCount: Int, command: String) -> EventLoopFuture<RESPValue> {
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        let request = RedisRequest(bytes: bytes, replyCount: replyCount, command: command, promise: promise)
        let scheduleDrain = outbox.withLock { outbox in
            outbox.requests.append(request)
            defer { outbox.drainScheduled = true }
            return !outbox.drainScheduled
        }
        if scheduleDrain {
            channel.eventLoop.execute { self.drainOutbox() }
        }
        return promise.futureResult
    }

    /// On the event loop: writes every queued request, then flushes once.
    private func drainOutbox() {
        let requests = outbox.withLock { outbox in
            defer {
                outbox.requests.removeAll(keepingCapacity: true)
                outbox.drainScheduled = false
            }
            return outbox.requests
        }
        for request in requests {
            // On the loop of an open channel the handler is in the pipeline and sees this
            // write now: it completes or fails the request itself. A closed channel has no
            // handler to do so.
            guard channel.isActive else {
                // Never sent: `.notConnected`, which a caller may safely retry (`.connectionClosed`
                // would say it may have run).
                request.promise.fail(RedisError(.notConnected, "the connection had closed; the command was not sent", command: request.command))
                continue
            }
            channel.write(request, promise: nil)
        }
        channel.flush()
    }

    /// Closes the connection; commands in flight fail with `.connectionClosed`.
    public func close() async {
        try? await channel.close()
    }
}
