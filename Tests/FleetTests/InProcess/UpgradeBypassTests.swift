import FleetNode
import Foundation
import Hummingbird
import NativeProtocol
import Testing
import WebSocketCore
import WSCTesting

/// The upgrade bypass of issue 11: with client credentials required, spellings of the
/// upgrade request that the pre-upgrade check read differently from NIO's upgrader and the
/// router (`GET //`, `Upgrade: x, websocket`) got a WebSocket without a credential. Each
/// spelling is sent as raw bytes; none may get a socket.
@Suite("Upgrade bypass (raw requests)")
struct UpgradeBypassTests {
    static let native = NativeProtocol.Configuration(authenticator: ClientAuthenticator(tokens: ["letmein"], jwtSecret: String(repeating: "k", count: 32)))

    /// Requests for the native protocol without a valid credential, as an attacker spells them.
    static let hostile: [String] = [
        RawHTTP.upgradeRequest("/"),
        RawHTTP.upgradeRequest("//"),
        RawHTTP.upgradeRequest("///"),
        RawHTTP.upgradeRequest("//?x=1"),
        RawHTTP.upgradeRequest("/?"),
        RawHTTP.upgradeRequest("http://127.0.0.1/"),
        RawHTTP.upgradeRequest("/", upgrade: "websocket, x"),
        RawHTTP.upgradeRequest("/", upgrade: "x, websocket"),
        RawHTTP.upgradeRequest("/", upgrade: "WebSocket"),
        RawHTTP.upgradeRequest("/", upgrade: "WEBSOCKET"),
        RawHTTP.upgradeRequest("/", upgrade: "x,websocket,y"),
        RawHTTP.upgradeRequest("//", upgrade: "x, WebSocket"),
        RawHTTP.upgradeRequest("/", upgrade: "x", extra: ["Upgrade: websocket"]),
        RawHTTP.upgradeRequest("/?token="),
        RawHTTP.upgradeRequest("/?token=wrong"),
        RawHTTP.upgradeRequest("/?token=letmein2"),
        RawHTTP.upgradeRequest("/?TOKEN=letmein"),
        RawHTTP.upgradeRequest("/", extra: ["Authorization: Bearer"]),
        RawHTTP.upgradeRequest("/", extra: ["Authorization: Basic bGV0bWVpbg=="]),
        RawHTTP.upgradeRequest("/", extra: ["Authorization: Bearer wrong"]),
        RawHTTP.upgradeRequest("/", extra: ["authorization: bearer  "]),
        RawHTTP.upgradeRequest("/", extra: ["X-Token: letmein"]),
    ]

    @Test("every spelling without a credential gets 401 and no socket", arguments: FleetBrokerKind.allCases)
    func refused(kind: FleetBrokerKind) async throws {
        try await withFleet(kind, nodes: 1, gateways: 1, native: Self.native) { fleet in
            let port = fleet.nodePorts[0]
            for request in Self.hostile {
                let response = try await RawHTTP.exchange(port: port, request, linger: 0.2)
                #expect(response.status == 401, "\(request.split(separator: "\r\n").prefix(3)) → \(response)")
                #expect(!response.afterText.contains("\"open\""), "\(request) opened a session")
            }
            // Nothing the hostile requests did left a connection behind.
            #expect(try await fleet.get("event=getConnectionCount").total("getConnectionCount") == 0)
        }
    }

    @Test("paths no protocol serves get no socket either")
    func otherPaths() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1, native: Self.native) { fleet in
            let port = fleet.nodePorts[0]
            for target in ["/%2F", "/./", "/..", "/app", "/x/y", "//evil.example/"] {
                let response = try await RawHTTP.exchange(port: port, RawHTTP.upgradeRequest(target), linger: 0.2)
                #expect(response.status >= 400 && response.status < 500, "\(target) → \(response)")
            }
        }
    }

    @Test("a valid credential upgrades, whatever the spelling of the path and header")
    func admitted() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1, native: Self.native) { fleet in
            let port = fleet.nodePorts[0]
            for request in [
                RawHTTP.upgradeRequest("//?token=letmein"),
                RawHTTP.upgradeRequest("/?token=letmein", upgrade: "x, websocket"),
                RawHTTP.upgradeRequest("/", extra: ["Authorization: Bearer letmein"]),
            ] {
                let response = try await RawHTTP.exchange(port: port, request) { String(decoding: $0, as: UTF8.self).contains(#""cmd":"open""#) }
                #expect(response.status == 101, "\(response)")
                #expect(response.afterText.contains(#""cmd":"open""#), "\(response)")
            }
        }
    }

    /// The protocol's own check, the last line: a route that lets every upgrade through (as
    /// a guard or router that missed a spelling would) still serves no client without a
    /// credential. The socket opens, is closed at once with 1008, and gets no `open`.
    @Test("the native protocol itself refuses a socket without a credential")
    func lastLine() async throws {
        let unguarded = UnguardedNative(native: NativeProtocol(configuration: Self.native))
        try await withFleet(.embedded, nodes: 1, gateways: 1, protocols: [unguarded]) { fleet in
            let response = try await RawHTTP.exchange(port: fleet.nodePorts[0], RawHTTP.upgradeRequest("/")) { $0.contains(0x88) }
            #expect(response.status == 101, "the unguarded route must let the upgrade through: \(response)")
            // A close frame (FIN + opcode 8), its payload starting with 1008 (0x03F0).
            let frame = response.after
            #expect(frame.count >= 4 && frame[0] == 0x88 && frame[2] == 0x03 && frame[3] == 0xF0, "\(frame.prefix(16))")
            #expect(!response.afterText.contains("open"), "\(response.afterText)")
            #expect(try await fleet.get("event=getConnectionCount").total("getConnectionCount") == 0)
        }
    }
}

/// The native protocol behind a route with no upgrade check at all.
struct UnguardedNative: ClientProtocol {
    let native: NativeProtocol
    var path: RouterPath { "/" }
    var name: String { "native" }

    func session(for request: UpgradeRequest, on node: NodeService) -> any WebSocketDelegate {
        native.session(for: request, on: node)
    }
}
