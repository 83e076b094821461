import BrokerCore
import FleetCore
import FleetHTTP
import NIOCore
import NIOHTTP1
import Observability
import Redis

/// What the event API needs to answer a request, shared by every connection of a gateway.
struct EventAPIResponder: Sendable {
    let gateway: GatewayService
    let runner: CallRunner

    /// Whether `head` is an event API request, and if so whether its caller is refused.
    /// The event API is `GET` or `POST` on `/` (any number of slashes, as Hummingbird's
    /// router reads it) in origin form; anything else is Hummingbird's.
    func route(_ head: HTTPRequestHead) -> EventAPIConnection.Route {
        guard head.method == .GET || head.method == .POST else { return .other }
        let (path, query) = Self.split(head.uri)
        guard !path.isEmpty, path.allSatisfy({ $0 == "/" }) else { return .other }
        return .eventAPI(refusal: gateway.refusal(query: query, authorization: head.headers.first(name: "authorization")))
    }

    /// Answers one authorized request: (HTTP status, JSON body, the events it ran, nil when
    /// it did not parse).
    func answer(_ head: HTTPRequestHead, body: ByteBuffer?) async -> (status: Int, json: String, events: [FleetEvent]?) {
        let (_, query) = Self.split(head.uri)
        return await gateway.answer(
            query: query, body: body.map { Array($0.readableBytesView) }, contentType: head.headers.first(name: "content-type"),
            runner: runner
        )
    }

    /// Counts and times an answered request with the labels the API metrics middleware gives:
    /// the events that ran, or when the request did not parse, what its `event` names.
    func meter(_ head: HTTPRequestHead, events: [FleetEvent]?, status: Int, since start: ContinuousClock.Instant) {
        let labels: [String]
        if let events {
            labels = events.map(\.rawValue)
        } else {
            let (_, query) = Self.split(head.uri)
            let event = query.split(separator: "&").first { $0.hasPrefix("event=") }
                .map { (try? FormDecoding.decode($0.dropFirst("event=".count))) ?? "" }
            labels = APIMetricsMiddleware.eventLabels(event)
        }
        gateway.meter.request(events: labels, api: "event", status: status, duration: .now - start)
    }

    /// The path and the query of a request target (without a fragment).
    static func split(_ uri: String) -> (path: Substring, query: Substring) {
        // By UTF-8 code unit: `?` and `#` are ASCII, and searching characters is slower.
        let bytes = uri.utf8
        let end = bytes.firstIndex(of: UInt8(ascii: "#")) ?? bytes.endIndex
        guard let mark = bytes[..<end].firstIndex(of: UInt8(ascii: "?")) else { return (uri[..<end], "") }
        return (uri[..<mark], uri[bytes.index(after: mark)..<end])
    }
}

