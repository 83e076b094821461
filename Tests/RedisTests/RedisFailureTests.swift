import NIOCore
import Redis
import Testing
import WSCTesting

@Suite("Redis client on bad input and broken servers")
struct RedisFailureTests {
    @Test("an unparseable reply fails the command with a protocol error and closes that connection")
    func garbage() async throws {
        let server = try await FakeRedisServer.start(.answer("!this is not RESP\r\n", close: false))
        defer { Task { await server.stop() } }
        let connection = try await RedisConnection.connect(configuration: try RedisConfiguration(url: server.url))
        await expectRedisError(.protocolError) { _ = try await connection.send(RedisCommand("PING")) }
        try await connection.closeFuture.get()
        #expect(!connection.isActive)
    }

    @Test("a server that closes in the middle of a reply")
    func closedMidReply() async throws {
        let server = try await FakeRedisServer.start(.answer("$100\r\nonly a part", close: true))
        defer { Task { await server.stop() } }
        let connection = try await RedisConnection.connect(configuration: try RedisConfiguration(url: server.url))
        await expectRedisError(.connectionClosed) { _ = try await connection.send(RedisCommand("GET", ["k"])) }
        #expect(!connection.isActive)
    }

    @Test("a reply nobody asked for is a protocol error")
    func unsolicited() async throws {
        // Two replies for one command: the second has no owner.
        let server = try await FakeRedisServer.start(.answer("+OK\r\n+EXTRA\r\n", close: false))
        defer { Task { await server.stop() } }
        let connection = try await RedisConnection.connect(configuration: try RedisConfiguration(url: server.url))
        _ = try await connection.send(RedisCommand("PING"))
        try await connection.closeFuture.get()
        // After the close, a command is not sent at all: notConnected (safe to retry), not
        // connectionClosed (which says it may have run).
        await expectRedisError(.notConnected) { _ = try await connection.send(RedisCommand("PING")) }
    }

    @Test("a silent server times the command out, and the connection is closed")
    func commandTimeout() async throws {
        let server = try await FakeRedisServer.start(.silent)
        defer { Task { await server.stop() } }
        var configuration = try RedisConfiguration(url: server.url)
        configuration.commandTimeout = .milliseconds(200)
        let connection = try await RedisConnection.connect(configuration: configuration)
        let error = await expectRedisError(.timeout) { _ = try await connection.send(RedisCommand("PING")) }
        #expect(error?.command == "PING")
        try await connection.closeFuture.get()
    }

