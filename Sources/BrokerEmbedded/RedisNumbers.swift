/// Number parsing that follows Redis, so the embedded broker rejects exactly what a
/// Redis server would. (TTLs are rounded by `BrokerCommand.milliseconds(_:)`, shared with
/// the Redis broker.)
enum RedisNumbers {
    /// Parses `text` as Redis's `string2ll` does: an optional `-`, then decimal digits
    /// without leading zeros (except `"0"` itself), no spaces, no `+`, within `Int64`.
    /// - Returns: the value, or `nil` when Redis would answer "value is not an integer".
    static func integer(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= 20 else { return nil }
        if bytes == [UInt8(ascii: "0")] { return 0 }

        let negative = bytes[0] == UInt8(ascii: "-")
        let digits = negative ? bytes.dropFirst() : bytes[...]
        guard let first = digits.first, first >= UInt8(ascii: "1"), first <= UInt8(ascii: "9") else {
            return nil
        }
        // Accumulate as a negative number so Int64.min parses too.
        var value: Int64 = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = shifted.subtractingReportingOverflow(Int64(digit - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            value = next
        }
        if negative { return value }
        return value == .min ? nil : -value
    }
}
