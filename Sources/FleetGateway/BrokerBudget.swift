import BrokerCore
import Synchronization

/// How long one event API request may wait for the broker, in all: the reads of the live
/// nodes and of connection owners, and the publishes of its calls. The wait for the nodes'
/// replies is not counted (`CALL_TIMEOUT` bounds each call's).
///
/// Without it, a request to a gateway whose Redis has frozen (SIGSTOP, a stalled host, a
/// network path that drops packets) waited for the Redis client's command timeout (5 s), or
/// for a reconnection's handshake, whatever `CALL_TIMEOUT` said.
final class BrokerBudget: Sendable {
    /// The budget of the request being answered by the current task, if any.
    @TaskLocal static var current: BrokerBudget?

    let total: Duration
    private let spent = Mutex<Duration>(.zero)

    init(_ total: Duration) {
        self.total = total
    }

    var remaining: Duration { total - spent.withLock { $0 } }

    func spend(_ duration: Duration) {
        spent.withLock { $0 += duration }
    }

    /// The error of a request whose budget ran out.
    var exhausted: BrokerError {
        BrokerError(.timeout, "the broker did not answer within \(total) (the request's broker budget)")
    }
}

/// The gateway's broker: inside a request with a ``BrokerBudget``, every command and publish
/// counts against it, and fails with `BrokerError.timeout` once it is spent, even when the
/// operation underneath does not end (it is left to end by itself: a command that reaches
/// Redis late may still run). Outside a request, and for subscriptions, it is `base`.
struct BudgetedBroker: Broker {
    let base: any Broker

    func run() async throws {
        try await base.run()
    }

    func execute(_ commands: [BrokerCommand], atomically: Bool) async throws -> [BrokerValue] {
        try await bounded { try await base.execute(commands, atomically: atomically) }
    }

    func scanKeys(matching pattern: String) async throws -> [String] {
        try await bounded { try await base.scanKeys(matching: pattern) }
    }

    @discardableResult
    func publish(_ message: String, to channel: String) async throws -> Int {
        try await bounded { try await base.publish(message, to: channel) }
    }

    func subscribe(to channels: [String]) async throws -> BrokerSubscription {
        try await base.subscribe(to: channels)
    }

    func subscribe(toPatterns patterns: [String]) async throws -> BrokerSubscription {
        try await base.subscribe(toPatterns: patterns)
    }

    func events() -> AsyncStream<BrokerEvent> {
        base.events()
    }

    private func bounded<Value: Sendable>(_ operation: @escaping @Sendable () async throws -> Value) async throws -> Value {
        guard let budget = BrokerBudget.current else { return try await operation() }
        let remaining = budget.remaining
        guard remaining > .zero else { throw budget.exhausted }
        let start = ContinuousClock.now
        defer { budget.spend(ContinuousClock.now - start) }
        return try await withDeadline(remaining, timeoutError: { budget.exhausted }, operation)
    }
}