/// Answers the event API on the connection's event loop, beside Hummingbird: see
/// ``EventAPIConnection`` for the rules. It sits after the read timeout handler, so that
/// the timeout sees every request and every response.
///
/// A request runs in one task on the connection's own event loop, where its answer is
/// written: the requests of a gateway's connections spread over its loops, and only the
/// broker's I/O (publishing the call, receiving the replies) happens on the broker's. No
/// task or stream per connection.
final class EventAPIHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let responder: EventAPIResponder
    private var machine: EventAPIConnection
    /// A read the channel asked for while reads were held.
    private var readPending = false
    /// When the current event API request's head arrived.
    private var started = ContinuousClock.now
    /// A graceful shutdown asked the connection to close while an event API request was
    /// under way: it closes after the answer (Hummingbird, which does not see the request,
    /// would close it at once).
    private var quiescing = false
    /// A decoding error that came while an event API request was under way: passed on (to
    /// Hummingbird, which answers 400 and closes) once the requests before it are answered.
    private var pendingError: (any Error)?
    /// Runs a request's task on this connection's event loop, where its answer is written.
    private var executor: EventLoopTaskExecutor?

    init(responder: EventAPIResponder) {
        self.responder = responder
        self.machine = EventAPIConnection(maxBodySize: responder.gateway.configuration.maxBodySize)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        executor = EventLoopTaskExecutor(context.eventLoop)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part: EventAPIConnection.Part
        switch unwrapInboundIn(data) {
        case .head(let head):
            part = .head(head, responder.route(head))
        case .body(let buffer):
            part = .body(buffer)
        case .end:
            part = .end
        }
        perform(machine.received(part), context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, machine.isBusy {
            quiescing = true
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if machine.isBusy, pendingError == nil {
            pendingError = error
            return
        }
        context.fireErrorCaught(error)
    }

    func read(context: ChannelHandlerContext) {
        if machine.holdsReads {
            readPending = true
        } else {
            context.read()
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(data, promise: promise)
        if case .end = unwrapOutboundIn(data) {
            machine.forwardedResponseEnded()
            resume(context: context)
        }
    }

    // MARK: Actions

    private func perform(_ action: EventAPIConnection.Action, context: ChannelHandlerContext) {
        switch action {
        case .forward(let part):
            context.fireChannelRead(wrapInboundOut(part))
        case .run(let head, let body):
            run(head, body: body, context: context)
        case .sendContinue(let head):
            let interim = HTTPResponseHead(version: head.version, status: .continue)
            context.writeAndFlush(wrapOutboundOut(.head(interim)), promise: nil)
        case .refuse(let head, let error, let close):
            started = .now
            respond(to: head, status: error.status, json: ResponseJSON.failure(error), close: close, context: context)
        case .close:
            context.close(promise: nil)
        case .none:
            break
        }
    }

    private func run(_ head: HTTPRequestHead, body: ByteBuffer?, context: ChannelHandlerContext) {
        started = .now
        let responder = responder
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        Task(executorPreference: executor) {
            let answer = await responder.answer(head, body: body)
            let write: @Sendable () -> Void = {
                let (handler, context) = bound.value
                handler.respond(
                    to: head, status: answer.status, json: answer.json, events: answer.events,
                    close: !head.isKeepAlive || handler.quiescing, context: context
                )
                handler.machine.answered()
                handler.resume(context: context)
            }
            // On the loop already, unless the executor was not used.
            if loop.inEventLoop { write() } else { loop.execute(write) }
        }
    }

    /// Processes what waited, and gives the channel the read it asked for once nothing does.
    private func resume(context: ChannelHandlerContext) {
        if quiescing {
            // Shutting down: what waits is not started; the connection closes once answered.
            if !machine.isBusy { context.close(promise: nil) }
            return
        }
        var forwarded = false
        while let action = machine.nextQueued() {
            if case .forward = action { forwarded = true }
            perform(action, context: context)
        }
        // Hummingbird's async channel hands the parts read to its request loop at the end of
        // a read; parts replayed from the queue come outside one, so end it here.
        if forwarded { context.fireChannelReadComplete() }
        if let error = pendingError, !machine.isBusy {
            pendingError = nil
            context.fireErrorCaught(error)
        }
        if readPending, !machine.holdsReads {
            readPending = false
            context.read()
        }
    }

    /// - Parameter events: the events that ran, for the metrics; nil when none did.
    private func respond(
        to head: HTTPRequestHead, status: Int, json: String, events: [FleetEvent]? = nil, close: Bool, context: ChannelHandlerContext
    ) {
        responder.meter(head, events: events, status: status, since: started)
        var headers = HTTPHeaders()
        headers.reserveCapacity(5)
        headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        headers.add(name: "Content-Length", value: String(json.utf8.count))
        headers.add(name: "Date", value: HTTPDate.now())
        headers.add(name: "Server", value: "wscenter-gateway")
        if close {
            headers.add(name: "Connection", value: "close")
        } else if head.version.major == 1, head.version.minor == 0 {
            headers.add(name: "Connection", value: "keep-alive")
        }
        let response = HTTPResponseHead(version: head.version, status: HTTPResponseStatus(statusCode: status), headers: headers)
        context.write(wrapOutboundOut(.head(response)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: json)))), promise: nil)
        if close {
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}

@available(*, unavailable)
extension EventAPIHandler: Sendable {}
