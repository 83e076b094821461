import NIOCore
import Redis
import Testing

@Suite("Command encoding")
struct RedisCommandTests {
    @Test("arguments become a RESP array of bulk strings")
    func encoding() {
        let command = RedisCommand("SET", ["key", .int(-12), .bytes(ByteBuffer(bytes: [0, 255])), "é"])
        let expected: [UInt8] = Array("*5\r\n$3\r\nSET\r\n$3\r\nkey\r\n$3\r\n-12\r\n$2\r\n".utf8) + [0, 255]
            + Array("\r\n$2\r\né\r\n".utf8)
        #expect(Array(command.encoded.readableBytesView) == expected)
        #expect(command.name == "SET")
        #expect(command.replyCount == 1)
    }

    @Test("no arguments")
    func bare() {
        #expect(String(buffer: RedisCommand("PING").encoded) == "*1\r\n$4\r\nPING\r\n")
    }
}

@Suite("redis:// URLs")
struct RedisConfigurationTests {
    @Test("host, port and database")
    func basic() throws {
        let configuration = try RedisConfiguration(url: "redis://cache.local:6380/3")
        #expect(configuration.host == "cache.local")
        #expect(configuration.port == 6380)
        #expect(configuration.database == 3)
        #expect(configuration.username == nil)
        #expect(configuration.password == nil)
    }

    @Test("defaults")
    func defaults() throws {
        let configuration = try RedisConfiguration(url: "redis://localhost")
        #expect(configuration.host == "localhost")
        #expect(configuration.port == 6379)
        #expect(configuration.database == 0)
    }

    @Test("user and password, percent-encoded")
    func credentials() throws {
        let configuration = try RedisConfiguration(url: "redis://app%40x:p%3Ass@127.0.0.1:7000/0")
        #expect(configuration.username == "app@x")
        #expect(configuration.password == "p:ss")
        #expect(configuration.port == 7000)
    }

    @Test("password only, with and without a colon")
    func passwordOnly() throws {
        #expect(try RedisConfiguration(url: "redis://:secret@h").password == "secret")
        #expect(try RedisConfiguration(url: "redis://:secret@h").username == nil)
        #expect(try RedisConfiguration(url: "redis://secret@h").password == "secret")
    }

    @Test("IPv6")
    func ipv6() throws {
        let configuration = try RedisConfiguration(url: "redis://[::1]:6390/2")
        #expect(configuration.host == "::1")
        #expect(configuration.port == 6390)
        #expect(configuration.database == 2)
    }

    @Test("rediss:// asks for TLS, redis:// does not")
    func tlsScheme() throws {
        #expect(try RedisConfiguration(url: "rediss://h:6380").tls == RedisTLS())
        #expect(try RedisConfiguration(url: "rediss://h:6380").port == 6380)
        #expect(try RedisConfiguration(url: "redis://h").tls == nil)
    }

    @Test("bad URLs are refused with a reason", arguments: [
        "localhost:6379", "redis+tls://h", "http://h", "redis://h:0", "redis://h:99999", "redis://h:abc",
        "redis://h/-1", "redis://h/x", "redis://[::1", "redis://u:%zz@h",
    ])
    func invalid(_ url: String) {
        let error = #expect(throws: RedisError.self) { try RedisConfiguration(url: url) }
        #expect(error?.code == .invalidURL)
    }

    @Test("the password never appears in an error")
    func secrecy() {
        let error = #expect(throws: RedisError.self) { try RedisConfiguration(url: "redis://u:hunter2@h:notaport") }
        #expect(error.map { !String(reflecting: $0).contains("hunter2") } ?? false)
    }
}
