import NIOCore
import NIOWebSocket
import Testing
import WSCTesting
@testable import WebSocketCore

@Suite("Encoded server frames")
struct WebSocketFramesTests {
    @Test(arguments: [(0, 2), (125, 2), (126, 4), (65_535, 4), (65_536, 10)])
    func headerSizes(_ length: Int, _ header: Int) {
        let payload = ByteBuffer(repeating: 0x61, count: length)
        let frame = WebSocketFrames.encode(payload, opcode: .binary)
        #expect(frame.readableBytes == header + length)
        let bytes = Array(frame.readableBytesView.prefix(header))
        #expect(bytes[0] == 0x82)  // FIN, binary
        switch header {
        case 2: #expect(bytes[1] == UInt8(length))
        case 4: #expect(bytes[1] == 126 && Int(bytes[2]) << 8 | Int(bytes[3]) == length)
        default: #expect(bytes[1] == 127 && bytes[2...].reduce(0) { $0 << 8 | Int($1) } == length)
        }
        let frames = RawWebSocket.frames(in: Array(frame.readableBytesView))
        #expect(frames.count == 1 && frames[0].payload.count == length)
    }

    @Test func encodeLeavesThePayloadAlone() {
        var payload = ByteBuffer(string: "xxhello")
        payload.moveReaderIndex(forwardBy: 2)
        let frame = WebSocketFrames.encode(payload)
        #expect(Out.frames(in: Array(frame.readableBytesView)) == [Out(0x1, Array("hello".utf8))])
        #expect(payload.readableBytes == 5)
    }

    @Test func text() {
        let frame = WebSocketFrames.text("héllo")
        #expect(Out.frames(in: Array(frame.readableBytesView)) == [Out(0x1, Array("héllo".utf8))])
    }

    @Test func closeWithReason() {
        let frame = WebSocketFrames.close(code: .policyViolation, reason: "no")
        #expect(Array(frame.readableBytesView) == [0x88, 4, 0x03, 0xF0, 0x6E, 0x6F])
    }

    @Test func closeReasonIsCutOnACharacterBoundary() {
        let reason = String(repeating: "é", count: 100)  // 200 bytes
        let frame = WebSocketFrames.close(code: .normalClosure, reason: reason)
        let frames = RawWebSocket.frames(in: Array(frame.readableBytesView))
        #expect(frames.count == 1)
        let reasonBytes = Array(frames[0].payload.dropFirst(2))
        #expect(reasonBytes.count == 122)  // 61 characters; 123 would split one
        #expect(String(validating: reasonBytes, as: UTF8.self) == String(repeating: "é", count: 61))
        let ascii = WebSocketFrames.close(code: .normalClosure, reason: String(repeating: "a", count: 300))
        #expect(ascii.readableBytes == 2 + 125)
    }
}
