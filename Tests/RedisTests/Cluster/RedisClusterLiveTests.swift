import Logging
import NIOCore
import Redis
import Synchronization
import Testing
import WSCTesting

/// The cluster client against real clusters of `redis-server --cluster-enabled yes`, each
/// test with a cluster of its own: routing, a slot migrated under writes, a master killed.
@Suite("Redis Cluster: live clusters", .serialized)  // each test starts up to 6 redis-servers: one cluster at a time
struct RedisClusterLiveTests {
    /// Runs `body` with a client of `cluster`, running; `url` gives its credentials.
    func withClient(
        _ cluster: RedisClusterProcess, url: String = "redis://127.0.0.1:1", retryFor: Duration = .seconds(20),
        _ body: (RedisClusterClient) async throws -> Void
    ) async throws {
        var logger = Logger(label: "cluster-test")
        logger.logLevel = .critical
        let client = try RedisClusterClient(
            seeds: [cluster.seeds[0]], configuration: try RedisConfiguration(url: url),
            retryFor: retryFor, refreshInterval: .seconds(1), logger: logger
        )
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        try await body(client)
    }

    @Test("commands reach the master of their key's slot: keys spread over every master, slots agree with CLUSTER KEYSLOT, pipelines and transactions on one slot")
    func routing() async throws {
        let cluster = try await RedisClusterProcess.start(masters: 3, replicas: 0)
        try await withClient(cluster) { client in
            for index in 0..<300 {
                try await client.send(RedisCommand("SET", [.string("key:\(index)"), .string("\(index)")]), key: "key:\(index)")
            }
            let topology = try #require(client.topology)
            #expect(topology.shards.count == 3 && topology.coversEverySlot)
            var total = 0
            for shard in topology.shards {
                let size = try #require(try await client.client(for: shard.master).send("DBSIZE").int)
                #expect(size > 50, "every master holds a share of the keys: \(shard.master) has \(size)")
                total += size
            }
            #expect(total == 300)
            for key in ["foo", "key:7", "{user1000}.following", "é😀", "a{b}c"] {
                let slot = try await client.client(for: topology.shards[0].master).send("CLUSTER", "KEYSLOT", .string(key))
                #expect(slot.int == RedisClusterSlot.of(key), "\(key)")
                #expect(try await client.send(RedisCommand("GET", [.string("key:7")]), key: "key:7").string == "7")
            }
            let slot = RedisClusterSlot.of("{cart:9}")
            let replies = try await client.pipeline([
                RedisCommand("RPUSH", ["{cart:9}:items", "a", "b"]), RedisCommand("INCR", ["{cart:9}:version"]), RedisCommand("LRANGE", ["{cart:9}:items", 0, -1]),
            ], slot: slot)
            #expect(replies[0].int == 2 && replies[1].int == 1 && replies[2].array?.compactMap(\.string) == ["a", "b"])
            let results = try await client.transaction([RedisCommand("INCR", ["{cart:9}:version"]), RedisCommand("LLEN", ["{cart:9}:items"])], slot: slot)
            #expect(results.map(\.int) == [2, 2])
            // A command whose key is elsewhere after all is redirected there, not refused.
            let crossed = try await client.pipeline([RedisCommand("GET", ["key:7"])], slot: slot)
            #expect(crossed[0].string == "7")
        }
    }

