import BrokerCore
import PusherCore
import Testing

/// The membership scripts on both brokers: the Lua body on Redis and the Swift body on the
/// embedded broker must answer alike and leave the same hashes behind.
@Suite("MembershipScripts")
struct MembershipScriptContractTests {
    /// One set of members (e.g. a presence channel) in a test namespace.
    struct Members: Sendable {
        let broker: any Broker
        let fleet: String
        let namespace: String

        init(_ broker: any Broker) {
            self.broker = broker
            namespace = pusherNamespace()
            fleet = namespace + "fleet"
        }

        func nodeHash(_ node: String) -> String { namespace + "node:" + node }

        func join(_ member: String, on node: String, value: String = "{}", limit: Int = 0) async throws -> BrokerValue {
            try await broker.execute(.script(
                MembershipScripts.join, keys: [fleet, nodeHash(node)], arguments: [member, node, value, String(limit)]
            ))
        }

        func leave(_ member: String, on node: String) async throws -> BrokerValue {
            try await broker.execute(.script(MembershipScripts.leave, keys: [fleet, nodeHash(node)], arguments: [member, node]))
        }

        /// The members gone fleet-wide, sorted (Redis gives them in hash order).
        func nodeGone(_ node: String) async throws -> [String]? {
            let value = try await broker.execute(.script(MembershipScripts.nodeGone, keys: [fleet, nodeHash(node)], arguments: [node]))
            guard case .strings(let members) = value else { return nil }
            return members.sorted()
        }

        var marker: String { namespace + "pending-leave" }

        func markedJoin(_ member: String, on node: String) async throws -> BrokerValue {
            try await broker.execute(.script(
                MembershipScripts.joinCallingOffLeave, keys: [fleet, nodeHash(node), marker], arguments: [member, node, "", "0"]
            ))
        }

        func markedLeave(_ member: String, on node: String, token: String) async throws -> BrokerValue {
            try await broker.execute(.script(
                MembershipScripts.leaveMarkingPending, keys: [fleet, nodeHash(node), marker], arguments: [member, node, token, "60000"]
            ))
        }

        func confirm(_ member: String, token: String) async throws -> BrokerValue {
            try await broker.execute(.script(MembershipScripts.confirmLeave, keys: [marker, fleet], arguments: [token, member]))
        }

        /// member → the nodes holding it, as a set per member.
        func holders() async throws -> [String: Set<String>] {
            try await broker.hashGetAll(fleet).mapValues { Set($0.split(separator: "\n").map(String.init)) }
        }
    }

    // MARK: join

    @Test("join: 1 for a new member, 0 on another node or again on the same node", arguments: PusherBrokerKind.allCases)
    func join(kind: PusherBrokerKind) async throws {
        try await withPusherBroker(kind) { broker async throws in
            let members = Members(broker)
            #expect(try await members.join("u1", on: "n1", value: #"{"name":"a"}"#) == .int(1))
            #expect(try await members.join("u1", on: "n2", value: #"{"name":"b"}"#) == .int(0))
            #expect(try await members.join("u1", on: "n1", value: #"{"name":"c"}"#) == .int(0))
            #expect(try await members.join("u2", on: "n2") == .int(1))

            // The fleet hash lists each node once, in join order; each node hash has its value.
            #expect(try await broker.hashGetAll(members.fleet) == ["u1": "n1\nn2", "u2": "n2"])
            #expect(try await broker.hashGetAll(members.nodeHash("n1")) == ["u1": #"{"name":"c"}"#])
            #expect(try await broker.hashGetAll(members.nodeHash("n2")) == ["u1": #"{"name":"b"}"#, "u2": "{}"])
        }
    }

    @Test("node ids that prefix each other are different nodes", arguments: PusherBrokerKind.allCases)
    func prefixNodeIDs(kind: PusherBrokerKind) async throws {
        try await withPusherBroker(kind) { broker async throws in
            let members = Members(broker)
            #expect(try await members.join("u", on: "n1") == .int(1))
            #expect(try await members.join("u", on: "n10") == .int(0))
            #expect(try await members.join("u", on: "n") == .int(0))
            #expect(try await members.holders() == ["u": ["n1", "n10", "n"]])
            #expect(try await members.leave("u", on: "n1") == .int(0))
            #expect(try await members.leave("u", on: "n") == .int(0))
            #expect(try await members.holders() == ["u": ["n10"]])
            #expect(try await members.leave("u", on: "n10") == .int(1))
        }
    }

