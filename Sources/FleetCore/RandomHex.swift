/// Random identifiers in hex, each one string allocation of exactly its size (connection
/// ids, session tokens, message ids, webhook event ids: they add up over many idle
/// connections).
package enum RandomHex {
    /// 16 hex digits per 64-bit word of randomness.
    package static func make(words: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef".utf8)
        return String(unsafeUninitializedCapacity: words * 16) { buffer in
            for word in 0..<words {
                let value = generator.next() as UInt64
                for nibble in 0..<16 {
                    buffer[word * 16 + nibble] = digits[Int((value >> UInt64(60 - 4 * nibble)) & 0xF)]
                }
            }
            return words * 16
        }
    }
}
