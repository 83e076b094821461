import NIOCore
import NIOHTTP1
import NIOPosix
import Testing
import WSCTesting
@testable import WebSocketCore

@Suite("A real server on loopback")
struct LoopbackTests {
    /// An echo server: NIO's HTTP pipeline, the upgrader, a ServerWebSocket per connection.
    static func withEchoServer(_ body: (Int) async throws -> Void) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let upgrader = WebSocketServerUpgrader<Void>(
                            shouldUpgrade: { channel, head in
                        channel.eventLoop.makeSucceededFuture(head.uri == "/" ? HTTPHeaders() : nil)
                    },
                    upgradePipelineHandler: { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            let socket = ServerWebSocket(
                                options: WebSocketOptions(),
                                delegate: RecordingDelegate(echo: true),
                                eventLoop: channel.eventLoop
                            )
                            try channel.pipeline.syncOperations.addHandler(socket)
                        }
                    }
                )
                let configuration = NIOUpgradableHTTPServerPipelineConfiguration(
                    upgradeConfiguration: NIOTypedHTTPServerUpgradeConfiguration<Void>(
                        upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in channel.close() }
                    )
                )
                return channel.pipeline.configureUpgradableHTTPServerPipeline(configuration: configuration).map { _ in }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        do {
            try await body(server.localAddress!.port!)
        } catch {
            try? await server.close()
            try? await group.shutdownGracefully()
            throw error
        }
        try await server.close()
        try await group.shutdownGracefully()
    }

    @Test func upgradeEchoAndClose() async throws {
        try await Self.withEchoServer { port in
            let close = RawWebSocket.frame(opcode: 0x8, [0x03, 0xE8])
            let response = try await RawWebSocket.afterOpen(port: port, send: RawWebSocket.text("hello") + close, linger: 3)
            #expect(response.status == 101)
            #expect(response.head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))
            #expect(Out.frames(in: response.after) == [
                Out(0x1, Array("hello".utf8)),
                Out(0x8, [0x03, 0xE8]),
            ])
            #expect(response.closed)
        }
    }

    @Test func aDecoderErrorSendsACloseThenEndsTheConnection() async throws {
        try await Self.withEchoServer { port in
            // A header declaring 2 MiB (the limit is 1 MiB): refused before any payload.
            let oversized = ClientFrame.header(declaring: 2 << 20)
            let response = try await RawWebSocket.afterOpen(port: port, send: oversized, linger: 3)
            #expect(response.status == 101)
            #expect(Out.frames(in: response.after).map(\.closeCode) == [1009])
            #expect(response.closed)
        }
    }

    @Test func aBadVersionIsNotUpgraded() async throws {
        try await Self.withEchoServer { port in
            let request = RawHTTP.upgradeRequest("/", extra: ["Sec-WebSocket-Version: 8"])
            let response = try await RawHTTP.exchange(port: port, request, linger: 1)
            #expect(response.status != 101)
            #expect(response.closed)
        }
    }
}
