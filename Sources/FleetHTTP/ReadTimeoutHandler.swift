import NIOCore
import NIOHTTP1

/// Closes an HTTP/1 connection that does not finish a request within the read timeout, or
/// idles that long between requests (slowloris, abandoned keep-alive connections): see
/// ``ReadTimeoutStateMachine``. It sits right after the HTTP request decoder, so that it
/// sees request parts coming in and response parts going out, and steps aside at a request
/// that the WebSocket upgrader takes over (see ``HTTPUpgrade``).
final class ReadTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var machine: ReadTimeoutStateMachine<ContinuousClock.Instant>
    private var timer: Scheduled<Void>?
    /// When `timer` fires.
    private var timerFiresAt: ContinuousClock.Instant?
    /// Only a connection's first request can be an upgrade.
    private var isFirstRequest = true

    init(timeout: Duration) {
        machine = ReadTimeoutStateMachine(timeout: timeout)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { perform(machine.connected(now: .now), context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        perform(machine.connected(now: .now), context: context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch part {
        case .head(let head) where isFirstRequest && HTTPUpgrade.isAttempt(head):
            // The upgrader takes over: the connection becomes a WebSocket (with pings and
            // timeouts of its own) or is refused and closed; it never carries another HTTP
            // request. Step aside now: once the upgrader removes the request decoder, the
            // bytes that follow come through raw, and must not reach this typed handler.
            context.fireChannelRead(data)
            perform(.disarm, context: context)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        case .head:
            perform(machine.requestHead(now: .now), context: context)
        case .end:
            perform(machine.requestEnd(now: .now), context: context)
        case .body:
            break
        }
        isFirstRequest = false
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            context.write(data, promise: promise)
            perform(machine.responseEnd(now: .now), context: context)
            return
        }
        context.write(data, promise: promise)
    }

    private func perform(_ action: ReadTimeoutStateMachine<ContinuousClock.Instant>.Action, context: ChannelHandlerContext) {
        switch action {
        case .arm(let deadline):
            // One timer at a time, moved lazily: a timer that fires before the new deadline
            // stays, and re-arms for what is left when it fires (the machine says so). On a
            // keep-alive connection that answers requests quickly, nothing is scheduled or
            // cancelled per request.
            if timer != nil, let firesAt = timerFiresAt, firesAt <= deadline { return }
            timer?.cancel()
            timerFiresAt = deadline
            timer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(deadline - .now)) { [self] in
                timer = nil
                timerFiresAt = nil
                perform(machine.timerFired(now: .now), context: context)
            }
        case .disarm:
            // Lazily too: a timer left finds no deadline when it fires, and does nothing.
            break
        case .close:
            timer = nil
            context.close(promise: nil)
        case .none:
            break
        }
    }
}

@available(*, unavailable)
extension ReadTimeoutHandler: Sendable {}
