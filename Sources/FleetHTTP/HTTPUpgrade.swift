import Foundation
import NIOHTTP1

/// How NIO's upgrader reads a connection's first request, for the handlers that sit between
/// the request decoder and the upgrader: they must agree with it exactly.
package enum HTTPUpgrade {
    /// Whether NIO's upgrader takes the request over: any `Upgrade` header line at all. It
    /// then either upgrades, or (on a node) the upgrade gate makes sure the connection is
    /// refused and closed, so that it never carries another HTTP request.
    package static func isAttempt(_ head: HTTPRequestHead) -> Bool {
        head.headers["upgrade"].contains { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
    }

    /// Whether the request asks for a WebSocket as NIO's upgrader reads it: any `Upgrade`
    /// header line, split on commas, holding the token `websocket` in any case.
    package static func asksForWebSocket(_ head: HTTPRequestHead) -> Bool {
        head.headers["upgrade"].contains { line in
            line.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).lowercased() == "websocket" }
        }
    }

    /// Why the request is not a complete WebSocket handshake (RFC 6455 §4.2.1), or nil when it is.
    package static func handshakeProblem(_ head: HTTPRequestHead) -> String? {
        guard asksForWebSocket(head) else { return "Upgrade names no protocol this server speaks: only websocket" }
        guard head.method == .GET else { return "a WebSocket handshake is a GET" }
        let connection = head.headers["connection"].flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard connection.contains("upgrade") else { return "a WebSocket handshake needs Connection: Upgrade" }
        guard head.headers["sec-websocket-key"].count == 1 else { return "a WebSocket handshake needs one Sec-WebSocket-Key" }
        guard head.headers["sec-websocket-version"] == ["13"] else { return "only WebSocket version 13 is supported (Sec-WebSocket-Version: 13)" }
        return nil
    }
}
