import FleetCore
import NIOCore
import NIOWebSocket
import Observability
import Synchronization
import WebSocketCore

/// A change of one connection's binding state, for the broker's copy. nil `before`: opened;
/// nil `after`: closed.
public struct BindingChange: Sendable, Hashable {
    public var before: ConnectionSnapshot?
    public var after: ConnectionSnapshot?
    /// On a close: the session that turns away with it (written in the same step as the
    /// bindings' removal, so the broker never holds neither).
    public var awaySession: String?

    public init(before: ConnectionSnapshot?, after: ConnectionSnapshot?, awaySession: String? = nil) {
        self.before = before
        self.after = after
        self.awaySession = awaySession
    }
}

/// One node's live connections: runs the API's operations on them and delivers messages.
/// Every operation runs under one lock, so operations, opens and closes are totally
/// ordered, and so are the messages each connection receives and the binding changes
/// reported to `onChange`.
public final class NodeHub: Sendable {
    public let nodeID: String

    private struct State {
        var registry = ConnectionRegistry()
        var sockets: [String: HubSocket] = [:]
        /// The live connection of each session token (the token and the address of a
        /// connection are fields of its ``HubSocket``).
        var liveByToken: [String: String] = [:]
        /// Sessions whose connection ended here: messages for them are recorded.
        var away: AwaySessions
    }

    /// Message ids kept per fresh connection.
    static let freshLimit = 256

    /// A message recorded for an away session: the `sequence`-th since it went away.
    public struct Recording: Sendable, Hashable {
        public var token: String
        public var sequence: Int
        public var message: ByteBuffer
        public var messageID: String?
        /// Older entries of the mailbox to delete (past `REPLAY_MAX` or `REPLAY_MAX_BYTES`).
        public var dropped: [Int] = []
    }

    private let state: Mutex<State>
    private let onChange: @Sendable (BindingChange) -> Void
    private let onRecord: @Sendable (Recording) -> Bool
    private let onDiscard: @Sendable (String) -> Void
    private let awayTTL: Duration
    /// The delivery shard of each event loop that holds sockets.
    private let deliveries: SocketDeliveries
    /// Milliseconds since 1970 when the hub started.
    public let startedAt = epochMilliseconds()
    private let messagesSent = Atomic<Int>(0)
    private let messagesReceived = Atomic<Int>(0)

    /// - Parameter onChange: told of every binding change, in order, while the hub's lock is
    ///   held: it must only queue the change.
    /// - Parameters:
    ///   - awayTTL: how long a session whose connection ended here is recorded for.
    ///   - onRecord: told of every message recorded for an away session, in order, under the
    ///     hub's lock: it must only queue it, and say whether it could (a recording it cannot
    ///     take makes the session's replay incomplete).
    ///   - onDiscard: told of every away session dropped before its time (a cap of
    ///     ``AwaySessions/Limits``), under the hub's lock: its mailbox should go.
    ///   - awayLimits: the bounds of what away sessions record.
    ///   - meter: counts the messages written to the hub's sockets.
    public init(
        nodeID: String,
        awayTTL: Duration = .seconds(300),
        awayLimits: AwaySessionLimits = AwaySessionLimits(),
        onChange: @escaping @Sendable (BindingChange) -> Void = { _ in },
        onRecord: @escaping @Sendable (Recording) -> Bool = { _ in true },
        onDiscard: @escaping @Sendable (String) -> Void = { _ in },
        meter: SocketMeter? = nil
    ) {
        self.nodeID = nodeID
        self.deliveries = SocketDeliveries(meter: meter)
        self.awayTTL = awayTTL
        self.onChange = onChange
        self.onRecord = onRecord
        self.onDiscard = onDiscard
        self.state = Mutex(State(away: AwaySessions(limits: awayLimits)))
    }

    public var connectionCount: Int { state.withLock { $0.registry.count } }

