import NIOCore
import NIOEmbedded
import NIOWebSocket
import WSCTesting
@testable import WebSocketCore

/// Records what a socket tells its delegate; echoes messages when asked to.
final class RecordingDelegate: WebSocketDelegate {
    struct Message: Equatable {
        let bytes: [UInt8]
        let isText: Bool
        var text: String { String(decoding: bytes, as: UTF8.self) }
    }

    var opened = 0
    var closed = 0
    var messages: [Message] = []
    let echo: Bool

    init(echo: Bool = false) { self.echo = echo }

    func webSocketDidOpen(_ socket: ServerWebSocket) { self.opened += 1 }

    func webSocket(_ socket: ServerWebSocket, didReceive message: ByteBuffer, isText: Bool) {
        self.messages.append(Message(bytes: Array(message.readableBytesView), isText: isText))
        if self.echo { socket.send(message, opcode: isText ? .text : .binary) }
    }

    func webSocketDidClose(_ socket: ServerWebSocket) { self.closed += 1 }
}

/// A frame the server wrote: its opcode and payload.
struct Out: Equatable, CustomStringConvertible {
    let opcode: UInt8
    let payload: [UInt8]

    init(_ opcode: UInt8, _ payload: [UInt8]) {
        self.opcode = opcode
        self.payload = payload
    }

    /// The frames in raw server bytes.
    static func frames(in bytes: [UInt8]) -> [Out] {
        RawWebSocket.frames(in: bytes).map { Out($0.opcode, $0.payload) }
    }

    /// The close code of a close frame.
    var closeCode: Int? {
        guard self.opcode == 0x8, self.payload.count >= 2 else { return nil }
        return Int(self.payload[0]) << 8 | Int(self.payload[1])
    }

    var description: String { "Out(0x\(String(self.opcode, radix: 16)), \(self.payload.count) bytes)" }
}

/// An active EmbeddedChannel with a ServerWebSocket: raw bytes in,
/// raw frames out, time advanced by hand.
struct SocketHarness {
    let channel: EmbeddedChannel
    let socket: ServerWebSocket
    let delegate: RecordingDelegate

    init(options: WebSocketOptions = WebSocketOptions(pingInterval: nil), echo: Bool = true) throws {
        self.channel = EmbeddedChannel()
        self.delegate = RecordingDelegate(echo: echo)
        self.socket = ServerWebSocket(options: options, delegate: self.delegate, eventLoop: self.channel.eventLoop)
        try self.channel.pipeline.syncOperations.addHandler(self.socket)
        try self.channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40_000)).wait()
    }

    /// Feeds raw bytes as if read from the network.
    func receive(_ bytes: [UInt8]) throws {
        guard self.channel.isActive else { return }
        try self.channel.writeInbound(ByteBuffer(bytes: bytes))
    }

    /// The frames written since the last call.
    func written() throws -> [Out] {
        var bytes: [UInt8] = []
        while let buffer = try self.channel.readOutbound(as: ByteBuffer.self) {
            bytes += buffer.readableBytesView
        }
        return Out.frames(in: bytes)
    }

    /// The close code of the only close frame among `frames`.
    static func closeCode(_ frames: [Out]) -> Int? {
        let closes = frames.filter { $0.opcode == 0x8 }
        return closes.count == 1 ? closes[0].closeCode : nil
    }

    func advance(_ amount: TimeAmount) { self.channel.embeddedEventLoop.advanceTime(by: amount) }

    var isOpen: Bool { self.channel.isActive }
}
