import FleetCore
import NIOCore
import NIOEmbedded
import WSCTesting
import WebSocketCore
import Synchronization
import Testing

@testable import FleetNode

/// Records what a hub reports to `onChange`.
private final class HubChangeLog: Sendable {
    private let changes = Mutex<[BindingChange]>([])

    func append(_ change: BindingChange) { changes.withLock { $0.append(change) } }

    /// The changes so far, and forgets them.
    func take() -> [BindingChange] { changes.withLock { log in defer { log = [] }; return log } }
}

/// A hub on node "n1" with connections that each have their own socket (on an embedded
/// channel) and a greeting `open:<_id>`.
private final class HubFixture: @unchecked Sendable {
    let hub: NodeHub
    let log: HubChangeLog
    private(set) var channels: [String: EmbeddedChannel] = [:]

    init(_ connections: [String]) {
        let log = HubChangeLog()
        self.log = log
        hub = NodeHub(nodeID: "n1") { log.append($0) }
        for connection in connections {
            let (channel, socket) = Self.makeSocket()
            channels[connection] = channel
            hub.open(connection, socket: socket, greeting: ["open:\(connection)"])
        }
    }

    static func makeSocket() -> (EmbeddedChannel, ServerWebSocket) { embeddedSocket() }

    /// Runs one event and returns its result.
    func run(
        _ event: FleetEvent,
        id: String? = nil,
        cid: String? = nil,
        groups: [String]? = nil,
        msg: String? = nil
    ) -> OperationResult {
        let results = hub.execute([.event(event, EventArguments(id: id, connectionID: cid, groups: groups, message: msg))])
        return results.count == 1 ? results[0] : .failure(code: -1, message: "got \(results.count) results")
    }

    /// Every text message written to `connection`'s socket so far (its loop's queued work run first).
    func written(_ connection: String, sourceLocation: SourceLocation = #_sourceLocation) -> [String] {
        guard let channel = channels[connection] else {
            Issue.record("no socket for \(connection)", sourceLocation: sourceLocation)
            return []
        }
        return Self.written(on: channel)
    }

    static func written(on channel: EmbeddedChannel) -> [String] { textsWritten(on: channel) }

    /// Everything written to `connection` except its greeting (checked to come first).
    func received(_ connection: String, sourceLocation: SourceLocation = #_sourceLocation) async -> [String] {
        let all = written(connection, sourceLocation: sourceLocation)
        #expect(all.first == "open:\(connection)", "the greeting must come first", sourceLocation: sourceLocation)
        return Array(all.dropFirst())
    }
}

@Suite("NodeHub")
struct NodeHubTests {
    // MARK: Connections and greeting

    @Test("the greeting arrives before any other message")
    func greetingFirst() async {
        let fixture = HubFixture(["c1"])
        #expect(fixture.run(.broadcast, msg: "hello") == .int(1))
        #expect(fixture.run(.sendMessageTo_Id, cid: "c1", msg: "direct") == .int(1))
        #expect(fixture.written("c1") == ["open:c1", "hello", "direct"])
    }

    @Test("open refuses a taken id; close forgets the connection")
    func openAndClose() async {
        let fixture = HubFixture(["c1", "c2"])
        let (otherChannel, other) = HubFixture.makeSocket()
        let taken = fixture.hub.open("c1", socket: other, greeting: ["dup"])
        #expect(taken == nil)
        #expect(fixture.hub.connectionCount == 2)
        // The refused socket got nothing.
        #expect(HubFixture.written(on: otherChannel) == [])

        fixture.hub.close("c1")
        #expect(fixture.hub.connectionCount == 1)
        #expect(fixture.run(.get_Ids) == .strings(["c2"]))
        #expect(fixture.run(.sendMessageTo_Id, cid: "c1", msg: "late") == .int(0))
        // Nothing reached it after the close.
        #expect(await fixture.received("c1") == [])

        fixture.hub.close("c1")  // closing twice is harmless
        #expect(fixture.hub.connectionCount == 1)
    }

