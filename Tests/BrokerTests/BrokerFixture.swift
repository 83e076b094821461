import BrokerCore
import BrokerEmbedded
import BrokerRedis
import Foundation
import Redis
import Testing
import WSCTesting

/// The brokers every contract test runs against.
enum BrokerKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case embedded
    case redis
    /// A Redis Cluster of 3 masters (`REDIS_CLUSTER_NODES`): sharded pub/sub, no patterns.
    case redisCluster

    var testDescription: String { rawValue }

    /// Whether pattern subscriptions exist (not with sharded pub/sub).
    var hasPatterns: Bool { self != .redisCluster }

    /// The kinds with pattern subscriptions.
    static let withPatterns = allCases.filter { $0.hasPatterns }

    /// A fresh broker of this kind; Redis comes from `REDIS_URL` (or `url`).
    func make(url: String? = nil) throws -> any Broker {
        switch self {
        case .embedded:
            return EmbeddedBroker()
        case .redis:
            return RedisBroker(configuration: try RedisConfiguration(url: url ?? TestEnvironment.redisURL()))
        case .redisCluster:
            return try RedisClusterBroker(seeds: TestEnvironment.redisClusterNodes(), configuration: RedisConfiguration())
        }
    }
}

/// Runs `body` with a running broker of `kind`: its `run()` goes in a child task, `body`
/// starts once the broker reports `.connected`, and the broker is stopped afterwards.
func withBroker(
    _ kind: BrokerKind,
    url: String? = nil,
    _ body: @Sendable (any Broker) async throws -> Void
) async throws {
    try await withRunningBroker(try kind.make(url: url), body)
}

/// Runs `broker` for the duration of `body` (which starts once it is connected).
func withRunningBroker(
    _ broker: any Broker,
    _ body: @Sendable (any Broker) async throws -> Void
) async throws {
    let events = broker.events()
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await broker.run() }
        defer { group.cancelAll() }
        try await waitForEvent(events, within: .seconds(10)) { $0 == .connected }
        try await body(broker)
    }
}

/// Waits for the first event that satisfies `predicate`, failing after `timeout`.
func waitForEvent(
    _ events: AsyncStream<BrokerEvent>,
    within timeout: Duration,
    sourceLocation: SourceLocation = #_sourceLocation,
    where predicate: @escaping @Sendable (BrokerEvent) -> Bool
) async throws {
    let found = await firstElement(of: events, within: timeout, where: predicate)
    try #require(found != nil, "the broker event did not come within \(timeout)", sourceLocation: sourceLocation)
}

/// A prefix unique to one test, for every key and channel it uses, so tests can run in
/// parallel against one Redis. Its hash tag keeps a test's keys in one slot of a cluster, so
/// that its atomic batches and scripts may use several.
func uniqueNamespace() -> String {
    "t:{\(UUID().uuidString.lowercased())}:"
}
