import FleetHTTP
import FleetNode
import Hummingbird
import NIOCore
import NIOWebSocket
import Observability
import WebSocketCore

/// An echo on `ECHO_PATH`, for conformance testing only (the Autobahn cases run by
/// `scripts/conformance.sh`): every message comes back as it came, text as text and binary as
/// binary, each up to the node's `maxMessageSize` (a larger one closes the connection with
/// 1009, as on the other paths). It has none of the product's machinery: no `_id`, no hub,
/// no bindings, no credentials, no rate limit. The node serves it only when the option is set.
package struct EchoProtocol: ClientProtocol {
    package let path: RouterPath
    package var name: String { "echo" }

    /// - Parameter path: a path that ``problem(with:)`` accepts, e.g. `/echo`.
    package init(path: String) {
        self.path = RouterPath(path)
    }

    package func session(for request: UpgradeRequest, on node: NodeService) -> any WebSocketDelegate {
        EchoSession(node: node)
    }
}

/// Echoes each message on the socket's event loop as it arrives. The drain knows it (SIGTERM
/// closes it with 1012 like the others).
final class EchoSession: WebSocketDelegate, DrainableSocket, @unchecked Sendable {
    private let node: NodeService
    /// Set at the open, before the drain can see the session.
    private var socket: ServerWebSocket?

    init(node: NodeService) {
        self.node = node
    }

    func webSocketDidOpen(_ socket: ServerWebSocket) {
        self.socket = socket
        node.socketOpened(self, protocol: "echo")
    }

    func webSocket(_ socket: ServerWebSocket, didReceive message: ByteBuffer, isText: Bool) {
        let meter = node.meter(named: "echo")
        meter.received(bytes: message.readableBytes)
        socket.send(message, opcode: isText ? .text : .binary)
        meter.sent(bytes: message.readableBytes)
    }

    func webSocketDidClose(_ socket: ServerWebSocket) {
        node.socketClosed(self, protocol: "echo")
    }

    func drain() {
        guard let socket else { return }
        socket.eventLoop.execute { socket.close(code: NodeService.serviceRestart, reason: "service restart") }
    }

    func cut() {
        guard let socket else { return }
        socket.eventLoop.execute { socket.cut() }
    }
}

extension EchoProtocol {
    /// First path segments the node already serves, or keeps for its protocols: the Pusher
    /// protocol's `/app/...` and the operations routes (`/healthz`, `/readyz`, `/metrics`).
    static let reservedSegments: Set<String> = {
        var segments: Set<String> = ["app"]
        for path in OperationsRoutes.paths {
            if let first = path.split(separator: "/").first { segments.insert(String(first)) }
        }
        return segments
    }()

    /// Why `path` cannot be the echo path, or nil when it can. It must start with `/` and
    /// consist of segments of letters, digits, `-`, `_`, `.` and `~` (no route syntax such as
    /// `{key}` or `*`, no query, no empty, `.` or `..` segment), and must not be, or lie
    /// under, a path the node already serves: `/` (the native protocol), `/app/...` (Pusher),
    /// `/healthz`, `/readyz`, `/metrics`.
    package static func problem(with path: String) -> String? {
        guard path.hasPrefix("/") else { return "must start with /" }
        guard path != "/" else { return "must not be /, the native protocol's path" }
        let segments = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        for segment in segments {
            if segment.isEmpty || segment == "." || segment == ".." {
                return "must not have an empty, . or .. segment"
            }
            if !segment.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.~".contains($0)) }) {
                return "may only hold letters, digits, -, _, . and ~ between its slashes"
            }
        }
        if let first = segments.first, reservedSegments.contains(String(first)) {
            return "must not be or lie under /\(first), which the node already serves"
        }
        return nil
    }
}
