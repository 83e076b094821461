import EchoProtocol
import FleetNode
import HummingbirdWSClient
import Logging
import NativeProtocol
import NIOCore
import NIOWebSocket
import PusherCore
import PusherProtocol
import Testing
import WSCTesting

/// `ECHO_PATH`: every message back as it came, up to `maxMessageSize`, with none of the
/// product's machinery; and not there at all when unset.
@Suite("Echo path (conformance testing)")
struct EchoProtocolTests {
    static let maxMessageSize = 1024

    /// A node serving the native protocol on `/`, Pusher on `/app/{key}` and the echo on
    /// `/echo`, with a small message limit.
    func withEchoNode(_ body: @Sendable (TestFleet) async throws -> Void) async throws {
        try await withFleet(
            .embedded, nodes: 1, gateways: 1,
            configure: { $0.maxMessageSize = Self.maxMessageSize },
            protocols: [
                NativeProtocol(), EchoProtocol(path: "/echo"),
                PusherProtocol(configuration: .init(apps: try PusherApps([PusherApp(id: "1", key: "app-key", secret: "app-secret")]))),
            ],
            body
        )
    }

    @Test("text comes back as text and binary as binary, byte for byte, fragmented or not, without a rate limit")
    func echoes() async throws {
        try await withEchoNode { fleet in
            let url = "ws://127.0.0.1:\(fleet.nodePorts[0])/echo"
            let close = try await exchange(url) { outbound, replies in
                let sent: [WebSocketMessage] = [
                    .text("héllo ✓"), .binary(ByteBuffer(bytes: [0, 1, 0xFF, 0xFE])), .text(""), .binary(ByteBuffer()),
                    .text(String(repeating: "x", count: Self.maxMessageSize)),
                    .binary(ByteBuffer(repeating: 7, count: Self.maxMessageSize)),
                ]
                for message in sent {
                    switch message {
                    case .text(let text): try await outbound.write(.text(text))
                    case .binary(let bytes): try await outbound.write(.binary(bytes))
                    }
                    #expect(try await replies.next() == message)
                }
                // A message in three fragments comes back whole.
                try await outbound.withTextMessageWriter { write in
                    try await write("ab")
                    try await write("c✓")
                    try await write("d")
                }
                #expect(try await replies.next() == .text("abc✓d"))
                // Far past the native protocol's 50 messages per second: every one is echoed.
                for index in 0..<200 { try await outbound.write(.text("\(index)")) }
                for index in 0..<200 { #expect(try await replies.next() == .text("\(index)")) }
                // An echo socket is no connection of the hub: no _id, not counted, not bound.
                #expect(try await fleet.get("event=getConnectionCount").total("getConnectionCount") == 0)
            }
            #expect(close == .normalClosure)
        }
    }

    /// The node's paths, with what each sends before anything else.
    static let paths = ["/echo", "/", "/app/app-key?protocol=7"]
    static let greetings = ["\"cmd\":\"open\"", "reconnect_token", "pusher:connection_established"]

    @Test("a message over the limit closes with 1009, whole or in fragments, on every path", arguments: [1, 3], paths)
    func tooLarge(fragments: Int, path: String) async throws {
        try await withEchoNode { fleet in
            let url = "ws://127.0.0.1:\(fleet.nodePorts[0])\(path)"
            let close = try await exchange(url) { outbound, replies in
                let part = String(repeating: "y", count: Self.maxMessageSize / fragments + 1)
                try await outbound.withTextMessageWriter { write in
                    for _ in 0..<fragments { try await write(part) }
                }
                try await expectOnlyGreetings(&replies)
            }
            #expect(close == .messageTooLarge)
        }
    }

    /// RFC 6455 8.1: a text message that is not UTF-8 fails the connection (1007), on every
    /// path: the node's WebSocket layer validates text for all of its protocols.
    @Test("a text message that is not UTF-8 closes with 1007, on every path", arguments: paths)
    func invalidUTF8(path: String) async throws {
        try await withEchoNode { fleet in
            let url = "ws://127.0.0.1:\(fleet.nodePorts[0])\(path)"
            let close = try await exchange(url) { outbound, replies in
                // κό then an encoded UTF-16 surrogate (ED A0 80), which UTF-8 forbids.
                let bytes: [UInt8] = [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xED, 0xA0, 0x80, 0x65]
                try await outbound.write(.custom(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(bytes: bytes))))
                try await expectOnlyGreetings(&replies)
            }
            #expect(close == .dataInconsistentWithMessage)
        }
    }

    /// Reads until the server closes: the protocol's greetings may come, nothing else (no
    /// echo, no reply to the refused message).
    func expectOnlyGreetings(_ replies: inout WebSocketInboundMessageStream.AsyncIterator) async throws {
        while let reply = try await replies.next() {
            guard case .text(let text) = reply, Self.greetings.contains(where: text.contains) else {
                Issue.record("unexpected reply: \(reply)")
                continue
            }
        }
    }

    @Test("without the option the path is not served: no socket")
    func notServedWhenUnset() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1) { fleet in
            let response = try await RawHTTP.exchange(port: fleet.nodePorts[0], RawHTTP.upgradeRequest("/echo"), linger: 0.2)
            #expect(response.status >= 400 && response.status < 500, "\(response)")
        }
    }

    @Test("paths it accepts", arguments: ["/echo", "/conformance/echo", "/a.b-c_d~9", "/App"])
    func acceptedPaths(path: String) {
        #expect(EchoProtocol.problem(with: path) == nil)
    }

    @Test("paths it refuses, with the reason", arguments: [
        "", "echo", "/", "//echo", "/echo/", "/./echo", "/..", "/{key}", "/*", "/**", "/echo?x=1", "/e cho", "/échо",
        "/app", "/app/key", "/healthz", "/readyz", "/metrics", "/metrics/x",
    ])
    func refusedPaths(path: String) {
        #expect(EchoProtocol.problem(with: path) != nil, "\(path) was accepted")
    }
}

/// Opens a WebSocket on `url`, runs `body` with its writer and an iterator over the messages
/// it receives, and returns the close code the server sent (nil without one). Fails the test
/// instead of hanging when the whole exchange takes longer than `timeout`.
func exchange(
    _ url: String, within timeout: Duration = .seconds(10),
    _ body: @escaping @Sendable (WebSocketOutboundWriter, inout WebSocketInboundMessageStream.AsyncIterator) async throws -> Void
) async throws -> WebSocketErrorCode? {
    try await withThrowingTaskGroup(of: WebSocketErrorCode??.self) { group in
        group.addTask {
            let close = try await WebSocketClient.connect(
                url: url, configuration: .init(maxFrameSize: 1 << 20), logger: Logger(label: "echo-test")
            ) { inbound, outbound, _ in
                var replies = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                try await body(outbound, &replies)
            }
            return .some(close?.closeCode)
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            return .none
        }
        defer { group.cancelAll() }
        let first = try await group.next() ?? nil
        return try #require(first, "the WebSocket exchange with \(url) took longer than \(timeout)")
    }
}