    /// Registers a connection on `socket` and queues `greeting` before any other message can
    /// reach it. Nil if the id is taken.
    /// - Parameter sessionToken: the connection's resumable session, if it has one: when the
    ///   connection closes, messages for it are recorded until the session resumes or expires.
    /// - Parameter address: the client's address, for the per-address cap of away sessions.
    @discardableResult
    public func open(
        _ connectionID: String, socket: ServerWebSocket, greeting: [String] = [], sessionToken: String? = nil, address: String = ""
    ) -> HubSocket? {
        state.withLock { state -> HubSocket? in
            guard state.registry.add(connectionID) else { return nil }
            let hubSocket = deliveries.target(id: connectionID, socket: socket)
            hubSocket.sessionToken = sessionToken
            hubSocket.address = address
            if let sessionToken { state.liveByToken[sessionToken] = connectionID }
            state.sockets[connectionID] = hubSocket
            for message in greeting { queue(text: message, to: hubSocket) }
            onChange(BindingChange(before: nil, after: snapshot(connectionID, in: state.registry)))
            return hubSocket
        }
    }

    /// Queues a text message for one socket (under the lock, so in the hub's order).
    private func queue(text: String, to socket: HubSocket) {
        socket.shard.enqueue(.frame(WebSocketFrames.text(text), payload: text.utf8.count, [socket]))
        messagesSent.add(1, ordering: .relaxed)
    }

    /// Forgets a connection, its binding and its groups. If it has a session, the session
    /// turns away at this very point: from the next operation on, its messages are recorded.
    public func close(_ connectionID: String) {
        state.withLock { state in
            guard let before = snapshot(connectionID, in: state.registry) else { return }
            state.registry.remove(connectionID)
            let socket = state.sockets.removeValue(forKey: connectionID)
            let address = socket?.address ?? ""
            let token = socket?.sessionToken
            if let token {
                state.liveByToken.removeValue(forKey: token)
                let now = ContinuousClock.now
                let session = AwaySessions.Session(connectionID: connectionID, id: before.id, groups: before.groups, address: address, expiresAt: now + awayTTL)
                for dropped in state.away.add(token, session, now: now) { onDiscard(dropped) }
            }
            onChange(BindingChange(before: before, after: nil, awaySession: token))
        }
    }

    /// Queues `prefix`, then the messages held since the connection claimed its session, and
    /// ends the hold.
    public func releaseHold(_ connectionID: String, prefix: [String]) {
        state.withLock { state in
            guard let socket = state.sockets[connectionID] else { return }
            let held = socket.holding ?? []
            socket.holding = nil
            for message in prefix { queue(text: message, to: socket) }
            // Held messages were counted as sent when they were delivered into the hold.
            for message in held { socket.shard.enqueue(.frame(message.frame, payload: message.payload, [socket])) }
        }
    }

    /// The connection will not resume a session (it did something else first): stop noting
    /// the message ids it receives.
    public func settle(_ connectionID: String) {
        state.withLock { $0.sockets[connectionID]?.fresh = nil }
    }

    /// The sessions away on this node, to hand over when it stops.
    public func awaySessions() -> [HandedSession] {
        let now = ContinuousClock.now
        return state.withLock { state in
            state.away.sessions.compactMap { token, session in
                guard session.expiresAt > now else { return nil }
                let left = session.expiresAt - now
                var handed = HandedSession(
                    token: token, connectionID: session.connectionID, id: session.id, groups: session.groups.sorted(),
                    recorded: session.recorded, remaining: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000
                )
                handed.kept = Array(session.kept)
                handed.complete = session.complete
                handed.address = session.address
                return handed
            }.sorted { $0.token < $1.token }
        }
    }

    /// A connection's user id and groups, or nil when it is not here.
    public func binding(of connectionID: String) -> (id: String?, groups: [String])? {
        state.withLock { state in
            state.registry.connections[connectionID].map { ($0.id, $0.groups.sorted()) }
        }
    }

    /// Queues a text message for one connection, after everything queued for it before;
    /// false if it is not here.
    @discardableResult
    public func send(_ message: String, to connectionID: String) -> Bool {
        state.withLock { state in
            guard let socket = state.sockets[connectionID] else { return false }
            queue(text: message, to: socket)
            return true
        }
    }

    /// Closes `socket` with `code` after everything queued for it so far (whether or not it
    /// is still in the hub: a drained connection leaves the hub before its close).
    public func close(_ socket: HubSocket, code: WebSocketErrorCode, reason: String) {
        state.withLock { _ in socket.shard.enqueue(.close(socket, code, reason)) }
    }

    /// Counts a message received from a client (for `getStats`).
    public func countReceived() {
        messagesReceived.add(1, ordering: .relaxed)
    }

