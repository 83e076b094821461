import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A WebSocket client that completes the opening handshake and then reads nothing more:
/// the kind of client a server must cut off rather than queue messages for without bound.
package final class IdleWebSocket: @unchecked Sendable {
    private let socket: LoopbackSocket
    private let isClosed = Atomic<Bool>(false)

    /// Connects to `ws://127.0.0.1:port/` and reads the 101 response (only that).
    package init(port: Int) throws {
        socket = try LoopbackSocket()
        guard socket.connect(port: port) else {
            socket.close()
            throw WSCTestingError(.systemCallFailed, "cannot connect to 127.0.0.1:\(port)")
        }
        socket.setTimeouts(milliseconds: 5_000)
        let request = "GET / HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        guard socket.send(Array(request.utf8)) else { throw WSCTestingError(.systemCallFailed, "cannot send the handshake") }
        // Read byte by byte up to the end of the response head, so no frame is consumed.
        var head: [UInt8] = []
        while !head.suffix(4).elementsEqual([13, 10, 13, 10]) {
            guard let byte = socket.receive(limit: 1), head.count < 8_192 else {
                throw WSCTestingError(.systemCallFailed, "no complete handshake response")
            }
            head += byte
        }
        guard String(decoding: head, as: UTF8.self).hasPrefix("HTTP/1.1 101") else {
            throw WSCTestingError(.systemCallFailed, "upgrade refused: \(String(decoding: head, as: UTF8.self))")
        }
    }

    /// ``init(port:)`` on a thread of its own, not on the concurrency pool the server under
    /// test needs.
    package static func open(port: Int) async throws -> IdleWebSocket {
        try await RawHTTP.onThread { try IdleWebSocket(port: port) }
    }

    deinit { close() }

    /// Closes the connection from the client's side, without a close frame (once; later
    /// calls do nothing).
    package func close() {
        if !isClosed.exchange(true, ordering: .relaxed) { socket.close() }
    }

    /// ``drainUntilClosed(seconds:)`` on a thread of its own.
    package func waitUntilClosed(seconds: Int) async -> Bool {
        (try? await RawHTTP.onThread { [self] in drainUntilClosed(seconds: seconds) }) ?? false
    }

    /// Reads (and discards) everything the server sent, and tells whether the server closed
    /// the connection: true when the stream ends within `seconds`.
    package func drainUntilClosed(seconds: Int) -> Bool {
        socket.setTimeouts(milliseconds: 200)
        let deadline = Date().addingTimeInterval(TimeInterval(seconds))
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while Date() < deadline {
            let count = buffer.withUnsafeMutableBytes { recv(socket.descriptor, $0.baseAddress!, 65_536, 0) }
            if count == 0 { return true }
            if count < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR { return true }  // reset
        }
        return false
    }
}
