import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@testable import Redis

extension FuzzTests {
    @Suite("Fuzzing the RESP decoder")
    struct RESPDecoderFuzzTests {
        static let inputs = InputMix(
            alphabet: Array("+-:$*\r\n0123456789-OKabc".utf8) + [0, 0xFF],
            mutator: Mutator(dictionary: ["\r\n", "$", "*", ":", "+", "-", "$-1\r\n", "*-1\r\n", "*1\r\n", "$0\r\n\r\n"] + RESPGenerator.hugeNumbers),
            samples: [
                "+OK\r\n", "-ERR wrong type\r\n", ":-42\r\n", "$5\r\nhello\r\n", "$-1\r\n", "*-1\r\n", "*0\r\n",
                "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n", "*2\r\n*1\r\n:1\r\n*2\r\n$-1\r\n+x\r\n",
            ].map { Array($0.utf8) }
        )

        /// What decoding a byte stream comes to.
        struct Outcome: Equatable {
            var replies: [RESPValue] = []
            /// The protocol error that ended decoding, if one did.
            var error: String?
            var partial = false
        }

        /// Decodes `input` fed in pieces of the given sizes (the rest in one piece).
        static func decode(_ input: [UInt8], pieces: [Int] = [], seed: UInt64) -> Outcome {
            var decoder = RESPDecoder()
            var outcome = Outcome()
            var offset = 0
            var sizes = pieces.makeIterator()
            do {
                while offset < input.count {
                    let end = min(input.count, offset + max(1, sizes.next() ?? input.count))
                    try decoder.feed(ByteBuffer(bytes: input[offset..<end]))
                    offset = end
                    while let reply = try decoder.next() { outcome.replies.append(reply) }
                }
                outcome.partial = decoder.hasPartialReply
            } catch let error as RedisError {
                #expect(error.code == .protocolError && error.message.hasPrefix("unparseable reply: "), "seed \(seed): \(error) for \(show(input))")
                outcome.error = error.message
            } catch {
                Issue.record("seed \(seed): \(type(of: error)) \(error) for \(show(input))")
            }
            return outcome
        }

        /// Piece sizes from one byte to the whole input.
        static func pieces(for input: [UInt8], using random: inout FuzzRandom) -> [Int] {
            (0..<input.count).map { _ in random.chance(30) ? 1 : random.int(1...max(1, input.count)) }
        }

        @Test("generated replies decode to themselves, whole, in pieces and drip-fed", arguments: FuzzSeeds.all)
        func roundTrip(seed: UInt64) async throws {
            var random = FuzzRandom(seed: seed)
            for index in 0..<400 {
                await yieldPeriodically(index)
                let replies = (0..<random.int(1...6)).map { _ in RESPGenerator.value(depth: 4, using: &random) }
                let bytes = replies.flatMap { RESPGenerator.encoded($0, using: &random) }
                let expected = Outcome(replies: replies)
                #expect(Self.decode(bytes, seed: seed) == expected, "seed \(seed): \(show(bytes))")
                #expect(Self.decode(bytes, pieces: Self.pieces(for: bytes, using: &random), seed: seed) == expected, "seed \(seed): \(show(bytes))")
            }
            let pairs = (0..<8).map { _ in
                let reply = RESPGenerator.value(depth: 2, using: &random)
                return (ByteBuffer(bytes: RESPGenerator.encoded(reply, using: &random)), [reply])
            }
            try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { VerifiableRESPDecoder() }
        }

        @Test("random, mutated and hostile bytes decode or fail with a protocol error, however they are cut", arguments: FuzzSeeds.all)
        func arbitraryInput(seed: UInt64) async {
            var random = FuzzRandom(seed: seed)
            for index in 0..<1500 {
                await yieldPeriodically(index)
                let input = Self.inputs.input(index, generated: { RESPGenerator.hostile(using: &$0) }, using: &random)
                let whole = Self.decode(input, seed: seed)
                let cut = Self.decode(input, pieces: Self.pieces(for: input, using: &random), seed: seed)
                #expect(whole == cut, "seed \(seed): \(show(input))")
            }
        }

