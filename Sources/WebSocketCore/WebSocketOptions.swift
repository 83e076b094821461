import NIOCore

/// The limits and timers of one server WebSocket. All fields have defaults fit for a hub
/// with many idle connections.
public struct WebSocketOptions: Sendable, Hashable {
    /// The largest message accepted, fragments summed; also the frame decoder's largest frame.
    /// A larger message closes the socket with 1009 (message too big).
    public var maxMessageSize: Int
    /// How often the server pings. When a ping is still unanswered (no pong at all since it)
    /// as the next one falls due, the socket closes with 1001 and the reason "ping timeout".
    /// `nil` sends no pings.
    public var pingInterval: TimeAmount?
    /// How long to wait for the peer's close frame after ours before closing TCP.
    public var closeTimeout: TimeAmount
    /// Bytes that may be written while the channel is unwritable before the socket is cut.
    public var maxQueuedBytes: Int
    /// Messages that may be written while the channel is unwritable before the socket is cut.
    public var maxQueuedMessages: Int
    /// The rate (per second) of ping and pong frames a client may send: a token bucket of this
    /// rate that holds up to `rate` tokens. A frame over it is dropped (no pong); more than
    /// `rate` dropped in a row closes the socket with 1008 "too many ping frames". 0 = no limit.
    public var controlFramesPerSecond: Double
    /// Whether text messages and close reasons must be UTF-8 (1007 otherwise).
    public var validateUTF8: Bool

    /// Creates options; every parameter has the default documented on its property.
    /// - Parameters:
    ///   - maxMessageSize: The largest message, fragments summed (1 MiB).
    ///   - pingInterval: The keep-alive ping interval (30 s), `nil` for none.
    ///   - closeTimeout: The wait for the peer's close after ours (5 s).
    ///   - maxQueuedBytes: Bytes written while unwritable before a cut (4 MiB).
    ///   - maxQueuedMessages: Messages written while unwritable before a cut (4,096).
    ///   - controlFramesPerSecond: The client's ping/pong budget per second (10), 0 = unlimited.
    ///   - validateUTF8: Whether text and close reasons are validated (true).
    public init(
        maxMessageSize: Int = 1 << 20,
        pingInterval: TimeAmount? = .seconds(30),
        closeTimeout: TimeAmount = .seconds(5),
        maxQueuedBytes: Int = 4 << 20,
        maxQueuedMessages: Int = 4_096,
        controlFramesPerSecond: Double = 10,
        validateUTF8: Bool = true
    ) {
        self.maxMessageSize = maxMessageSize
        self.pingInterval = pingInterval
        self.closeTimeout = closeTimeout
        self.maxQueuedBytes = maxQueuedBytes
        self.maxQueuedMessages = maxQueuedMessages
        self.controlFramesPerSecond = controlFramesPerSecond
        self.validateUTF8 = validateUTF8
    }
}
