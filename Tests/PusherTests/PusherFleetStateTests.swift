import BrokerCore
import PusherCore
import Testing

/// Fleet-wide reads count the nodes they are given (the live ones) and nothing else, on
/// both brokers.
@Suite("PusherFleetState")
struct PusherFleetStateTests {
    /// A fleet state over a fresh namespace of `broker`.
    private func fleetState(_ broker: any Broker) -> PusherFleetState {
        PusherFleetState(broker: broker, keys: PusherKeys(prefix: pusherNamespace()))
    }

    @Test("subscriptionCounts sums the given nodes, skips empty counts, filters by prefix", arguments: PusherBrokerKind.allCases)
    func subscriptionCounts(kind: PusherBrokerKind) async throws {
        try await withPusherBroker(kind) { broker async throws in
            let state = fleetState(broker)
            let keys = state.keys
            _ = try await broker.hashSet(keys.nodeChannels(app: "1", node: "n1"), ["presence-a": "2", "private-b": "1", "c": "0"])
            _ = try await broker.hashSet(keys.nodeChannels(app: "1", node: "n2"), ["presence-a": "3", "d": "4", "bad": "x", "neg": "-1"])
            _ = try await broker.hashSet(keys.nodeChannels(app: "1", node: "dead"), ["presence-a": "100", "e": "1"])
            _ = try await broker.hashSet(keys.nodeChannels(app: "2", node: "n1"), ["presence-a": "50", "f": "1"])

            let all = try await state.subscriptionCounts(app: "1", nodes: ["n1", "n2"])
            #expect(all == ["presence-a": 5, "private-b": 1, "d": 4])
            #expect(try await state.subscriptionCounts(app: "1", prefix: "presence-", nodes: ["n1", "n2"]) == ["presence-a": 5])
            #expect(try await state.subscriptionCounts(app: "1", prefix: "private-", nodes: ["n1", "n2"]) == ["private-b": 1])
            #expect(try await state.subscriptionCounts(app: "1", prefix: "none-", nodes: ["n1", "n2"]) == [:])
            #expect(try await state.subscriptionCounts(app: "1", nodes: ["n2"]) == ["presence-a": 3, "d": 4])
            #expect(try await state.subscriptionCounts(app: "1", nodes: ["n1", "n2", "dead"])["presence-a"] == 105)
            #expect(try await state.subscriptionCounts(app: "1", nodes: ["unknown"]) == [:])
            #expect(try await state.subscriptionCounts(app: "1", nodes: []) == [:])
            #expect(try await state.subscriptionCounts(app: "2", nodes: ["n1", "n2"]) == ["presence-a": 50, "f": 1])
        }
    }

    @Test("subscriptionCount sums one channel over the given nodes", arguments: PusherBrokerKind.allCases)
    func subscriptionCount(kind: PusherBrokerKind) async throws {
        try await withPusherBroker(kind) { broker async throws in
            let state = fleetState(broker)
            let keys = state.keys
            _ = try await broker.hashSet(keys.nodeChannels(app: "1", node: "n1"), ["c": "2", "z": "0"])
            _ = try await broker.hashSet(keys.nodeChannels(app: "1", node: "n2"), ["c": "3", "z": "-2"])
            _ = try await broker.hashSet(keys.nodeChannels(app: "1", node: "dead"), ["c": "7"])
            #expect(try await state.subscriptionCount(app: "1", channel: "c", nodes: ["n1", "n2"]) == 5)
            #expect(try await state.subscriptionCount(app: "1", channel: "c", nodes: ["n1"]) == 2)
            #expect(try await state.subscriptionCount(app: "1", channel: "c", nodes: ["n1", "n2", "dead"]) == 12)
            #expect(try await state.subscriptionCount(app: "1", channel: "z", nodes: ["n1", "n2"]) == 0)
            #expect(try await state.subscriptionCount(app: "1", channel: "missing", nodes: ["n1", "n2"]) == 0)
            #expect(try await state.subscriptionCount(app: "1", channel: "c", nodes: []) == 0)
            #expect(try await state.subscriptionCount(app: "2", channel: "c", nodes: ["n1", "n2"]) == 0)
        }
    }

