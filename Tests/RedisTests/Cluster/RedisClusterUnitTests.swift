import NIOCore
import Redis
import Testing

/// The cluster client's pure parts: hash slots, the slot map, redirections and the routing
/// decisions, without a server.
@Suite("Redis Cluster: slots, slot map and routing")
struct RedisClusterUnitTests {
    @Test("slots are CRC16-XMODEM mod 16384, as CLUSTER KEYSLOT computes them")
    func slots() {
        // The cluster specification's check value, and slots Redis itself gives.
        #expect(RedisClusterSlot.of("123456789") == 0x31C3)
        #expect(RedisClusterSlot.of("foo") == 12182)
        #expect(RedisClusterSlot.of("bar") == 5061)
        #expect(RedisClusterSlot.of("hello") == 866)
        #expect(RedisClusterSlot.of("") == 0)
    }

    @Test("only a key's hash tag is hashed: the bytes between its first { and the next }, when not empty")
    func hashTags() {
        let user = RedisClusterSlot.of("user1000")
        #expect(RedisClusterSlot.of("{user1000}.following") == user)
        #expect(RedisClusterSlot.of("{user1000}.followers") == user)
        #expect(RedisClusterSlot.of("foo{user1000}bar{other}") == user)
        // An empty tag hashes the whole key; so does a { without a } after it.
        #expect(RedisClusterSlot.of("foo{}{bar}") == Int(RedisClusterSlotTestsSupport.crc("foo{}{bar}")))
        #expect(RedisClusterSlot.of("foo{bar") == Int(RedisClusterSlotTestsSupport.crc("foo{bar")))
        // The tag ends at the first } after the first {.
        #expect(RedisClusterSlot.of("foo{{bar}}zap") == RedisClusterSlot.of("{bar"))
        #expect(RedisClusterSlot.of("foo{bar}{zap}") == RedisClusterSlot.of("bar"))
    }

