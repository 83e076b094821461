import Hummingbird
import HummingbirdWebSocket
import NIOCore
import NIOWebSocket
import Observability
import Synchronization
import WebSocketCore

/// Runs an ``AsyncClientProtocol``'s `serve` for one socket: the socket's messages go into a
/// bounded stream the task reads, and its writes hop to the socket's event loop.
final class AsyncSocketBridge: WebSocketDelegate, DrainableSocket, @unchecked Sendable {
    /// Messages a client may have waiting for its task; past it the client is not waiting
    /// for answers and is closed (1008).
    static let inboundLimit = 256

    private let clientProtocol: any AsyncClientProtocol
    private let request: UpgradeRequest
    private let node: NodeService
    private let meter: SocketMeter
    /// Set once at the open, before the drain can see the bridge.
    private var socket: ServerWebSocket?
    /// The task's messages (loop only).
    private var inbound: AsyncStream<WebSocketMessage>.Continuation?
    private let drainState = Mutex<(drained: Bool, action: (@Sendable () -> Void)?)>((false, nil))

    init(serving clientProtocol: any AsyncClientProtocol, request: UpgradeRequest, node: NodeService) {
        self.clientProtocol = clientProtocol
        self.request = request
        self.node = node
        self.meter = node.meter(named: clientProtocol.name)
    }

    func webSocketDidOpen(_ socket: ServerWebSocket) {
        self.socket = socket
        let (messages, continuation) = AsyncStream.makeStream(of: WebSocketMessage.self, bufferingPolicy: .bufferingOldest(Self.inboundLimit))
        inbound = continuation
        node.socketOpened(self, protocol: clientProtocol.name)
        let clientSocket = ClientSocket(messages: messages, socket: socket, bridge: self, request: request, meter: meter)
        Task { [clientProtocol, node] in
            do {
                try await clientProtocol.serve(clientSocket, on: node)
            } catch {
                node.logger.debug("a WebSocket's task ended with an error", metadata: ["error": "\(error)"])
            }
            socket.eventLoop.execute {
                if !socket.isClosing { socket.close(code: .normalClosure) }
            }
        }
    }

    func webSocket(_ socket: ServerWebSocket, didReceive message: ByteBuffer, isText: Bool) {
        meter.received(bytes: message.readableBytes)
        let result = inbound?.yield(isText ? .text(String(buffer: message)) : .binary(message))
        if case .dropped = result {
            socket.close(code: .policyViolation, reason: "too many messages waiting for an answer")
        }
    }

    func webSocketDidClose(_ socket: ServerWebSocket) {
        inbound?.finish()
        inbound = nil
        node.socketClosed(self, protocol: clientProtocol.name)
    }

    // MARK: Drain

    /// What the protocol's task does on a drain (set by ``NodeService/runSocket``); a drain
    /// that began before runs it at once.
    func onDrain(_ action: @escaping @Sendable () -> Void) {
        let runNow = drainState.withLock { state in
            state.action = action
            return state.drained
        }
        if runNow { action() }
    }

    func drain() {
        let action = drainState.withLock { state -> (@Sendable () -> Void)? in
            guard !state.drained else { return nil }
            state.drained = true
            return state.action
        }
        action?()
    }

    func cut() {
        guard let socket else { return }
        socket.eventLoop.execute { socket.cut() }
    }

    var isDrained: Bool { drainState.withLock { $0.drained } }
}

/// One accepted WebSocket as an ``AsyncClientProtocol`` sees it: its messages, writing, and
/// the upgrade request.
public struct ClientSocket: Sendable {
    let inbound: AsyncStream<WebSocketMessage>
    let socket: ServerWebSocket
    let bridge: AsyncSocketBridge
    public let request: UpgradeRequest
    /// Its protocol's WebSocket metrics.
    let meter: SocketMeter

    init(messages: AsyncStream<WebSocketMessage>, socket: ServerWebSocket, bridge: AsyncSocketBridge, request: UpgradeRequest, meter: SocketMeter) {
        self.inbound = messages
        self.socket = socket
        self.bridge = bridge
        self.request = request
        self.meter = meter
    }

    /// The client's messages (each within the node's `maxMessageSize`: the socket closes a
    /// larger one with 1009), counted in the metrics as they arrive.
    public var messages: ClientMessages { ClientMessages(base: inbound) }

    /// Writes `message` to the client at once, as one frame (text as text, binary as binary),
    /// counted in the metrics.
    public func send(_ message: WebSocketMessage) async throws {
        switch message {
        case .text(let text): try await write(WebSocketFrames.text(text), payload: text.utf8.count)
        case .binary(let bytes): try await write(WebSocketFrames.encode(bytes, opcode: .binary), payload: bytes.readableBytes)
        }
    }

    /// Writes and flushes one encoded frame.
    func write(_ frame: ByteBuffer, payload: Int) async throws {
        let socket = socket
        try await socket.eventLoop.submit {
            guard !socket.isClosing else { throw ChannelError.ioOnClosedChannel }
            socket.write(frame: frame)
            socket.flush()
        }.get()
        meter.sent(bytes: payload)
    }

    /// Closes with a close frame after what was written.
    func close(_ code: WebSocketErrorCode, reason: String) async {
        let socket = socket
        try? await socket.eventLoop.submit { socket.close(code: code, reason: reason) }.get()
    }

    /// Closes the TCP connection at once.
    public func cut() {
        let socket = socket
        socket.eventLoop.execute { socket.cut() }
    }
}

/// A client's WebSocket messages, in order.
public struct ClientMessages: AsyncSequence, Sendable {
    public typealias Element = WebSocketMessage
    let base: AsyncStream<WebSocketMessage>

    public func makeAsyncIterator() -> AsyncStream<WebSocketMessage>.AsyncIterator {
        base.makeAsyncIterator()
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
    /// Runs `body` while a writer task writes `outbox`'s messages to the socket in order.
    /// When `body` returns, a close asked for on `closing` goes out after what is queued
    /// (waiting at most 2 s for it); then the writer stops.
    ///
    /// On a drain (``drain(within:)``), `onDrain` runs (the protocol's last words), the outbox
    /// ends, and the writer sends the close (1012) as soon as what was queued is written; the
    /// client's answer ends `body`.
    public func runSocket(
        _ socket: ClientSocket, outbox: Outbox, closing: CloseRequest,
        onDrain: @escaping @Sendable () -> Void = {}, _ body: () async throws -> Void
    ) async throws {
        let bridge = socket.bridge
        bridge.onDrain {
            closing.request(Self.serviceRestart, reason: "service restart")
            onDrain()
            outbox.finish()
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await message in outbox.messages {
                    try await socket.write(WebSocketFrames.encode(message), payload: message.readableBytes)
                    outbox.written(message)
                }
                if bridge.isDrained, let (code, reason) = closing.request.withLock({ $0 }) {
                    await socket.close(code, reason: reason)
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
                if !bridge.isDrained { await socket.close(code, reason: reason) }
            }
        }
    }
}
