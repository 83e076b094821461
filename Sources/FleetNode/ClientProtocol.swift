import Hummingbird
import NIOCore
import Observability
import WebSocketCore

/// A client protocol the node serves over WebSocket (the native protocol, Pusher). Each lives
/// in its own module; the executable plugs them into the node.
public protocol ClientProtocol: Sendable {
    /// Its name in metrics (the `protocol` label) and logs: "native", "pusher".
    var name: String { get }
    /// The path of its WebSocket upgrade, in Hummingbird's route syntax ("/", "/app/{key}").
    var path: RouterPath { get }
    /// Why an upgrade request for this protocol must be refused (answered 401, no socket),
    /// or nil to accept it. Runs on the event loop, for upgrade requests whose path the router
    /// sends to this protocol: in the upgrade guard (for the 401), again in the upgrader's
    /// decision (a refusal there is a 400, no socket). A protocol with credentials checks
    /// them once more when its session opens: no spelling of a request may reach a socket
    /// without passing this.
    func refusal(of request: UpgradeRequest) -> String?
    /// The session of one accepted WebSocket, made on its event loop as the upgrade
    /// completes: the socket tells it of its open, each message and its close, on that loop.
    func session(for request: UpgradeRequest, on node: NodeService) -> any WebSocketDelegate
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
