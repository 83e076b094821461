import NIOCore

/// The life of one Pusher connection without I/O: admission, the messages that wait while a
/// command waits for the broker, the timers (activity → `pusher:ping` → pong timeout, the
/// sign-in deadline), a kick from outside and the drain go in as events; what to do comes out
/// as actions that ``PusherSocketSession`` performs on the socket's event loop. Time is passed
/// in (the loop's `now`).
///
/// The timers are deadlines: the connection holds at most one scheduled callback, armed for
/// the earliest deadline. A message only moves the activity deadline later, so it never
/// re-arms the callback: when the callback fires early, the machine asks for it again at the
/// deadline that is due then.
struct PusherSessionStateMachine {
    struct Configuration: Equatable {
        /// Silence after which the client is pinged (`activity_timeout`).
        var activityTimeout: TimeAmount
        /// Time a pinged client has to send anything before it is closed (4201).
        var pongTimeout: TimeAmount
        /// Seconds a connection has to sign in (`requireSignin`), or nil.
        var signinTimeout: Double?
        /// Messages that may wait while a command waits for the broker.
        var waitingLimit: Int
    }

    /// A message from the client, as the socket handed it over.
    struct Inbound: Equatable {
        var message: ByteBuffer
        var isText: Bool
        /// When it arrived (``PusherSocketSession/now()``): rate limits count a message then,
        /// not when it is handled after the commands before it.
        var arrivedAt: Double = 0
    }

    enum Phase: Equatable {
        /// The connection's admission (the app's connection quota, read from the broker) is
        /// being checked; messages wait.
        case admitting
        /// `connection_established` went out: messages are handled, timers run.
        case open
        /// The server ended the connection (a close went out); what the client sends is ignored.
        case closing
        /// The socket has closed.
        case closed
    }

    enum Action: Equatable {
        case none
        /// Handle this message now.
        case handle(Inbound)
        /// Arm the connection's timer for this deadline (none is pending).
        case arm(NIODeadline)
        /// Send `pusher:ping`, and arm the timer for this deadline.
        case ping(armAt: NIODeadline)
        /// End the connection: `pusher:error` with the close's code and message, then a close
        /// with the same code, after what was written before.
        case close(PusherClose)
        /// The drain: `pusher:error` 4200 ("reconnect"), then a close 1012.
        case drain
        /// Cancel the pending timer.
        case cancelTimer
    }

    private(set) var configuration: Configuration
    private(set) var phase: Phase = .admitting
    /// A command is waiting for the broker; messages wait in ``waiting``.
    private(set) var busy = true
    private(set) var waiting = CircularBuffer<Inbound>()
    /// When the client last sent anything.
    private var lastActivity: NIODeadline = .uptimeNanoseconds(0)
    /// When the server pinged the client, while it has not answered.
    private(set) var pingedAt: NIODeadline?
    /// When the connection must be signed in by; nil once it is (or when not required).
    private(set) var signinDeadline: NIODeadline?
    /// When the pending timer fires; nil when none is pending.
    private(set) var armedFor: NIODeadline?

    init(configuration: Configuration) {
        self.configuration = configuration
    }

    // MARK: Events

    /// The connection was admitted and `connection_established` sent: the timers start.
    mutating func admitted(now: NIODeadline) -> Action {
        guard phase == .admitting else { return .none }
        phase = .open
        busy = false
        lastActivity = now
        signinDeadline = configuration.signinTimeout.map { now + .nanoseconds(Int64(($0 * 1e9).rounded())) }
        let deadline = nextDeadline()
        armedFor = deadline
        return .arm(deadline)
    }

    /// The app requires a sign-in within `seconds` of `connection_established`. Before
    /// ``admitted(now:)``.
    mutating func requireSignin(within seconds: Double) {
        configuration.signinTimeout = seconds
    }

    /// The server ends the connection: it is refused (unknown app, over quota, ...), floods
    /// past the rate limit, or is ended from outside its session (a terminated user).
    mutating func serverCloses(_ close: PusherClose) -> Action {
        end(with: .close(close))
    }

    /// A message arrived. Any message counts as activity (and answers a ping).
    mutating func received(_ inbound: Inbound, now: NIODeadline) -> Action {
        switch phase {
        case .closing, .closed:
            return .none
        case .admitting, .open:
            break
        }
        lastActivity = now
        pingedAt = nil
        guard busy else { return .handle(inbound) }
        guard waiting.count < configuration.waitingLimit else {
            return end(with: .close(.tooManyWaiting))
        }
        waiting.append(inbound)
        return .none
    }

    /// A command started waiting for the broker: later messages wait.
    mutating func commandStarted() {
        busy = true
    }

    /// The command that waited for the broker ended; ``nextWaiting()`` hands out the
    /// messages that came meanwhile.
    mutating func commandEnded() {
        busy = false
    }

    /// The next message that waited, while no command waits and the connection is open.
    mutating func nextWaiting() -> Inbound? {
        guard !busy, phase == .open else { return nil }
        return waiting.popFirst()
    }

    /// The connection signed in: the sign-in deadline no longer applies.
    mutating func signedIn() {
        signinDeadline = nil
    }

    /// The timer fired.
    mutating func timerFired(now: NIODeadline) -> Action {
        armedFor = nil
        guard phase == .open else { return .none }
        if let signinDeadline, now >= signinDeadline {
            return end(with: .close(.signinTimeout(configuration.signinTimeout ?? 0)))
        }
        if let pingedAt {
            if now >= pingedAt + configuration.pongTimeout { return end(with: .close(.pongTimeout)) }
        } else if now >= lastActivity + configuration.activityTimeout {
            pingedAt = now
            let deadline = nextDeadline()
            armedFor = deadline
            return .ping(armAt: deadline)
        }
        let deadline = nextDeadline()
        armedFor = deadline
        return .arm(deadline)
    }

    /// The node drains.
    mutating func drained() -> Action {
        end(with: .drain)
    }

    /// The socket closed.
    mutating func closed() -> Action {
        let hadTimer = armedFor != nil
        phase = .closed
        waiting.removeAll()
        armedFor = nil
        return hadTimer ? .cancelTimer : .none
    }

    // MARK: Helpers

    /// Ends the connection with `action` unless it is ending already. The pending timer stays
    /// (it finds the connection closing), so that no callback is cancelled twice.
    private mutating func end(with action: Action) -> Action {
        switch phase {
        case .admitting, .open:
            phase = .closing
            waiting.removeAll()
            return action
        case .closing, .closed:
            return .none
        }
    }

    /// The earliest deadline of an open connection.
    private func nextDeadline() -> NIODeadline {
        let activity = pingedAt.map { $0 + configuration.pongTimeout } ?? lastActivity + configuration.activityTimeout
        guard let signinDeadline else { return activity }
        return min(activity, signinDeadline)
    }
}