    @Test("hub.send queues for one connection; false when unknown")
    func directSend() async {
        let fixture = HubFixture(["c1"])
        let sent = fixture.hub.send("raw", to: "c1")
        let unknown = fixture.hub.send("raw", to: "nope")
        #expect(sent)
        #expect(!unknown)
        #expect(await fixture.received("c1") == ["raw"])
    }

    // MARK: Queries

    @Test("connection queries: getConnectionCount, get_Ids, isOnline_Id")
    func connectionQueries() {
        let empty = HubFixture([])
        #expect(empty.run(.getConnectionCount) == .int(0))
        #expect(empty.run(.get_Ids) == .strings([]))
        #expect(empty.run(.getIds) == .strings([]))
        #expect(empty.run(.getGroupIds) == .strings([]))

        let fixture = HubFixture(["c2", "c1", "c3"])
        #expect(fixture.run(.getConnectionCount) == .int(3))
        #expect(fixture.run(.get_Ids) == .strings(["c1", "c2", "c3"]))
        #expect(fixture.run(.isOnline_Id, cid: "c2") == .bool(true))
        #expect(fixture.run(.isOnline_Id, cid: "nope") == .bool(false))
    }

    // MARK: Binding

    @Test("bindId answers 1 for a local connection and 0 for an unknown one")
    func bindId() {
        let fixture = HubFixture(["c1", "c2"])
        #expect(fixture.run(.bindId, id: "u1", cid: "c1") == .int(1))
        #expect(fixture.run(.bindId, id: "u1", cid: "c2") == .int(1))
        #expect(fixture.run(.bindId, id: "u1", cid: "elsewhere") == .int(0))
        #expect(fixture.run(.getIds) == .strings(["u1"]))
        #expect(fixture.run(.isOnlineId, id: "u1") == .bool(true))
        #expect(fixture.run(.isOnlineId, id: "u2") == .bool(false))

        // Rebinding c2 to u2 moves it.
        #expect(fixture.run(.bindId, id: "u2", cid: "c2") == .int(1))
        #expect(fixture.run(.getIds) == .strings(["u1", "u2"]))
    }

    @Test("unBindId and unBind_Id answer 1 where they changed something, else 0")
    func unbind() {
        let fixture = HubFixture(["c1", "c2", "c3"])
        _ = fixture.run(.bindId, id: "u1", cid: "c1")
        _ = fixture.run(.bindId, id: "u1", cid: "c2")
        _ = fixture.run(.bindId, id: "u2", cid: "c3")

        #expect(fixture.run(.unBindId, id: "u1") == .int(1))
        #expect(fixture.run(.unBindId, id: "u1") == .int(0))
        #expect(fixture.run(.isOnlineId, id: "u1") == .bool(false))
        #expect(fixture.run(.getIds) == .strings(["u2"]))
        // The connections stay.
        #expect(fixture.run(.getConnectionCount) == .int(3))

        #expect(fixture.run(.unBind_Id, cid: "c3") == .int(1))
        #expect(fixture.run(.unBind_Id, cid: "c3") == .int(0))
        #expect(fixture.run(.unBind_Id, cid: "nope") == .int(0))
        #expect(fixture.run(.getIds) == .strings([]))
    }

    // MARK: Groups

