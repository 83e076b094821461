import NIOCore

/// Commands written to a connection, with the promise their replies complete.
struct RedisRequest: Sendable {
    /// One or more encoded commands, written with a single write.
    var bytes: ByteBuffer
    /// How many replies complete the request. With more than one, the promise gets `.array(replies)`.
    var replyCount: Int
    /// For errors: the first command's name.
    var command: String
    var promise: EventLoopPromise<RESPValue>
}

/// Matches replies to requests in order (pipelining), enforces the command timeout, and in
/// pub/sub mode routes `message`/`pmessage` pushes to a handler instead.
///
/// Anything that breaks the request/reply pairing (an unparseable reply, a reply nobody
/// asked for, a timeout) fails every request in flight and closes this connection.
final class RedisCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        var request: RedisRequest
        var deadline: NIODeadline
    }

    private var pending = CircularBuffer<Pending>(initialCapacity: 64)
    /// Replies received so far for the head of `pending` when it expects more than one.
    /// Kept here, not in `Pending`, so appending never copies: an array inside the
    /// circular buffer would be shared with the copy read out of it, and each append
    /// would reallocate and copy all the replies before it.
    private var collected: [RESPValue] = []
    private let commandTimeout: TimeAmount
    private let onPush: (@Sendable (RESPValue) -> Void)?
    private var timer: RepeatedTask?
    private var closedError: RedisError?

    /// - Parameters:
    ///   - commandTimeout: how long a reply may take before the connection is given up.
    ///   - onPush: set on pub/sub connections: receives the pushes (see ``isPush(_:)``).
    init(commandTimeout: TimeAmount, onPush: (@Sendable (RESPValue) -> Void)?) {
        self.commandTimeout = commandTimeout
        self.onPush = onPush
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let tick = TimeAmount.nanoseconds(max(min(commandTimeout.nanoseconds / 4, 250_000_000), 5_000_000))
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleRepeatedTask(initialDelay: tick, delay: tick) { _ in
            handler.value.checkTimeout(context: loopBound.value)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        failAll(RedisError(.connectionClosed, "the connection's handler was removed"))
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if let closedError {
            // Never sent: `.notConnected` (safe to retry), the reason underneath.
            let notSent = RedisError(.notConnected, "the connection had closed; the command was not sent", command: request.command, underlying: closedError)
            request.promise.fail(notSent)
            promise?.fail(notSent)
            return
        }
        guard request.replyCount > 0 else {
            // Its answers, if any, come as pushes (`SUNSUBSCRIBE` on a sharded pub/sub connection).
            request.promise.succeed(.null)
            context.write(wrapOutboundOut(request.bytes), promise: promise)
            return
        }
        pending.append(Pending(request: request, deadline: .now() + commandTimeout))
        context.write(wrapOutboundOut(request.bytes), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = unwrapInboundIn(data)
        if let onPush, Self.isPush(value) {
            onPush(value)
            return
        }
        guard let head = pending.first else {
            fail(context: context, RedisError(.protocolError, "the server sent a reply no command asked for"))
            return
        }
        let expected = head.request.replyCount
        if expected == 1 {
            pending.removeFirst()
            head.request.promise.succeed(value)
            return
        }
        if collected.isEmpty {
            collected.reserveCapacity(expected)
        }
        collected.append(value)
        if collected.count == expected {
            pending.removeFirst()
            let replies = collected
            collected = []
            head.request.promise.succeed(.array(replies))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let redisError = (error as? RedisError)
            ?? RedisError(.connectionClosed, "the connection failed", underlying: error)
        fail(context: context, redisError)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RedisError(.connectionClosed, "the connection closed"))
        context.fireChannelInactive()
    }

    private func checkTimeout(context: ChannelHandlerContext) {
        guard let head = pending.first, head.deadline < .now() else { return }
        fail(
            context: context,
            RedisError(.timeout, "no reply within the command timeout", command: head.request.command)
        )
    }

    private func fail(context: ChannelHandlerContext, _ error: RedisError) {
        failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: RedisError) {
        if closedError == nil { closedError = error }
        collected = []
        while let entry = pending.popFirst() {
            var error = error
            if error.command == nil { error.command = entry.request.command }
            entry.request.promise.fail(error)
        }
    }

    /// `["message", channel, payload]`, `["pmessage", pattern, channel, payload]`, and for
    /// sharded pub/sub `["smessage", channel, payload]` and `["sunsubscribe", channel, count]`
    /// (which the server also sends by itself when the channel's slot moves: never a reply,
    /// since a sharded subscriber sends `SUNSUBSCRIBE` without waiting for one).
    private static func isPush(_ value: RESPValue) -> Bool {
        guard case .array(let elements) = value, let kind = elements.first,
              case .bulkString(let word) = kind else { return false }
        let bytes = word.readableBytesView
        switch elements.count {
        case 3: return bytes.elementsEqual("message".utf8) || bytes.elementsEqual("smessage".utf8) || bytes.elementsEqual("sunsubscribe".utf8)
        case 4: return bytes.elementsEqual("pmessage".utf8)
        default: return false
        }
    }
}

@available(*, unavailable)
extension RedisCommandHandler: Sendable {}
