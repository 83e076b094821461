/// When an HTTP/1 connection must have finished sending a request (`HTTP_READ_TIMEOUT`): a
/// connection waiting for a request, or part-way through one (head or body), is closed once
/// `timeout` has passed since it started waiting; while the server owes it a response, no
/// clock runs. Pure: the time comes in with each event, so the machine is tested without
/// sleeping.
struct ReadTimeoutStateMachine<Instant: InstantProtocol> {
    enum Action: Equatable {
        /// (Re)arm the single timer for this deadline.
        case arm(Instant)
        /// Cancel the timer.
        case disarm
        /// The deadline passed: close the connection.
        case close
        case none
    }

    let timeout: Instant.Duration
    /// Set while a deadline runs: the connection is waiting for a request or reading one.
    private(set) var deadline: Instant?
    /// A request's head has arrived and its end has not.
    private var readingRequest = false
    /// Requests read in full whose response has not been written to its end.
    private var responsesOwed = 0

    init(timeout: Instant.Duration) {
        self.timeout = timeout
    }

    /// The connection is open: it has `timeout` to send its first request.
    mutating func connected(now: Instant) -> Action {
        arm(now)
    }

    mutating func requestHead(now: Instant) -> Action {
        readingRequest = true
        // A pipelined request that starts while a response is owed gets a clock of its own.
        return deadline == nil ? arm(now) : .none
    }

    mutating func requestEnd(now: Instant) -> Action {
        readingRequest = false
        responsesOwed += 1
        deadline = nil
        return .disarm
    }

    mutating func responseEnd(now: Instant) -> Action {
        responsesOwed = max(0, responsesOwed - 1)
        guard responsesOwed == 0, !readingRequest else { return .none }
        // Idle between requests: the next one must come in time.
        return arm(now)
    }

    /// The timer went off at `now`.
    mutating func timerFired(now: Instant) -> Action {
        guard let deadline else { return .none }
        return now >= deadline ? .close : .arm(deadline)
    }

    private mutating func arm(_ now: Instant) -> Action {
        let deadline = now.advanced(by: timeout)
        self.deadline = deadline
        return .arm(deadline)
    }
}