    @Test("joinGroupById joins every connection of the user; group queries follow")
    func joinByID() {
        let fixture = HubFixture(["c1", "c2", "c3"])
        _ = fixture.run(.bindId, id: "u1", cid: "c1")
        _ = fixture.run(.bindId, id: "u1", cid: "c2")

        #expect(fixture.run(.joinGroupById, id: "u1", groups: ["g1", "g2"]) == .int(1))
        #expect(fixture.run(.joinGroupById, id: "u1", groups: ["g1", "g2"]) == .int(0))
        #expect(fixture.run(.joinGroupById, id: "nobody", groups: ["g1"]) == .int(0))

        #expect(fixture.run(.getGroupIds) == .strings(["g1", "g2"]))
        #expect(fixture.run(.getGroupIdsById, id: "u1") == .strings(["g1", "g2"]))
        #expect(fixture.run(.getGroupIdsBy_Id, cid: "c2") == .strings(["g1", "g2"]))
        #expect(fixture.run(.getGroupIdsBy_Id, cid: "c3") == .strings([]))
        #expect(fixture.run(.isInGroupById, id: "u1", groups: ["g2"]) == .bool(true))
        #expect(fixture.run(.isInGroupById, id: "u1", groups: ["g3"]) == .bool(false))
        #expect(fixture.run(.isInGroupBy_Id, cid: "c1", groups: ["g1"]) == .bool(true))
        #expect(fixture.run(.isInGroupBy_Id, cid: "c3", groups: ["g1"]) == .bool(false))
        #expect(fixture.run(.getGroup_IdCount, groups: ["g1"]) == .int(2))
        #expect(fixture.run(.getGroupIdCount, groups: ["g1"]) == .int(1))
    }

    @Test("joinGroupBy_Id, getGroupIdCount counts distinct bound users")
    func joinByConnection() {
        let fixture = HubFixture(["c1", "c2", "c3", "c4"])
        _ = fixture.run(.bindId, id: "u1", cid: "c1")
        _ = fixture.run(.bindId, id: "u1", cid: "c2")
        _ = fixture.run(.bindId, id: "u2", cid: "c3")
        for cid in ["c1", "c2", "c3", "c4"] {
            #expect(fixture.run(.joinGroupBy_Id, cid: cid, groups: ["room"]) == .int(1))
        }
        #expect(fixture.run(.joinGroupBy_Id, cid: "c1", groups: ["room"]) == .int(0))
        #expect(fixture.run(.joinGroupBy_Id, cid: "nope", groups: ["room"]) == .int(0))

        #expect(fixture.run(.getGroup_IdCount, groups: ["room"]) == .int(4))
        #expect(fixture.run(.getGroupIdCount, groups: ["room"]) == .int(2))
        #expect(fixture.run(.getGroupIdCount, groups: ["empty"]) == .int(0))
        #expect(fixture.run(.getGroupIdsById, id: "u2") == .strings(["room"]))
    }

    @Test("leaveGroupById / leaveGroupBy_Id answer 1 where they changed something")
    func leave() {
        let fixture = HubFixture(["c1", "c2"])
        _ = fixture.run(.bindId, id: "u1", cid: "c1")
        _ = fixture.run(.joinGroupBy_Id, cid: "c1", groups: ["g1", "g2", "g3"])
        _ = fixture.run(.joinGroupBy_Id, cid: "c2", groups: ["g1", "g2"])

        #expect(fixture.run(.leaveGroupById, id: "u1", groups: ["g1", "g2"]) == .int(1))
        #expect(fixture.run(.leaveGroupById, id: "u1", groups: ["g1"]) == .int(0))
        #expect(fixture.run(.leaveGroupById, id: "nobody", groups: ["g3"]) == .int(0))
        #expect(fixture.run(.getGroupIdsById, id: "u1") == .strings(["g3"]))

        #expect(fixture.run(.leaveGroupBy_Id, cid: "c2", groups: ["g2"]) == .int(1))
        #expect(fixture.run(.leaveGroupBy_Id, cid: "c2", groups: ["g2"]) == .int(0))
        #expect(fixture.run(.leaveGroupBy_Id, cid: "nope", groups: ["g1"]) == .int(0))
        #expect(fixture.run(.getGroupIdsBy_Id, cid: "c2") == .strings(["g1"]))
        #expect(fixture.run(.getGroupIds) == .strings(["g1", "g3"]))
    }

