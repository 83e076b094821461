import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// A client protocol the node serves over WebSocket (the native protocol, Pusher). Each lives
/// in its own module; the executable plugs them into the node.
public protocol ClientProtocol: Sendable {
    /// The path of its WebSocket upgrade, in Hummingbird's route syntax ("/", "/app/{key}").
    var path: RouterPath { get }
    /// Decides whether to upgrade `request`; throw an `HTTPError` (e.g. 401) to refuse it with
    /// that status, before any WebSocket exists.
    func accept(_ request: Request) async throws
    /// Serves one accepted WebSocket until it closes.
    func serve(_ socket: ClientSocket, on node: NodeService) async throws
}

extension ClientProtocol {
    public func accept(_ request: Request) async throws {}
}

/// One accepted WebSocket: its streams, its channel and the upgrade request.
public struct ClientSocket: Sendable {
    public let inbound: WebSocketInboundStream
    public let outbound: WebSocketOutboundWriter
    /// The TCP channel: closing it cuts the client off without a close handshake.
    public let channel: any Channel
    public let request: Request
}
