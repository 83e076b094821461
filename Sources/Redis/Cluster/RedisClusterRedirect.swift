/// What a cluster node's error reply asks of the client, when it is about where the key is.
public enum RedisClusterRedirect: Sendable, Hashable {
    /// `MOVED <slot> <host:port>`: the slot lives there now; send this and later commands there.
    case moved(slot: Int, to: RedisClusterTopology.Endpoint)
    /// `ASK <slot> <host:port>`: the slot is migrating and this key is already there: send
    /// this one command there, after `ASKING`.
    case ask(slot: Int, to: RedisClusterTopology.Endpoint)
    /// `TRYAGAIN`: a multi-key command during a migration, whose keys are split for the moment.
    case tryAgain
    /// `CLUSTERDOWN`: the cluster cannot serve the slot now (a failover is under way).
    case clusterDown

    /// Reads an error reply's text; nil for an error that is not a redirection.
    public init?(errorMessage message: String) {
        let words = message.split(separator: " ", maxSplits: 3)
        switch words.first {
        case "MOVED", "ASK":
            guard words.count >= 3, let slot = Int(words[1]), (0..<RedisClusterSlot.count).contains(slot),
                  let endpoint = RedisClusterTopology.Endpoint(words[2])
            else { return nil }
            self = words[0] == "MOVED" ? .moved(slot: slot, to: endpoint) : .ask(slot: slot, to: endpoint)
        case "TRYAGAIN":
            self = .tryAgain
        case "CLUSTERDOWN":
            self = .clusterDown
        default:
            return nil
        }
    }
}

/// The decisions of one command (or one pipeline) sent to a cluster, without I/O: where to
/// send it, and what to do with each answer, until it has a final one.
///
/// A redirection is followed at most ``maxRedirects`` times; `TRYAGAIN`, `CLUSTERDOWN` and a
/// node that cannot be reached are retried after a pause, with the topology read again, until
/// `retryFor` has passed since the first attempt. A command that may have run (the connection
/// closed with it in flight, or timed out) is never retried.
public struct RedisClusterRouting: Sendable {
    /// What to do next.
    public enum Step: Sendable, Hashable {
        /// Send it to this node; with `asking`, preceded by `ASKING`.
        case send(to: RedisClusterTopology.Endpoint, asking: Bool)
        /// Wait this long, read the topology again, then send it where the slot is.
        case retryAfter(Duration)
    }

    /// The most redirections one command follows.
    public static let maxRedirects = 16
    /// The pause before a command refused for the moment is sent again.
    public static let retryPause = Duration.milliseconds(50)

    private var redirects = 0
    private let startedAt: ContinuousClock.Instant
    private let retryFor: Duration

    public init(startedAt: ContinuousClock.Instant, retryFor: Duration) {
        self.startedAt = startedAt
        self.retryFor = retryFor
    }

    /// After a redirection answered. - Throws: when there were too many.
    public mutating func redirected(_ redirect: RedisClusterRedirect, at now: ContinuousClock.Instant) throws(RedisError) -> Step {
        switch redirect {
        case .moved(_, let endpoint), .ask(_, let endpoint):
            redirects += 1
            guard redirects <= Self.maxRedirects else {
                throw RedisError(.serverError, "more than \(Self.maxRedirects) cluster redirections (the topology keeps changing)")
            }
            if case .ask = redirect { return .send(to: endpoint, asking: true) }
            return .send(to: endpoint, asking: false)
        case .tryAgain, .clusterDown:
            return try pause(at: now, because: redirect == .tryAgain ? "TRYAGAIN" : "CLUSTERDOWN")
        }
    }

    /// After the node could not take the command (not connected, could not connect): it did
    /// not run, so it is sent again where the topology says once it is read again.
    /// - Throws: `error` itself when it may have run, or when retrying is over.
    public mutating func failed(_ error: RedisError, at now: ContinuousClock.Instant) throws(RedisError) -> Step {
        guard error.code == .notConnected || error.code == .connectFailed else { throw error }
        return try pause(at: now, because: error.message)
    }

    private func pause(at now: ContinuousClock.Instant, because reason: String) throws(RedisError) -> Step {
        guard now - startedAt < retryFor else {
            throw RedisError(.notConnected, "the cluster could not serve the command within \(retryFor): \(reason)")
        }
        return .retryAfter(Self.retryPause)
    }
}