    @Test("leaveAllGroupById / leaveAllGroupBy_Id empty the groups; 0 when in none")
    func leaveAll() {
        let fixture = HubFixture(["c1", "c2", "c3"])
        _ = fixture.run(.bindId, id: "u1", cid: "c1")
        _ = fixture.run(.bindId, id: "u1", cid: "c2")
        _ = fixture.run(.joinGroupBy_Id, cid: "c1", groups: ["a"])
        _ = fixture.run(.joinGroupBy_Id, cid: "c2", groups: ["b"])
        _ = fixture.run(.joinGroupBy_Id, cid: "c3", groups: ["a", "c"])

        #expect(fixture.run(.leaveAllGroupById, id: "u1") == .int(1))
        #expect(fixture.run(.leaveAllGroupById, id: "u1") == .int(0))
        #expect(fixture.run(.getGroupIdsById, id: "u1") == .strings([]))
        #expect(fixture.run(.getGroupIds) == .strings(["a", "c"]))

        #expect(fixture.run(.leaveAllGroupBy_Id, cid: "c3") == .int(1))
        #expect(fixture.run(.leaveAllGroupBy_Id, cid: "c3") == .int(0))
        #expect(fixture.run(.leaveAllGroupBy_Id, cid: "nope") == .int(0))
        #expect(fixture.run(.getGroupIds) == .strings([]))
    }

    // MARK: Sending

    @Test("sendMessageToId reaches every connection of the user and answers 1; 0 when not here")
    func sendToID() async {
        let fixture = HubFixture(["c1", "c2", "c3"])
        _ = fixture.run(.bindId, id: "u1", cid: "c1")
        _ = fixture.run(.bindId, id: "u1", cid: "c2")

        #expect(fixture.run(.sendMessageToId, id: "u1", msg: "héllo 🌍") == .int(1))
        #expect(fixture.run(.sendMessageToId, id: "nobody", msg: "lost") == .int(0))

        #expect(await fixture.received("c1") == ["héllo 🌍"])
        #expect(await fixture.received("c2") == ["héllo 🌍"])
        #expect(await fixture.received("c3") == [])
    }

    @Test("sendMessageTo_Id answers 1 for a local connection and 0 for an unknown one")
    func sendToConnection() async {
        let fixture = HubFixture(["c1", "c2"])
        #expect(fixture.run(.sendMessageTo_Id, cid: "c2", msg: "") == .int(1))
        #expect(fixture.run(.sendMessageTo_Id, cid: "c2", msg: "two") == .int(1))
        #expect(fixture.run(.sendMessageTo_Id, cid: "nope", msg: "lost") == .int(0))
        #expect(await fixture.received("c1") == [])
        #expect(await fixture.received("c2") == ["", "two"])
    }

    @Test("sendToGroup counts the connections reached, once each across listed groups")
    func sendToGroup() async {
        let fixture = HubFixture(["c1", "c2", "c3", "c4"])
        _ = fixture.run(.joinGroupBy_Id, cid: "c1", groups: ["g1", "g2"])
        _ = fixture.run(.joinGroupBy_Id, cid: "c2", groups: ["g1"])
        _ = fixture.run(.joinGroupBy_Id, cid: "c3", groups: ["g2"])

        #expect(fixture.run(.sendToGroup, groups: ["g1"], msg: "one") == .int(2))
        #expect(fixture.run(.sendToGroup, groups: ["g1", "g2"], msg: "both") == .int(3))
        #expect(fixture.run(.sendToGroup, groups: ["empty"], msg: "none") == .int(0))

        #expect(await fixture.received("c1") == ["one", "both"])
        #expect(await fixture.received("c2") == ["one", "both"])
        #expect(await fixture.received("c3") == ["both"])
        #expect(await fixture.received("c4") == [])
    }

    @Test("broadcast reaches every connection and answers how many")
    func broadcast() async {
        let empty = HubFixture([])
        #expect(empty.run(.broadcast, msg: "x") == .int(0))

        let fixture = HubFixture(["c1", "c2", "c3"])
        #expect(fixture.run(.broadcast, msg: "all") == .int(3))
        fixture.hub.close("c3")
        #expect(fixture.run(.broadcast, msg: "fewer") == .int(2))
        #expect(await fixture.received("c1") == ["all", "fewer"])
        #expect(await fixture.received("c2") == ["all", "fewer"])
        #expect(await fixture.received("c3") == ["all"])
    }

