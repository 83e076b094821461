import FleetCore

// The API's operations: the 27 events and the node's own operations, run in order.
extension HubStateMachine {
    /// When an input happens: the monotonic time (away sessions' expiry) and the wall clock
    /// (when a group got its first member, for `getGroupStats`).
    struct Moment {
        var now: ContinuousClock.Instant
        var epochMilliseconds: Int64
    }

    /// Runs operations in order and answers each; an operation that fails changes nothing.
    ///
    /// `getStats` answers with what the machine knows (connections, rooms, users,
    /// `messages_sent`); the process's own figures are the owner's to add.
    mutating func execute(
        _ operations: [NodeOperation], now: ContinuousClock.Instant, epochMilliseconds: Int64
    ) -> (results: [OperationResult], actions: [Action]) {
        let moment = Moment(now: now, epochMilliseconds: epochMilliseconds)
        var actions: [Action] = []
        let results = operations.map { operation in
            do {
                return try run(operation, at: moment, actions: &actions)
            } catch let error as MissingArgument {
                return OperationResult.failure(code: 1, message: error.description)
            } catch {
                return .failure(code: 1, message: "\(error)")
            }
        }
        return (results, actions)
    }

    private struct MissingArgument: Error, CustomStringConvertible {
        let event: String
        let parameter: FleetParameter
        var description: String { "\(event): missing \(parameter.rawValue)" }
    }

    private mutating func run(_ operation: NodeOperation, at moment: Moment, actions: inout [Action]) throws -> OperationResult {
        switch operation {
        case .sendToGroups(let groups, let message, let excluding, let messageID):
            var members = registry.members(ofAny: groups)
            if let excluding { members.remove(excluding) }
            return .int(deliver(message, id: messageID, to: members, recordingFor: .groups(groups), now: moment.now, actions: &actions))
        case .event(let event, let arguments):
            return try run(event, arguments, at: moment, actions: &actions)
        case .claimSession(let token, let connectionID, let id, let groups):
            return claim(token, for: connectionID, id: id, groups: groups, at: moment, actions: &actions)
        case .adoptSessions(let from, let to, let sessions):
            adopt(sessions, from: from, to: to, now: moment.now, actions: &actions)
            return .int(sessions.count)
        }
    }

