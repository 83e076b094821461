import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing
@testable import WebSocketCore

@Suite("Open and close are told once; the delegate is let go")
struct LifecycleTests {
    @Test func openWhenAddedToAnActiveChannelAndCloseOnce() throws {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        weak var weakDelegate: RecordingDelegate?
        let socket: ServerWebSocket
        do {
            let delegate = RecordingDelegate()
            weakDelegate = delegate
            socket = ServerWebSocket(options: WebSocketOptions(), delegate: delegate, eventLoop: channel.eventLoop)
            try channel.pipeline.syncOperations.addHandler(socket)
            #expect(delegate.opened == 1)
            #expect(delegate.closed == 0)
            try channel.close().wait()
            channel.embeddedEventLoop.run()  // the handlers are removed after the close
            #expect(delegate.opened == 1)
            #expect(delegate.closed == 1)
        }
        #expect(weakDelegate == nil)
        #expect(socket.isClosing)
    }

    @Test func openAtChannelActiveAndCloseWhenRemoved() throws {
        let channel = EmbeddedChannel()
        let delegate = RecordingDelegate()
        let socket = ServerWebSocket(options: WebSocketOptions(), delegate: delegate, eventLoop: channel.eventLoop)
        try channel.pipeline.syncOperations.addHandler(socket)
        #expect(delegate.opened == 0)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        #expect(delegate.opened == 1)
        try channel.pipeline.syncOperations.removeHandler(socket).wait()
        #expect(delegate.closed == 1)
        _ = try channel.finish(acceptAlreadyClosed: true)
        #expect(delegate.closed == 1)
    }

    @Test func setsSmallReadBuffersAndWatermarks() throws {
        let harness = try SocketHarness()
        let options = harness.channel.options
        #expect(options.contains { $0.option is ChannelOptions.Types.RecvAllocatorOption })
        let watermark = options.compactMap { $0.value as? ChannelOptions.Types.WriteBufferWaterMark }.first
        #expect(watermark?.low == 32 * 1024)
        #expect(watermark?.high == 64 * 1024)
    }
}