    @Test("join with a limit: -1 only for a new member when the fleet is full", arguments: PusherBrokerKind.allCases)
    func joinLimit(kind: PusherBrokerKind) async throws {
        try await withPusherBroker(kind) { broker async throws in
            let members = Members(broker)
            #expect(try await members.join("a", on: "n1", limit: 2) == .int(1))
            #expect(try await members.join("b", on: "n2", limit: 2) == .int(1))
            // Full: a new member is refused, and nothing of it is written.
            #expect(try await members.join("c", on: "n1", limit: 2) == .int(-1))
            #expect(try await broker.hashGet(members.fleet, field: "c") == nil)
            #expect(try await broker.hashGet(members.nodeHash("n1"), field: "c") == nil)
            // Members already there still join on more nodes.
            #expect(try await members.join("a", on: "n2", limit: 2) == .int(0))
            #expect(try await members.join("b", on: "n2", limit: 2) == .int(0))
            // Without a limit, or with a larger one, the new member joins.
            #expect(try await members.join("c", on: "n1", limit: 3) == .int(1))
            #expect(try await members.join("d", on: "n1", limit: 0) == .int(1))
            #expect(try await members.join("e", on: "n1", limit: 4) == .int(-1))
            // Once someone leaves the fleet, there is room again.
            #expect(try await members.leave("d", on: "n1") == .int(1))
            #expect(try await members.join("e", on: "n1", limit: 4) == .int(1))
            #expect(try await broker.hashLength(members.fleet) == 4)
        }
    }

    @Test("a limit of 1 admits exactly one member", arguments: PusherBrokerKind.allCases)
    func limitOne(kind: PusherBrokerKind) async throws {
        try await withPusherBroker(kind) { broker async throws in
            let members = Members(broker)
            #expect(try await members.join("a", on: "n1", limit: 1) == .int(1))
            #expect(try await members.join("b", on: "n1", limit: 1) == .int(-1))
            #expect(try await members.join("a", on: "n2", limit: 1) == .int(0))
        }
    }

    // MARK: leave

    @Test("leave: 1 only when the last node holding the member leaves", arguments: PusherBrokerKind.allCases)
    func leave(kind: PusherBrokerKind) async throws {
        try await withPusherBroker(kind) { broker async throws in
            let members = Members(broker)
            _ = try await members.join("u", on: "n1")
            _ = try await members.join("u", on: "n2")
            _ = try await members.join("u", on: "n3")
            #expect(try await members.leave("u", on: "n2") == .int(0))
            #expect(try await broker.hashGetAll(members.fleet) == ["u": "n1\nn3"])
            #expect(try await broker.hashGet(members.nodeHash("n2"), field: "u") == nil)
            #expect(try await broker.hashGet(members.nodeHash("n1"), field: "u") == "{}")
            // Leaving again from a node that no longer holds it changes nothing.
            #expect(try await members.leave("u", on: "n2") == .int(0))
            #expect(try await broker.hashGetAll(members.fleet) == ["u": "n1\nn3"])
            #expect(try await members.leave("u", on: "n1") == .int(0))
            #expect(try await members.leave("u", on: "n3") == .int(1))
            #expect(try await broker.hashGetAll(members.fleet).isEmpty)
            #expect(try await broker.hashGetAll(members.nodeHash("n3")).isEmpty)
            // An unknown member, or one already gone, leaves with 0.
            #expect(try await members.leave("u", on: "n3") == .int(0))
            #expect(try await members.leave("nobody", on: "n1") == .int(0))
            // And it can join again as new.
            #expect(try await members.join("u", on: "n2") == .int(1))
        }
    }

    @Test("leave of one member keeps the others", arguments: PusherBrokerKind.allCases)
    func leaveKeepsOthers(kind: PusherBrokerKind) async throws {
        try await withPusherBroker(kind) { broker async throws in
            let members = Members(broker)
            _ = try await members.join("a", on: "n1", value: "A")
            _ = try await members.join("b", on: "n1", value: "B")
            #expect(try await members.leave("a", on: "n1") == .int(1))
            #expect(try await broker.hashGetAll(members.fleet) == ["b": "n1"])
            #expect(try await broker.hashGetAll(members.nodeHash("n1")) == ["b": "B"])
        }
    }

    // MARK: nodeGone

    @Test("nodeGone returns exactly the members only that node held, and keeps the others", arguments: PusherBrokerKind.allCases)
    func nodeGone(kind: PusherBrokerKind) async throws {
        try await withPusherBroker(kind) { broker async throws in
            let members = Members(broker)
            for member in ["a", "b", "shared1"] { _ = try await members.join(member, on: "n1", value: member) }
            for member in ["shared1", "c"] { _ = try await members.join(member, on: "n2", value: member) }
            _ = try await members.join("shared2", on: "n2")
            _ = try await members.join("shared2", on: "n1")
            _ = try await members.join("shared2", on: "n3")

            #expect(try await members.nodeGone("n1") == ["a", "b"])
            #expect(try await members.holders() == ["shared1": ["n2"], "c": ["n2"], "shared2": ["n2", "n3"]])
            #expect(try await broker.hashGetAll(members.nodeHash("n1")).isEmpty)
            #expect(try await broker.hashGetAll(members.nodeHash("n2")) == ["shared1": "shared1", "c": "c", "shared2": "{}"])

            // Once gone, the node has nothing more to give up; an unknown node neither.
            #expect(try await members.nodeGone("n1") == [])
            #expect(try await members.nodeGone("never-seen") == [])

            #expect(try await members.nodeGone("n2") == ["c", "shared1"])
            #expect(try await members.holders() == ["shared2": ["n3"]])
            #expect(try await members.nodeGone("n3") == ["shared2"])
            #expect(try await broker.hashGetAll(members.fleet).isEmpty)
        }
    }

