import NIOCore
import Redis
import Testing

@Suite("RESP decoding with hiredis")
struct RESPDecoderTests {
    /// Decodes `input` fed in chunks of `chunk` bytes (0 = all at once).
    private func decodeAll(_ input: [UInt8], chunk: Int = 0) throws -> [RESPValue] {
        var decoder = RESPDecoder()
        var replies: [RESPValue] = []
        let size = chunk == 0 ? max(input.count, 1) : chunk
        var offset = 0
        while offset < input.count {
            let end = min(offset + size, input.count)
            try decoder.feed(ByteBuffer(bytes: input[offset..<end]))
            while let reply = try decoder.next() { replies.append(reply) }
            offset = end
        }
        #expect(!decoder.hasPartialReply)
        return replies
    }

    static let cases: [(String, [UInt8], RESPValue)] = [
        ("status", Array("+OK\r\n".utf8), .simpleString("OK")),
        ("error", Array("-ERR wrong\r\n".utf8), .error("ERR wrong")),
        ("integer", Array(":-42\r\n".utf8), .integer(-42)),
        ("bulk", Array("$5\r\nhello\r\n".utf8), .bulkString(ByteBuffer(string: "hello"))),
        ("empty bulk", Array("$0\r\n\r\n".utf8), .bulkString(ByteBuffer())),
        ("null bulk", Array("$-1\r\n".utf8), .null),
        ("null array", Array("*-1\r\n".utf8), .null),
        ("empty array", Array("*0\r\n".utf8), .array([])),
        (
            "nested",
            Array("*3\r\n$3\r\nfoo\r\n:1\r\n*2\r\n$-1\r\n+x\r\n".utf8),
            .array([.bulkString(ByteBuffer(string: "foo")), .integer(1), .array([.null, .simpleString("x")])])
        ),
        ("binary", Array("$4\r\n".utf8) + [0, 13, 10, 1] + Array("\r\n".utf8), .bulkString(ByteBuffer(bytes: [0, 13, 10, 1]))),
    ]

    @Test("every RESP2 type, whole, drip-fed byte by byte, and in odd chunks")
    func chunkings() throws {
        let stream = Self.cases.flatMap(\.1)
        let expected = Self.cases.map(\.2)
        for chunk in [0, 1, 2, 3, 7, 64] {
            #expect(try decodeAll(stream, chunk: chunk) == expected, "chunk size \(chunk)")
        }
    }

    @Test("UTF-8 bulk strings keep their bytes")
    func utf8() throws {
        let text = "你好, wscenter 👋"
        let replies = try decodeAll(Array("$\(text.utf8.count)\r\n\(text)\r\n".utf8), chunk: 5)
        #expect(replies.first?.string == text)
    }

    @Test("a 1,000-element array")
    func largeArray() throws {
        var text = "*1000\r\n"
        for index in 0..<1000 { text += "$\(String(index).count)\r\n\(index)\r\n" }
        let value = try #require(try decodeAll(Array(text.utf8)).first)
        let elements = try #require(value.array)
        #expect(elements.count == 1000)
        #expect(elements[999].string == "999")
    }

    @Test("an unknown type byte or a bad length is a protocol error", arguments: ["!bogus\r\n", "?\r\n", "$abc\r\n"])
    func garbage(_ input: String) throws {
        let error = #expect(throws: RedisError.self) { _ = try decodeAll(Array(input.utf8)) }
        #expect(error?.code == .protocolError)
    }

    @Test("nesting deeper than hiredis allows is a protocol error, not a crash")
    func tooDeep() throws {
        let input = String(repeating: "*1\r\n", count: 20) + ":1\r\n"
        let error = #expect(throws: RedisError.self) { _ = try decodeAll(Array(input.utf8)) }
        #expect(error?.code == .protocolError)
    }

    @Test("a reply larger than the limit is refused before it is buffered whole")
    func tooLarge() throws {
        var decoder = RESPDecoder(maximumBufferedBytes: 1024)
        let error = #expect(throws: RedisError.self) {
            try decoder.feed(ByteBuffer(string: "$100000\r\n" + String(repeating: "x", count: 2048)))
        }
        #expect(error?.code == .protocolError)
    }

    @Test("bytes of an unfinished reply are visible, so a close mid-reply is detected")
    func partial() throws {
        var decoder = RESPDecoder()
        try decoder.feed(ByteBuffer(string: "$10\r\nabc"))
        #expect(try decoder.next() == nil)
        #expect(decoder.hasPartialReply)
        try decoder.feed(ByteBuffer(string: "defghij\r\n"))
        #expect(try decoder.next()?.string == "abcdefghij")
        #expect(!decoder.hasPartialReply)
    }
}
