import NIOCore
import NIOWebSocket
import Testing
import WSCTesting
@testable import WebSocketCore

@Suite("The close handshake")
struct CloseTests {
    @Test(arguments: [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999] as [UInt16])
    func theClientsCloseIsEchoedThenTCPCloses(_ code: UInt16) throws {
        let harness = try SocketHarness()
        try harness.receive(ClientFrame.close(code: code, reason: Array("bye".utf8)))
        let frames = try harness.written()
        #expect(frames == [Out(0x8, [UInt8(code >> 8), UInt8(code & 0xFF)])])
        #expect(!harness.isOpen)
        #expect(harness.delegate.closed == 1)
    }

    @Test func anEmptyCloseIsAnsweredWithAnEmptyClose() throws {
        let harness = try SocketHarness()
        try harness.receive(ClientFrame.bytes(opcode: 0x8))
        #expect(try harness.written() == [Out(0x8, [])])
        #expect(!harness.isOpen)
    }

    @Test func ourCloseWaitsForThePeersClose() throws {
        let harness = try SocketHarness()
        harness.socket.send(text: "before")
        harness.socket.close(code: .normalClosure, reason: "bye")
        harness.socket.close(code: .goingAway, reason: "ignored: the first close wins")
        harness.socket.send(text: "after: dropped")
        let frames = try harness.written()
        #expect(frames == [
            Out(0x1, Array("before".utf8)),
            Out(0x8, [0x03, 0xE8] + Array("bye".utf8)),
        ])
        #expect(harness.socket.isClosing)
        try harness.receive(ClientFrame.text("ignored"))
        #expect(harness.delegate.messages.isEmpty)
        #expect(harness.isOpen)
        try harness.receive(ClientFrame.close(code: 1000))
        #expect(try harness.written().isEmpty)
        #expect(!harness.isOpen)
        #expect(harness.delegate.closed == 1)
    }

    @Test func ourCloseTimesOut() throws {
        let harness = try SocketHarness(options: WebSocketOptions(pingInterval: nil, closeTimeout: .seconds(5)))
        harness.socket.close(code: .goingAway)
        #expect(SocketHarness.closeCode(try harness.written()) == 1001)
        harness.advance(.milliseconds(4_999))
        #expect(harness.isOpen)
        harness.advance(.milliseconds(1))
        #expect(!harness.isOpen)
        #expect(harness.delegate.closed == 1)
    }

    @Test func cutClosesWithoutAFrame() throws {
        let harness = try SocketHarness()
        harness.socket.cut()
        #expect(try harness.written().isEmpty)
        #expect(!harness.isOpen)
        #expect(harness.socket.isClosing)
        #expect(harness.delegate.closed == 1)
    }
}
