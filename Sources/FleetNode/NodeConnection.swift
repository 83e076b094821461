import FleetCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import Synchronization

/// A client's connection as a protocol sees it: its `_id`, and ordered sending through its
/// outbox. The node's API reaches it through the hub by the same `_id`.
public struct NodeConnection: Sendable {
    public let id: String
    let hub: NodeHub
    let closing: CloseRequest

    /// Queues a text message; false if the connection is gone or too far behind.
    @discardableResult
    public func send(_ text: String) -> Bool {
        hub.send(ByteBuffer(string: text), to: id)
    }

    /// Asks for the connection to close with `code` once the messages queued so far are
    /// written; takes effect when the protocol's body returns.
    public func close(_ code: WebSocketErrorCode, reason: String) {
        closing.request(code, reason: reason)
    }
}

/// The close a protocol asked for, if any: sent once the protocol's body returns, after the
/// messages queued so far.
public final class CloseRequest: Sendable {
    let request = Mutex<(code: WebSocketErrorCode, reason: String)?>(nil)

    public init() {}

    /// Asks for the close; the first request wins.
    public func request(_ code: WebSocketErrorCode, reason: String) {
        request.withLock { if $0 == nil { $0 = (code, reason) } }
    }
}

extension NodeService {
    /// The close code a drain sends: 1012, service restart. Clients reconnect (to another
    /// node, behind a load balancer) and resume their session there.
    public static let serviceRestart = WebSocketErrorCode(codeNumber: 1012)

    /// Registers a client connection with the hub for the duration of `body`: its messages
    /// are written in order by a writer task, a client that stops reading is cut off once
    /// `outboxLimit` messages wait, and on return the connection and its bindings are gone.
    /// - Parameter greeting: the first messages, queued before anything the API sends.
    public func withConnection(
        _ socket: ClientSocket,
        greeting: (String) -> [String],
        sessionToken: String? = nil,
        _ body: (NodeConnection) async throws -> Void
    ) async throws {
        let connectionID = ConnectionID.make()
        let logger = logger
        let channel = socket.channel
        // A client that lets `outboxLimit` messages or `outboxMaxBytes` pile up is not reading:
        // neither more messages nor a close frame would reach it, so its TCP connection is closed.
        let outbox = Outbox(limit: configuration.outboxLimit, maxBytes: configuration.outboxMaxBytes) {
            logger.debug("closing a connection", metadata: ["_id": "\(connectionID)"])
            channel.close(promise: nil)
        }
        hub.open(
            connectionID, outbox: outbox, greeting: greeting(connectionID).map { ByteBuffer(string: $0) }, sessionToken: sessionToken,
            address: channel.remoteAddress?.ipAddress ?? ""
        )
        defer { hub.close(connectionID) }
        let closing = CloseRequest()
        let hub = hub
        // On a drain the connection leaves the hub before its close goes out: its session is
        // away from then on, so every later message is recorded for the resume, none lost.
        try await runSocket(socket, outbox: outbox, closing: closing, onDrain: { hub.close(connectionID) }) {
            try await body(NodeConnection(id: connectionID, hub: hub, closing: closing))
        }
    }

    /// Runs `body` while a writer task writes `outbox`'s messages to the socket in order.
    /// When `body` returns, a close asked for on `closing` goes out after what is queued
    /// (waiting at most 2 s for it); then the writer stops.
    ///
    /// On a drain (``drain(within:)``), `onDrain` runs (the protocol's last words, such as
    /// taking the connection out of the hub), the outbox ends, and the writer sends the close
    /// (1012) as soon as what was queued is written; the client's answer ends `body`.
    public func runSocket(
        _ socket: ClientSocket, outbox: Outbox, closing: CloseRequest,
        onDrain: @escaping @Sendable () -> Void = {}, _ body: () async throws -> Void
    ) async throws {
        let outbound = socket.outbound
        let meter = socket.meter
        let drained = DrainFlag()
        let channel = socket.channel
        let ticket = sockets.open(drain: {
            closing.request(Self.serviceRestart, reason: "service restart")
            drained.set()
            onDrain()
            outbox.finish()
        }, cut: {
            channel.close(promise: nil)
        })
        meter.connectionOpened()
        defer {
            sockets.close(ticket)
            meter.connectionClosed()
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await message in outbox.messages {
                    try await outbound.write(.custom(WebSocketFrame(fin: true, opcode: .text, data: message)))
                    outbox.written(message)
                    meter.sent(bytes: message.readableBytes)
                }
                if drained.isSet, let (code, reason) = closing.request.withLock({ $0 }) {
                    try? await outbound.close(code, reason: reason)
                }
            }
            defer { group.cancelAll() }
            try await body()
            // A close the protocol asked for goes out after what is queued (bounded wait);
            // on a drain the writer sends it itself.
            if let (code, reason) = closing.request.withLock({ $0 }) {
                outbox.finish()
                group.addTask { try await Task.sleep(for: .seconds(2)) }
                _ = try? await group.next()
                if !drained.isSet { try? await outbound.close(code, reason: reason) }
            }
        }
    }
}
