import Hummingbird
import HummingbirdWebSocket
import NIOCore
import NIOHTTP1

/// A client protocol the node serves over WebSocket (the native protocol, Pusher). Each lives
/// in its own module; the executable plugs them into the node.
public protocol ClientProtocol: Sendable {
    /// The path of its WebSocket upgrade, in Hummingbird's route syntax ("/", "/app/{key}").
    var path: RouterPath { get }
    /// Why an upgrade request for this protocol must be refused (answered 401, no socket),
    /// or nil to accept it. Runs on the event loop for every upgrade request, whatever its
    /// path: return nil for paths that are not this protocol's.
    func refusal(of head: HTTPRequestHead) -> String?
    /// Serves one accepted WebSocket until it closes.
    func serve(_ socket: ClientSocket, on node: NodeService) async throws
}

extension ClientProtocol {
    public func refusal(of head: HTTPRequestHead) -> String? { nil }
}

/// One accepted WebSocket: its streams, its channel and the upgrade request.
public struct ClientSocket: Sendable {
    public let inbound: WebSocketInboundStream
    public let outbound: WebSocketOutboundWriter
    /// The TCP channel: closing it cuts the client off without a close handshake.
    public let channel: any Channel
    public let request: Request
}
