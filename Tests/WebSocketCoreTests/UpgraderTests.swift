import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOWebSocket
import Testing
@testable import WebSocketCore

@Suite("The upgrader's handshake checks")
struct UpgraderTests {
    static func request(key: [String] = ["dGhlIHNhbXBsZSBub25jZQ=="], version: [String] = ["13"]) -> HTTPRequestHead {
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/chat")
        head.headers.add(name: "Host", value: "server.example.com")
        head.headers.add(name: "Upgrade", value: "websocket")
        head.headers.add(name: "Connection", value: "Upgrade")
        for value in key { head.headers.add(name: "Sec-WebSocket-Key", value: value) }
        for value in version { head.headers.add(name: "Sec-WebSocket-Version", value: value) }
        return head
    }

    static func upgrader(accept: Bool = true) -> WebSocketServerUpgrader<Void> {
        WebSocketServerUpgrader(
            shouldUpgrade: { channel, _ in
                channel.eventLoop.makeSucceededFuture(accept ? HTTPHeaders([("X-Extra", "1")]) : nil)
            },
            upgradePipelineHandler: { channel, _ in channel.eventLoop.makeSucceededVoidFuture() }
        )
    }

    static func response(_ head: HTTPRequestHead, accept: Bool = true) throws -> Result<HTTPHeaders, any Error> {
        let channel = EmbeddedChannel()
        let future = upgrader(accept: accept).buildUpgradeResponse(channel: channel, upgradeRequest: head, initialResponseHeaders: [:])
        channel.embeddedEventLoop.run()
        return Result { try future.wait() }
    }

    @Test func rfcExampleAcceptKey() {
        #expect(WebSocketHandshake.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test func acceptsAValidRequest() throws {
        let headers = try Self.response(Self.request()).get()
        #expect(headers["Sec-WebSocket-Accept"] == ["s3pPLMBiTxaQ9kYGzzhZRbK+xOo="])
        #expect(headers["Upgrade"] == ["websocket"])
        #expect(headers["Connection"] == ["upgrade"])
        #expect(headers["X-Extra"] == ["1"])
        #expect(Self.upgrader().supportedProtocol == "websocket")
    }

    @Test(arguments: [
        ("no version", request(version: [])),
        ("version 8", request(version: ["8"])),
        ("two versions", request(version: ["13", "13"])),
        ("no key", request(key: [])),
        ("two keys", request(key: ["dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ=="])),
        ("key of 15 bytes", request(key: ["dGhlIHNhbXBsZSBub25jZQ"])),
        ("key not base64", request(key: ["dGhlIHNhbXBsZSBub25j*Q=="])),
        ("key of 12 bytes", request(key: ["dGhlIHNhbXBsZSBu"])),
    ] as [(String, HTTPRequestHead)])
    func refusesABadHandshake(_ name: String, _ head: HTTPRequestHead) throws {
        let result = try Self.response(head)
        #expect(throws: NIOWebSocketUpgradeError.invalidUpgradeHeader, "\(name)") { try result.get() }
    }

    @Test func refusedByTheApplication() throws {
        let result = try Self.response(Self.request(), accept: false)
        #expect(throws: NIOWebSocketUpgradeError.unsupportedWebSocketTarget) { try result.get() }
    }

    /// The socket reads its frames itself: the upgrade adds no decoder, and no encoder.
    @Test func upgradeAddsNoCodec() throws {
        let channel = EmbeddedChannel()
        try Self.upgrader().upgrade(channel: channel, upgradeRequest: Self.request()).wait()
        #expect(throws: (any Error).self) { try channel.pipeline.syncOperations.handler(type: ByteToMessageHandler<WebSocketFrameDecoder>.self) }
        #expect(throws: (any Error).self) { try channel.pipeline.syncOperations.handler(type: WebSocketFrameEncoder.self) }
    }

    @Test func base64RoundTrips() {
        for count in 0..<20 {
            let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 * 37 + 11) }
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
        }
        #expect(Base64.encode(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(Base64.encode(Array("fo".utf8)) == "Zm8=")
        #expect(Base64.decode("Zm9=v") == nil)
        #expect(Base64.decode("Z===") == nil)
    }
}