    /// The groups (rooms) a connection is in, sorted; empty when it is not here.
    public func groups(of connectionID: String) -> [String] {
        state.withLock { $0.registry.groups(ofConnection: connectionID) }
    }

    /// Every connection's state, for rebuilding the broker's copy.
    public func snapshots() -> [ConnectionSnapshot] {
        state.withLock { state in
            state.registry.connectionIDs.compactMap { snapshot($0, in: state.registry) }
        }
    }

    /// Runs operations in order and answers each.
    public func execute(_ operations: [NodeOperation]) -> [OperationResult] {
        state.withLock { state in
            operations.map { operation in
                do {
                    return try run(operation, in: &state)
                } catch let error as MissingArgument {
                    return .failure(code: 1, message: error.description)
                } catch {
                    return .failure(code: 1, message: "\(error)")
                }
            }
        }
    }

    // MARK: Operations

    private struct MissingArgument: Error, CustomStringConvertible {
        let event: String
        let parameter: FleetParameter
        var description: String { "\(event): missing \(parameter.rawValue)" }
    }

    private func run(_ operation: NodeOperation, in state: inout State) throws -> OperationResult {
        switch operation {
        case .sendToGroups(let groups, let message, let excluding, let messageID):
            var members = state.registry.members(ofAny: groups)
            if let excluding { members.remove(excluding) }
            return .int(deliver(message, id: messageID, to: members, in: &state, recordingFor: .groups(groups)))
        case .event(let event, let arguments):
            return try run(event, arguments, in: &state)
        case .claimSession(let token, let connectionID, let id, let groups):
            return claim(token, for: connectionID, id: id, groups: groups, in: &state)
        case .adoptSessions(let from, let to, let sessions):
            if from == nodeID {
                for session in sessions { state.away.remove(session.token) }
            }
            if to == nodeID {
                let now = ContinuousClock.now
                for session in sessions where session.remaining > 0 {
                    var away = AwaySessions.Session(
                        connectionID: session.connectionID, id: session.id, groups: Set(session.groups),
                        address: session.address ?? "", expiresAt: now + .milliseconds(session.remaining)
                    )
                    away.recorded = session.recorded
                    away.kept = CircularBuffer(session.kept ?? [])
                    away.keptBytes = away.kept.reduce(0, +)
                    away.complete = session.complete ?? true
                    for dropped in state.away.add(session.token, away, now: now) { onDiscard(dropped) }
                }
            }
            return .int(sessions.count)
        }
    }

