import NIOCore
import NIOWebSocket
import Testing
@testable import WebSocketCore

@Suite("Frame parser")
struct WebSocketFrameParserTests {
    static func frames(_ parser: inout WebSocketFrameParser) throws -> [WebSocketFrame] {
        var frames: [WebSocketFrame] = []
        while let frame = try parser.next() { frames.append(frame) }
        return frames
    }

    @Test(arguments: [0, 5, 125, 126, 65_535, 65_536])
    func lengthsOfEveryEncoding(_ length: Int) throws {
        let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0) }
        var parser = WebSocketFrameParser(maxFrameSize: 1 << 20)
        parser.append(ByteBuffer(bytes: ClientFrame.binary(payload)))
        let frames = try Self.frames(&parser)
        #expect(frames.count == 1)
        #expect(frames.first.map { Array($0.unmaskedData.readableBytesView) } == payload)
        #expect(frames.first?.opcode == .binary && frames.first?.fin == true && frames.first?.maskKey != nil)
    }

    @Test func byteByByteThenSeveralInOneRead() throws {
        let bytes = ClientFrame.text("hello", fin: false) + ClientFrame.ping([7]) + ClientFrame.continuation(Array(" you".utf8))
        var parser = WebSocketFrameParser(maxFrameSize: 1 << 20)
        var frames: [WebSocketFrame] = []
        for byte in bytes {
            parser.append(ByteBuffer(bytes: [byte]))
            frames += try Self.frames(&parser)
        }
        #expect(frames.map(\.opcode) == [.text, .ping, .continuation])
        #expect(frames.map(\.fin) == [false, true, true])
        var again = WebSocketFrameParser(maxFrameSize: 1 << 20)
        again.append(ByteBuffer(bytes: bytes))
        #expect(try Self.frames(&again).map { Array($0.unmaskedData.readableBytesView) } == [Array("hello".utf8), [7], Array(" you".utf8)])
    }

    @Test func reservedBitsAndUnknownOpcodesAreHandedOnForTheStateMachine() throws {
        var parser = WebSocketFrameParser(maxFrameSize: 100)
        var bytes = ClientFrame.bytes(opcode: 0x3, [])
        bytes[0] |= 0x40
        parser.append(ByteBuffer(bytes: bytes))
        let frame = try #require(try parser.next())
        #expect(frame.rsv1 && frame.opcode == WebSocketOpcode(encodedWebSocketOpcode: 0x3))
    }

    @Test func anOversizedFrameFailsFromItsHeaderAndNothingIsParsedAfter() throws {
        var parser = WebSocketFrameParser(maxFrameSize: 10)
        parser.append(ByteBuffer(bytes: ClientFrame.header(declaring: 11)))
        #expect(throws: NIOWebSocketError.invalidFrameLength) { try parser.next() }
        parser.append(ByteBuffer(bytes: ClientFrame.text("ok")))
        #expect(try parser.next() == nil)
    }
}
