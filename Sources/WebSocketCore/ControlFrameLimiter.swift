import NIOCore

/// The budget of ping and pong frames a client may send: a token bucket that refills at
/// `rate` per second and holds up to `rate` tokens. Time is passed in, so it is tested
/// without a clock.
struct ControlFrameLimiter: Sendable, Equatable {
    enum Verdict: Equatable {
        /// Handle the frame.
        case allow
        /// Over the budget: ignore the frame.
        case drop
        /// More than `rate` frames dropped in a row: close the socket (1008).
        case close
    }

    private var tokens: Double
    private var refilledAt: NIODeadline
    private var droppedInARow: Int = 0

    /// A full bucket at `now`.
    init(rate: Double, now: NIODeadline) {
        self.tokens = rate
        self.refilledAt = now
    }

    /// A control frame arrived at `now`; `rate` 0 or less means no limit.
    mutating func frameArrived(rate: Double, now: NIODeadline) -> Verdict {
        guard rate > 0 else { return .allow }
        let elapsed = Double((now - self.refilledAt).nanoseconds) / 1e9
        if elapsed > 0 {
            self.tokens = min(rate, self.tokens + elapsed * rate)
            self.refilledAt = now
        }
        if self.tokens >= 1 {
            self.tokens -= 1
            self.droppedInARow = 0
            return .allow
        }
        self.droppedInARow += 1
        return Double(self.droppedInARow) > rate ? .close : .drop
    }
}