    private func run(_ event: FleetEvent, _ arguments: EventArguments, in state: inout State) throws -> OperationResult {
        func require(_ value: String?, _ parameter: FleetParameter) throws -> String {
            guard let value else { throw MissingArgument(event: event.rawValue, parameter: parameter) }
            return value
        }
        func id() throws -> String { try require(arguments.id, .id) }
        func cid() throws -> String { try require(arguments.connectionID, .connectionID) }
        func message() throws -> String { try require(arguments.message, .message) }
        func groups() throws -> [String] {
            guard let groups = arguments.groups, !groups.isEmpty else {
                throw MissingArgument(event: event.rawValue, parameter: .groupID)
            }
            return groups
        }
        func group() throws -> String { try groups()[0] }
        func count(_ flag: Bool) -> OperationResult { .int(flag ? 1 : 0) }

        let registry = state.registry
        switch event {
        case .getConnectionCount: return .int(registry.count)
        case .getIds: return .strings(registry.userIDs)
        case .get_Ids: return .strings(registry.connectionIDs)
        case .isOnlineId: return .bool(registry.isOnline(id: try id()))
        case .isOnline_Id: return .bool(registry.isOnline(connectionID: try cid()))
        case .getGroupIds: return .strings(registry.groupIDs)
        case .getGroupIdsById: return .strings(registry.groups(ofUser: try id()))
        case .getGroupIdsBy_Id: return .strings(registry.groups(ofConnection: try cid()))
        case .isInGroupById: return .bool(registry.isInGroup(try group(), id: try id()))
        case .isInGroupBy_Id: return .bool(registry.isInGroup(try group(), connectionID: try cid()))
        case .getGroupIdCount: return .int(registry.userCount(inGroup: try group()))
        case .getStats:
            let now = epochMilliseconds()
            return .object(.object([
                "connections": .number(String(registry.count)),
                "rooms": .number(String(registry.groupIDs.count)),
                "users": .number(String(registry.userIDs.count)),
                "messages_sent": .number(String(messagesSent.load(ordering: .relaxed))),
                "messages_received": .number(String(messagesReceived.load(ordering: .relaxed))),
                "started_at": .number(String(startedAt)),
                "uptime": .number(String((now - startedAt) / 1000)),
                "memory": ProcessMemory.residentBytes().map { .number(String($0)) } ?? .null,
            ]))
        case .getGroupStats:
            let group = try group()
            return .object(.object([
                "connections": .number(String(registry.connectionCount(inGroup: group))),
                "users": .number(String(registry.userCount(inGroup: group))),
                "created_at": registry.groupCreatedAt[group].map { .number(String($0)) } ?? .null,
            ]))
        case .getGroup_IdCount: return .int(registry.connectionCount(inGroup: try group()))

        case .bindId:
            let (id, cid) = (try id(), try cid())
            return count(mutate([cid], in: &state) { $0.bind(id: id, to: cid) })
        case .unBindId:
            let id = try id()
            return count(mutate(registry.connections(of: id), in: &state) { !$0.unbind(id: id).isEmpty })
        case .unBind_Id:
            let cid = try cid()
            return count(mutate([cid], in: &state) { $0.unbind(connectionID: cid) })
        case .joinGroupById:
            let (groups, id) = (try groups(), try id())
            return count(changeEach(registry.connections(of: id), in: &state) { $0.join(groups, connectionID: $1) })
        case .joinGroupBy_Id:
            let (groups, cid) = (try groups(), try cid())
            return count(mutate([cid], in: &state) { $0.join(groups, connectionID: cid) })
        case .leaveGroupById:
            let (groups, id) = (try groups(), try id())
            return count(changeEach(registry.connections(of: id), in: &state) { $0.leave(groups, connectionID: $1) })
        case .leaveGroupBy_Id:
            let (groups, cid) = (try groups(), try cid())
            return count(mutate([cid], in: &state) { $0.leave(groups, connectionID: cid) })
        case .leaveAllGroupById:
            let id = try id()
            return count(changeEach(registry.connections(of: id), in: &state) { $0.leaveAll(connectionID: $1) })
        case .leaveAllGroupBy_Id:
            let cid = try cid()
            return count(mutate([cid], in: &state) { $0.leaveAll(connectionID: cid) })

        case .sendMessageToId:
            let (id, message) = (try id(), try message())
            return count(deliver(message, id: arguments.messageID, to: Set(registry.connections(of: id)), in: &state, recordingFor: .user(id)) > 0)
        case .sendMessageTo_Id:
            let (cid, message) = (try cid(), try message())
            return count(deliver(message, id: arguments.messageID, to: registry.isOnline(connectionID: cid) ? [cid] : [], in: &state, recordingFor: .connection(cid)) > 0)
        case .sendToGroup:
            let (groups, message) = (try groups(), try message())
            return .int(deliver(message, id: arguments.messageID, to: registry.members(ofAny: groups), in: &state, recordingFor: .groups(groups)))
        case .broadcast:
            let message = try message()
            return .int(deliver(message, id: arguments.messageID, to: state.sockets.keys, in: &state, recordingFor: .everyone))
        case .sendMessageToGroupByOnlyId:
            // Normally split by the gateway into "collect groups" and `.sendToGroups`; run
            // alone, a node can only see the user's local groups.
            let (id, message) = (try id(), try message())
            let groups = registry.groups(ofUser: id)
            return .int(deliver(message, id: arguments.messageID, to: registry.members(ofAny: groups), in: &state, recordingFor: .groups(groups)))
        case .sendMessageToGroupByOnly_Id:
            let (cid, message) = (try cid(), try message())
            let groups = registry.groups(ofConnection: cid)
            return .int(deliver(message, id: arguments.messageID, to: registry.members(ofAny: groups), in: &state, recordingFor: .groups(groups)))
        }
    }

