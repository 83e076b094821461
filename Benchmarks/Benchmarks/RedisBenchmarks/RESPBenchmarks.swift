import Benchmark
import NIOCore
import Redis

/// `*<count>\r\n` followed by `count` bulk strings of `length` bytes each.
func respArrayOfBulkStrings(count: Int, length: Int) -> ByteBuffer {
    var buffer = ByteBufferAllocator().buffer(capacity: 16 + count * (length + 8))
    buffer.writeString("*\(count)\r\n")
    for index in 0..<count {
        let digits = String(index)
        let element = String(repeating: "x", count: length - digits.utf8.count) + digits
        buffer.writeString("$\(length)\r\n\(element)\r\n")
    }
    return buffer
}

func respBenchmarks() {
    let encoded = respArrayOfBulkStrings(count: 1_000, length: 16)
    // One decoder for the whole run, as on a connection: each iteration feeds it the complete
    // reply (16,893 bytes) and pulls out the decoded `.array` of 1,000 `.bulkString`s.
    var decoder = RESPDecoder()

    Benchmark("RESP parse 1000-element array") { benchmark in
        for _ in benchmark.scaledIterations {
            try decoder.feed(encoded)
            guard case .array(let elements)? = try decoder.next(), elements.count == 1_000 else {
                benchmark.error("the decoder did not return the 1000-element array")
                return
            }
            blackHole(elements)
        }
    }
}
