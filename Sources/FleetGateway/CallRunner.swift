import BrokerCore
import FleetCore
import Foundation

/// What a request's events came to, node by node, before it is written as JSON.
package struct APIResult: Sendable, Hashable {
    package var masterIDs: [String]
    /// Nodes that did not answer in time, sorted.
    package var extra: [String]
    /// For each event, in request order: each live node's result.
    package var data: [(event: FleetEvent, results: [String: OperationResult])]

    package static func == (lhs: APIResult, rhs: APIResult) -> Bool {
        lhs.masterIDs == rhs.masterIDs && lhs.extra == rhs.extra
            && lhs.data.map(\.event) == rhs.data.map(\.event) && lhs.data.map(\.results) == rhs.data.map(\.results)
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(masterIDs)
        hasher.combine(extra)
        for (event, results) in data {
            hasher.combine(event)
            hasher.combine(results)
        }
    }
}

/// Where a step of a request goes.
enum StepTarget: Hashable {
    /// Every live node, on the broadcast channel.
    case all
    /// One node, on its own channel; the others answer the neutral value.
    case node(String)
    /// Nobody (the connection's node is gone): every node answers the neutral value.
    case none
}

/// Runs a batch of events across the fleet in order: consecutive events bound for the same
/// nodes travel as one call, and a node that does not answer in time gets `timeout` for each
/// of them.
struct CallRunner: Sendable {
    let broker: any Broker
    let keys: FleetKeys
    /// This gateway's broadcast channel (``FleetKeys/broadcastChannel(from:)``).
    let broadcastChannel: String
    let requester: BrokerRequester
    let timeout: Duration
    /// The events the gateway answers itself (see ``GatewayService/gatewayEvents()``).
    var gatewayAnswers: [FleetEvent: GatewayEventAnswer] = [:]

    func run(_ calls: [EventCall], on nodes: [String]) async throws -> APIResult {
        let owners = try await connectionOwners(of: calls)
        var result = APIResult(masterIDs: nodes, extra: [], data: [])
        var timedOut = Set<String>()
        var pending: (target: StepTarget, calls: [EventCall])?

        func flush() async throws {
            guard let step = pending else { return }
            pending = nil
            let answers = try await send(step.calls.map { .event($0.event, $0.arguments) }, to: step.target, nodes: nodes, timedOut: &timedOut)
            for (index, call) in step.calls.enumerated() {
                result.data.append((call.event, answers.mapValues { $0?[index] ?? .timeout }
                    .merging(neutral(call.event, nodes)) { answer, _ in answer }))
            }
        }

        for var call in calls {
            if [.sendMessageToId, .sendMessageTo_Id, .sendToGroup, .broadcast].contains(call.event) {
                call.arguments.messageID = EventArguments.makeMessageID()
            }
            switch call.event.routing {
            case .everyNode, .connectionOwner:
                let target = self.target(of: call, owners: owners, nodes: nodes)
                if let current = pending, current.target == target {
                    pending?.calls.append(call)
                } else {
                    try await flush()
                    pending = (target, [call])
                }
            case .groupsThenSend:
                try await flush()
                result.data.append((call.event, try await sendToGroupsOf(call, owners: owners, nodes: nodes, timedOut: &timedOut)))
            case .gateway:
                try await flush()
                result.data.append((call.event, try await answerHere(call)))
            }
        }
        try await flush()
        result.extra = timedOut.sorted()
        return result
    }

    // MARK: Steps

    /// An event the gateway answers: nothing to report when this gateway has no answer for an
    /// event without parameters (no webhooks configured); refused when it has none for one
    /// that asks for something to be done (the Pusher protocol is off).
    private func answerHere(_ call: EventCall) async throws -> [String: OperationResult] {
        if let answer = gatewayAnswers[call.event] { return try await answer(call.arguments) }
        guard call.event.parameters.isEmpty else {
            throw APIError.badRequest("\(call.event.rawValue): not available on this gateway (is the Pusher protocol off?)")
        }
        return [:]
    }

    /// Each node's results (nil: no answer in time) for the nodes the target reaches.
    private func send(
        _ operations: [NodeOperation],
        to target: StepTarget,
        nodes: [String],
        timedOut: inout Set<String>
    ) async throws -> [String: [OperationResult]?] {
        let channel: String
        let awaited: Set<String>
        switch target {
        case .none:
            return [:]
        case .all:
            channel = broadcastChannel
            awaited = Set(nodes)
        case .node(let node):
            channel = keys.nodeChannel(node)
            awaited = [node]
        }
        var answers: [String: [OperationResult]?] = try await requester.call(operations, on: channel, awaiting: awaited, timeout: timeout)
        for node in awaited where answers[node] == nil {
            answers[node] = .some(nil)
            timedOut.insert(node)
        }
        return answers
    }

    /// `sendMessageToGroupByOnlyId` / `..._Id`: the groups of the user or connection across
    /// the fleet first, then one send to their members on every node.
    private func sendToGroupsOf(
        _ call: EventCall,
        owners: [String: String],
        nodes: [String],
        timedOut: inout Set<String>
    ) async throws -> [String: OperationResult] {
        let lookup: EventCall
        let target: StepTarget
        if call.event == .sendMessageToGroupByOnlyId {
            lookup = EventCall(event: .getGroupIdsById, arguments: EventArguments(id: call.arguments.id))
            target = .all
        } else {
            lookup = EventCall(event: .getGroupIdsBy_Id, arguments: EventArguments(connectionID: call.arguments.connectionID))
            target = self.target(of: lookup, owners: owners, nodes: nodes)
        }
        let found = try await send([.event(lookup.event, lookup.arguments)], to: target, nodes: nodes, timedOut: &timedOut)
        var groups = Set<String>()
        for case .strings(let names)?? in found.values.map({ $0?.first }) { groups.formUnion(names) }
        guard !groups.isEmpty else { return neutral(call.event, nodes) }
        let sent = try await send(
            [.sendToGroups(groups.sorted(), message: call.arguments.message ?? "", messageID: EventArguments.makeMessageID())],
            to: .all, nodes: nodes, timedOut: &timedOut
        )
        return sent.mapValues { $0?.first ?? .timeout }.merging(neutral(call.event, nodes)) { answer, _ in answer }
    }

    // MARK: Routing

    /// The owner of every connection id an owner-routed event names, as the `conns` hash says.
    private func connectionOwners(of calls: [EventCall]) async throws -> [String: String] {
        let ids = Set(calls.compactMap { call in
            call.event.routing == .everyNode ? nil : call.arguments.connectionID
        }).sorted()
        guard !ids.isEmpty else { return [:] }
        let values = try await broker.execute(ids.map { .hashGet(key: keys.connections(of: $0), field: $0) }, atomically: false)
        var owners: [String: String] = [:]
        for (id, value) in zip(ids, values) {
            if case .string(let node) = value { owners[id] = node }
        }
        return owners
    }

    /// Owner-routed events go to the owner when it is alive, to nobody when the owner is
    /// dead, and to every node when the owner is not (yet) recorded.
    private func target(of call: EventCall, owners: [String: String], nodes: [String]) -> StepTarget {
        guard call.event.routing != .everyNode, let connectionID = call.arguments.connectionID else { return .all }
        guard let owner = owners[connectionID] else { return .all }
        return nodes.contains(owner) ? .node(owner) : .none
    }

    private func neutral(_ event: FleetEvent, _ nodes: [String]) -> [String: OperationResult] {
        Dictionary(uniqueKeysWithValues: nodes.map { ($0, event.resultKind.neutral) })
    }
}
