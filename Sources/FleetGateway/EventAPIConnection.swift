import NIOCore
import NIOHTTP1

/// The event API's side of one HTTP/1 connection of a gateway, as a state machine without
/// I/O (``EventAPIHandler`` runs its actions).
///
/// The event API (`GET`/`POST /`) is the gateway's hot path: it is answered from the channel
/// handler, beside Hummingbird, so that a request costs a parse, one bus call and one write
/// rather than Hummingbird's request task and its hops between threads. Every other request
/// (operations, the Pusher REST API) is forwarded to Hummingbird unchanged.
///
/// HTTP/1 answers in request order, so the two must not overtake each other on a connection
/// that pipelines: an event API request waits (its parts queued, reads held) until every
/// forwarded request before it has been answered, and anything after an event API request
/// waits until that request has been answered. The queue is bounded: a client that pipelines
/// more than ``maxQueuedParts`` parts while it waits is closed.
struct EventAPIConnection {
    /// What a request's head is, decided when it arrives.
    enum Route: Equatable {
        /// An event API request: answered here. `refusal`: why its caller may not use the
        /// API (checked before its body is read), or nil.
        case eventAPI(refusal: APIError?)
        /// Anything else: Hummingbird's.
        case other
    }

    /// A request part, with its head's route.
    enum Part {
        case head(HTTPRequestHead, Route)
        case body(ByteBuffer)
        case end
    }

    enum Action {
        /// Pass the part on to Hummingbird.
        case forward(HTTPServerRequestPart)
        /// Run the request (a complete head and body) and, when it is answered, call
        /// ``answered()``.
        case run(HTTPRequestHead, body: ByteBuffer?)
        /// Tell the client to send its body (`100 Continue`, for `Expect: 100-continue`).
        case sendContinue(HTTPRequestHead)
        /// Answer with an error at once; close the connection after it if `close`.
        case refuse(HTTPRequestHead, APIError, close: Bool)
        /// Close the connection (the client broke the protocol or pipelined too much).
        case close
        case none
    }

    private enum Mode {
        /// Between requests.
        case idle
        /// The current request is Hummingbird's: its parts go on.
        case forwarding
        /// Reading an event API request's body.
        case collecting(HTTPRequestHead, ByteBuffer?)
        /// An event API request without a body that was refused: waiting for its end.
        case refusing
        /// An event API request is running; nothing else may be answered before it.
        case answering
        /// The connection is closing: everything is dropped.
        case closed
    }

    /// Parts a pipelining client may send while the connection waits.
    static let maxQueuedParts = 256

    /// Largest body accepted (bytes); a longer one is answered 413 and the connection closed.
    let maxBodySize: Int
    private var mode = Mode.idle
    /// Requests forwarded to Hummingbird whose response has not ended yet.
    private var forwardedUnanswered = 0
    /// Parts that arrived while the connection waited, in order.
    private var queue = CircularBuffer<Part>()

    init(maxBodySize: Int) {
        self.maxBodySize = maxBodySize
    }

    /// Whether the handler should hold the channel's reads: while parts wait, reading more
    /// would only grow the queue. (Not merely while a request runs: a client that waits for
    /// its answer sends nothing meanwhile, and holding would cost two `epoll_ctl` calls per
    /// request.)
    var holdsReads: Bool {
        !queue.isEmpty
    }

    /// A part from the client.
    mutating func received(_ part: Part) -> Action {
        guard queue.isEmpty, canProcess(part) else {
            if case .closed = mode { return .none }
            guard queue.count < Self.maxQueuedParts else {
                mode = .closed
                queue.removeAll()
                return .close
            }
            queue.append(part)
            return .none
        }
        return process(part)
    }

    /// The next queued part, processed, once the connection no longer waits; nil while it
    /// waits or when nothing is queued. The handler calls it until nil after ``answered()``
    /// and ``forwardedResponseEnded()``.
    mutating func nextQueued() -> Action? {
        guard let part = queue.first, canProcess(part) else { return nil }
        queue.removeFirst()
        return process(part)
    }

    /// Whether an event API request is being read, refused or run, or parts wait: a
    /// graceful shutdown must wait for the answer rather than close the connection.
    var isBusy: Bool {
        switch mode {
        case .collecting, .refusing, .answering: return true
        case .idle, .forwarding, .closed: return !queue.isEmpty
        }
    }

    /// The running event API request has been answered.
    mutating func answered() {
        if case .answering = mode { mode = .idle }
    }

    /// Hummingbird has written the end of a response.
    mutating func forwardedResponseEnded() {
        forwardedUnanswered = max(0, forwardedUnanswered - 1)
    }

    // MARK: Steps

    private static func contentLength(_ head: HTTPRequestHead) -> Int? {
        head.headers.first(name: "content-length").flatMap { Int($0) }
    }

    private static func expectsContinue(_ head: HTTPRequestHead) -> Bool {
        (head.version.major, head.version.minor) >= (1, 1) && head.headers.first(name: "expect")?.lowercased() == "100-continue"
    }

    /// Whether a body may follow the head (NIO's decoder delivers it as body parts).
    private static func mayHaveBody(_ head: HTTPRequestHead) -> Bool {
        (contentLength(head) ?? 0) > 0 || head.headers.contains(name: "transfer-encoding")
    }

    private func canProcess(_ part: Part) -> Bool {
        switch mode {
        case .answering:
            return false
        case .idle:
            // An event API request answers only after every forwarded request before it.
            if case .head(_, .eventAPI) = part { return forwardedUnanswered == 0 }
            return true
        case .forwarding, .collecting, .refusing, .closed:
            return true
        }
    }

    private mutating func process(_ part: Part) -> Action {
        switch (mode, part) {
        case (.closed, _):
            return .none
        case (.idle, .head(let head, .other)):
            forwardedUnanswered += 1
            mode = .forwarding
            return .forward(.head(head))
        case (.idle, .head(let head, .eventAPI(let refusal))):
            if let refusal {
                // Answered at once, before any body is read; a body that may follow is not
                // read at all: the connection closes after the answer.
                let close = Self.mayHaveBody(head) || !head.isKeepAlive
                mode = close ? .closed : .refusing
                return .refuse(head, refusal, close: close)
            }
            if let length = Self.contentLength(head), length > maxBodySize {
                mode = .closed
                return .refuse(head, .tooLarge(limit: maxBodySize), close: true)
            }
            mode = .collecting(head, nil)
            return Self.expectsContinue(head) ? .sendContinue(head) : .none
        case (.forwarding, .head), (.collecting, .head), (.refusing, .head), (.idle, .body), (.idle, .end):
            // NIO's decoder never produces these; a stream that does is not HTTP.
            mode = .closed
            return .close
        case (.forwarding, .body(let buffer)):
            return .forward(.body(buffer))
        case (.forwarding, .end):
            mode = .idle
            return .forward(.end(nil))
        case (.collecting(let head, var body), .body(var buffer)):
            if (body?.readableBytes ?? 0) + buffer.readableBytes > maxBodySize {
                mode = .closed
                return .refuse(head, .tooLarge(limit: maxBodySize), close: true)
            }
            if body == nil {
                body = buffer
            } else {
                body!.writeBuffer(&buffer)
            }
            mode = .collecting(head, body)
            return .none
        case (.collecting(let head, let body), .end):
            mode = .answering
            return .run(head, body: body)
        case (.refusing, .body):
            return .none
        case (.refusing, .end):
            mode = .idle
            return .none
        case (.answering, _):
            preconditionFailure("a part was processed while an event API request runs")
        }
    }
}