    @Test("a server that stops answering is detected by the health check and replaced")
    func healthCheck() async throws {
        let server = try await FakeRedisServer.start(.silent)
        defer { Task { await server.stop() } }
        var configuration = try RedisConfiguration(url: server.url)
        configuration.commandTimeout = .milliseconds(200)
        configuration.healthCheckInterval = .milliseconds(100)
        let client = RedisClient(configuration: configuration)
        let events = client.events()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            try await waitFor(events, within: .seconds(5)) { if case .connected = $0 { true } else { false } }
            try await waitFor(events, within: .seconds(5)) { event in
                if case .disconnected(let error) = event { error.code == .connectionClosed } else { false }
            }
            group.cancelAll()
        }
    }

    @Test("nothing listening: connect fails with connectFailed")
    func refused() async throws {
        let refusing = try RefusingTCPPort()
        let port = refusing.port
        await expectRedisError(.connectFailed) {
            _ = try await RedisConnection.connect(configuration: try RedisConfiguration(url: "redis://127.0.0.1:\(port)"))
        }
        _ = refusing
    }

    @Test("wrong password, right password, ACL user")
    func authentication() async throws {
        let redis = try await RedisServerProcess.start(extraArguments: ["--requirepass", "s3cret"])
        defer { redis.kill() }
        let base = "127.0.0.1:\(redis.port)"
        let wrong = await expectRedisError(.authenticationFailed) {
            _ = try await RedisConnection.connect(configuration: try RedisConfiguration(url: "redis://:nope@\(base)"))
        }
        #expect(wrong.map { !String(reflecting: $0).contains("nope") } ?? false)
        await expectRedisError(.serverError) {
            let connection = try await RedisConnection.connect(configuration: try RedisConfiguration(url: "redis://\(base)"))
            defer { Task { await connection.close() } }
            _ = try await connection.send(RedisCommand("GET", ["k"]))
        }
        let connection = try await RedisConnection.connect(configuration: try RedisConfiguration(url: "redis://:s3cret@\(base)"))
        #expect(try await connection.send(RedisCommand("PING")) == .simpleString("PONG"))
        _ = try await connection.send(RedisCommand("ACL", ["SETUSER", "app", "on", ">apppw", "~*", "+@all"]))
        await connection.close()
        let user = try await RedisConnection.connect(configuration: try RedisConfiguration(url: "redis://app:apppw@\(base)"))
        #expect(try await user.send(RedisCommand("ACL", ["WHOAMI"])).string == "app")
        await user.close()
        await expectRedisError(.authenticationFailed) {
            _ = try await RedisConnection.connect(configuration: try RedisConfiguration(url: "redis://app:wrong@\(base)"))
        }
    }

    @Test("the client keeps retrying a wrong password without leaking connections")
    func noLeakOnAuthFailure() async throws {
        let redis = try await RedisServerProcess.start(extraArguments: ["--requirepass", "right"])
        defer { redis.kill() }
        var configuration = try RedisConfiguration(url: "redis://:wrong@127.0.0.1:\(redis.port)")
        configuration.reconnectBase = .milliseconds(5)
        configuration.reconnectCap = .milliseconds(20)
        let client = RedisClient(configuration: configuration)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            try await Task.sleep(for: .milliseconds(500))
            do {
                _ = try await client.ping()
                Issue.record("a client with a wrong password must not answer")
            } catch let error as RedisError {
                // Between attempts it fails fast; during one it reports that attempt's failure.
                #expect([.notConnected, .authenticationFailed].contains(error.code), "\(String(reflecting: error))")
            }
            group.cancelAll()
        }
        let admin = try await RedisConnection.connect(configuration: try RedisConfiguration(url: "redis://:right@127.0.0.1:\(redis.port)"))
        defer { Task { await admin.close() } }
        let clients = try #require(try await admin.send(RedisCommand("CLIENT", ["LIST"])).string)
        #expect(clients.split(separator: "\n").count == 1, "only the admin connection may be left: \(clients)")
    }

    @Test("while Redis is down commands fail fast; after it returns they work again")
    func downAndBack() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.kill() }
        var configuration = try RedisConfiguration(url: redis.url)
        configuration.reconnectBase = .milliseconds(20)
        configuration.reconnectCap = .milliseconds(200)
        let client = RedisClient(configuration: configuration)
        let events = client.events()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            try await waitFor(events, within: .seconds(5)) { if case .connected = $0 { true } else { false } }
            #expect(try await client.ping() == "PONG")
            redis.kill()
            try await waitFor(events, within: .seconds(5)) { if case .disconnected = $0 { true } else { false } }
            let started = ContinuousClock.now
            do {
                _ = try await client.ping()
                Issue.record("a client without a server must not answer")
            } catch let error as RedisError {
                // Between attempts it fails fast; during one it reports that attempt's failure.
                #expect([.notConnected, .connectFailed].contains(error.code), "\(String(reflecting: error))")
            }
            #expect(ContinuousClock.now - started < .milliseconds(500), "failing fast, not hanging")
            try await redis.restart()
            try await waitFor(events, within: .seconds(5)) { if case .reconnected = $0 { true } else { false } }
            #expect(try await client.ping() == "PONG")
            group.cancelAll()
        }
    }

    @Test("after shutdown, commands fail with shutdown")
    func afterShutdown() async throws {
        let client = RedisClient(configuration: try RedisConfiguration(url: TestEnvironment.redisURL()))
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            group.cancelAll()
        }
        await expectRedisError(.shutdown) { _ = try await client.ping() }
    }
}
