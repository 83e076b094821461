import BrokerCore
import BrokerEmbedded
import Synchronization
import Testing

@testable import FleetGateway

/// The embedded broker, whose commands and publishes each take `stall` first, in a way that
/// cancelling the caller does not shorten: like a Redis command to a frozen server.
private final class StallingBroker: Broker {
    let base = EmbeddedBroker()
    let stall = Mutex<Duration>(.zero)

    private func stalled() async {
        let duration = stall.withLock { $0 }
        guard duration > .zero else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Task.detached {
                try? await Task.sleep(for: duration)
                continuation.resume()
            }
        }
    }

    func run() async throws { try await base.run() }

    func execute(_ commands: [BrokerCommand], atomically: Bool) async throws -> [BrokerValue] {
        await stalled()
        return try await base.execute(commands, atomically: atomically)
    }

    func scanKeys(matching pattern: String) async throws -> [String] {
        await stalled()
        return try await base.scanKeys(matching: pattern)
    }

    func publish(_ message: String, to channel: String) async throws -> Int {
        await stalled()
        return try await base.publish(message, to: channel)
    }

    func subscribe(to channels: [String]) async throws -> BrokerSubscription { try await base.subscribe(to: channels) }
    func subscribe(toPatterns patterns: [String]) async throws -> BrokerSubscription { try await base.subscribe(toPatterns: patterns) }
    func events() -> AsyncStream<BrokerEvent> { base.events() }
}

@Suite("The gateway's broker budget")
struct BrokerBudgetTests {
    @Test("outside a request the broker is unbounded; inside, a stalled command fails with timeout by the budget, not when it ends")
    func stalledCommand() async throws {
        let stalling = StallingBroker()
        let broker = BudgetedBroker(base: stalling)
        stalling.stall.withLock { $0 = .milliseconds(300) }
        #expect(try await broker.execute([.set(key: "k", value: "v")], atomically: false).count == 1)

        stalling.stall.withLock { $0 = .seconds(20) }
        let start = ContinuousClock.now
        await #expect {
            try await BrokerBudget.$current.withValue(BrokerBudget(.milliseconds(200))) {
                try await broker.publish("m", to: "c")
            }
        } throws: { error in
            (error as? BrokerError)?.code == .timeout
                && (error as? BrokerError)?.message.contains("the request's broker budget") == true
        }
        let took = ContinuousClock.now - start
        #expect(took < .seconds(10), "the stalled publish held the request for \(took)")
    }

    @Test("the operations of one request share its budget")
    func shared() async throws {
        let stalling = StallingBroker()
        let broker = BudgetedBroker(base: stalling)
        let outcomes = await BrokerBudget.$current.withValue(BrokerBudget(.seconds(2))) { () async -> [Bool] in
            func succeeds(stalling duration: Duration) async -> Bool {
                stalling.stall.withLock { $0 = duration }
                return (try? await broker.execute([.get(key: "k")], atomically: false)) != nil
            }
            return [
                await succeeds(stalling: .zero),
                // Longer than what is left of the request's 2 s: it fails by the budget.
                await succeeds(stalling: .seconds(20)),
                // Spent: the next one fails at once, however quick it would be.
                await succeeds(stalling: .zero),
            ]
        }
        #expect(outcomes == [true, false, false])
    }
}