    @Test("nodeGone skips a member of the node hash that the fleet hash lost", arguments: PusherBrokerKind.allCases)
    func nodeGoneWithStaleNodeHash(kind: PusherBrokerKind) async throws {
        try await withPusherBroker(kind) { broker async throws in
            let members = Members(broker)
            _ = try await members.join("a", on: "n1")
            _ = try await broker.hashSet(members.nodeHash("n1"), ["stale": "{}"])
            #expect(try await members.nodeGone("n1") == ["a"])
            #expect(try await broker.hashGetAll(members.nodeHash("n1")).isEmpty)
            #expect(try await broker.hashGetAll(members.fleet).isEmpty)
        }
    }

    // MARK: Races

    @Test("50 nodes joining one member at once: exactly one first join, exactly one last leave", arguments: PusherBrokerKind.allCases)
    func concurrentJoin(kind: PusherBrokerKind) async throws {
        try await withPusherBroker(kind) { broker async throws in
            let members = Members(broker)
            let nodes = (0..<50).map { "node-\($0)" }
            let joins = try await withThrowingTaskGroup(of: BrokerValue.self) { group in
                for node in nodes { group.addTask { try await members.join("u", on: node) } }
                return try await group.reduce(into: [BrokerValue]()) { $0.append($1) }
            }
            #expect(joins.count == 50)
            #expect(joins.filter { $0 == .int(1) }.count == 1)
            #expect(joins.filter { $0 == .int(0) }.count == 49)
            // Every node is listed exactly once.
            let list = try #require(try await broker.hashGet(members.fleet, field: "u")).split(separator: "\n").map(String.init)
            #expect(list.count == 50)
            #expect(Set(list) == Set(nodes))

            let leaves = try await withThrowingTaskGroup(of: BrokerValue.self) { group in
                for node in nodes { group.addTask { try await members.leave("u", on: node) } }
                return try await group.reduce(into: [BrokerValue]()) { $0.append($1) }
            }
            #expect(leaves.filter { $0 == .int(1) }.count == 1)
            #expect(leaves.filter { $0 == .int(0) }.count == 49)
            #expect(try await broker.hashGetAll(members.fleet).isEmpty)
        }
    }

    @Test("50 new members racing for a limit of 10: exactly 10 get in", arguments: PusherBrokerKind.allCases)
    func concurrentLimit(kind: PusherBrokerKind) async throws {
        try await withPusherBroker(kind) { broker async throws in
            let members = Members(broker)
            let joins = try await withThrowingTaskGroup(of: BrokerValue.self) { group in
                for index in 0..<50 { group.addTask { try await members.join("u\(index)", on: "n\(index % 3)", limit: 10) } }
                return try await group.reduce(into: [BrokerValue]()) { $0.append($1) }
            }
            #expect(joins.filter { $0 == .int(1) }.count == 10)
            #expect(joins.filter { $0 == .int(-1) }.count == 40)
            #expect(try await broker.hashLength(members.fleet) == 10)
        }
    }

    // MARK: Leaves that wait

    @Test("a last leave is pending until confirmed; a join meanwhile calls it off, and is no first join", arguments: PusherBrokerKind.allCases)
    func pendingLeaves(kind: PusherBrokerKind) async throws {
        try await withPusherBroker(kind) { broker async throws in
            let members = Members(broker)
            #expect(try await members.markedJoin("ch", on: "n1") == .int(1), "first join, no leave pending")
            #expect(try await members.markedJoin("ch", on: "n2") == .int(0))
            #expect(try await members.markedLeave("ch", on: "n1", token: "a") == .int(0), "n2 still holds it")
            #expect(try await broker.get(members.marker) == nil)
            #expect(try await members.markedLeave("ch", on: "n2", token: "b") == .int(1), "last leave: pending")
            #expect(try await broker.get(members.marker) == "b")
            #expect(try await broker.ttl(members.marker) > 0)

            // Back before the delay, on another node: no first join, and the leave is off.
            #expect(try await members.markedJoin("ch", on: "n3") == .int(2))
            #expect(try await broker.get(members.marker) == nil)
            #expect(try await members.confirm("ch", token: "b") == .int(0))

            // Gone again: a new pending leave; an old token cannot confirm it, its own can, once.
            #expect(try await members.markedLeave("ch", on: "n3", token: "c") == .int(1))
            #expect(try await members.confirm("ch", token: "b") == .int(0))
            #expect(try await members.confirm("ch", token: "c") == .int(1))
            #expect(try await members.confirm("ch", token: "c") == .int(0))
            #expect(try await broker.get(members.marker) == nil)
            // Confirmed: the next join is a first join again.
            #expect(try await members.markedJoin("ch", on: "n1") == .int(1))
            #expect(try await members.holders() == ["ch": ["n1"]])
        }
    }
}
