import NIOCore
import Testing
import WSCTesting
@testable import WebSocketCore

@Suite("Messages: delivery, fragments, size and UTF-8")
struct MessageTests {
    @Test func textAndBinaryAreDeliveredUnmaskedAndEchoed() throws {
        let harness = try SocketHarness()
        try harness.receive(ClientFrame.text("hello") + ClientFrame.binary([0, 1, 2, 0xFF]))
        #expect(harness.delegate.messages == [
            .init(bytes: Array("hello".utf8), isText: true),
            .init(bytes: [0, 1, 2, 0xFF], isText: false),
        ])
        let frames = try harness.written()
        #expect(frames == [
            Out(0x1, Array("hello".utf8)),
            Out(0x2, [0, 1, 2, 0xFF]),
        ])
        #expect(harness.isOpen)
    }

    @Test func emptyTextMessage() throws {
        let harness = try SocketHarness()
        try harness.receive(ClientFrame.text(""))
        #expect(harness.delegate.messages == [.init(bytes: [], isText: true)])
    }

    @Test func fragmentsAreAssembledAroundAPing() throws {
        let harness = try SocketHarness()
        try harness.receive(ClientFrame.text("Hel", fin: false))
        try harness.receive(ClientFrame.ping([7, 8]))
        #expect(try harness.written() == [Out(0xA, [7, 8])])
        try harness.receive(ClientFrame.continuation(Array("lo, ".utf8), fin: false))
        #expect(harness.delegate.messages.isEmpty)
        try harness.receive(ClientFrame.continuation(Array("world".utf8)))
        #expect(harness.delegate.messages == [.init(bytes: Array("Hello, world".utf8), isText: true)])
        #expect(try harness.written() == [Out(0x1, Array("Hello, world".utf8))])
    }

    @Test func fragmentedBinaryWithEmptyFragments() throws {
        let harness = try SocketHarness()
        try harness.receive(ClientFrame.binary([], fin: false) + ClientFrame.continuation([1, 2, 3], fin: false) + ClientFrame.continuation([]))
        #expect(harness.delegate.messages == [.init(bytes: [1, 2, 3], isText: false)])
    }

    @Test func aCharacterSplitAcrossFragmentsIsValid() throws {
        let harness = try SocketHarness()
        let kappa = Array("κόσμε".utf8)
        try harness.receive(ClientFrame.bytes(opcode: 0x1, Array(kappa[..<1]), fin: false))
        try harness.receive(ClientFrame.continuation(Array(kappa[1...])))
        #expect(harness.delegate.messages.map(\.text) == ["κόσμε"])
    }

    @Test func aFrameOverTheLimitCloses1009() throws {
        let harness = try SocketHarness(options: WebSocketOptions(maxMessageSize: 16, pingInterval: nil))
        try harness.receive(ClientFrame.binary(Array(repeating: 1, count: 17)))
        #expect(SocketHarness.closeCode(try harness.written()) == 1009)
        #expect(harness.delegate.messages.isEmpty)
        #expect(!harness.isOpen)
    }

    @Test func fragmentsOverTheLimitClose1009() throws {
        let harness = try SocketHarness(options: WebSocketOptions(maxMessageSize: 16, pingInterval: nil))
        try harness.receive(ClientFrame.binary(Array(repeating: 1, count: 10), fin: false))
        try harness.receive(ClientFrame.continuation(Array(repeating: 2, count: 6), fin: false))
        #expect(try harness.written().isEmpty)
        try harness.receive(ClientFrame.continuation([3]))
        #expect(SocketHarness.closeCode(try harness.written()) == 1009)
        #expect(harness.delegate.messages.isEmpty)
        #expect(harness.socket.isClosing)
    }

    @Test func exactlyTheLimitIsAccepted() throws {
        let harness = try SocketHarness(options: WebSocketOptions(maxMessageSize: 16, pingInterval: nil), echo: false)
        try harness.receive(ClientFrame.binary(Array(repeating: 1, count: 8), fin: false) + ClientFrame.continuation(Array(repeating: 2, count: 8)))
        #expect(harness.delegate.messages.count == 1)
        #expect(try harness.written().isEmpty)
    }

    @Test func invalidUTF8InAWholeMessageCloses1007() throws {
        let harness = try SocketHarness()
        try harness.receive(ClientFrame.bytes(opcode: 0x1, [0xCE, 0xBA, 0xFF, 0x41]))
        #expect(SocketHarness.closeCode(try harness.written()) == 1007)
        #expect(harness.delegate.messages.isEmpty)
    }

    @Test func invalidUTF8InAFragmentClosesBeforeTheMessageEnds() throws {
        let harness = try SocketHarness()
        try harness.receive(ClientFrame.text("ok", fin: false))
        try harness.receive(ClientFrame.continuation([0xED, 0xA0, 0x80], fin: false))  // a surrogate
        #expect(SocketHarness.closeCode(try harness.written()) == 1007)
    }

    @Test func aMessageEndingInsideACharacterCloses1007() throws {
        let harness = try SocketHarness()
        try harness.receive(ClientFrame.bytes(opcode: 0x1, [0x41, 0xE2, 0x82]))
        #expect(SocketHarness.closeCode(try harness.written()) == 1007)
    }

    @Test func binaryIsNotValidated() throws {
        let harness = try SocketHarness(echo: false)
        try harness.receive(ClientFrame.binary([0xFF, 0xFE]))
        #expect(harness.delegate.messages.count == 1)
    }

    @Test func validationCanBeTurnedOff() throws {
        let harness = try SocketHarness(options: WebSocketOptions(pingInterval: nil, validateUTF8: false), echo: false)
        try harness.receive(ClientFrame.bytes(opcode: 0x1, [0xFF]))
        #expect(harness.delegate.messages == [.init(bytes: [0xFF], isText: true)])
    }
}
