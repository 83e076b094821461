import Hummingbird
import HummingbirdWebSocket
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Observability

/// A client protocol the node serves over WebSocket (the native protocol, Pusher). Each lives
/// in its own module; the executable plugs them into the node.
public protocol ClientProtocol: Sendable {
    /// Its name in metrics (the `protocol` label) and logs: "native", "pusher".
    var name: String { get }
    /// The path of its WebSocket upgrade, in Hummingbird's route syntax ("/", "/app/{key}").
    var path: RouterPath { get }
    /// Why an upgrade request for this protocol must be refused (answered 401, no socket),
    /// or nil to accept it. Runs on the event loop, for upgrade requests whose path the router
    /// sends to this protocol: in the upgrade guard (for the 401), again in the router's
    /// upgrade decision (a refusal there is a 400, no socket). A protocol with credentials
    /// checks them once more in ``serve(_:on:)``: no spelling of a request may reach a socket
    /// without passing this.
    func refusal(of request: UpgradeRequest) -> String?
    /// Serves one accepted WebSocket until it closes.
    func serve(_ socket: ClientSocket, on node: NodeService) async throws
    /// The protocol's background work while the node runs (its pub/sub topics, its writer);
    /// cancelled when the node stops, after the server has stopped.
    func run(on node: NodeService) async
    /// The broker lost what this node wrote (Redis restarted empty, or this node's heartbeat
    /// expired and the janitor may have cleaned up after it): write it all again.
    func resync(on node: NodeService)
    /// Removes what node `nodeID` left in the broker for this protocol: called by the janitor
    /// (under its lock) for a dead node, and by a node for itself when it stops.
    func forgetNode(_ nodeID: String, on node: NodeService) async throws
}

extension ClientProtocol {
    public var name: String { String(describing: Self.self).lowercased() }
    public func refusal(of request: UpgradeRequest) -> String? { nil }
    public func run(on node: NodeService) async {}
    public func resync(on node: NodeService) {}
    public func forgetNode(_ nodeID: String, on node: NodeService) async throws {}
}

/// One accepted WebSocket: its streams, its channel and the upgrade request.
public struct ClientSocket: Sendable {
    let inbound: WebSocketInboundStream
    public let outbound: WebSocketOutboundWriter
    /// The TCP channel: closing it cuts the client off without a close handshake.
    public let channel: any Channel
    public let request: Request
    /// Its protocol's WebSocket metrics.
    let meter: SocketMeter

    /// The client's messages, each at most `maxSize` bytes (larger closes with 1009), counted
    /// in the metrics as they arrive.
    public func messages(maxSize: Int) -> ClientMessages {
        ClientMessages(base: inbound.messages(maxSize: maxSize), meter: meter)
    }

    /// Writes `message` to the client at once, as one frame (text as text, binary as binary),
    /// counted in the metrics. Protocols that send through the hub use an ``Outbox`` instead.
    public func send(_ message: WebSocketMessage) async throws {
        switch message {
        case .text(let text):
            try await outbound.write(.text(text))
            meter.sent(bytes: text.utf8.count)
        case .binary(let bytes):
            try await outbound.write(.binary(bytes))
            meter.sent(bytes: bytes.readableBytes)
        }
    }
}

/// A client's WebSocket messages, counted (`wscenter_messages_in_total` and bytes) as read.
public struct ClientMessages: AsyncSequence, Sendable {
    public typealias Element = WebSocketMessage
    let base: WebSocketInboundMessageStream
    let meter: SocketMeter

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: WebSocketInboundMessageStream.AsyncIterator
        let meter: SocketMeter

        public mutating func next() async throws -> WebSocketMessage? {
            guard let message = try await base.next() else { return nil }
            switch message {
            case .text(let text): meter.received(bytes: text.utf8.count)
            case .binary(let bytes): meter.received(bytes: bytes.readableBytes)
            }
            return message
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), meter: meter)
    }
}
