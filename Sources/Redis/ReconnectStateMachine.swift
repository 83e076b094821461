/// The decisions of a connection that reconnects, without I/O: when to connect, how long
/// to back off, and whether a new connection is the first or a reconnection.
///
/// Backoff is capped exponential with "equal jitter": attempt `n` waits a random time in
/// `[d/2, d]` where `d = min(cap, base * 2^n)`, so a fleet that lost Redis together does not
/// come back in lockstep, and no retry is immediate.
package struct ReconnectStateMachine<Random: RandomNumberGenerator> {
    package enum State: Equatable, Sendable {
        /// Not started.
        case idle
        /// A connection attempt is under way (`attempt` failures before it).
        case connecting(attempt: Int)
        case connected
        /// Waiting before the next attempt; commands fail fast.
        case backingOff(attempt: Int)
        case shutdown
    }

    package enum Established: Equatable, Sendable {
        case first
        case reconnect
    }

    package private(set) var state: State = .idle
    private var everConnected = false
    private let base: Duration
    private let cap: Duration
    private var random: Random

    package init(base: Duration, cap: Duration, random: Random) {
        self.base = max(base, .milliseconds(1))
        self.cap = max(cap, self.base)
        self.random = random
    }

    /// Begins a connection attempt. - Returns: `false` after ``shutdown()``.
    package mutating func startConnecting() -> Bool {
        switch state {
        case .idle: state = .connecting(attempt: 0)
        case .backingOff(let attempt): state = .connecting(attempt: attempt)
        case .connecting, .connected: break
        case .shutdown: return false
        }
        return true
    }

    /// What ``connected()`` will report: lets the owner restore state before announcing it.
    package var nextEstablished: Established { everConnected ? .reconnect : .first }

    /// The attempt succeeded (and any restore work after it).
    package mutating func connected() -> Established {
        guard state != .shutdown else { return everConnected ? .reconnect : .first }
        state = .connected
        defer { everConnected = true }
        return everConnected ? .reconnect : .first
    }

    /// The attempt failed. - Returns: how long to wait before the next one.
    package mutating func connectFailed() -> Duration {
        guard case .connecting(let attempt) = state else { return delay(forAttempt: 0) }
        state = .backingOff(attempt: attempt + 1)
        return delay(forAttempt: attempt)
    }

    /// An established connection was lost. - Returns: how long to wait before reconnecting.
    package mutating func connectionLost() -> Duration {
        guard state != .shutdown else { return .zero }
        state = .backingOff(attempt: 0)
        return delay(forAttempt: 0)
    }

    package mutating func shutdown() {
        state = .shutdown
    }

    /// The delay before attempt `attempt` (0-based), drawn in `[d/2, d]`.
    package mutating func delay(forAttempt attempt: Int) -> Duration {
        let exponent = min(attempt, 30)
        let baseNanos = base.nanoseconds
        let capNanos = cap.nanoseconds
        let (scaled, overflow) = baseNanos.multipliedReportingOverflow(by: Int64(1) << exponent)
        let ceiling = overflow ? capNanos : min(scaled, capNanos)
        let floor = ceiling / 2
        // Scale one draw over [floor, ceiling]: 0 gives the floor, UInt64.max the ceiling.
        let fraction = Double(random.next()) / Double(UInt64.max)
        return .nanoseconds(floor + Int64(fraction * Double(ceiling - floor)))
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
