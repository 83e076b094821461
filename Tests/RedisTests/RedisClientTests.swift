import NIOCore
import Redis
import Testing
import WSCTesting

@Suite("Redis client against a real redis-server")
struct RedisClientTests {
    @Test("PING and typed replies")
    func basics() async throws {
        try await withClient { client in
            #expect(try await client.ping() == "PONG")
            let key = namespace() + "k"
            #expect(try await client.send("SET", .string(key), "v") == .simpleString("OK"))
            #expect(try await client.send("GET", .string(key)).string == "v")
            #expect(try await client.send("INCRBY", .string(key + "n"), 5) == .integer(5))
            #expect(try await client.send("GET", .string(key + "missing")).isNull)
            try await client.send("DEL", .string(key), .string(key + "n"))
        }
    }

    @Test("an error reply throws a server error with Redis's message, and the connection lives on")
    func serverError() async throws {
        try await withClient { client in
            let key = namespace() + "list"
            try await client.send("RPUSH", .string(key), "a")
            let error = await expectRedisError(.serverError) { try await client.send("INCR", .string(key)) }
            #expect(error?.message.hasPrefix("WRONGTYPE") == true)
            #expect(error?.command == "INCR")
            #expect(try await client.ping() == "PONG")
            try await client.send("DEL", .string(key))
        }
    }

    @Test("pipelining: 1,000 commands in one write, replies in order")
    func pipeline() async throws {
        try await withClient { client in
            let key = namespace() + "counter"
            let replies = try await client.pipeline((0..<1000).map { _ in RedisCommand("INCR", [.string(key)]) })
            #expect(replies == (1...1000).map { RESPValue.integer(Int64($0)) })
            try await client.send("DEL", .string(key))
        }
    }

    @Test("many concurrent senders on one connection each get their own reply")
    func concurrentSenders() async throws {
        try await withClient { client in
            let prefix = namespace()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        let key = prefix + "\(index)"
                        try await client.send("SET", .string(key), .int(index))
                        #expect(try await client.send("GET", .string(key)).int == index)
                        try await client.send("DEL", .string(key))
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    @Test("a task on the client's executor runs on its event loop, and commands work from there")
    func onTheClientsExecutor() async throws {
        try await withClient { client in
            let key = namespace() + "pinned"
            try await withTaskExecutorPreference(client.taskExecutor) {
                #expect(client.eventLoop.inEventLoop)
                try await client.send("SET", .string(key), "1")
                let replies = try await client.pipeline((0..<32).map { _ in RedisCommand("INCR", [.string(key)]) })
                #expect(replies.last == .integer(33))
                #expect(client.eventLoop.inEventLoop, "resumed on the loop after the reply")
                await expectRedisError(.serverError) { _ = try await client.send("LPUSH", .string(key), "x") }
                try await client.send("DEL", .string(key))
            }
        }
    }

    @Test("a pipeline keeps error replies in place")
    func pipelineErrors() async throws {
        try await withClient { client in
            let key = namespace() + "s"
            let replies = try await client.pipeline([
                RedisCommand("SET", [.string(key), "x"]),
                RedisCommand("INCR", [.string(key)]),
                RedisCommand("GET", [.string(key)]),
            ])
            #expect(replies[0] == .simpleString("OK"))
            #expect(replies[1].errorMessage?.contains("not an integer") == true)
            #expect(replies[2].string == "x")
            try await client.send("DEL", .string(key))
        }
    }

    @Test("transactions: MULTI/EXEC results, and EXECABORT as an error")
    func transaction() async throws {
        try await withClient { client in
            let key = namespace() + "t"
            let results = try await client.transaction([
                RedisCommand("SET", [.string(key), "1"]),
                RedisCommand("INCR", [.string(key)]),
                RedisCommand("GET", [.string(key)]),
            ])
            #expect(results == [.simpleString("OK"), .integer(2), .bulkString(ByteBuffer(string: "2"))])
            let error = await expectRedisError(.serverError) {
                _ = try await client.transaction([RedisCommand("SET", [.string(key)])])
            }
            #expect(error?.message.contains("EXECABORT") == true)
            #expect(try await client.send("GET", .string(key)).string == "2")
            try await client.send("DEL", .string(key))
        }
    }

    @Test("EVALSHA with NOSCRIPT fallback after SCRIPT FLUSH")
    func scripts() async throws {
        try await withClient { client in
            let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
            let key = namespace() + "lua"
            #expect(try await client.evaluate(script, keys: [key], arguments: [3]) == .integer(3))
            let sha = try #require(script.loadedSHA)
            #expect(sha.count == 40)
            try await client.send("SCRIPT", "FLUSH")
            #expect(try await client.evaluate(script, keys: [key], arguments: [4]) == .integer(7))
            let failing = RedisScript("return redis.call('NOSUCHCOMMAND')")
            await expectRedisError(.serverError) { try await client.evaluate(failing) }
            try await client.send("DEL", .string(key))
        }
    }

    @Test("SELECT from the URL's database")
    func database() async throws {
        let base = try TestEnvironment.redisURL()
        let key = namespace() + "db"
        try await withClient(url: base + "/5") { client in
            try await client.send("SET", .string(key), "in5")
        }
        try await withClient(url: base) { client in
            let reply = try await client.send("GET", .string(key))
            #expect(reply.isNull)
        }
        try await withClient(url: base + "/5") { client in
            #expect(try await client.send("GET", .string(key)).string == "in5")
            try await client.send("DEL", .string(key))
        }
    }
}