    @Test("CLUSTER SLOTS is read into shards, a master per slot, replicas kept, an empty host is the queried node's")
    func topology() throws {
        func node(_ host: String, _ port: Int, _ id: String) -> RESPValue {
            .array([.bulkString(ByteBuffer(string: host)), .integer(Int64(port)), .bulkString(ByteBuffer(string: id)), .array([])])
        }
        let reply = RESPValue.array([
            .array([.integer(0), .integer(5460), node("10.0.0.1", 7000, "a"), node("10.0.0.4", 7003, "d")]),
            .array([.integer(5461), .integer(10922), node("", 7001, "b"), node("10.0.0.5", 7004, "e")]),
            .array([.integer(10923), .integer(16000), node("10.0.0.3", 7002, "c")]),
            .array([.integer(16001), .integer(16383), node("10.0.0.1", 7000, "a")]),
        ])
        let topology = try RedisClusterTopology(slotsReply: reply, queried: .init(host: "10.0.0.2", port: 7001))
        #expect(topology.shards.count == 3)
        #expect(topology.master(ofSlot: 0) == .init(host: "10.0.0.1", port: 7000))
        #expect(topology.master(ofSlot: 16383) == .init(host: "10.0.0.1", port: 7000))
        #expect(topology.master(ofSlot: 5461) == .init(host: "10.0.0.2", port: 7001))
        #expect(topology.master(ofSlot: 12000) == .init(host: "10.0.0.3", port: 7002))
        #expect(topology.coversEverySlot)
        let first = try #require(topology.shards.first { $0.master.port == 7000 })
        #expect(first.slots == [0...5460, 16001...16383] && first.replicas == [.init(host: "10.0.0.4", port: 7003)])

        let partial = try RedisClusterTopology(slotsReply: .array([.array([.integer(0), .integer(99), node("h", 1, "x")])]), queried: .init(host: "q", port: 1))
        #expect(!partial.coversEverySlot && partial.master(ofSlot: 100) == nil && partial.master(ofSlot: 99) != nil)
        #expect(throws: RedisError.self) { try RedisClusterTopology(slotsReply: .integer(1), queried: .init(host: "q", port: 1)) }
        #expect(throws: RedisError.self) {
            try RedisClusterTopology(slotsReply: .array([.array([.integer(9), .integer(1), node("h", 1, "x")])]), queried: .init(host: "q", port: 1))
        }
    }

    @Test("MOVED, ASK, TRYAGAIN and CLUSTERDOWN are read from error replies; other errors are not redirections")
    func redirects() {
        #expect(RedisClusterRedirect(errorMessage: "MOVED 3999 127.0.0.1:6381") == .moved(slot: 3999, to: .init(host: "127.0.0.1", port: 6381)))
        #expect(RedisClusterRedirect(errorMessage: "ASK 3999 127.0.0.1:6381") == .ask(slot: 3999, to: .init(host: "127.0.0.1", port: 6381)))
        #expect(RedisClusterRedirect(errorMessage: "MOVED 1 [::1]:7000") == .moved(slot: 1, to: .init(host: "::1", port: 7000)))
        #expect(RedisClusterRedirect(errorMessage: "TRYAGAIN Multiple keys request during rehashing of slot") == .tryAgain)
        #expect(RedisClusterRedirect(errorMessage: "CLUSTERDOWN Hash slot not served") == .clusterDown)
        for other in ["ERR wrong number of arguments", "MOVED", "MOVED x 127.0.0.1:1", "MOVED 16384 h:1", "ASK 1 nohostport", "MOVED 1 h:0", "WRONGTYPE"] {
            #expect(RedisClusterRedirect(errorMessage: other) == nil, "\(other)")
        }
    }

    @Test("routing follows MOVED and ASK up to a limit, waits on TRYAGAIN, CLUSTERDOWN and unreachable nodes until its time is up, and never resends what may have run")
    func routing() throws {
        let start = ContinuousClock.now
        var routing = RedisClusterRouting(startedAt: start, retryFor: .seconds(5))
        let there = RedisClusterTopology.Endpoint(host: "h", port: 2)
        #expect(try routing.redirected(.moved(slot: 1, to: there), at: start) == .send(to: there, asking: false))
        #expect(try routing.redirected(.ask(slot: 1, to: there), at: start) == .send(to: there, asking: true))
        #expect(try routing.redirected(.tryAgain, at: start + .seconds(1)) == .retryAfter(RedisClusterRouting.retryPause))
        #expect(try routing.redirected(.clusterDown, at: start + .seconds(4)) == .retryAfter(RedisClusterRouting.retryPause))
        #expect(throws: RedisError.self) { try routing.redirected(.clusterDown, at: start + .seconds(5)) }
        #expect(try routing.failed(RedisError(.notConnected, "down"), at: start) == .retryAfter(RedisClusterRouting.retryPause))
        #expect(try routing.failed(RedisError(.connectFailed, "refused"), at: start) == .retryAfter(RedisClusterRouting.retryPause))
        for mayHaveRun in [RedisError.Code.connectionClosed, .timeout, .serverError] {
            #expect(throws: RedisError.self) { try routing.failed(RedisError(mayHaveRun, "x"), at: start) }
        }
        var looping = RedisClusterRouting(startedAt: start, retryFor: .seconds(5))
        for _ in 0..<RedisClusterRouting.maxRedirects { _ = try looping.redirected(.moved(slot: 1, to: there), at: start) }
        #expect(throws: RedisError.self) { try looping.redirected(.moved(slot: 1, to: there), at: start) }
    }
}

/// CRC16-XMODEM written out bit by bit, independently of the table the client uses.
enum RedisClusterSlotTestsSupport {
    static func crc(_ text: String) -> UInt16 {
        var crc: UInt16 = 0
        for byte in text.utf8 {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        }
        return crc & 0x3FFF
    }
}
