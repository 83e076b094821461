import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOCore
import NIOSSL
import NIOWebSocket
import Synchronization
import Testing

/// A WebSocket client for tests: connects, buffers every text message it receives, and
/// lets the test await each one with a deadline (a broken server fails the test instead of
/// hanging it).
final class TestWebSocket: Sendable {
    private struct State {
        var received: [String] = []
        var writer: WebSocketOutboundWriter?
        var closed = false
        var closeCode: WebSocketErrorCode?
    }

    private let state = Mutex(State())
    private let task = Mutex<Task<Void, Never>?>(nil)

    /// Connects to `url` and waits for the connection to open.
    static func connect(
        _ url: String, headers: HTTPFields = [:], tls: TLSConfiguration? = nil, within timeout: Duration = .seconds(5)
    ) async throws -> TestWebSocket {
        let socket = TestWebSocket()
        let opened = AsyncStream<Void>.makeStream()
        let task = Task {
            do {
                let closeFrame = try await WebSocketClient.connect(url: url, configuration: .init(maxFrameSize: 1 << 24, additionalHeaders: headers), tlsConfiguration: tls, logger: Logger(label: "test-websocket")) { inbound, outbound, _ in
                    socket.state.withLock { $0.writer = outbound }
                    opened.continuation.yield()
                    for try await message in inbound.messages(maxSize: 1 << 24) {
                        if case .text(let text) = message {
                            socket.state.withLock { $0.received.append(text) }
                        }
                    }
                }
                socket.state.withLock { $0.closeCode = closeFrame?.closeCode }
            } catch {}
            socket.state.withLock { $0.closed = true }
            opened.continuation.finish()
        }
        socket.task.withLock { $0 = task }
        let didOpen = await withTaskGroup(of: Bool.self) { group in
            group.addTask { for await _ in opened.stream { return true }; return false }
            group.addTask { try? await Task.sleep(for: timeout); return false }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        try #require(didOpen, "WebSocket \(url) did not open within \(timeout)")
        return socket
    }

    deinit {
        task.withLock { $0?.cancel() }
    }

    /// The next text message, failing the test when none arrives within `timeout`.
    func next(within timeout: Duration = .seconds(5), sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if let message = popFirst() { return message }
            try await Task.sleep(for: .milliseconds(2))
        }
        return try #require(popFirst(), "no WebSocket message within \(timeout)", sourceLocation: sourceLocation)
    }

    /// The next message decoded as a JSON object.
    func nextJSON(within timeout: Duration = .seconds(5), sourceLocation: SourceLocation = #_sourceLocation) async throws -> [String: Any] {
        let text = try await next(within: timeout, sourceLocation: sourceLocation)
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        return try #require(object, "not a JSON object: \(text)", sourceLocation: sourceLocation)
    }

    /// Records an issue if any message arrives within `duration`.
    func expectNothing(for duration: Duration = .milliseconds(200), sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await Task.sleep(for: duration)
        let extra = state.withLock { $0.received }
        #expect(extra.isEmpty, "unexpected messages: \(extra)", sourceLocation: sourceLocation)
    }

    func send(_ text: String) async throws {
        let writer = try #require(state.withLock { $0.writer }, "not connected")
        try await writer.write(.text(text))
    }

    /// Closes the connection and waits until the client has finished.
    func close() async {
        if let writer = state.withLock({ $0.writer }) {
            try? await writer.close(.normalClosure, reason: nil)
        }
        let task = task.withLock { $0 }
        await task?.value
    }

    /// The messages received and not yet taken by ``next(within:sourceLocation:)``.
    var receivedSoFar: [String] { state.withLock { $0.received } }

    /// Whether the server has closed the connection.
    var isClosed: Bool { state.withLock { $0.closed } }

    /// The code of the close frame the server sent, once closed (nil without one).
    var closeCode: WebSocketErrorCode? { state.withLock { $0.closeCode } }

    private func popFirst() -> String? {
        state.withLock { state in state.received.isEmpty ? nil : state.received.removeFirst() }
    }
}
