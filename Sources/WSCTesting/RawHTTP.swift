import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What a server answered to bytes sent as they are: the response head, and whatever came
/// after it within the wait (WebSocket frames after a 101, a body otherwise).
package struct RawHTTPResponse: Sendable, CustomStringConvertible {
    /// The response head, up to and without the blank line; empty when none came.
    package let head: String
    /// The bytes after the head.
    package let after: [UInt8]
    /// Whether the server closed the connection within the wait.
    package let closed: Bool

    /// The status code of the head, 0 when none came.
    package var status: Int {
        let parts = head.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/") else { return 0 }
        return Int(parts[1]) ?? 0
    }

    /// The text of the bytes after the head, read leniently (frames are mostly binary).
    package var afterText: String { String(decoding: after, as: UTF8.self) }

    package var description: String { "\(head.isEmpty ? "(no response head)" : head) + \(after.count) bytes\(closed ? ", closed" : "")" }
}

/// A client that sends exact bytes: the spellings a library client never produces (`GET //`,
/// `Upgrade: x, websocket`, a header split over lines, a request that never ends).
package enum RawHTTP {
    /// A WebSocket upgrade request for `target` with the usual handshake headers; `extra`
    /// lines (each without its CRLF) come after them, `upgrade` is the Upgrade header's value.
    package static func upgradeRequest(_ target: String, upgrade: String = "websocket", extra: [String] = []) -> String {
        var lines = [
            "GET \(target) HTTP/1.1", "Host: 127.0.0.1", "Upgrade: \(upgrade)", "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
        ]
        lines += extra
        return lines.joined(separator: "\r\n") + "\r\n\r\n"
    }

    /// Connects to 127.0.0.1:`port`, sends `request`, reads the response head, then reads
    /// what follows until the server closes or `linger` seconds pass without more bytes.
    /// The blocking socket calls run on a thread of their own, never on the concurrency pool
    /// that the server under test needs.
    package static func exchange(port: Int, _ request: String, linger: Double = 0.5, timeout: Double = 5) async throws -> RawHTTPResponse {
        try await exchange(port: port, Array(request.utf8), linger: linger, timeout: timeout)
    }

    package static func exchange(port: Int, _ request: [UInt8], linger: Double = 0.5, timeout: Double = 5) async throws -> RawHTTPResponse {
        try await onThread { try blockingExchange(port: port, request, linger: linger, timeout: timeout) }
    }

    /// Like ``exchange(port:_:linger:timeout:)``, and how long it took, measured on the thread
    /// that does the exchange (from the connect to the end of the response: send
    /// `Connection: close`, or the wait includes `linger`). Other tests that keep the
    /// concurrency pool busy cannot lengthen the measure, as they can an `await` timed around
    /// a request.
    package static func timedExchange(port: Int, _ request: String, linger: Double = 0.5, timeout: Double = 5) async throws -> (response: RawHTTPResponse, took: Duration) {
        try await onThread {
            let clock = ContinuousClock()
            let start = clock.now
            let response = try blockingExchange(port: port, Array(request.utf8), linger: linger, timeout: timeout)
            return (response, clock.now - start)
        }
    }

    /// Runs `body` on a new thread and returns its result.
    package static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try body() }) }
            thread.start()
        }
    }

    static func blockingExchange(port: Int, _ request: [UInt8], linger: Double, timeout: Double) throws -> RawHTTPResponse {
        let socket = try LoopbackSocket()
        defer { socket.close() }
        guard socket.connect(port: port) else { throw WSCTestingError(.systemCallFailed, "cannot connect to 127.0.0.1:\(port)") }
        socket.setTimeouts(milliseconds: Int(timeout * 1000))
        guard socket.send(request) else { throw WSCTestingError(.systemCallFailed, "cannot send the request") }
        return read(socket, linger: linger, timeout: timeout)
    }

    /// Reads a response head and what follows from `socket` (see ``exchange(port:_:linger:timeout:)``).
    static func read(_ socket: LoopbackSocket, linger: Double, timeout: Double) -> RawHTTPResponse {
        var received: [UInt8] = []
        var headEnd: Int?
        let deadline = Date().addingTimeInterval(timeout)
        // The head, until the deadline.
        while headEnd == nil {
            guard Date() < deadline else { return RawHTTPResponse(head: "", after: received, closed: false) }
            switch socket.receiveOutcome() {
            case .bytes(let bytes):
                received += bytes
                headEnd = endOfHead(received)
            case .timedOut:
                return RawHTTPResponse(head: "", after: received, closed: false)
            case .ended:
                return RawHTTPResponse(head: "", after: received, closed: true)
            }
        }
        // Then whatever follows, until a pause of `linger` seconds or the end.
        let rest = readUntilQuiet(socket, linger: linger)
        received += rest.bytes
        let end = headEnd!
        return RawHTTPResponse(head: String(decoding: received[..<end], as: UTF8.self), after: Array(received[(end + 4)...]), closed: rest.closed)
    }

    /// Connects, sends `request`, and reads the response head and what follows until
    /// `satisfied` holds for the bytes after the head, the server closes, or `timeout` passes:
    /// for an answer that comes when it comes (a loaded machine), not within a pause.
    package static func exchange(port: Int, _ request: String, until satisfied: @escaping @Sendable ([UInt8]) -> Bool, timeout: Double = 10) async throws -> RawHTTPResponse {
        try await onThread {
            let socket = try LoopbackSocket()
            defer { socket.close() }
            guard socket.connect(port: port) else { throw WSCTestingError(.systemCallFailed, "cannot connect to 127.0.0.1:\(port)") }
            socket.setTimeouts(milliseconds: Int(timeout * 1000))
            guard socket.send(Array(request.utf8)) else { throw WSCTestingError(.systemCallFailed, "cannot send the request") }
            let first = read(socket, linger: 0.05, timeout: timeout)
            guard first.status != 0, !first.closed, !satisfied(first.after) else { return first }
            var after = first.after
            let deadline = Date().addingTimeInterval(timeout)
            socket.setTimeouts(milliseconds: 100)
            while Date() < deadline {
                switch socket.receiveOutcome() {
                case .bytes(let bytes):
                    after += bytes
                    if satisfied(after) { return RawHTTPResponse(head: first.head, after: after, closed: false) }
                case .timedOut:
                    continue
                case .ended:
                    return RawHTTPResponse(head: first.head, after: after, closed: true)
                }
            }
            return RawHTTPResponse(head: first.head, after: after, closed: false)
        }
    }

    /// Reads until the peer closes or is silent for `linger` seconds.
    static func readUntilQuiet(_ socket: LoopbackSocket, linger: Double) -> (bytes: [UInt8], closed: Bool) {
        socket.setTimeouts(milliseconds: max(1, Int(linger * 1000)))
        var received: [UInt8] = []
        while true {
            switch socket.receiveOutcome() {
            case .bytes(let bytes): received += bytes
            case .timedOut: return (received, false)
            case .ended: return (received, true)
            }
        }
    }

    private static func endOfHead(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4) where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }
}
