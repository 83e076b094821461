import NIOCore

/// The sessions whose connection ended on this node and that may still resume (on any
/// node): what is recorded for each, and the bounds that keep one client from turning the
/// recordings into an amplifier (every message to a room is copied into the mailbox of every
/// away session in it):
/// - each mailbox keeps the last `replayMax` messages and at most `replayMaxBytes` (the newest
///   message is always kept);
/// - a client address has at most `maxPerAddress` sessions away here, and the node at most
///   `maxSessions`: past either, the address's (or the node's) oldest one is dropped;
/// - a room records for at most `maxPerRoom` away sessions: later ones miss its messages and
///   learn so when they resume (their replay is incomplete).
///
/// Sessions are indexed by user, connection, room and address, so that a delivery finds its
/// recipients without looking at the others, and a claim is a lookup. Pure: the time comes in
/// with each call.
struct AwaySessions {
    typealias Limits = AwaySessionLimits

    struct Session: Sendable, Equatable {
        let connectionID: String
        let id: String?
        /// Its rooms (groups) when it turned away.
        let groups: Set<String>
        /// The client address it connected from ("" when unknown).
        let address: String
        let expiresAt: ContinuousClock.Instant
        /// Messages recorded since it turned away (the mailbox's numbering).
        var recorded = 0
        /// Sizes of the messages its mailbox keeps, oldest first, and their sum.
        var kept: CircularBuffer<Int> = []
        var keptBytes = 0
        /// False when it missed messages it should have recorded (a room over its cap, a
        /// recording the writer could not take): its replay is incomplete.
        var complete = true
    }

    /// What to write for one recorded message.
    struct Recorded: Equatable {
        var sequence: Int
        /// The mailbox entries (by sequence number) to delete, oldest first.
        var dropped: [Int]
    }

    /// Whom a message is for.
    enum Target {
        case everyone
        case user(String)
        case connection(String)
        case groups([String])
    }

    let limits: Limits
    private(set) var sessions: [String: Session] = [:]
    private var byUser: [String: Set<String>] = [:]
    private var byConnection: [String: String] = [:]
    private var byGroup: [String: Set<String>] = [:]
    /// Tokens by address, and of the node, in the order they turned away.
    private var byAddress: [String: CircularBuffer<String>] = [:]
    private var order: CircularBuffer<(token: String, expiresAt: ContinuousClock.Instant)> = []

    init(limits: Limits = Limits()) {
        self.limits = limits
    }

    var count: Int { sessions.count }
    var isEmpty: Bool { sessions.isEmpty }

    /// A session turns away. Returns the tokens dropped to make room (their mailboxes should go).
    mutating func add(_ token: String, _ session: Session, now: ContinuousClock.Instant) -> [String] {
        var dropped: [String] = []
        if sessions[token] != nil { remove(token) }
        expire(now: now, dropped: &dropped)
        if limits.maxPerAddress > 0, !session.address.isEmpty {
            while let oldest = byAddress[session.address]?.first, byAddress[session.address]!.count >= limits.maxPerAddress {
                remove(oldest)
                dropped.append(oldest)
            }
        }
        while limits.maxSessions > 0, sessions.count >= limits.maxSessions, let oldest = order.first {
            if sessions[oldest.token] != nil {
                remove(oldest.token)
                dropped.append(oldest.token)
            } else {
                order.removeFirst()
            }
        }
        var session = session
        sessions[token] = session
        if let id = session.id { byUser[id, default: []].insert(token) }
        byConnection[session.connectionID] = token
        for group in session.groups {
            if limits.maxPerRoom > 0, byGroup[group]?.count ?? 0 >= limits.maxPerRoom {
                session.complete = false  // not indexed under this room: it will miss its messages
                continue
            }
            byGroup[group, default: []].insert(token)
        }
        sessions[token] = session
        byAddress[session.address, default: []].append(token)
        order.append((token, session.expiresAt))
        return dropped
    }

