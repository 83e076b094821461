import NIOCore
import Testing
import WSCTesting
@testable import WebSocketCore

@Suite("Keep-alive pings")
struct KeepAliveTests {
    static let options = WebSocketOptions(pingInterval: .seconds(30), closeTimeout: .seconds(5))

    @Test func pingsEveryIntervalWhileAnswered() throws {
        let harness = try SocketHarness(options: Self.options)
        harness.advance(.seconds(29))
        #expect(try harness.written().isEmpty)
        harness.advance(.seconds(1))
        #expect(try harness.written() == [Out(0x9, [])])
        try harness.receive(ClientFrame.pong())
        harness.advance(.seconds(30))
        #expect(try harness.written() == [Out(0x9, [])])
        try harness.receive(ClientFrame.pong())
        harness.advance(.seconds(30))
        #expect(try harness.written().map(\.opcode) == [0x9])
        #expect(harness.isOpen)
    }

    /// A peer that answers no ping will not answer a close either: TCP closes as soon as the
    /// close frame is written, without the close timeout.
    @Test func noPongCloses1001AndTCPAtOnce() throws {
        let harness = try SocketHarness(options: Self.options)
        harness.advance(.seconds(30))
        #expect(try harness.written().map(\.opcode) == [0x9])
        harness.advance(.seconds(30))
        let frames = try harness.written()
        #expect(SocketHarness.closeCode(frames) == 1001)
        #expect(frames.first?.payload.dropFirst(2).elementsEqual("ping timeout".utf8) == true)
        #expect(!harness.isOpen)
        #expect(harness.delegate.closed == 1)
    }

    @Test func noPingsWithoutAnInterval() throws {
        let harness = try SocketHarness(options: WebSocketOptions(pingInterval: nil))
        harness.advance(.hours(1))
        #expect(try harness.written().isEmpty)
        #expect(harness.isOpen)
    }

    @Test func closingStopsThePings() throws {
        let harness = try SocketHarness(options: Self.options)
        try harness.receive(ClientFrame.close(code: 1000))
        _ = try harness.written()
        harness.advance(.seconds(120))
        #expect(try harness.written().isEmpty)
    }
}
