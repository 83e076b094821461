import Foundation

/// Asks whatever listens on 127.0.0.1:`port` whether it is a Redis that is up, over a
/// raw TCP socket (this module must not depend on the Redis client it helps to test).
enum RedisProbe {
    enum Answer: Equatable {
        /// Nothing accepted the connection, or it closed without an answer.
        case noAnswer
        /// `+PONG`, and the server's `process_id` from `INFO server` if it sent one.
        case pong(processID: Int32?)
        /// `-NOAUTH`: up, but a password is required, so the process id is unknown.
        case authenticationRequired
        /// Something else, e.g. `-LOADING`: not ready yet.
        case other(String)
    }

    /// Sends `PING` and `INFO server` and reads the answers.
    /// - Parameters:
    ///   - port: the port on 127.0.0.1.
    ///   - timeoutMilliseconds: how long each send and receive may block.
    /// - Returns: what the server answered.
    static func ask(port: Int, timeoutMilliseconds: Int = 1000) -> Answer {
        guard let socket = try? LoopbackSocket() else { return .noAnswer }
        defer { socket.close() }
        socket.setTimeouts(milliseconds: timeoutMilliseconds)
        guard socket.connect(port: port), socket.send(Array("PING\r\nINFO server\r\n".utf8)) else {
            return .noAnswer
        }
        var received: [UInt8] = []
        while received.count < 64 * 1024 {
            guard let chunk = socket.receive() else { break }
            received += chunk
            if let answer = answer(to: received, complete: false) { return answer }
        }
        return answer(to: received, complete: true) ?? .noAnswer
    }

    /// Interprets the bytes received so far; nil when more bytes are needed.
    static func answer(to bytes: [UInt8], complete: Bool) -> Answer? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let firstLineEnd = text.range(of: "\r\n") else {
            return complete ? (text.isEmpty ? .noAnswer : .other(text)) : nil
        }
        let firstLine = String(text[..<firstLineEnd.lowerBound])
        if firstLine.hasPrefix("-NOAUTH") { return .authenticationRequired }
        guard firstLine.hasPrefix("+PONG") else { return .other(firstLine) }
        let rest = text[firstLineEnd.upperBound...]
        if let start = rest.range(of: "process_id:"),
           let end = rest[start.upperBound...].range(of: "\r\n") {
            return .pong(processID: Int32(rest[start.upperBound..<end.lowerBound]))
        }
        if rest.hasPrefix("-") || complete { return .pong(processID: nil) }
        return nil
    }
}
