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

    /// Answers every ping the server sends with a pong, on a thread of its own (not the
    /// concurrency pool, which a busy test process can hold up for seconds), until the
    /// server closes the connection or ``close()`` is called: a client whose liveness does
    /// not depend on the test process's load. ``isAnswering`` turns false when it stops.
    public func answerPings() {
        answering.store(true, ordering: .relaxed)
        let thread = Thread { [self] in
            socket.setTimeouts(milliseconds: 200)
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            defer { answering.store(false, ordering: .relaxed) }
            while !isClosed.load(ordering: .relaxed) {
                let count = buffer.withUnsafeMutableBytes { recv(socket.descriptor, $0.baseAddress!, 65_536, 0) }
                if count == 0 { return }
                if count < 0 {
                    if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { continue }
                    return
                }
                pending += buffer[..<count]
                while let (opcode, payload, used) = Self.serverFrame(in: pending) {
                    pending.removeFirst(used)
                    // A pong with the ping's payload, masked with a zero key (so the payload
                    // goes as is), as a client must mask.
                    if opcode == 0x9, !socket.send([0x8A, 0x80 | UInt8(payload.count), 0, 0, 0, 0] + payload) { return }
                }
            }
        }
        thread.start()
    }

    /// Whether ``answerPings()`` still runs (false once the server closed the connection).
    public var isAnswering: Bool { answering.load(ordering: .relaxed) }
    private let answering = Atomic<Bool>(false)

    /// The first complete unmasked frame in `bytes`: its opcode, its payload (control frames
    /// only; others are skipped), and how many bytes it took.
    static func serverFrame(in bytes: [UInt8]) -> (opcode: UInt8, payload: [UInt8], used: Int)? {
        guard bytes.count >= 2 else { return nil }
        var length = Int(bytes[1] & 0x7F)
        var offset = 2
        if length == 126 {
            guard bytes.count >= 4 else { return nil }
            length = Int(bytes[2]) << 8 | Int(bytes[3])
            offset = 4
        } else if length == 127 {
            guard bytes.count >= 10 else { return nil }
            length = bytes[2..<10].reduce(0) { $0 << 8 | Int($1) }
            offset = 10
        }
        guard bytes.count >= offset + length else { return nil }
        let opcode = bytes[0] & 0x0F
        return (opcode, opcode >= 0x8 ? Array(bytes[offset..<offset + length]) : [], offset + length)
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
