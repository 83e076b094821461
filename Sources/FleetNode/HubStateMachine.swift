import FleetCore

/// The bookkeeping of one node's hub, without I/O: the registry of connections, their users
/// and groups; each connection's socket handle and resumable session; the sessions whose
/// connection ended here (``AwaySessions``). Every input is a mutating method that is given
/// the time it happens at; what must then be done comes out as ``Action``s, in the order it
/// must be done. The machine touches no socket, lock, clock or callback: ``NodeHub`` keeps it
/// under its lock and performs the actions (it says which run under the lock, and why).
///
/// Generic over the socket handle, which the machine only stores and hands back in actions,
/// so that tests drive it with plain values.
///
/// Order: whoever owns the machine orders its inputs (the hub's lock). Within one input the
/// actions come in the order their effects must happen: a connection's greeting before
/// anything a later input sends it, messages to a socket in the order of the inputs that sent
/// them, binding changes in the order the registry changed, a session's recordings by
/// sequence number and its discard after them.
///
/// The state is split by concern: connections here, the API's operations in
/// `HubStateMachine+Operations.swift`, deliveries and recordings in
/// `HubStateMachine+Delivery.swift`, claims and handovers of sessions in
/// `HubStateMachine+Sessions.swift`. Its stored state is changed only by those methods.
struct HubStateMachine<Socket> {
    /// Something the hub must do after an input.
    enum Action {
        /// Queue `text` for each of the sockets, after everything queued for them before. One
        /// action per message whatever the number of recipients: the hub encodes it once.
        case deliver(String, to: [Socket])
        /// Cut off the socket of a connection whose session resumed on another connection. It
        /// has left the machine already, so nothing is queued for it after this.
        case cut(Socket)
        /// A connection's binding changed: tell the broker's copy, in order.
        case bindingChanged(BindingChange)
        /// Write a message to an away session's mailbox, after its earlier recordings. When
        /// the writer cannot take it, the owner says so with ``recordingFailed(_:)`` before
        /// any other input, so that no claim finds the session complete in between.
        case record(AwayRecording)
        /// An away session was dropped before its time (a cap): its mailbox goes.
        case discardAway(token: String)
    }

    /// A connection's socket and what the machine keeps for its session.
    struct Connection {
        let socket: Socket
        /// Its resumable session, if it has one: when the connection closes, it turns away.
        let sessionToken: String?
        /// Its client's address ("" when unknown), for the away sessions' per-address cap.
        let address: String
        /// The message ids delivered while the connection may still resume a session (nil
        /// once it claims one or settles), so that the replay skips what it already got.
        var fresh: [String]? = []
        /// While it resumes a session: its live messages, held until the replay is queued.
        var held: [String]?

        /// Takes a live message: notes its id while fresh, keeps it while held. True when it
        /// goes to the socket now.
        mutating func take(_ message: String, id messageID: String?) -> Bool {
            if let messageID, let count = fresh?.count, count < HubStateMachine.freshLimit {
                fresh?.append(messageID)
            }
            guard held == nil else {
                held?.append(message)
                return false
            }
            return true
        }
    }

    /// Message ids noted per fresh connection, at most.
    static var freshLimit: Int { 256 }

    let nodeID: String
    /// How long a session whose connection ended here is recorded for.
    let awayTTL: Duration
    var registry = ConnectionRegistry()
    /// The open connections by `_id` (the same ids as the registry's).
    var connections: [String: Connection] = [:]
    /// The open connection of each session token.
    var liveByToken: [String: String] = [:]
    /// Sessions whose connection ended here: messages for them are recorded.
    var away: AwaySessions
    /// Messages queued for sockets so far, held ones included (`getStats`).
    var messagesSent = 0

    /// - Parameters:
    ///   - nodeID: the node, in the snapshots the machine reports.
    ///   - awayTTL: how long a session whose connection ended here is recorded for.
    ///   - awayLimits: the bounds of what away sessions record.
    init(nodeID: String, awayTTL: Duration = .seconds(300), awayLimits: AwaySessionLimits = AwaySessionLimits()) {
        self.nodeID = nodeID
        self.awayTTL = awayTTL
        self.away = AwaySessions(limits: awayLimits)
    }

    // MARK: Connections