    @Test("a slot migrated key by key while INCRs hit it: ASK and MOVED are followed, and every INCR counts exactly once")
    func migrationUnderWrites() async throws {
        let cluster = try await RedisClusterProcess.start(masters: 3, replicas: 0)
        try await withClient(cluster) { client in
            let keys = (0..<40).map { "counter:{moving}:\($0)" }
            let slot = RedisClusterSlot.of(keys[0])
            for key in keys { try await client.send(RedisCommand("SET", [.string(key), "0"]), key: key) }
            let source = try await cluster.masterPort(ofSlot: slot)
            let target = try #require(cluster.servers.map(\.port).first { $0 != source })
            let (sourceID, targetID) = (try await cluster.nodeID(source), try await cluster.nodeID(target))

            let counts = Mutex([Int](repeating: 0, count: keys.count))
            let stop = Atomic<Bool>(false)
            let writer = Task {
                var round = 0
                while !stop.load(ordering: .relaxed) {
                    let index = round % keys.count
                    _ = try await client.send(RedisCommand("INCR", [.string(keys[index])]), key: keys[index])
                    counts.withLock { $0[index] += 1 }
                    round += 1
                }
            }
            // The migration as redis-cli --cluster reshard does it, one key at a time.
            _ = try await cluster.ask(target, ["CLUSTER", "SETSLOT", "\(slot)", "IMPORTING", sourceID])
            _ = try await cluster.ask(source, ["CLUSTER", "SETSLOT", "\(slot)", "MIGRATING", targetID])
            while true {
                let batch = try await cluster.ask(source, ["CLUSTER", "GETKEYSINSLOT", "\(slot)", "1"])
                guard !batch.isEmpty else { break }
                _ = try await cluster.ask(source, ["MIGRATE", "127.0.0.1", "\(target)", "", "0", "5000", "KEYS", batch])
                try await Task.sleep(for: .milliseconds(20))
            }
            for port in cluster.servers.map(\.port) {
                _ = try await cluster.ask(port, ["CLUSTER", "SETSLOT", "\(slot)", "NODE", targetID])
            }
            try await Task.sleep(for: .milliseconds(300))
            stop.store(true, ordering: .relaxed)
            try await writer.value

            #expect(try await cluster.masterPort(ofSlot: slot) == target)
            let written = counts.withLock { $0 }
            #expect(written.reduce(0, +) > keys.count, "the writer ran during the migration")
            for (index, key) in keys.enumerated() {
                let value = try await client.send(RedisCommand("GET", [.string(key)]), key: key)
                #expect(value.int == written[index], "\(key): \(value) after \(written[index]) INCRs")
            }
            try await client.refreshTopology()
            #expect(client.topology?.master(ofSlot: slot)?.port == target)
        }
    }

    @Test("a master killed: its replica takes over, commands for its slots wait and then succeed, and the client moves to the new master")
    func failover() async throws {
        let cluster = try await RedisClusterProcess.start(masters: 3, replicas: 1)
        try await withClient(cluster) { client in
            let key = "survivor"
            let slot = RedisClusterSlot.of(key)
            try await client.send(RedisCommand("SET", [.string(key), "before"]), key: key)
            // The replica has the value before its master dies (replication is asynchronous).
            let old = try await cluster.masterPort(ofSlot: slot)
            _ = try await cluster.ask(old, ["WAIT", "1", "2000"])
            try #require(cluster.server(old)).kill()
            // A command written to the dead master before its connection is seen closed fails
            // with connectionClosed: it may have run, so it is never sent again (as with one
            // Redis). What is tested here is the commands after that (one that finds the
            // connection closed is not sent, and is retried).
            let oldMaster = RedisClusterTopology.Endpoint(host: "127.0.0.1", port: old)
            try await eventually(within: .seconds(5), "the client sees the master's connection close") { !client.client(for: oldMaster).isConnected }
            let started = ContinuousClock.now
            do {
                try await client.send(RedisCommand("SET", [.string(key), "after"]), key: key)
            } catch {
                let alive = try #require(cluster.servers.first { $0.isRunning })
                let nodes = try await cluster.ask(alive.port, ["CLUSTER", "NODES"])
                let masters = client.topology?.shards.map(\.master.description) ?? []
                Issue.record("the write failed after \(ContinuousClock.now - started): \(String(reflecting: error)); the client's masters: \(masters); CLUSTER NODES:\n\(nodes)")
                throw error
            }
            let took = ContinuousClock.now - started
            #expect(took < .seconds(15), "the write waited \(took) for the failover")
            let new = try #require(client.topology?.master(ofSlot: slot))
            #expect(new.port != old)
            #expect(try await client.send(RedisCommand("GET", [.string(key)]), key: key).string == "after")
            // Every other slot still works.
            for index in 0..<30 {
                try await client.send(RedisCommand("SET", [.string("other:\(index)"), "x"]), key: "other:\(index)")
            }
        }
    }

    @Test("a cluster that requires a password: the configuration's password reaches every node it learns of; a wrong one is refused")
    func password() async throws {
        let cluster = try await RedisClusterProcess.start(masters: 3, replicas: 0, password: "cluster-secret")
        // Only one seed is given: the other masters are learned from CLUSTER SLOTS, and need the
        // password too.
        try await withClient(cluster, url: "redis://:cluster-secret@127.0.0.1:1") { client in
            for index in 0..<60 {
                try await client.send(RedisCommand("SET", [.string("auth:\(index)"), "x"]), key: "auth:\(index)")
            }
            let masters = Set((0..<60).compactMap { client.topology?.master(ofSlot: RedisClusterSlot.of("auth:\($0)")) })
            #expect(masters.count == 3, "the keys reached \(masters.count) masters")
        }
        try await withClient(cluster, url: "redis://:wrong@127.0.0.1:1", retryFor: .seconds(1)) { client in
            await #expect(throws: RedisError.self) {
                try await client.send(RedisCommand("SET", ["auth:refused", "x"]), key: "auth:refused")
            }
        }
    }
}
