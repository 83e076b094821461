import BrokerCore
import Metrics

/// A broker that times its commands' round trips (`wscenter_broker_roundtrip_seconds`, by
/// operation), follows its connection (`wscenter_broker_connected`) and counts reconnects
/// (`wscenter_redis_reconnects_total`). Everything else passes through to `base`.
package final class MeteredBroker: Broker {
    package let base: any Broker
    private let executeTimer: Timer
    private let publishTimer: Timer
    private let reconnects: Counter
    private let connected: Gauge

    package init(_ base: any Broker, telemetry: Telemetry) {
        self.base = base
        let factory = telemetry.factory
        executeTimer = Timer(label: MetricName.brokerRoundTrip, dimensions: [("operation", "execute")], factory: factory)
        publishTimer = Timer(label: MetricName.brokerRoundTrip, dimensions: [("operation", "publish")], factory: factory)
        reconnects = Counter(label: MetricName.redisReconnects, factory: factory)
        connected = Gauge(label: MetricName.brokerConnected, factory: factory)
        connected.record(0)
    }

    /// Runs `base`, and follows its events for the metrics.
    package func run() async throws {
        let events = base.events()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in events {
                    switch event {
                    case .connected:
                        self.connected.record(1)
                    case .disconnected:
                        self.connected.record(0)
                    case .reconnected:
                        self.connected.record(1)
                        self.reconnects.increment()
                    }
                }
            }
            group.addTask { try await self.base.run() }
            defer { group.cancelAll() }
            // The broker's run ends the group (the event stream never ends by itself).
            while let _ = try await group.next() {
                return
            }
        }
    }

    package func execute(_ commands: [BrokerCommand], atomically: Bool) async throws -> [BrokerValue] {
        let start = ContinuousClock.now
        defer { executeTimer.record(duration: ContinuousClock.now - start) }
        return try await base.execute(commands, atomically: atomically)
    }

    package var isSharded: Bool { base.isSharded }

    package func executeAtomicallyPerSlot(_ commands: [BrokerCommand]) async throws -> [BrokerValue] {
        let start = ContinuousClock.now
        defer { executeTimer.record(duration: ContinuousClock.now - start) }
        return try await base.executeAtomicallyPerSlot(commands)
    }

    package func scanKeys(matching pattern: String) async throws -> [String] {
        try await base.scanKeys(matching: pattern)
    }

    @discardableResult
    package func publish(_ message: String, to channel: String) async throws -> Int {
        let start = ContinuousClock.now
        defer { publishTimer.record(duration: ContinuousClock.now - start) }
        return try await base.publish(message, to: channel)
    }

    package func subscribe(to channels: [String]) async throws -> BrokerSubscription {
        try await base.subscribe(to: channels)
    }

    package func subscribe(toPatterns patterns: [String]) async throws -> BrokerSubscription {
        try await base.subscribe(toPatterns: patterns)
    }

    package func events() -> AsyncStream<BrokerEvent> {
        base.events()
    }

    package var preferredTaskExecutor: (any TaskExecutor)? {
        base.preferredTaskExecutor
    }
}
