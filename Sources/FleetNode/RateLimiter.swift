/// A token bucket per connection: `rate` messages per second on average, bursts up to `rate`.
/// A message over the limit is refused; a client that keeps sending past the limit (more than
/// `rate` refused messages without a pause that refills the bucket) is abusive.
package struct RateLimiter: Sendable, Hashable {
    package enum Decision: Sendable, Hashable {
        case allowed
        case limited
        /// Refused, and the client has ignored the limit long enough to be disconnected.
        case abusive
    }

    package let rate: Double
    private var tokens: Double
    private var last: Double
    private var refusedInARow = 0

    /// - Parameters:
    ///   - rate: messages per second; 0 or less turns limiting off.
    ///   - now: the current time in seconds (any monotonic origin).
    package init(rate: Double, now: Double) {
        self.rate = rate
        self.tokens = max(rate, 1)
        self.last = now
    }

    /// The bucket holds `rate` messages, and at least one (a rate below 1 still lets one
    /// message through every 1/rate seconds).
    private var capacity: Double { max(rate, 1) }

    /// Counts one message arriving at `now` (seconds, monotonic).
    package mutating func admit(at now: Double) -> Decision {
        guard rate > 0 else { return .allowed }
        tokens = min(capacity, tokens + max(0, now - last) * rate)
        last = max(last, now)
        if tokens >= 1 {
            tokens -= 1
            refusedInARow = 0
            return .allowed
        }
        refusedInARow += 1
        return Double(refusedInARow) > capacity ? .abusive : .limited
    }
}