    /// Runs `body` on the registry and reports the binding changes of `connections`.
    private func mutate(
        _ connections: [String],
        in state: inout State,
        _ body: (inout ConnectionRegistry) -> Bool
    ) -> Bool {
        let before = connections.map { snapshot($0, in: state.registry) }
        let changed = body(&state.registry)
        for (index, connectionID) in connections.enumerated() {
            let after = snapshot(connectionID, in: state.registry)
            if before[index] != after { onChange(BindingChange(before: before[index], after: after)) }
        }
        return changed
    }

    /// Runs `body` once per connection; true if any call changed something.
    private func changeEach(
        _ connections: [String],
        in state: inout State,
        _ body: (inout ConnectionRegistry, String) -> Bool
    ) -> Bool {
        mutate(connections, in: &state) { registry in
            connections.reduce(false) { changed, connectionID in body(&registry, connectionID) || changed }
        }
    }

    /// Queues `message` (encoded once, the same frame for every recipient) for each
    /// connection: one delivery per event loop. Records it for the away sessions it is meant
    /// for. Returns how many connections took it.
    private func deliver(
        _ message: String,
        id messageID: String?,
        to connections: some Collection<String>,
        in state: inout State,
        recordingFor target: AwaySessions.Target
    ) -> Int {
        var expired: [String] = []
        let recipients = state.away.isEmpty ? [] : state.away.recipients(of: target, now: .now, expired: &expired)
        guard !connections.isEmpty || !recipients.isEmpty else { return 0 }
        let payload = message.utf8.count
        var delivered = 0
        if !connections.isEmpty {
            let frame = WebSocketFrames.text(message)
            var targets: [HubSocket] = []
            targets.reserveCapacity(connections.count)
            for connectionID in connections {
                guard let socket = state.sockets[connectionID] else { continue }
                delivered += 1
                if let messageID, let count = socket.fresh?.count, count < Self.freshLimit {
                    socket.fresh!.append(messageID)
                }
                if socket.holding != nil {
                    socket.holding!.append((frame, payload))
                    continue
                }
                targets.append(socket)
            }
            deliveries.send(frame, payload: payload, to: targets)
        }
        if !recipients.isEmpty {
            let buffer = ByteBuffer(string: message)
            for token in recipients {
                guard let recorded = state.away.record(token, bytes: payload) else { continue }
                let taken = onRecord(Recording(token: token, sequence: recorded.sequence, message: buffer, messageID: messageID, dropped: recorded.dropped))
                if !taken { state.away.markIncomplete(token) }
            }
        }
        messagesSent.add(delivered, ordering: .relaxed)
        return delivered
    }

    /// See ``NodeOperation/claimSession(token:connectionID:id:groups:)``.
    private func claim(_ token: String, for connectionID: String, id: String?, groups: [String], in state: inout State) -> OperationResult {
        var answer = ClaimAnswer()
        if let away = state.away.remove(token) {
            answer.session = .away(recorded: away.recorded, complete: away.complete, id: away.id, groups: away.groups.sorted())
        } else if let live = state.liveByToken[token], live != connectionID {
            // Its connection is still open here: close it; it must not turn away.
            let before = snapshot(live, in: state.registry)
            state.registry.remove(live)
            state.liveByToken.removeValue(forKey: token)
            if let socket = state.sockets.removeValue(forKey: live) {
                // Cut off, not closed: it must not take messages meant for the session now.
                let webSocket = socket.socket
                webSocket.eventLoop.execute { webSocket.cut() }
            }
            onChange(BindingChange(before: before, after: nil))
            answer.session = .live
        }
        if state.registry.connections[connectionID] != nil {
            // The resuming connection is here: it takes the session's user and groups now, and
            // its live messages wait until the replay is queued.
            _ = mutate([connectionID], in: &state) { registry in
                var changed = false
                if let id { changed = registry.bind(id: id, to: connectionID) || changed }
                if !groups.isEmpty { changed = registry.join(groups, connectionID: connectionID) || changed }
                return changed
            }
            let socket = state.sockets[connectionID]
            socket?.holding = socket?.holding ?? []
            answer.seen = socket?.fresh ?? []
            socket?.fresh = nil
        }
        return .claim(answer)
    }

    private func snapshot(_ connectionID: String, in registry: ConnectionRegistry) -> ConnectionSnapshot? {
        guard let entry = registry.connections[connectionID] else { return nil }
        return ConnectionSnapshot(connectionID: connectionID, node: nodeID, id: entry.id, groups: entry.groups)
    }
}
