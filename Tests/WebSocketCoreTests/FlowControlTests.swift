import NIOCore
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
}
