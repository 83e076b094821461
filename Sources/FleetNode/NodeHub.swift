import FleetCore
import NIOCore
import Synchronization

/// A change of one connection's binding state, for the broker's copy. nil `before`: opened;
/// nil `after`: closed.
public struct BindingChange: Sendable, Hashable {
    public var before: ConnectionSnapshot?
    public var after: ConnectionSnapshot?
}

/// One node's live connections: runs the API's operations on them and delivers messages.
/// Every operation runs under one lock, so operations, opens and closes are totally
/// ordered, and so are the messages each connection receives and the binding changes
/// reported to `onChange`.
public final class NodeHub: Sendable {
    public let nodeID: String

    private struct State {
        var registry = ConnectionRegistry()
        var outboxes: [String: Outbox] = [:]
        /// Connections closed by ``release(_:)`` whose protocol has not asked yet.
        var released: Set<String> = []
    }

    private let state = Mutex(State())
    private let onChange: @Sendable (BindingChange) -> Void
    /// Milliseconds since 1970 when the hub started.
    public let startedAt = epochMilliseconds()
    private let messagesSent = Atomic<Int>(0)
    private let messagesReceived = Atomic<Int>(0)

    /// - Parameter onChange: told of every binding change, in order, while the hub's lock is
    ///   held: it must only queue the change.
    public init(nodeID: String, onChange: @escaping @Sendable (BindingChange) -> Void = { _ in }) {
        self.nodeID = nodeID
        self.onChange = onChange
    }

    public var connectionCount: Int { state.withLock { $0.registry.count } }

    /// Registers a connection and queues `greeting` before any other message can reach it.
    /// False if the id is taken.
    @discardableResult
    public func open(_ connectionID: String, outbox: Outbox, greeting: [ByteBuffer] = []) -> Bool {
        state.withLock { state in
            guard state.registry.add(connectionID) else { return false }
            for message in greeting where outbox.send(message) { messagesSent.add(1, ordering: .relaxed) }
            state.outboxes[connectionID] = outbox
            onChange(BindingChange(before: nil, after: snapshot(connectionID, in: state.registry)))
            return true
        }
    }

    /// Forgets a connection, its binding and its groups.
    public func close(_ connectionID: String) {
        state.withLock { state in
            let before = snapshot(connectionID, in: state.registry)
            guard state.registry.remove(connectionID) != nil else { return }
            state.outboxes.removeValue(forKey: connectionID)?.finish()
            onChange(BindingChange(before: before, after: nil))
        }
    }

    /// Closes a connection whose session resumes elsewhere: forgets it like ``close(_:)``, cuts
    /// the client off, and remembers it was released. Returns its user id and groups, or nil
    /// when it is not here.
    public func release(_ connectionID: String) -> (id: String?, groups: [String])? {
        state.withLock { state in
            guard let before = snapshot(connectionID, in: state.registry) else { return nil }
            state.registry.remove(connectionID)
            state.released.insert(connectionID)
            if let outbox = state.outboxes.removeValue(forKey: connectionID) {
                outbox.finish()
                outbox.kick()
            }
            onChange(BindingChange(before: before, after: nil))
            return (before.id, before.groups.sorted())
        }
    }

    /// Whether the connection was released (and forgets that it was).
    public func takeReleased(_ connectionID: String) -> Bool {
        state.withLock { $0.released.remove(connectionID) != nil }
    }

    /// A connection's user id and groups, or nil when it is not here.
    public func binding(of connectionID: String) -> (id: String?, groups: [String])? {
        state.withLock { state in
            state.registry.connections[connectionID].map { ($0.id, $0.groups.sorted()) }
        }
    }

    /// Queues a message for one connection; false if it is not here.
    @discardableResult
    public func send(_ message: ByteBuffer, to connectionID: String) -> Bool {
        let sent = state.withLock { $0.outboxes[connectionID]?.send(message) ?? false }
        if sent { messagesSent.add(1, ordering: .relaxed) }
        return sent
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
        if operations.count == 1, case .releaseConnection(let connectionID) = operations[0] {
            guard let (id, groups) = release(connectionID) else { return [.object(.object([:]))] }
            var fields: [String: JSONValue] = ["groups": .array(groups.map { .string($0) })]
            if let id { fields["id"] = .string(id) }
            return [.object(.object(fields))]
        }
        return state.withLock { state in
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
        case .sendToGroups(let groups, let message, let excluding):
            var members = state.registry.members(ofAny: groups)
            if let excluding { members.remove(excluding) }
            return .int(deliver(message, to: members, in: state))
        case .event(let event, let arguments):
            return try run(event, arguments, in: &state)
        case .releaseConnection:
            // Needs the lock released to kick the client: handled by `execute`.
            return .failure(code: 1, message: "release runs on its own")
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
            return count(deliver(message, to: Set(registry.connections(of: id)), in: state) > 0)
        case .sendMessageTo_Id:
            let (cid, message) = (try cid(), try message())
            return count(deliver(message, to: [cid], in: state) > 0)
        case .sendToGroup:
            let (groups, message) = (try groups(), try message())
            return .int(deliver(message, to: registry.members(ofAny: groups), in: state))
        case .broadcast:
            let message = try message()
            return .int(deliver(message, to: Set(state.outboxes.keys), in: state))
        case .sendMessageToGroupByOnlyId:
            // Normally split by the gateway into "collect groups" and `.sendToGroups`; run
            // alone, a node can only see the user's local groups.
            let (id, message) = (try id(), try message())
            return .int(deliver(message, to: registry.members(ofAny: registry.groups(ofUser: id)), in: state))
        case .sendMessageToGroupByOnly_Id:
            let (cid, message) = (try cid(), try message())
            return .int(deliver(message, to: registry.members(ofAny: registry.groups(ofConnection: cid)), in: state))
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

    /// Queues `message` (encoded once, shared by every recipient) for each connection.
    /// Returns how many took it.
    private func deliver(_ message: String, to connections: Set<String>, in state: State) -> Int {
        guard !connections.isEmpty else { return 0 }
        let buffer = ByteBuffer(string: message)
        var delivered = 0
        for connectionID in connections where state.outboxes[connectionID]?.send(buffer) == true {
            delivered += 1
        }
        messagesSent.add(delivered, ordering: .relaxed)
        return delivered
    }

    private func snapshot(_ connectionID: String, in registry: ConnectionRegistry) -> ConnectionSnapshot? {
        guard let entry = registry.connections[connectionID] else { return nil }
        return ConnectionSnapshot(connectionID: connectionID, node: nodeID, id: entry.id, groups: entry.groups)
    }
}