    @Test("presenceMembers unites the given nodes, one entry per user, in id order", arguments: PusherBrokerKind.allCases)
    func presenceMembers(kind: PusherBrokerKind) async throws {
        try await withPusherBroker(kind) { broker async throws in
            let state = fleetState(broker)
            let keys = state.keys
            let channel = "presence-room"
            _ = try await broker.hashSet(keys.nodePresence(app: "1", channel: channel, node: "n1"), ["u2": #"{"on":"n1"}"#, "u1": "null"])
            _ = try await broker.hashSet(keys.nodePresence(app: "1", channel: channel, node: "n2"), ["u2": #"{"on":"n2"}"#, "u3": "3"])
            _ = try await broker.hashSet(keys.nodePresence(app: "1", channel: channel, node: "dead"), ["ghost": "{}", "u1": "dead"])
            _ = try await broker.hashSet(keys.nodePresence(app: "2", channel: channel, node: "n1"), ["other-app": "{}"])

            let members = try await state.presenceMembers(app: "1", channel: channel, nodes: ["n1", "n2"])
            #expect(members.map(\.id) == ["u1", "u2", "u3"])
            #expect(members.map(\.info) == ["null", #"{"on":"n1"}"#, "3"])
            // The same answer whatever order the nodes are given in.
            let reversed = try await state.presenceMembers(app: "1", channel: channel, nodes: ["n2", "n1"])
            #expect(reversed.map(\.id) == members.map(\.id))
            #expect(reversed.map(\.info) == members.map(\.info))

            #expect(try await state.presenceMembers(app: "1", channel: channel, nodes: ["n2"]).map(\.id) == ["u2", "u3"])
            #expect(try await state.presenceMembers(app: "1", channel: channel, nodes: ["n2"]).map(\.info) == [#"{"on":"n2"}"#, "3"])
            #expect(try await state.presenceMembers(app: "1", channel: channel, nodes: []).isEmpty)
            #expect(try await state.presenceMembers(app: "1", channel: "presence-empty", nodes: ["n1", "n2"]).isEmpty)
            #expect(try await state.presenceMembers(app: "2", channel: channel, nodes: ["n1", "n2"]).map(\.id) == ["other-app"])

            let counts = try await state.userCounts(app: "1", channels: [channel, "presence-empty"], nodes: ["n1", "n2"])
            #expect(counts == [channel: 3, "presence-empty": 0])
            #expect(try await state.userCounts(app: "1", channels: [channel], nodes: ["n1", "n2", "dead"]) == [channel: 4])
        }
    }

    @Test("connectionCount sums the given nodes only", arguments: PusherBrokerKind.allCases)
    func connectionCount(kind: PusherBrokerKind) async throws {
        try await withPusherBroker(kind) { broker async throws in
            let state = fleetState(broker)
            let keys = state.keys
            _ = try await broker.hashSet(keys.connections(app: "1"), ["n1": "3", "n2": "4", "dead": "100", "bad": "x"])
            _ = try await broker.hashSet(keys.connections(app: "2"), ["n1": "9"])
            #expect(try await state.connectionCount(app: "1", nodes: ["n1", "n2"]) == 7)
            #expect(try await state.connectionCount(app: "1", nodes: ["n2"]) == 4)
            #expect(try await state.connectionCount(app: "1", nodes: ["n1", "bad", "unknown"]) == 3)
            #expect(try await state.connectionCount(app: "1", nodes: []) == 0)
            #expect(try await state.connectionCount(app: "2", nodes: ["n1", "n2"]) == 9)
            #expect(try await state.connectionCount(app: "3", nodes: ["n1", "n2"]) == 0)
        }
    }

    @Test("onlineUsers: users signed in on at least one of the given nodes", arguments: PusherBrokerKind.allCases)
    func onlineUsers(kind: PusherBrokerKind) async throws {
        try await withPusherBroker(kind) { broker async throws in
            let state = fleetState(broker)
            let keys = state.keys
            _ = try await broker.hashSet(keys.users(app: "1"), [
                "alice": "n1", "bob": "dead\nn2", "carol": "dead", "dave": "n10", "erin": "n2\nn1",
            ])
            _ = try await broker.hashSet(keys.users(app: "2"), ["frank": "n1"])
            let everyone = ["alice", "bob", "carol", "dave", "erin", "frank", "nobody"]
            #expect(try await state.onlineUsers(app: "1", among: everyone, nodes: ["n1", "n2"]) == ["alice", "bob", "erin"])
            #expect(try await state.onlineUsers(app: "1", among: everyone, nodes: ["n1"]) == ["alice", "erin"])
            // A node id that another one starts with is not that node.
            #expect(try await state.onlineUsers(app: "1", among: ["dave"], nodes: ["n1"]) == [])
            #expect(try await state.onlineUsers(app: "1", among: ["dave"], nodes: ["n10"]) == ["dave"])
            #expect(try await state.onlineUsers(app: "1", among: ["alice", "bob"], nodes: []) == [])
            #expect(try await state.onlineUsers(app: "1", among: [], nodes: ["n1"]) == [])
            #expect(try await state.onlineUsers(app: "2", among: everyone, nodes: ["n1", "n2"]) == ["frank"])
        }
    }

    @Test("reads follow what the membership scripts wrote", arguments: PusherBrokerKind.allCases)
    func readsAfterScripts(kind: PusherBrokerKind) async throws {
        try await withPusherBroker(kind) { broker async throws in
            let state = fleetState(broker)
            let keys = state.keys
            func signIn(_ user: String, on node: String) async throws -> BrokerValue {
                try await broker.execute(.script(
                    MembershipScripts.join, keys: [keys.users(app: "1"), keys.nodeUsers(app: "1", node: node)], arguments: [user, node, "", "0"]
                ))
            }
            #expect(try await signIn("alice", on: "n1") == .int(1))
            #expect(try await signIn("alice", on: "n2") == .int(0))
            #expect(try await signIn("bob", on: "n2") == .int(1))
            #expect(try await state.onlineUsers(app: "1", among: ["alice", "bob"], nodes: ["n1"]) == ["alice"])
            #expect(try await state.onlineUsers(app: "1", among: ["alice", "bob"], nodes: ["n2"]) == ["alice", "bob"])
            let gone = try await broker.execute(.script(
                MembershipScripts.nodeGone, keys: [keys.users(app: "1"), keys.nodeUsers(app: "1", node: "n2")], arguments: ["n2"]
            ))
            #expect(gone == .strings(["bob"]))
            #expect(try await state.onlineUsers(app: "1", among: ["alice", "bob"], nodes: ["n1", "n2"]) == ["alice"])

            let channel = "presence-x"
            let join = try await broker.execute(.script(
                MembershipScripts.join,
                keys: [keys.presence(app: "1", channel: channel), keys.nodePresence(app: "1", channel: channel, node: "n1")],
                arguments: ["alice", "n1", #"{"name":"Alice"}"#, "100"]
            ))
            #expect(join == .int(1))
            let members = try await state.presenceMembers(app: "1", channel: channel, nodes: ["n1"])
            #expect(members.map(\.id) == ["alice"])
            #expect(members.map(\.info) == [#"{"name":"Alice"}"#])
        }
    }
}