    @Test("sendMessageToGroupByOnlyId sends to the members of the user's groups, once each")
    func sendToGroupsOfUser() async {
        let fixture = HubFixture(["c1", "c2", "c3", "c4", "c5"])
        _ = fixture.run(.bindId, id: "u1", cid: "c1")
        _ = fixture.run(.bindId, id: "u1", cid: "c2")
        _ = fixture.run(.joinGroupBy_Id, cid: "c1", groups: ["g1"])
        _ = fixture.run(.joinGroupBy_Id, cid: "c2", groups: ["g2"])
        _ = fixture.run(.joinGroupBy_Id, cid: "c3", groups: ["g1", "g2"])
        _ = fixture.run(.joinGroupBy_Id, cid: "c4", groups: ["g3"])

        #expect(fixture.run(.sendMessageToGroupByOnlyId, id: "u1", msg: "m") == .int(3))
        #expect(fixture.run(.sendMessageToGroupByOnlyId, id: "nobody", msg: "lost") == .int(0))

        #expect(await fixture.received("c1") == ["m"])
        #expect(await fixture.received("c2") == ["m"])
        #expect(await fixture.received("c3") == ["m"])
        #expect(await fixture.received("c4") == [])
        #expect(await fixture.received("c5") == [])
    }

    @Test("sendMessageToGroupByOnly_Id sends to the members of the connection's groups")
    func sendToGroupsOfConnection() async {
        let fixture = HubFixture(["c1", "c2", "c3", "c4"])
        _ = fixture.run(.joinGroupBy_Id, cid: "c1", groups: ["g1", "g2"])
        _ = fixture.run(.joinGroupBy_Id, cid: "c2", groups: ["g1", "g2"])
        _ = fixture.run(.joinGroupBy_Id, cid: "c3", groups: ["g2"])

        #expect(fixture.run(.sendMessageToGroupByOnly_Id, cid: "c1", msg: "m") == .int(3))
        #expect(fixture.run(.sendMessageToGroupByOnly_Id, cid: "c4", msg: "lost") == .int(0))
        #expect(fixture.run(.sendMessageToGroupByOnly_Id, cid: "nope", msg: "lost") == .int(0))

        #expect(await fixture.received("c1") == ["m"])
        #expect(await fixture.received("c2") == ["m"])
        #expect(await fixture.received("c3") == ["m"])
        #expect(await fixture.received("c4") == [])
    }

    @Test(".sendToGroups delivers once per connection even if it is in two of the groups")
    func sendToGroupsOperation() async {
        let fixture = HubFixture(["c1", "c2", "c3"])
        _ = fixture.run(.joinGroupBy_Id, cid: "c1", groups: ["g1", "g2"])
        _ = fixture.run(.joinGroupBy_Id, cid: "c2", groups: ["g2"])

        let results = fixture.hub.execute([
            .sendToGroups(["g1", "g2"], message: "once"),
            .sendToGroups(["g1", "g1"], message: "dup list"),
            .sendToGroups([], message: "nobody"),
            .sendToGroups(["missing"], message: "nobody"),
        ])
        #expect(results == [.int(2), .int(1), .int(0), .int(0)])
        #expect(await fixture.received("c1") == ["once", "dup list"])
        #expect(await fixture.received("c2") == ["once"])
        #expect(await fixture.received("c3") == [])
    }

    // MARK: Batches and errors

