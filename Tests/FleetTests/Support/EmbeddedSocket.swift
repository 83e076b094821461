import NIOCore
import NIOEmbedded
import WSCTesting
import WebSocketCore

/// A server WebSocket on a connected embedded channel, for tests of what the hub writes;
/// its delegate does nothing.
func embeddedSocket() -> (EmbeddedChannel, ServerWebSocket) {
    let loop = EmbeddedEventLoop()
    let socket = ServerWebSocket(options: WebSocketOptions(pingInterval: nil), delegate: SilentDelegate(), eventLoop: loop)
    let channel = EmbeddedChannel(handler: socket, loop: loop)
    _ = try? channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
    return (channel, socket)
}

/// The text messages written to `channel` so far (its loop's queued work run first).
func textsWritten(on channel: EmbeddedChannel) -> [String] {
    channel.embeddedEventLoop.run()
    var bytes: [UInt8] = []
    while let buffer = try? channel.readOutbound(as: ByteBuffer.self) { bytes += buffer.readableBytesView }
    return RawWebSocket.frames(in: bytes).filter { $0.opcode == 0x1 }.map(\.text)
}

private final class SilentDelegate: WebSocketDelegate {
    func webSocketDidOpen(_ socket: ServerWebSocket) {}
    func webSocket(_ socket: ServerWebSocket, didReceive message: ByteBuffer, isText: Bool) {}
    func webSocketDidClose(_ socket: ServerWebSocket) {}
}
