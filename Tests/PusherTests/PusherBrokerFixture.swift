import BrokerCore
import BrokerEmbedded
import BrokerRedis
import Foundation
import Redis
import Testing
import WSCTesting

/// The brokers the Pusher contract tests run against: the in-process one, a real Redis
/// (`REDIS_URL`) and a Redis Cluster (`REDIS_CLUSTER_NODES`).
enum PusherBrokerKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case embedded
    case redis
    case redisCluster

    var testDescription: String { rawValue }

    func make() throws -> any Broker {
        switch self {
        case .embedded: EmbeddedBroker()
        case .redis: RedisBroker(configuration: try RedisConfiguration(url: TestEnvironment.redisURL()))
        case .redisCluster: try RedisClusterBroker(seeds: TestEnvironment.redisClusterNodes(), configuration: RedisConfiguration())
        }
    }
}

/// Runs `body` with a running broker of `kind`: `run()` in a child task, `body` once the
/// broker reports `.connected`, the broker stopped afterwards.
func withPusherBroker(_ kind: PusherBrokerKind, _ body: @Sendable (any Broker) async throws -> Void) async throws {
    let broker = try kind.make()
    let events = broker.events()
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await broker.run() }
        defer { group.cancelAll() }
        let connected = await firstElement(of: events, within: .seconds(10)) { $0 == .connected }
        try #require(connected != nil, "the \(kind) broker did not connect within 10 s")
        try await body(broker)
    }
}

/// A key prefix unique to one test, so tests can share one Redis; a hash tag, so that on a
/// cluster a test's keys share one slot, as a script's keys must.
func pusherNamespace() -> String {
    "t:{\(UUID().uuidString.lowercased())}:"
}
