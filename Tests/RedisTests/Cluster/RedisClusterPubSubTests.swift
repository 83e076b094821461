import Logging
import NIOCore
import Redis
import Synchronization
import Testing
import WSCTesting

/// Sharded pub/sub against live clusters: channels on every master, a channel's slot
/// migrated, its master killed; each time the subscription follows the slot.
@Suite("Redis Cluster: sharded pub/sub", .serialized)  // one cluster at a time
struct RedisClusterPubSubTests {
    /// What the subscriber received, per channel.
    final class Received: Sendable {
        private let messages = Mutex<[String: [String]]>([:])
        func record(_ message: RedisPubSubMessage) {
            messages.withLock { $0[message.channel, default: []].append(String(buffer: message.payload)) }
        }
        func of(_ channel: String) -> [String] { messages.withLock { $0[channel] ?? [] } }
    }

    func withSubscriber(
        _ cluster: RedisClusterProcess, refreshInterval: Duration = .seconds(1),
        _ body: (RedisClusterClient, RedisClusterSubscriber) async throws -> Void
    ) async throws {
        var logger = Logger(label: "cluster-pubsub-test")
        logger.logLevel = .critical
        let client = try RedisClusterClient(
            seeds: [cluster.seeds[0]], configuration: try RedisConfiguration(url: "redis://127.0.0.1:1"),
            retryFor: .seconds(20), refreshInterval: refreshInterval, logger: logger
        )
        let subscriber = RedisClusterSubscriber(cluster: client, logger: logger)
        let runners = [Task { await client.run() }, Task { await subscriber.run() }]
        defer { for runner in runners { runner.cancel() } }
        try await body(client, subscriber)
    }

    /// SPUBLISH through the client: how many subscribers got it.
    func publish(_ client: RedisClusterClient, _ channel: String, _ payload: String) async throws -> Int {
        try #require(try await client.send(RedisCommand("SPUBLISH", [.string(channel), .string(payload)]), key: channel).int)
    }

    @Test("channels on every master: each message reaches its subscriber once; after cancel, nobody listens; idle, it reconciles about once a second")
    func everyMaster() async throws {
        let cluster = try await RedisClusterProcess.start(masters: 3, replicas: 0)
        try await withSubscriber(cluster) { client, subscriber in
            // Nothing moves: one reconciliation a second, not a loop (a cancelled wait on its
            // wake-up stream once ended the stream, and the loop spun a core).
            let idle = try await subscriber.subscribe(to: ["idle-channel"]) { _ in }
            let before = subscriber.reconciliationCount
            try await Task.sleep(for: .seconds(2.5))
            let during = subscriber.reconciliationCount - before
            #expect((1...6).contains(during), "\(during) reconciliations in 2.5 s")
            idle.cancel()
            let channels = (0..<12).map { "news:\($0)" }
            let received = Received()
            let subscription = try await subscriber.subscribe(to: channels) { received.record($0) }
            let topology = try #require(client.topology)
            #expect(Set(channels.compactMap { topology.master(ofSlot: RedisClusterSlot.of($0)) }).count == 3, "the channels are spread over the 3 masters")
            for channel in channels { #expect(try await publish(client, channel, "hello \(channel)") == 1) }
            try await eventually("every message arrives") { channels.allSatisfy { received.of($0) == ["hello \($0)"] } }
            subscription.cancel()
            try await eventually("the subscriptions are gone") {
                for channel in channels where try await publish(client, channel, "late") != 0 { return false }
                return true
            }
        }
    }

    @Test("a channel's slot migrated to another master: the server ends the subscription, and it is made again there")
    func slotMigrated() async throws {
        let cluster = try await RedisClusterProcess.start(masters: 3, replicas: 0)
        // No periodic read of the slot map during the test: the server's sunsubscribe alone
        // must move the subscription.
        try await withSubscriber(cluster, refreshInterval: .seconds(600)) { client, subscriber in
            let channel = "moving-channel"
            let slot = RedisClusterSlot.of(channel)
            let received = Received()
            let subscription = try await subscriber.subscribe(to: [channel]) { received.record($0) }
            defer { subscription.cancel() }
            #expect(try await publish(client, channel, "before") == 1)
            let source = try await cluster.masterPort(ofSlot: slot)
            let target = try #require(cluster.servers.map(\.port).first { $0 != source })
            let (sourceID, targetID) = (try await cluster.nodeID(source), try await cluster.nodeID(target))
            _ = try await cluster.ask(target, ["CLUSTER", "SETSLOT", "\(slot)", "IMPORTING", sourceID])
            _ = try await cluster.ask(source, ["CLUSTER", "SETSLOT", "\(slot)", "MIGRATING", targetID])
            for port in cluster.servers.map(\.port) {
                _ = try await cluster.ask(port, ["CLUSTER", "SETSLOT", "\(slot)", "NODE", targetID])
            }
            #expect(try await cluster.masterPort(ofSlot: slot) == target)
            // SPUBLISH goes to the new master (MOVED followed); the subscription gets there.
            try await eventually(within: .seconds(10), "the subscription follows the slot") {
                try await publish(client, channel, "after") == 1
            }
            try await eventually("the message published there arrives") { received.of(channel).last == "after" }
            #expect(received.of(channel).first == "before")
        }
    }

    @Test("a channel's master killed: once its replica takes over, the subscription is made again on it")
    func masterKilled() async throws {
        let cluster = try await RedisClusterProcess.start(masters: 3, replicas: 1)
        try await withSubscriber(cluster) { client, subscriber in
            let channel = "surviving-channel"
            let received = Received()
            let subscription = try await subscriber.subscribe(to: [channel]) { received.record($0) }
            defer { subscription.cancel() }
            #expect(try await publish(client, channel, "before") == 1)
            let old = try await cluster.masterPort(ofSlot: RedisClusterSlot.of(channel))
            try #require(cluster.server(old)).kill()
            try await eventually(within: .seconds(20), "the subscription is on the new master") {
                (try? await publish(client, channel, "after")) == 1
            }
            try await eventually("the message arrives") { received.of(channel).last == "after" }
            #expect(try #require(client.topology?.master(ofSlot: RedisClusterSlot.of(channel))).port != old)
        }
    }
}