    private mutating func run(
        _ event: FleetEvent, _ arguments: EventArguments, at moment: Moment, actions: inout [Action]
    ) throws -> OperationResult {
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
        let createdAt = moment.epochMilliseconds

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
            return .object(.object([
                "connections": .number(String(registry.count)),
                "rooms": .number(String(registry.groupIDs.count)),
                "users": .number(String(registry.userIDs.count)),
                "messages_sent": .number(String(messagesSent)),
            ]))
        case .getGroupStats:
            let group = try group()
            return .object(.object([
                "connections": .number(String(registry.connectionCount(inGroup: group))),
                "users": .number(String(registry.userCount(inGroup: group))),
                "created_at": registry.groupCreatedAt[group].map { .number(String($0)) } ?? .null,
            ]))
        case .getGroup_IdCount: return .int(registry.connectionCount(inGroup: try group()))
        case .get_IdsById: return .strings(registry.connections(of: try id()))
        case .getWebhookDeadLetters, .getBroker, .getPusherChannels, .triggerPusherEvent:
            // The gateway answers them; a call that carries one anyway gets a failure.
            return .failure(code: 1, message: "\(event.rawValue) is answered by the gateway, not by nodes")

        case .bindId:
            let (id, cid) = (try id(), try cid())
            return count(mutate([cid], actions: &actions) { $0.bind(id: id, to: cid) })
        case .unBindId:
            let id = try id()
            return count(mutate(registry.connections(of: id), actions: &actions) { !$0.unbind(id: id).isEmpty })
        case .unBind_Id:
            let cid = try cid()
            return count(mutate([cid], actions: &actions) { $0.unbind(connectionID: cid) })
        case .joinGroupById:
            let (groups, id) = (try groups(), try id())
            return count(changeEach(registry.connections(of: id), actions: &actions) { $0.join(groups, connectionID: $1, at: createdAt) })
        case .joinGroupBy_Id:
            let (groups, cid) = (try groups(), try cid())
            return count(mutate([cid], actions: &actions) { $0.join(groups, connectionID: cid, at: createdAt) })
        case .leaveGroupById:
            let (groups, id) = (try groups(), try id())
            return count(changeEach(registry.connections(of: id), actions: &actions) { $0.leave(groups, connectionID: $1) })
        case .leaveGroupBy_Id:
            let (groups, cid) = (try groups(), try cid())
            return count(mutate([cid], actions: &actions) { $0.leave(groups, connectionID: cid) })
        case .leaveAllGroupById:
            let id = try id()
            return count(changeEach(registry.connections(of: id), actions: &actions) { $0.leaveAll(connectionID: $1) })
        case .leaveAllGroupBy_Id:
            let cid = try cid()
            return count(mutate([cid], actions: &actions) { $0.leaveAll(connectionID: cid) })

        case .sendMessageToId:
            let (id, message) = (try id(), try message())
            let delivered = deliver(
                message, id: arguments.messageID, to: registry.connections(of: id), recordingFor: .user(id), now: moment.now, actions: &actions
            )
            return count(delivered > 0)
        case .sendMessageTo_Id:
            let (cid, message) = (try cid(), try message())
            let delivered = deliver(
                message, id: arguments.messageID, to: registry.isOnline(connectionID: cid) ? [cid] : [], recordingFor: .connection(cid),
                now: moment.now, actions: &actions
            )
            return count(delivered > 0)
        case .sendToGroup:
            let (groups, message) = (try groups(), try message())
            return .int(deliver(
                message, id: arguments.messageID, to: registry.members(ofAny: groups), recordingFor: .groups(groups), now: moment.now,
                actions: &actions
            ))
        case .broadcast:
            let message = try message()
            return .int(deliverToEveryone(message, id: arguments.messageID, now: moment.now, actions: &actions))
        case .sendMessageToGroupByOnlyId:
            // Normally split by the gateway into "collect groups" and `.sendToGroups`; run
            // alone, a node can only see the user's local groups.
            let (id, message) = (try id(), try message())
            let groups = registry.groups(ofUser: id)
            return .int(deliver(
                message, id: arguments.messageID, to: registry.members(ofAny: groups), recordingFor: .groups(groups), now: moment.now,
                actions: &actions
            ))
        case .sendMessageToGroupByOnly_Id:
            let (cid, message) = (try cid(), try message())
            let groups = registry.groups(ofConnection: cid)
            return .int(deliver(
                message, id: arguments.messageID, to: registry.members(ofAny: groups), recordingFor: .groups(groups), now: moment.now,
                actions: &actions
            ))
        }
    }

    /// Runs `body` on the registry and reports the binding changes of `connectionIDs`, in
    /// their order.
    mutating func mutate(
        _ connectionIDs: [String],
        actions: inout [Action],
        _ body: (inout ConnectionRegistry) -> Bool
    ) -> Bool {
        let before = connectionIDs.map { snapshot($0) }
        let changed = body(&registry)
        for (index, connectionID) in connectionIDs.enumerated() {
            let after = snapshot(connectionID)
            if before[index] != after { actions.append(.bindingChanged(BindingChange(before: before[index], after: after))) }
        }
        return changed
    }

    /// Runs `body` once per connection; true if any call changed something.
    private mutating func changeEach(
        _ connectionIDs: [String],
        actions: inout [Action],
        _ body: (inout ConnectionRegistry, String) -> Bool
    ) -> Bool {
        mutate(connectionIDs, actions: &actions) { registry in
            connectionIDs.reduce(false) { changed, connectionID in body(&registry, connectionID) || changed }
        }
    }
}
