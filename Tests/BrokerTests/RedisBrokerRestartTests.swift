import BrokerCore
import BrokerRedis
import Redis
import Testing
import WSCTesting

@Suite("RedisBroker across a redis-server restart")
struct RedisBrokerRestartTests {
    @Test("a live subscriber hears messages published after the restart, without the caller doing anything")
    func subscriberSurvivesRestart() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.kill() }
        var configuration = try RedisConfiguration(url: redis.url)
        configuration.reconnectBase = .milliseconds(20)
        configuration.reconnectCap = .milliseconds(200)
        let broker = RedisBroker(configuration: configuration)
        let events = broker.events()
        try await withRunningBroker(broker) { broker async throws in
            let inbox = MessageInbox(try await broker.subscribe(to: ["news"]))
            let patterns = MessageInbox(try await broker.subscribe(toPatterns: ["room:*"]))
            try await broker.publish("before", to: "news")
            #expect(try await inbox.next().payload == "before")

            try await redis.restart()
            try await waitForEvent(events, within: .seconds(10)) { if case .disconnected = $0 { true } else { false } }
            try await waitForEvent(events, within: .seconds(10)) { $0 == .reconnected }

            // `.reconnected` means the links that noticed the restart are back and the
            // subscriptions restored. The command link may notice it a moment after the pub/sub
            // link did, so a publish can still meet the old connection once (it fails fast with
            // `.unavailable`): the publisher retries, the subscriber does nothing.
            var receivers = 0
            let deadline = ContinuousClock.now + .seconds(5)
            while receivers == 0, ContinuousClock.now < deadline {
                do {
                    receivers = try await broker.publish("after", to: "news")
                } catch let error as BrokerError where error.code == .unavailable {
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            #expect(receivers > 0)
            try await broker.publish("hello", to: "room:1")
            #expect(try await inbox.next().payload == "after")
            let message = try await patterns.next()
            #expect(message.channel == "room:1")
            #expect(message.pattern == "room:*")
            // State written after the restart works as before.
            try await broker.set("k", to: "v")
            #expect(try await broker.get("k") == "v")
        }
    }

    @Test("while Redis is down, commands fail fast with .unavailable")
    func unavailableWhileDown() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.kill() }
        var configuration = try RedisConfiguration(url: redis.url)
        configuration.reconnectBase = .milliseconds(200)
        configuration.reconnectCap = .seconds(1)
        let broker = RedisBroker(configuration: configuration)
        let events = broker.events()
        try await withRunningBroker(broker) { broker async throws in
            redis.kill()
            try await waitForEvent(events, within: .seconds(10)) { if case .disconnected = $0 { true } else { false } }
            let started = ContinuousClock.now
            await expectBrokerError(.unavailable) { _ = try await broker.get("k") }
            await expectBrokerError(.unavailable) { try await broker.publish("x", to: "c") }
            await expectBrokerError(.unavailable) { _ = try await broker.subscribe(to: ["c"]) }
            #expect(ContinuousClock.now - started < .seconds(2))
        }
    }
}