        @Test("the channel handler passes replies on, fails once, and reports a reply cut short", arguments: FuzzSeeds.all)
        func handler(seed: UInt64) async throws {
            var random = FuzzRandom(seed: seed)
            for index in 0..<300 {
                await yieldPeriodically(index)
                let input = Self.inputs.input(index, generated: { RESPGenerator.hostile(using: &$0) }, using: &random)
                let expected = Self.decode(input, seed: seed)
                let channel = EmbeddedChannel(handler: RESPDecodingHandler())
                var outcome = Outcome()
                var offset = 0
                for size in Self.pieces(for: input, using: &random) where offset < input.count {
                    let end = min(input.count, offset + size)
                    do {
                        try channel.writeInbound(ByteBuffer(bytes: input[offset..<end]))
                    } catch let error as RedisError {
                        #expect(outcome.error == nil, "seed \(seed): a second error for \(show(input))")
                        outcome.error = error.message
                    }
                    offset = end
                    while let reply = try channel.readInbound(as: RESPValue.self) { outcome.replies.append(reply) }
                }
                do {
                    _ = try channel.finish()
                } catch let error as RedisError {
                    #expect(error.code == .connectionClosed, "seed \(seed): \(show(input))")
                    outcome.partial = true
                }
                #expect(outcome == expected, "seed \(seed): \(show(input))")
            }
        }

        @Test("arrays nested 100,000 deep are a protocol error", arguments: [9, 100, 100_000])
        func deepNesting(depth: Int) {
            let input = Array(String(repeating: "*1\r\n", count: depth).utf8) + Array(":1\r\n".utf8)
            let outcome = Self.decode(input, seed: 0)
            #expect(outcome.error?.contains("nested multi bulk") == true, "\(outcome)")
        }

        @Test("arrays nested 8 deep, as deep as hiredis goes, decode")
        func deepestNesting() {
            let input = Array(String(repeating: "*1\r\n", count: 8).utf8) + Array(":1\r\n".utf8)
            let expected = (0..<8).reduce(RESPValue.integer(1)) { inner, _ in .array([inner]) }
            #expect(Self.decode(input, seed: 0) == Outcome(replies: [expected]))
        }

        /// Regression: hiredis allocated room for every declared element (16 GiB here) and
        /// visited each slot when freeing it: 7.5 seconds of CPU for 17 bytes.
        @Test("an array declaring more elements than the limit is refused before hiredis allocates them", arguments: ["2147483647", "16777217"])
        func hugeArray(count: String) throws {
            let outcome = Self.decode(Array("*\(count)\r\n:1\r\n".utf8), seed: 0)
            #expect(outcome.error == "unparseable reply: an array of \(count) elements, more than the limit of 16777216")
            var small = RESPDecoder(maximumArrayLength: 2)
            #expect(throws: Never.self) { try small.feed(ByteBuffer(string: "*2\r\n:1\r\n:2\r\n*3\r\n")) }
            #expect(try small.next() == .array([.integer(1), .integer(2)]))
            let error = #expect(throws: RedisError.self) { try small.next() }
            #expect(error?.message == "unparseable reply: an array of 3 elements, more than the limit of 2")
            var nested = RESPDecoder(maximumArrayLength: 2)
            try nested.feed(ByteBuffer(string: "*1\r\n*1\r\n*3\r\n:1\r\n:2\r\n:3\r\n"))
            #expect(throws: RedisError.self, "a nested array is held to the limit too") { try nested.next() }
        }

        @Test("a bulk string declaring more bytes than the limit is refused once that many are buffered")
        func hugeBulkString() throws {
            var decoder = RESPDecoder(maximumBufferedBytes: 64)
            try decoder.feed(ByteBuffer(string: "$2147483647\r\n"))
            #expect(try decoder.next() == nil)
            #expect(decoder.hasPartialReply)
            let error = #expect(throws: RedisError.self) { try decoder.feed(ByteBuffer(repeating: 0x78, count: 100)) }
            #expect(error?.message == "a reply exceeds 64 bytes")
        }
    }
}

/// ``RESPDecoder`` as a `ByteToMessageDecoder`, for NIO's `ByteToMessageDecoderVerifier`.
struct VerifiableRESPDecoder: ByteToMessageDecoder {
    typealias InboundOut = RESPValue
    var decoder = RESPDecoder()

    /// Hands all bytes to hiredis, then passes on every reply they complete.
    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        try decoder.feed(buffer)
        buffer.moveReaderIndex(to: buffer.writerIndex)
        while let reply = try decoder.next() {
            context.fireChannelRead(Self.wrapInboundOut(reply))
        }
        return .needMoreData
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }
}