    /// Forgets a session (claimed, handed over, dropped); returns it.
    @discardableResult
    mutating func remove(_ token: String) -> Session? {
        guard let session = sessions.removeValue(forKey: token) else { return nil }
        if let id = session.id { Self.remove(token, from: &byUser, at: id) }
        if byConnection[session.connectionID] == token { byConnection.removeValue(forKey: session.connectionID) }
        for group in session.groups { Self.remove(token, from: &byGroup, at: group) }
        if var tokens = byAddress[session.address], let index = tokens.firstIndex(of: token) {
            tokens.remove(at: index)
            byAddress[session.address] = tokens.isEmpty ? nil : tokens
        }
        // `order` keeps its entry until it reaches the front (see `expire`).
        return session
    }

    /// The live (unexpired) sessions a message for `target` is recorded for, sorted; expired
    /// ones met on the way are dropped and returned in `expired`.
    mutating func recipients(of target: Target, now: ContinuousClock.Instant, expired: inout [String]) -> [String] {
        expire(now: now, dropped: &expired)
        guard !sessions.isEmpty else { return [] }
        var tokens: Set<String>
        switch target {
        case .everyone: tokens = Set(sessions.keys)
        case .user(let id): tokens = byUser[id] ?? []
        case .connection(let connectionID): tokens = byConnection[connectionID].map { [$0] } ?? []
        case .groups(let groups):
            tokens = []
            for group in groups { tokens.formUnion(byGroup[group] ?? []) }
        }
        var live: [String] = []
        for token in tokens {
            guard let session = sessions[token] else { continue }
            if session.expiresAt <= now {
                remove(token)
                expired.append(token)
            } else {
                live.append(token)
            }
        }
        return live.sorted()
    }

    /// Records a message of `bytes` for `token`: its sequence number, and the older entries
    /// its mailbox must drop to stay within `replayMax` and `replayMaxBytes`.
    mutating func record(_ token: String, bytes: Int) -> Recorded? {
        guard var session = sessions[token] else { return nil }
        session.recorded += 1
        session.kept.append(bytes)
        session.keptBytes += bytes
        var dropped: [Int] = []
        // The oldest kept entry has sequence `recorded - kept.count + 1`.
        while session.kept.count > 1, session.kept.count > limits.replayMax || session.keptBytes > limits.replayMaxBytes {
            dropped.append(session.recorded - session.kept.count + 1)
            session.keptBytes -= session.kept.removeFirst()
        }
        sessions[token] = session
        return Recorded(sequence: session.recorded, dropped: dropped)
    }

    /// The session missed a message it should have recorded.
    mutating func markIncomplete(_ token: String) {
        sessions[token]?.complete = false
    }

    /// Drops the sessions whose time is up, oldest first.
    private mutating func expire(now: ContinuousClock.Instant, dropped: inout [String]) {
        while let first = order.first {
            guard let session = sessions[first.token], session.expiresAt == first.expiresAt else {
                order.removeFirst()  // gone already, or re-added later with another entry
                continue
            }
            guard session.expiresAt <= now else { return }
            order.removeFirst()
            remove(first.token)
            dropped.append(first.token)
        }
    }

    private static func remove(_ token: String, from index: inout [String: Set<String>], at key: String) {
        guard var tokens = index[key] else { return }
        tokens.remove(token)
        index[key] = tokens.isEmpty ? nil : tokens
    }
}

/// The bounds of what away sessions record on a node (see ``AwaySessions``).
public struct AwaySessionLimits: Sendable, Hashable {
    /// Messages a mailbox keeps, the last ones (`REPLAY_MAX`).
    public var replayMax = 100
    /// Bytes a mailbox keeps, the last messages; the newest is always kept (`REPLAY_MAX_BYTES`).
    public var replayMaxBytes = 256 * 1024
    /// Sessions one client address may have away on a node; 0 = unlimited (`MAX_AWAY_SESSIONS_PER_IP`).
    public var maxPerAddress = 100
    /// Away sessions a room records for on a node; 0 = unlimited (`MAX_AWAY_SESSIONS_PER_ROOM`).
    public var maxPerRoom = 1000
    /// Sessions away on a node at most; 0 = unlimited.
    public var maxSessions = 100_000

    public init(replayMax: Int = 100, replayMaxBytes: Int = 256 * 1024, maxPerAddress: Int = 100, maxPerRoom: Int = 1000, maxSessions: Int = 100_000) {
        self.replayMax = replayMax
        self.replayMaxBytes = replayMaxBytes
        self.maxPerAddress = maxPerAddress
        self.maxPerRoom = maxPerRoom
        self.maxSessions = maxSessions
    }
}
