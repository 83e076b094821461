import NIOCore
import NIOHTTP1

/// Closes an HTTP/1 connection that does not finish a request within the read timeout, or
/// idles that long between requests (slowloris, abandoned keep-alive connections): see
/// ``ReadTimeoutStateMachine``. It sits right after the HTTP request decoder, so that it
/// sees request parts coming in and response parts going out, and steps aside when the
/// connection upgrades to a WebSocket (which has pings and timeouts of its own).
final class ReadTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var machine: ReadTimeoutStateMachine<ContinuousClock.Instant>
    private var timer: Scheduled<Void>?
    private var upgraded = false

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
        guard !upgraded else {  // WebSocket bytes, until this handler is gone
            context.fireChannelRead(data)
            return
        }
        switch unwrapInboundIn(data) {
        case .head: perform(machine.requestHead(now: .now), context: context)
        case .end: perform(machine.requestEnd(now: .now), context: context)
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !upgraded else {
            context.write(data, promise: promise)
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status == .switchingProtocols:
            // The upgrade's answer: from here on the bytes are WebSocket frames. The handler
            // passes everything on until it leaves the pipeline, once the upgrader is done
            // rearranging it (leaving in the middle of the upgrader's write would lose it).
            upgraded = true
            perform(.disarm, context: context)
            context.write(data, promise: promise)
            context.eventLoop.assumeIsolated().execute {
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            }
            return
        case .end:
            context.write(data, promise: promise)
            perform(machine.responseEnd(now: .now), context: context)
            return
        case .head, .body:
            break
        }
        context.write(data, promise: promise)
    }

    private func perform(_ action: ReadTimeoutStateMachine<ContinuousClock.Instant>.Action, context: ChannelHandlerContext) {
        switch action {
        case .arm(let deadline):
            timer?.cancel()
            timer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(deadline - .now)) { [self] in
                timer = nil
                perform(machine.timerFired(now: .now), context: context)
            }
        case .disarm:
            timer?.cancel()
            timer = nil
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
