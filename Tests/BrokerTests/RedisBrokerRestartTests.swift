import BrokerCore
import BrokerRedis
import Foundation
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

    @Test("a frozen Redis (SIGSTOP): with a command timeout given, commands fail within about it, not at the client's default 5 s; they work again after SIGCONT")
    func frozenWithCommandTimeout() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.kill() }
        var configuration = try RedisConfiguration(url: redis.url)
        configuration.reconnectBase = .milliseconds(50)
        configuration.reconnectCap = .milliseconds(200)
        #expect(configuration.commandTimeout == .seconds(5))
        let broker = RedisBroker(configuration: configuration, commandTimeout: .milliseconds(500))
        try await withRunningBroker(broker) { broker async throws in
            try await broker.set("k", to: "v")
            let pid = try #require(redis.processIdentifier)
            kill(pid, SIGSTOP)
            var resumed = false
            defer { if !resumed { kill(pid, SIGCONT) } }
            // 3 s frozen: commands meet the frozen connection, then reconnections whose
            // handshake the frozen server never answers.
            let frozenUntil = ContinuousClock.now + .seconds(3)
            var failures = 0
            while ContinuousClock.now < frozenUntil {
                let start = ContinuousClock.now
                do {
                    _ = try await broker.get("k")
                    Issue.record("a frozen Redis answered")
                } catch let error as BrokerError {
                    #expect(error.code == .timeout || error.code == .unavailable, "\(error)")
                    failures += 1
                }
                // 500 ms, plus the client's timeout check every quarter of it; the bound is
                // loose (other suites can keep the concurrency pool busy for seconds) but below
                // the 5 s that a command waited without the shorter timeout.
                let took = ContinuousClock.now - start
                #expect(took < .seconds(4), "a command to the frozen Redis took \(took)")
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(failures > 0)
            kill(pid, SIGCONT)
            resumed = true
            let deadline = ContinuousClock.now + .seconds(10)
            var value: String?
            while value == nil, ContinuousClock.now < deadline {
                value = try? await broker.get("k")
                if value == nil { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(value == "v")
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
