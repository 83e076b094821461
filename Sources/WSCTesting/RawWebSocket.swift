import Foundation

/// WebSocket frames as raw bytes, for tests that send what a library client never would
/// (floods of pings, frames after a close) and read exactly what the server wrote.
package enum RawWebSocket {
    /// A client frame: FIN set, masked (with a zero key, which leaves the payload as is).
    package static func frame(opcode: UInt8, _ payload: [UInt8] = []) -> [UInt8] {
        var bytes: [UInt8] = [0x80 | opcode]
        switch payload.count {
        case ..<126:
            bytes.append(0x80 | UInt8(payload.count))
        case ..<65_536:
            bytes += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        default:
            bytes.append(0x80 | 127)
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((payload.count >> shift) & 0xFF)) }
        }
        bytes += [0, 0, 0, 0]
        return bytes + payload
    }

    package static func text(_ text: String) -> [UInt8] { frame(opcode: 0x1, Array(text.utf8)) }
    package static func ping(_ payload: [UInt8] = []) -> [UInt8] { frame(opcode: 0x9, payload) }

    /// A server frame: its opcode and payload.
    package struct Frame: Sendable, Equatable {
        package let opcode: UInt8
        package let payload: [UInt8]

        /// The close code of a close frame.
        package var closeCode: Int? {
            guard opcode == 0x8, payload.count >= 2 else { return nil }
            return Int(payload[0]) << 8 | Int(payload[1])
        }

        package var text: String { String(decoding: payload, as: UTF8.self) }
    }

    /// The (unmasked) frames a server wrote, in order; an incomplete last frame is left out.
    package static func frames(in bytes: [UInt8]) -> [Frame] {
        var frames: [Frame] = []
        var index = 0
        while index + 2 <= bytes.count {
            let opcode = bytes[index] & 0x0F
            var length = Int(bytes[index + 1] & 0x7F)
            var start = index + 2
            if length == 126 {
                guard start + 2 <= bytes.count else { break }
                length = Int(bytes[start]) << 8 | Int(bytes[start + 1])
                start += 2
            } else if length == 127 {
                guard start + 8 <= bytes.count else { break }
                length = bytes[start..<start + 8].reduce(0) { $0 << 8 | Int($1) }
                start += 8
            }
            guard start + length <= bytes.count else { break }
            frames.append(Frame(opcode: opcode, payload: Array(bytes[start..<start + length])))
            index = start + length
        }
        return frames
    }
}

extension RawWebSocket {
    /// Opens a WebSocket on 127.0.0.1:`port` with raw bytes, waits for the server's first
    /// frame (the connection is established and served), then sends `bytes` at once and reads
    /// what the server writes until it closes or is silent for `linger` seconds. Returns the
    /// response head and every frame after the upgrade, the first one included.
    /// With `until`, reading goes on (up to 10 s) until it holds for the frames read, or the
    /// server closes, rather than stopping at the first pause of `linger`.
    package static func afterOpen(
        port: Int, path: String = "/", send bytes: [UInt8], linger: Double = 1, until satisfied: (@Sendable ([Frame]) -> Bool)? = nil
    ) async throws -> RawHTTPResponse {
        try await RawHTTP.onThread {
            let socket = try LoopbackSocket()
            defer { socket.close() }
            guard socket.connect(port: port) else { throw WSCTestingError(.systemCallFailed, "cannot connect to 127.0.0.1:\(port)") }
            socket.setTimeouts(milliseconds: 5_000)
            guard socket.send(Array(RawHTTP.upgradeRequest(path).utf8)) else { throw WSCTestingError(.systemCallFailed, "cannot send the handshake") }
            let opened = RawHTTP.read(socket, linger: 0.3, timeout: 5)
            guard opened.status == 101, !opened.closed else { return opened }
            guard socket.send(bytes) else { throw WSCTestingError(.systemCallFailed, "cannot send the frames") }
            guard let satisfied else {
                let rest = RawHTTP.readUntilQuiet(socket, linger: linger)
                return RawHTTPResponse(head: opened.head, after: opened.after + rest.bytes, closed: rest.closed)
            }
            var after = opened.after
            let deadline = Date().addingTimeInterval(10)
            socket.setTimeouts(milliseconds: 100)
            while Date() < deadline, !satisfied(frames(in: after)) {
                switch socket.receiveOutcome() {
                case .bytes(let more): after += more
                case .timedOut: continue
                case .ended: return RawHTTPResponse(head: opened.head, after: after, closed: true)
                }
            }
            return RawHTTPResponse(head: opened.head, after: after, closed: false)
        }
    }
}
