import NIOCore

/// Told of a socket's life, always on the socket's event loop, in this order: open once,
/// messages, close once.
///
/// The socket holds its delegate strongly until ``webSocketDidClose(_:)`` and drops it then,
/// so a delegate may keep its socket without leaking either.
public protocol WebSocketDelegate: AnyObject {
    /// The socket is in an active pipeline and may be written to.
    /// - Parameter socket: The socket.
    func webSocketDidOpen(_ socket: ServerWebSocket)

    /// A complete, validated data message arrived.
    /// - Parameters:
    ///   - socket: The socket.
    ///   - message: The whole (unmasked) payload, fragments joined.
    ///   - isText: Whether it is a text message (then valid UTF-8 unless validation is off).
    func webSocket(_ socket: ServerWebSocket, didReceive message: ByteBuffer, isText: Bool)

    /// The channel went inactive or the handler was removed. Called exactly once, after
    /// ``webSocketDidOpen(_:)`` (a socket removed before its channel was ever active is never
    /// opened nor closed); afterwards the socket no longer refers to the delegate.
    /// - Parameter socket: The socket.
    func webSocketDidClose(_ socket: ServerWebSocket)
}
