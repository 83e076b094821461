import NIOCore
import Redis
import Testing
import WSCTesting

@Suite("Redis pub/sub")
struct RedisSubscriberTests {
    /// Runs a subscriber and a command client against `url` (default `REDIS_URL`).
    private func withPubSub(
        url: String? = nil,
        _ body: @Sendable (RedisSubscriber, RedisClient, AsyncStream<RedisConnectionEvent>) async throws -> Void
    ) async throws {
        var configuration = try RedisConfiguration(url: url ?? TestEnvironment.redisURL())
        configuration.reconnectBase = .milliseconds(20)
        configuration.reconnectCap = .milliseconds(200)
        let subscriber = RedisSubscriber(configuration: configuration)
        let events = subscriber.events()
        try await withClient(url: url, configure: { $0.reconnectBase = .milliseconds(20); $0.reconnectCap = .milliseconds(200) }) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await subscriber.run() }
                defer { group.cancelAll() }
                try await waitFor(events, within: .seconds(5)) { if case .connected = $0 { true } else { false } }
                try await body(subscriber, client, events)
            }
        }
    }

    @Test("messages arrive in order on the subscribed channel only")
    func channels() async throws {
        try await withPubSub { subscriber, client, _ in
            let ns = namespace()
            let received = Received()
            let subscription = try await subscriber.subscribe(to: [ns + "a", ns + "b"], handler: received.handler)
            for index in 0..<50 { try await client.publish("\(index)", to: ns + "a") }
            try await client.publish("elsewhere", to: ns + "c")
            try await client.publish("b", to: ns + "b")
            try await received.wait(for: 51)
            #expect(received.payloads == (0..<50).map { "\($0)" } + ["b"])
            #expect(received.all.allSatisfy { $0.pattern == nil })
            subscription.cancel()
        }
    }

    @Test("pattern subscriptions carry the pattern and the channel")
    func patterns() async throws {
        try await withPubSub { subscriber, client, _ in
            let ns = namespace()
            let received = Received()
            let subscription = try await subscriber.subscribe(toPatterns: [ns + "room:*"], handler: received.handler)
            try await client.publish("hi", to: ns + "room:42")
            try await received.wait(for: 1)
            let message = try #require(received.all.first)
            #expect(message.pattern == ns + "room:*")
            #expect(message.channel == ns + "room:42")
            #expect(String(buffer: message.payload) == "hi")
            subscription.cancel()
        }
    }

    @Test("two subscriptions to one channel; cancelling one keeps the other")
    func sharedChannel() async throws {
        try await withPubSub { subscriber, client, _ in
            let channel = namespace() + "shared"
            let first = Received()
            let second = Received()
            let one = try await subscriber.subscribe(to: [channel], handler: first.handler)
            let two = try await subscriber.subscribe(to: [channel], handler: second.handler)
            try await client.publish("1", to: channel)
            try await first.wait(for: 1)
            try await second.wait(for: 1)
            one.cancel()
            one.cancel()
            try await client.publish("2", to: channel)
            try await second.wait(for: 2)
            #expect(first.payloads == ["1"])
            two.cancel()
            try await eventually("Redis unsubscribed the channel") {
                try await client.publish("3", to: channel) == 0
            }
        }
    }

    @Test("binary and UTF-8 payloads are delivered byte for byte")
    func payloads() async throws {
        try await withPubSub { subscriber, client, _ in
            let channel = namespace() + "bytes"
            let received = Received()
            let subscription = try await subscriber.subscribe(to: [channel], handler: received.handler)
            let bytes = ByteBuffer(bytes: [0, 13, 10, 255, 36])
            try await client.publish(bytes, to: channel)
            try await client.publish("你好 👋", to: channel)
            try await received.wait(for: 2)
            #expect(received.all[0].payload == bytes)
            #expect(String(buffer: received.all[1].payload) == "你好 👋")
            subscription.cancel()
        }
    }

    @Test("restarting redis-server: subscriptions come back by themselves")
    func resubscribeAfterRestart() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.kill() }
        try await withPubSub(url: redis.url) { subscriber, client, events in
            let received = Received()
            let subscription = try await subscriber.subscribe(to: ["plain"], handler: received.handler)
            let patterned = try await subscriber.subscribe(toPatterns: ["pat:*"], handler: received.handler)
            try await client.publish("before", to: "plain")
            try await received.wait(for: 1)

            try await redis.restart()
            try await waitFor(events, within: .seconds(10)) { if case .reconnected = $0 { true } else { false } }
            // The command client reconnects on its own schedule; retry until it is back.
            try await eventually("the publisher reconnected and the subscriber heard it") {
                try await client.publish("after", to: "plain") > 0
            }
            try await client.publish("pattern-after", to: "pat:x")
            try await received.wait(for: 3)
            #expect(received.payloads == ["before", "after", "pattern-after"])
            subscription.cancel()
            patterned.cancel()
        }
    }

    @Test("subscribing while Redis is down fails fast")
    func subscribeWhileDown() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.kill() }
        try await withPubSub(url: redis.url) { subscriber, _, events in
            redis.kill()
            try await waitFor(events, within: .seconds(5)) { if case .disconnected = $0 { true } else { false } }
            let started = ContinuousClock.now
            do {
                _ = try await subscriber.subscribe(to: ["x"]) { _ in }
                Issue.record("subscribing without a server must fail")
            } catch let error as RedisError {
                // Between attempts it fails fast; during one it reports that attempt's failure.
                #expect([.notConnected, .connectFailed].contains(error.code), "\(String(reflecting: error))")
            }
            #expect(ContinuousClock.now - started < .seconds(2))
        }
    }
}
