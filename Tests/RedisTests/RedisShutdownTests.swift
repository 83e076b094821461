import Redis
import Testing
import WSCTesting

/// A client that is shut down, or never run, must not leave anyone waiting: a command fails
/// with `.shutdown` or ends with its task, and `run()` returns.
@Suite("Redis client shutdown and cancellation")
struct RedisShutdownTests {
    @Test("a command waiting on a client that never runs ends when its task is cancelled")
    func cancelledWaiter() async throws {
        let client = RedisClient(configuration: try RedisConfiguration(url: TestEnvironment.redisURL()))
        let waiting = Task { try await client.send(RedisCommand("PING")) }
        // The client is idle (never run): the command waits for a connection attempt.
        try await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
    }

    @Test("shutdown fails a waiting command with .shutdown, and later ones at once")
    func shutdownFailsWaiters() async throws {
        let client = RedisClient(configuration: try RedisConfiguration(url: TestEnvironment.redisURL()))
        let waiting = Task { try await client.send(RedisCommand("PING")) }
        try await Task.sleep(for: .milliseconds(50))
        client.shutdown()
        await expectRedisError(.shutdown) { _ = try await waiting.value }
        await expectRedisError(.shutdown) { _ = try await client.send(RedisCommand("PING")) }
        // run() after shutdown returns at once, without connecting.
        await client.run()
        #expect(!client.isConnected)
    }

    @Test("shutdown while running closes the connection and ends run()")
    func shutdownWhileRunning() async throws {
        let client = RedisClient(configuration: try RedisConfiguration(url: TestEnvironment.redisURL()))
        let running = Task { await client.run() }
        let events = client.events()
        _ = try await client.send(RedisCommand("PING"))
        client.shutdown()
        await running.value
        var disconnections = 0
        for await event in events {
            if case .disconnected = event { disconnections += 1 }
        }
        #expect(disconnections == 0, "the event stream ends, with no disconnection, after a shutdown")
        await expectRedisError(.shutdown) { _ = try await client.send(RedisCommand("PING")) }
    }
}
