import NIOCore
import Testing
import WSCTesting
@testable import WebSocketCore

@Suite("Protocol errors close with 1002")
struct ProtocolErrorTests {
    static let badFrames: [(String, [UInt8])] = [
        ("unmasked", ClientFrame.bytes(opcode: 0x1, Array("hi".utf8), masked: false)),
        ("RSV1", ClientFrame.bytes(opcode: 0x1, Array("hi".utf8), rsv: 0b100)),
        ("RSV2", ClientFrame.bytes(opcode: 0x2, [1], rsv: 0b010)),
        ("RSV3 on a ping", ClientFrame.bytes(opcode: 0x9, [], rsv: 0b001)),
        ("opcode 3", ClientFrame.bytes(opcode: 0x3)),
        ("opcode 7", ClientFrame.bytes(opcode: 0x7, [1, 2])),
        ("opcode 0xB", ClientFrame.bytes(opcode: 0xB)),
        ("opcode 0xF", ClientFrame.bytes(opcode: 0xF, [1])),
        ("continuation without a message", ClientFrame.continuation(Array("x".utf8))),
        ("text inside a fragmented message", ClientFrame.text("a", fin: false) + ClientFrame.text("b")),
        ("binary inside a fragmented message", ClientFrame.binary([1], fin: false) + ClientFrame.binary([2])),
        ("fragmented ping", ClientFrame.bytes(opcode: 0x9, [1], fin: false)),
        ("ping of 126 bytes", ClientFrame.ping(Array(repeating: 0, count: 126))),
        ("close of 1 byte", ClientFrame.bytes(opcode: 0x8, [0x03])),
    ]

    @Test(arguments: badFrames.map(\.0))
    func closes1002(_ name: String) throws {
        let bytes = Self.badFrames.first { $0.0 == name }!.1
        let harness = try SocketHarness()
        try harness.receive(bytes)
        #expect(SocketHarness.closeCode(try harness.written()) == 1002, "\(name)")
        #expect(harness.delegate.messages.isEmpty)
        #expect(harness.socket.isClosing)
    }

    @Test(arguments: [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65_535] as [UInt16])
    func invalidCloseCodesClose1002(_ code: UInt16) throws {
        let harness = try SocketHarness()
        try harness.receive(ClientFrame.close(code: code))
        #expect(SocketHarness.closeCode(try harness.written()) == 1002)
    }

    @Test func anInvalidCloseReasonCloses1007() throws {
        let harness = try SocketHarness()
        try harness.receive(ClientFrame.close(code: 1000, reason: [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xED, 0xA0, 0x80]))
        #expect(SocketHarness.closeCode(try harness.written()) == 1007)
    }

    @Test func afterAFailureTheClientsCloseEndsTheConnection() throws {
        let harness = try SocketHarness()
        try harness.receive(ClientFrame.bytes(opcode: 0x3))
        #expect(SocketHarness.closeCode(try harness.written()) == 1002)
        #expect(harness.isOpen)
        try harness.receive(ClientFrame.text("ignored") + ClientFrame.close(code: 1000))
        #expect(try harness.written().isEmpty)
        #expect(harness.delegate.messages.isEmpty)
        #expect(!harness.isOpen)
        #expect(harness.delegate.closed == 1)
    }

    /// A fragmented control frame is a protocol error like the others: 1002, then the wait
    /// for the peer's close.
    @Test func aFragmentedControlFrameIsAProtocolError() throws {
        let harness = try SocketHarness()
        try harness.receive(ClientFrame.bytes(opcode: 0x9, [1], fin: false))
        #expect(SocketHarness.closeCode(try harness.written()) == 1002)
        #expect(harness.socket.isClosing)
    }

    /// A frame that declares more than the limit cannot be read past: 1009 before its
    /// payload arrives, and our output ends at once.
    @Test func anOversizedFrameEndsOutputAtOnce() throws {
        let harness = try SocketHarness(options: WebSocketOptions(maxMessageSize: 1_000, pingInterval: nil))
        try harness.receive(ClientFrame.header(declaring: 1_001))
        #expect(SocketHarness.closeCode(try harness.written()) == 1009)
        #expect(!harness.isOpen)
        #expect(harness.delegate.closed == 1)
    }
}
