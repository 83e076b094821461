import Foundation
import NIOCore
import Redis
import Synchronization
import Testing
import WSCTesting

/// Runs `body` with a running, connected client on `url` (default: `REDIS_URL`).
func withClient(
    url: String? = nil,
    configure: (inout RedisConfiguration) -> Void = { _ in },
    _ body: @Sendable (RedisClient) async throws -> Void
) async throws {
    var configuration = try RedisConfiguration(url: url ?? TestEnvironment.redisURL())
    configure(&configuration)
    let client = RedisClient(configuration: configuration)
    let events = client.events()
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        try await waitFor(events, within: .seconds(10)) { if case .connected = $0 { true } else { false } }
        try await body(client)
    }
}

/// Waits for the first element that satisfies `predicate`, failing after `timeout`.
func waitFor<Element: Sendable>(
    _ stream: AsyncStream<Element>,
    within timeout: Duration,
    sourceLocation: SourceLocation = #_sourceLocation,
    where predicate: @escaping @Sendable (Element) -> Bool
) async throws {
    let found = await firstElement(of: stream, within: timeout, where: predicate)
    try #require(found != nil, "the awaited event did not come within \(timeout)", sourceLocation: sourceLocation)
}

/// Expects `body` to throw a ``RedisError`` with `code`; returns it.
@discardableResult
func expectRedisError(
    _ code: RedisError.Code,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async -> RedisError? {
    do {
        try await body()
        Issue.record("expected RedisError.\(code), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as RedisError {
        #expect(error.code == code, "\(String(reflecting: error))", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected RedisError.\(code), got \(String(reflecting: error))", sourceLocation: sourceLocation)
    }
    return nil
}

/// Collects pub/sub messages delivered to a handler.
final class Received: Sendable {
    private let messages = Mutex<[RedisPubSubMessage]>([])

    var handler: RedisSubscriber.Handler {
        { message in self.messages.withLock { $0.append(message) } }
    }

    var all: [RedisPubSubMessage] { messages.withLock { $0 } }
    var payloads: [String] { all.map { String(buffer: $0.payload) } }

    /// Waits until `count` messages arrived.
    func wait(for count: Int, within timeout: Duration = .seconds(5), sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await eventually(within: timeout, "\(count) messages (have \(all.count))", sourceLocation: sourceLocation) {
            all.count >= count
        }
    }
}

func namespace() -> String {
    "t:\(UUID().uuidString.lowercased()):"
}
