import BrokerCore
import Synchronization
import Testing

/// Reads a subscription in the background so a test can await each message with a
/// deadline: a broken broker fails the test instead of hanging it.
final class MessageInbox: Sendable {
    private final class Received: Sendable {
        let messages = Mutex<[BrokerMessage]>([])
    }

    /// The subscription being read; cancel it to unsubscribe.
    let subscription: BrokerSubscription
    private let received: Received
    private let reader: Task<Void, Never>

    init(_ subscription: BrokerSubscription) {
        let received = Received()
        self.subscription = subscription
        self.received = received
        self.reader = Task {
            for await message in subscription {
                received.messages.withLock { $0.append(message) }
            }
        }
    }

    deinit {
        // Ending the iteration also ends (unsubscribes) the subscription.
        reader.cancel()
    }

    /// The next message, failing the test when none arrives within `timeout`.
    func next(
        within timeout: Duration = .seconds(3),
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> BrokerMessage {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if let message = popFirst() { return message }
            try await Task.sleep(for: .milliseconds(2))
        }
        return try #require(popFirst(), "no message arrived within \(timeout)", sourceLocation: sourceLocation)
    }

    /// The next `count` messages, in order of arrival.
    func next(
        _ count: Int,
        within timeout: Duration = .seconds(3),
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> [BrokerMessage] {
        var messages: [BrokerMessage] = []
        for _ in 0..<count {
            messages.append(try await next(within: timeout, sourceLocation: sourceLocation))
        }
        return messages
    }

    /// Records an issue if any message arrives within `duration`.
    func expectNothing(
        for duration: Duration = .milliseconds(100),
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        try await Task.sleep(for: duration)
        let unexpected = received.messages.withLock { $0 }
        #expect(unexpected.isEmpty, "unexpected messages: \(unexpected)", sourceLocation: sourceLocation)
    }

    private func popFirst() -> BrokerMessage? {
        received.messages.withLock { $0.isEmpty ? nil : $0.removeFirst() }
    }
}

extension Broker {
    /// Publishes until nobody receives (Redis unsubscribes asynchronously).
    /// - Returns: whether `publish` returned 0 within `timeout`.
    func publishUntilUnheard(
        _ message: String, to channel: String, within timeout: Duration = .seconds(3)
    ) async throws -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if try await publish(message, to: channel) == 0 { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return false
    }
}

/// Runs `body`, expecting a ``BrokerError`` with `code`.
func expectBrokerError(
    _ code: BrokerError.Code,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async {
    do {
        try await body()
        Issue.record("expected BrokerError.\(code), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as BrokerError {
        #expect(error.code == code, "\(String(reflecting: error))", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected BrokerError.\(code), got \(String(reflecting: error))", sourceLocation: sourceLocation)
    }
}