    @Test("a batch runs in order and answers every operation")
    func batchInOrder() {
        let fixture = HubFixture(["c1"])
        let results = fixture.hub.execute([
            .event(.getIds, EventArguments()),
            .event(.bindId, EventArguments(id: "u1", connectionID: "c1")),
            .event(.getIds, EventArguments()),
            .event(.joinGroupById, EventArguments(id: "u1", groups: ["g"])),
            .event(.getGroupIdCount, EventArguments(groups: ["g"])),
            .event(.unBindId, EventArguments(id: "u1")),
            .event(.getGroupIdCount, EventArguments(groups: ["g"])),
        ])
        #expect(results == [.strings([]), .int(1), .strings(["u1"]), .int(1), .int(1), .int(1), .int(0)])
        #expect(fixture.hub.execute([]) == [])
    }

    @Test("a node refuses an event the gateway answers itself", arguments: FleetEvent.allCases.filter { $0.routing == .gateway })
    func gatewayEvent(_ event: FleetEvent) {
        let fixture = HubFixture(["c1"])
        #expect(fixture.run(event) == .failure(code: 1, message: "\(event.rawValue) is answered by the gateway, not by nodes"))
    }

    @Test("get_IdsById lists the user's connections on the node, sorted")
    func userConnections() {
        let fixture = HubFixture(["c2", "c1", "c3"])
        _ = fixture.run(.bindId, id: "u1", cid: "c2")
        _ = fixture.run(.bindId, id: "u1", cid: "c1")
        _ = fixture.run(.bindId, id: "u2", cid: "c3")
        #expect(fixture.run(.get_IdsById, id: "u1") == .strings(["c1", "c2"]))
        #expect(fixture.run(.get_IdsById, id: "nobody") == .strings([]))
    }

    @Test("every node event answers a value of its result kind", arguments: FleetEvent.allCases.filter { $0.routing != .gateway })
    func everyEventAnswers(_ event: FleetEvent) {
        let fixture = HubFixture(["c1"])
        _ = fixture.run(.bindId, id: "u1", cid: "c1")
        _ = fixture.run(.joinGroupBy_Id, cid: "c1", groups: ["g"])
        let result = fixture.run(event, id: "u1", cid: "c1", groups: ["g"], msg: "m")
        switch (event.resultKind, result) {
        case (.int, .int), (.bool, .bool), (.strings, .strings), (.object, .object): break
        default: Issue.record("\(event) answered \(result), expected a \(event.resultKind)")
        }
    }

