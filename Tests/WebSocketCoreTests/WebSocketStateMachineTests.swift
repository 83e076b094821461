import NIOCore
import NIOWebSocket
import Testing
@testable import WebSocketCore

@Suite("The protocol state machine, without I/O")
struct WebSocketStateMachineTests {
    let options = WebSocketOptions(pingInterval: .seconds(30))
    let now = NIODeadline.uptimeNanoseconds(0)

    func frame(_ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true) -> WebSocketFrame {
        let key: WebSocketMaskingKey = [1, 2, 3, 4]
        var data = ByteBuffer(bytes: payload)
        data.webSocketMask(key)
        return WebSocketFrame(fin: fin, opcode: opcode, maskKey: key, data: data)
    }

    @Test func deliversAssembledMessages() {
        var machine = WebSocketStateMachine(options: self.options)
        #expect(machine.frameReceived(self.frame(.binary, [1, 2], fin: false), options: self.options, now: self.now) == .none)
        #expect(machine.frameReceived(self.frame(.continuation, [3]), options: self.options, now: self.now) == .deliver(ByteBuffer(bytes: [1, 2, 3]), isText: false))
        #expect(machine.frameReceived(self.frame(.continuation, [3]), options: self.options, now: self.now) == .fail(.protocolError, reason: "continuation without a message"))
        #expect(machine.phase == .closeSent)
    }

    @Test func closeHandshakeFromThePeer() {
        var machine = WebSocketStateMachine(options: self.options)
        #expect(machine.frameReceived(self.frame(.connectionClose, [0x03, 0xE8]), options: self.options, now: self.now) == .answerClose(code: 1000))
        #expect(machine.phase == .closed)
        #expect(machine.closeRequested() == false)
        #expect(machine.frameReceived(self.frame(.text, [0x41]), options: self.options, now: self.now) == .none)
    }

    @Test func ourCloseThenTimeout() {
        var machine = WebSocketStateMachine(options: self.options)
        let first = machine.closeRequested()
        let second = machine.closeRequested()
        #expect(first && !second)
        #expect(machine.frameReceived(self.frame(.ping, []), options: self.options, now: self.now) == .none)
        #expect(machine.timerFired(pingInterval: .seconds(30)) == .closeConnection)
        #expect(machine.timerFired(pingInterval: .seconds(30)) == .none)
    }

    @Test func keepAlive() {
        var machine = WebSocketStateMachine(options: self.options)
        #expect(machine.timerFired(pingInterval: .seconds(30)) == .ping)
        #expect(machine.awaitingPong)
        #expect(machine.frameReceived(self.frame(.pong, []), options: self.options, now: self.now) == .none)
        #expect(!machine.awaitingPong)
        #expect(machine.timerFired(pingInterval: .seconds(30)) == .ping)
        #expect(machine.timerFired(pingInterval: .seconds(30)) == .abandon(.goingAway, reason: "ping timeout"))
        #expect(machine.isClosing)
    }

    @Test func decoderErrors() {
        var machine = WebSocketStateMachine(options: self.options)
        #expect(machine.decoderFailed(.invalidFrameLength) == .messageTooLarge)
        #expect(machine.decoderFailed(.fragmentedControlFrame) == nil)
        var other = WebSocketStateMachine(options: self.options)
        #expect(other.decoderFailed(.multiByteControlFrameLength) == .protocolError)
    }
}