    /// A connection opens on `socket`: its greeting goes first, before anything else can be
    /// sent to it. Nil, and nothing changes, when the id is taken.
    /// - Parameters:
    ///   - sessionToken: its resumable session, if it has one.
    ///   - address: its client's address, for the per-address cap of away sessions.
    mutating func open(
        _ connectionID: String, socket: Socket, greeting: [String] = [], sessionToken: String? = nil, address: String = ""
    ) -> [Action]? {
        guard registry.add(connectionID) else { return nil }
        connections[connectionID] = Connection(socket: socket, sessionToken: sessionToken, address: address)
        if let sessionToken { liveByToken[sessionToken] = connectionID }
        var actions: [Action] = []
        actions.reserveCapacity(greeting.count + 1)
        for message in greeting { actions.append(.deliver(message, to: [socket])) }
        messagesSent += greeting.count
        actions.append(.bindingChanged(BindingChange(before: nil, after: snapshot(connectionID))))
        return actions
    }

    /// A connection ends: it leaves the registry with its binding and groups. If it has a
    /// session, the session turns away at this very point (from the next input on, its
    /// messages are recorded), possibly dropping older ones over a cap.
    mutating func close(_ connectionID: String, now: ContinuousClock.Instant) -> [Action] {
        guard let before = snapshot(connectionID) else { return [] }
        registry.remove(connectionID)
        let connection = connections.removeValue(forKey: connectionID)
        var actions: [Action] = []
        let token = connection?.sessionToken
        if let token {
            liveByToken.removeValue(forKey: token)
            let session = AwaySessions.Session(
                connectionID: connectionID, id: before.id, groups: before.groups, address: connection?.address ?? "",
                expiresAt: now + awayTTL
            )
            for dropped in away.add(token, session, now: now) { actions.append(.discardAway(token: dropped)) }
        }
        actions.append(.bindingChanged(BindingChange(before: before, after: nil, awaySession: token)))
        return actions
    }

    /// A message for one connection, after everything sent to it before (even while its live
    /// messages are held: this is the connection's own reply, not one of the session's
    /// messages). Its delivery, or nil when it is not here.
    mutating func send(_ message: String, to connectionID: String) -> Action? {
        guard let connection = connections[connectionID] else { return nil }
        messagesSent += 1
        return .deliver(message, to: [connection.socket])
    }

    /// The replay of a resumed session is ready: `prefix` (the reply and the replay) goes
    /// out, then the live messages held since the claim, and the hold ends.
    mutating func releaseHold(_ connectionID: String, prefix: [String]) -> [Action] {
        guard let index = connections.index(forKey: connectionID) else { return [] }
        let held = connections.values[index].held ?? []
        connections.values[index].held = nil
        let socket = connections.values[index].socket
        // Held messages were counted as sent when they were delivered into the hold.
        messagesSent += prefix.count
        return (prefix + held).map { .deliver($0, to: [socket]) }
    }

    /// The connection will not resume a session (it did something else first): stop noting
    /// the message ids it receives.
    mutating func settle(_ connectionID: String) {
        guard let index = connections.index(forKey: connectionID) else { return }
        connections.values[index].fresh = nil
    }

    /// The mailbox writer could not take a ``Action/record(_:)`` for `token`: the session's
    /// replay is incomplete.
    mutating func recordingFailed(_ token: String) {
        away.markIncomplete(token)
    }

    // MARK: Queries

    var connectionCount: Int { registry.count }

    /// A connection's user id and groups, or nil when it is not here.
    func binding(of connectionID: String) -> (id: String?, groups: [String])? {
        registry.connections[connectionID].map { ($0.id, $0.groups.sorted()) }
    }

    /// The groups (rooms) a connection is in, sorted; empty when it is not here.
    func groups(of connectionID: String) -> [String] {
        registry.groups(ofConnection: connectionID)
    }

    /// Every connection's state, for rebuilding the broker's copy.
    func snapshots() -> [ConnectionSnapshot] {
        registry.connectionIDs.compactMap { snapshot($0) }
    }

    func snapshot(_ connectionID: String) -> ConnectionSnapshot? {
        guard let entry = registry.connections[connectionID] else { return nil }
        return ConnectionSnapshot(connectionID: connectionID, node: nodeID, id: entry.id, groups: entry.groups)
    }
}

extension HubStateMachine: Sendable where Socket: Sendable {}
extension HubStateMachine.Connection: Sendable where Socket: Sendable {}
extension HubStateMachine.Action: Sendable where Socket: Sendable {}
extension HubStateMachine.Action: Equatable where Socket: Equatable {}