    @Test(
        "a missing argument answers failure code 1 naming the event and parameter",
        arguments: FleetEvent.allCases.filter { !$0.parameters.isEmpty && $0.routing != .gateway }
    )
    func missingArguments(_ event: FleetEvent) {
        let fixture = HubFixture(["c1"])
        for missing in event.parameters {
            let arguments = EventArguments(
                id: missing == .id ? nil : "u1",
                connectionID: missing == .connectionID ? nil : "c1",
                groups: missing == .groupID ? nil : ["g"],
                message: missing == .message ? nil : "m"
            )
            let results = fixture.hub.execute([.event(event, arguments)])
            guard results.count == 1, case .failure(let code, let message) = results[0] else {
                Issue.record("\(event) without \(missing.rawValue) answered \(results)")
                continue
            }
            #expect(code == 1)
            #expect(message.contains(event.rawValue), "\(message)")
            #expect(message.contains(missing.rawValue), "\(message)")
        }
        if event.parameters.contains(.groupID) {
            // An empty group list counts as missing.
            let results = fixture.hub.execute([
                .event(event, EventArguments(id: "u1", connectionID: "c1", groups: [], message: "m"))
            ])
            #expect(results.count == 1)
            if case .failure(let code, _)? = results.first { #expect(code == 1) } else { Issue.record("\(results)") }
        }
        // Nothing half-done: no message went out, nothing was bound or joined.
        #expect(fixture.run(.getIds) == .strings([]))
        #expect(fixture.run(.getGroupIds) == .strings([]))
    }

    @Test("a failing operation does not stop the rest of the batch")
    func failureInBatch() {
        let fixture = HubFixture(["c1"])
        let results = fixture.hub.execute([
            .event(.bindId, EventArguments(id: "u1")),
            .event(.bindId, EventArguments(id: "u1", connectionID: "c1")),
        ])
        #expect(results.count == 2)
        if case .failure(code: 1, _)? = results.first {} else { Issue.record("first: \(results)") }
        #expect(results.last == .int(1))
    }

    // MARK: Binding changes

    @Test("onChange gets before/after snapshots on open, bind, join, leave, unbind and close")
    func bindingChanges() {
        let fixture = HubFixture(["c1"])
        let opened = ConnectionSnapshot(connectionID: "c1", node: "n1")
        #expect(fixture.log.take() == [BindingChange(before: nil, after: opened)])

        _ = fixture.run(.bindId, id: "u1", cid: "c1")
        let bound = ConnectionSnapshot(connectionID: "c1", node: "n1", id: "u1")
        #expect(fixture.log.take() == [BindingChange(before: opened, after: bound)])

        _ = fixture.run(.joinGroupById, id: "u1", groups: ["g1", "g2"])
        let joined = ConnectionSnapshot(connectionID: "c1", node: "n1", id: "u1", groups: ["g1", "g2"])
        #expect(fixture.log.take() == [BindingChange(before: bound, after: joined)])

        // No change, no report: queries, a repeated join, an unknown connection.
        _ = fixture.run(.getGroupIds)
        _ = fixture.run(.joinGroupBy_Id, cid: "c1", groups: ["g1"])
        _ = fixture.run(.bindId, id: "u1", cid: "c1")
        _ = fixture.run(.bindId, id: "u1", cid: "nope")
        _ = fixture.run(.broadcast, msg: "x")
        #expect(fixture.log.take() == [])

        _ = fixture.run(.leaveGroupBy_Id, cid: "c1", groups: ["g1"])
        let left = ConnectionSnapshot(connectionID: "c1", node: "n1", id: "u1", groups: ["g2"])
        #expect(fixture.log.take() == [BindingChange(before: joined, after: left)])

        _ = fixture.run(.bindId, id: "u2", cid: "c1")
        let rebound = ConnectionSnapshot(connectionID: "c1", node: "n1", id: "u2", groups: ["g2"])
        #expect(fixture.log.take() == [BindingChange(before: left, after: rebound)])

        fixture.hub.close("c1")
        #expect(fixture.log.take() == [BindingChange(before: rebound, after: nil)])
        fixture.hub.close("c1")
        #expect(fixture.log.take() == [])
    }

    @Test("a user-wide change reports one change per connection of the user")
    func bindingChangesPerConnection() {
        let fixture = HubFixture(["c1", "c2"])
        _ = fixture.run(.bindId, id: "u", cid: "c1")
        _ = fixture.run(.bindId, id: "u", cid: "c2")
        _ = fixture.log.take()

        _ = fixture.run(.joinGroupById, id: "u", groups: ["g"])
        let afterJoin = fixture.log.take()
        #expect(afterJoin.count == 2)
        #expect(Set(afterJoin.compactMap { $0.after?.connectionID }) == ["c1", "c2"])
        #expect(afterJoin.allSatisfy { $0.before?.groups == [] && $0.after?.groups == ["g"] && $0.after?.id == "u" })

        _ = fixture.run(.unBindId, id: "u")
        let afterUnbind = fixture.log.take()
        #expect(afterUnbind.count == 2)
        #expect(afterUnbind.allSatisfy { $0.before?.id == "u" && $0.after?.id == nil && $0.after?.groups == ["g"] })
    }

    @Test("snapshots() lists every connection's state")
    func snapshots() {
        let fixture = HubFixture(["c2", "c1"])
        _ = fixture.run(.bindId, id: "u1", cid: "c1")
        _ = fixture.run(.joinGroupBy_Id, cid: "c2", groups: ["g"])
        #expect(fixture.hub.snapshots() == [
            ConnectionSnapshot(connectionID: "c1", node: "n1", id: "u1"),
            ConnectionSnapshot(connectionID: "c2", node: "n1", groups: ["g"]),
        ])
    }
}
