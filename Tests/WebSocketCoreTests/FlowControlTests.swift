import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing
import WSCTesting
@testable import WebSocketCore

@Suite("Limits: client control frames, slow consumers")
struct FlowControlTests {
    @Test func pingsOverTheBudgetAreDroppedUntilItRefills() throws {
        let harness = try SocketHarness(options: WebSocketOptions(pingInterval: nil, controlFramesPerSecond: 10))
        for _ in 0..<11 { try harness.receive(ClientFrame.ping([1])) }
        #expect(try harness.written().count == 10)
        harness.advance(.milliseconds(100))  // one token back
        try harness.receive(ClientFrame.ping([2]))
        try harness.receive(ClientFrame.ping([3]))
        #expect(try harness.written() == [Out(0xA, [2])])
        #expect(harness.isOpen)
        #expect(!harness.socket.isClosing)
    }

    @Test func tooManyDroppedInARowCloses1008() throws {
        let harness = try SocketHarness(options: WebSocketOptions(pingInterval: nil, controlFramesPerSecond: 10))
        for _ in 0..<20 { try harness.receive(ClientFrame.ping()) }
        #expect(try harness.written().count == 10)  // 10 pongs, 10 dropped
        try harness.receive(ClientFrame.ping())
        let frames = try harness.written()
        #expect(SocketHarness.closeCode(frames) == 1008)
        #expect(frames.first?.payload.dropFirst(2).elementsEqual("too many ping frames".utf8) == true)
    }

    @Test func zeroMeansUnlimited() throws {
        let harness = try SocketHarness(options: WebSocketOptions(pingInterval: nil, controlFramesPerSecond: 0))
        for _ in 0..<100 { try harness.receive(ClientFrame.ping()) }
        #expect(try harness.written().count == 100)
    }

    @Test func aReaderThatStopsIsCutWhileUnwritable() throws {
        let harness = try SocketHarness(options: WebSocketOptions(pingInterval: nil, maxQueuedBytes: 1 << 20, maxQueuedMessages: 3))
        let frame = WebSocketFrames.text("x")
        harness.socket.write(frame: frame)  // writable: not counted
        harness.channel.isWritable = false
        harness.channel.pipeline.fireChannelWritabilityChanged()
        for _ in 0..<3 { harness.socket.write(frame: frame) }
        #expect(harness.isOpen)
        harness.socket.write(frame: frame)
        #expect(!harness.isOpen)
        #expect(harness.delegate.closed == 1)
        #expect(try harness.written().allSatisfy { $0.opcode == 0x1 })  // no close frame
    }

    @Test func becomingWritableStartsTheCountAgain() throws {
        let harness = try SocketHarness(options: WebSocketOptions(pingInterval: nil, maxQueuedBytes: 10, maxQueuedMessages: 100))
        let frame = WebSocketFrames.text("abcd")  // 6 bytes
        harness.channel.isWritable = false
        harness.channel.pipeline.fireChannelWritabilityChanged()
        harness.socket.write(frame: frame)
        harness.channel.isWritable = true
        harness.channel.pipeline.fireChannelWritabilityChanged()
        harness.channel.isWritable = false
        harness.channel.pipeline.fireChannelWritabilityChanged()
        harness.socket.write(frame: frame)
        #expect(harness.isOpen)
        harness.socket.write(frame: frame)  // 12 bytes > 10
        #expect(!harness.isOpen)
    }

    /// A socket channel turns unwritable during the write that passes its high watermark:
    /// that write is not counted, so one message larger than the byte limit goes out.
    @Test func theWriteThatMakesItUnwritableDoesNotCount() throws {
        let harness = try SocketHarness(options: WebSocketOptions(pingInterval: nil, maxQueuedBytes: 100, maxQueuedMessages: 100))
        try harness.channel.pipeline.syncOperations.addHandler(UnwritableAfter(bytes: 64), position: .first)
        let large = WebSocketFrames.encode(ByteBuffer(repeating: 0x61, count: 1_000), opcode: .text)
        harness.socket.write(frame: large)
        harness.socket.flush()
        #expect(!harness.channel.isWritable)
        #expect(harness.isOpen, "the large message went out uncounted")
        harness.socket.write(frame: large)
        #expect(!harness.isOpen, "a second one while unwritable passes the limit")
    }
}

/// Makes the channel unwritable, as a socket channel does, during a write that brings what
/// was written past `bytes`.
private final class UnwritableAfter: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    let bytes: Int
    var written = 0
    init(bytes: Int) { self.bytes = bytes }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        written += unwrapOutboundIn(data).readableBytes
        context.write(data, promise: promise)
        if written > bytes, let channel = context.channel as? EmbeddedChannel, channel.isWritable {
            channel.isWritable = false
            context.fireChannelWritabilityChanged()
        }
    }
}
