import FleetCore
import Testing

@testable import FleetNode

@Suite("ConnectionRegistry")
struct ConnectionRegistryTests {
    /// A registry holding `connections`, nothing bound, no groups.
    private func registry(_ connections: String...) -> ConnectionRegistry {
        var registry = ConnectionRegistry()
        for connection in connections { registry.add(connection) }
        return registry
    }

    // MARK: Connections

    @Test("add registers a connection once; remove forgets it and returns its entry")
    func addAndRemove() {
        var registry = ConnectionRegistry()
        let first = registry.add("c1")
        let again = registry.add("c1")
        let second = registry.add("c2")
        #expect(first)
        #expect(!again)
        #expect(second)
        #expect(registry.count == 2)
        #expect(registry.connectionIDs == ["c1", "c2"])
        #expect(registry.isOnline(connectionID: "c1"))

        let removed = registry.remove("c1")
        #expect(removed == ConnectionRegistry.Entry(id: nil, groups: []))
        #expect(registry.count == 1)
        #expect(registry.connectionIDs == ["c2"])
        #expect(!registry.isOnline(connectionID: "c1"))

        let removedAgain = registry.remove("c1")
        #expect(removedAgain == nil)
        let unknown = registry.remove("nope")
        #expect(unknown == nil)
        #expect(registry.count == 1)
    }

    @Test("remove returns the binding and groups the connection had")
    func removeReturnsEntry() {
        var registry = registry("c1")
        _ = registry.bind(id: "u1", to: "c1")
        _ = registry.join(["g1", "g2"], connectionID: "c1", at: 1)
        let removed = registry.remove("c1")
        #expect(removed == ConnectionRegistry.Entry(id: "u1", groups: ["g1", "g2"]))
    }

    // MARK: Binding

    @Test("bind: unknown connection is refused; one id may have many connections")
    func bindManyConnections() {
        var registry = registry("c1", "c2", "c3")
        let unknown = registry.bind(id: "u1", to: "nope")
        #expect(!unknown)
        #expect(registry.userIDs.isEmpty)

        let b1 = registry.bind(id: "u1", to: "c1")
        let b2 = registry.bind(id: "u1", to: "c2")
        let b3 = registry.bind(id: "u2", to: "c3")
        #expect(b1 && b2 && b3)
        #expect(registry.userIDs == ["u1", "u2"])
        #expect(registry.connections(of: "u1") == ["c1", "c2"])
        #expect(registry.connections(of: "u2") == ["c3"])
        #expect(registry.connections(of: "nobody") == [])
        #expect(registry.isOnline(id: "u1"))
        #expect(!registry.isOnline(id: "nobody"))
        #expect(registry.connections["c1"]?.id == "u1")
    }

    @Test("rebinding moves a connection from the old id to the new one")
    func rebindMoves() {
        var registry = registry("c1", "c2")
        _ = registry.bind(id: "old", to: "c1")
        _ = registry.bind(id: "old", to: "c2")
        let sameAgain = registry.bind(id: "old", to: "c1")
        #expect(sameAgain)
        #expect(registry.connections(of: "old") == ["c1", "c2"])

        let moved = registry.bind(id: "new", to: "c1")
        #expect(moved)
        #expect(registry.connections(of: "old") == ["c2"])
        #expect(registry.connections(of: "new") == ["c1"])
        #expect(registry.connections["c1"]?.id == "new")
        #expect(registry.userIDs == ["new", "old"])

        // Moving the last connection away drops the old id entirely.
        _ = registry.bind(id: "new", to: "c2")
        #expect(registry.userIDs == ["new"])
        #expect(!registry.isOnline(id: "old"))
        #expect(registry.connections(of: "new") == ["c1", "c2"])
    }

    @Test("unbind(id:) unbinds every connection of the id and returns them sorted")
    func unbindByID() {
        var registry = registry("c2", "c1", "c3")
        _ = registry.bind(id: "u1", to: "c2")
        _ = registry.bind(id: "u1", to: "c1")
        _ = registry.bind(id: "u2", to: "c3")

        let unbound = registry.unbind(id: "u1")
        #expect(unbound == ["c1", "c2"])
        #expect(registry.userIDs == ["u2"])
        #expect(registry.connections["c1"]?.id == nil)
        #expect(registry.connections["c2"]?.id == nil)
        #expect(registry.connections["c3"]?.id == "u2")
        #expect(registry.count == 3)

        let again = registry.unbind(id: "u1")
        #expect(again == [])
        let unknown = registry.unbind(id: "nobody")
        #expect(unknown == [])
    }

    @Test("unbind(connectionID:) unbinds one connection; false when unknown or unbound")
    func unbindByConnection() {
        var registry = registry("c1", "c2", "c3")
        _ = registry.bind(id: "u1", to: "c1")
        _ = registry.bind(id: "u1", to: "c2")

        let first = registry.unbind(connectionID: "c1")
        #expect(first)
        #expect(registry.connections(of: "u1") == ["c2"])
        #expect(registry.connections["c1"]?.id == nil)

        let again = registry.unbind(connectionID: "c1")
        #expect(!again)
        let unbound = registry.unbind(connectionID: "c3")
        #expect(!unbound)
        let unknown = registry.unbind(connectionID: "nope")
        #expect(!unknown)

        let last = registry.unbind(connectionID: "c2")
        #expect(last)
        #expect(registry.userIDs.isEmpty)
        #expect(!registry.isOnline(id: "u1"))
    }

    // MARK: Groups

    @Test("join and leave take lists and report whether anything changed")
    func joinAndLeaveLists() {
        var registry = registry("c1")
        let unknown = registry.join(["g1"], connectionID: "nope", at: 1)
        #expect(!unknown)
        #expect(registry.groupIDs.isEmpty)

        let joined = registry.join(["g2", "g1"], connectionID: "c1", at: 1)
        #expect(joined)
        #expect(registry.groups(ofConnection: "c1") == ["g1", "g2"])
        #expect(registry.groupIDs == ["g1", "g2"])

        let sameAgain = registry.join(["g1", "g2"], connectionID: "c1", at: 1)
        #expect(!sameAgain)
        let partlyNew = registry.join(["g1", "g3"], connectionID: "c1", at: 1)
        #expect(partlyNew)
        #expect(registry.groups(ofConnection: "c1") == ["g1", "g2", "g3"])

        let leftSome = registry.leave(["g1", "missing"], connectionID: "c1")
        #expect(leftSome)
        #expect(registry.groups(ofConnection: "c1") == ["g2", "g3"])
        #expect(registry.groupIDs == ["g2", "g3"])

        let leftNone = registry.leave(["g1", "missing"], connectionID: "c1")
        #expect(!leftNone)
        let leftUnknown = registry.leave(["g2"], connectionID: "nope")
        #expect(!leftUnknown)
        #expect(registry.groups(ofConnection: "c1") == ["g2", "g3"])
    }

    @Test("leaveAll empties a connection's groups; false when it was in none")
    func leaveAll() {
        var registry = registry("c1", "c2")
        _ = registry.join(["g1", "g2"], connectionID: "c1", at: 1)
        _ = registry.join(["g2"], connectionID: "c2", at: 1)

        let left = registry.leaveAll(connectionID: "c1")
        #expect(left)
        #expect(registry.groups(ofConnection: "c1") == [])
        #expect(registry.groupIDs == ["g2"])
        #expect(registry.connectionCount(inGroup: "g2") == 1)

        let again = registry.leaveAll(connectionID: "c1")
        #expect(!again)
        let unknown = registry.leaveAll(connectionID: "nope")
        #expect(!unknown)
    }

    // MARK: Queries

    @Test("groups(ofUser:) unites the groups of all the user's connections")
    func groupsOfUser() {
        var registry = registry("c1", "c2", "c3")
        _ = registry.bind(id: "u1", to: "c1")
        _ = registry.bind(id: "u1", to: "c2")
        _ = registry.join(["b", "a"], connectionID: "c1", at: 1)
        _ = registry.join(["c", "a"], connectionID: "c2", at: 1)
        _ = registry.join(["z"], connectionID: "c3", at: 1)  // unbound: not u1's

        #expect(registry.groups(ofUser: "u1") == ["a", "b", "c"])
        #expect(registry.groups(ofUser: "nobody") == [])
        #expect(registry.groups(ofConnection: "nope") == [])
    }

    @Test("isInGroup by user id and by connection id")
    func isInGroup() {
        var registry = registry("c1", "c2")
        _ = registry.bind(id: "u1", to: "c1")
        _ = registry.bind(id: "u1", to: "c2")
        _ = registry.join(["g2"], connectionID: "c2", at: 1)

        #expect(registry.isInGroup("g2", id: "u1"))
        #expect(!registry.isInGroup("g1", id: "u1"))
        #expect(!registry.isInGroup("g2", id: "nobody"))
        #expect(registry.isInGroup("g2", connectionID: "c2"))
        #expect(!registry.isInGroup("g2", connectionID: "c1"))
        #expect(!registry.isInGroup("g2", connectionID: "nope"))
    }

    @Test("userCount counts distinct bound users; connectionCount counts connections")
    func groupCounts() {
        var registry = registry("c1", "c2", "c3", "c4")
        _ = registry.bind(id: "u1", to: "c1")
        _ = registry.bind(id: "u1", to: "c2")
        _ = registry.bind(id: "u2", to: "c3")
        // c4 stays unbound.
        for connection in ["c1", "c2", "c3", "c4"] { _ = registry.join(["g"], connectionID: connection, at: 1) }

        #expect(registry.connectionCount(inGroup: "g") == 4)
        #expect(registry.userCount(inGroup: "g") == 2)
        #expect(registry.connectionCount(inGroup: "empty") == 0)
        #expect(registry.userCount(inGroup: "empty") == 0)

        // Unbinding a member lowers the user count but not the connection count.
        _ = registry.unbind(id: "u2")
        #expect(registry.userCount(inGroup: "g") == 1)
        #expect(registry.connectionCount(inGroup: "g") == 4)
    }

    @Test("userIDs, connectionIDs and groupIDs are sorted")
    func sortedQueries() {
        var registry = registry("c9", "c1", "c5")
        _ = registry.bind(id: "zed", to: "c9")
        _ = registry.bind(id: "amy", to: "c1")
        _ = registry.bind(id: "max", to: "c5")
        _ = registry.join(["y", "b", "m"], connectionID: "c1", at: 1)

        #expect(registry.connectionIDs == ["c1", "c5", "c9"])
        #expect(registry.userIDs == ["amy", "max", "zed"])
        #expect(registry.groupIDs == ["b", "m", "y"])
    }

    @Test("members(ofAny:) lists each connection once, even when in several of the groups")
    func membersOfAnyDeduplicates() {
        var registry = registry("c1", "c2", "c3", "c4")
        _ = registry.join(["g1", "g2"], connectionID: "c1", at: 1)
        _ = registry.join(["g1"], connectionID: "c2", at: 1)
        _ = registry.join(["g2"], connectionID: "c3", at: 1)
        _ = registry.join(["g3"], connectionID: "c4", at: 1)

        #expect(registry.members(ofAny: ["g1", "g2"]) == ["c1", "c2", "c3"])
        #expect(registry.members(ofAny: ["g1", "g1"]) == ["c1", "c2"])
        #expect(registry.members(ofAny: ["missing"]) == [])
        #expect(registry.members(ofAny: []) == [])
    }

    // MARK: Invariants

    @Test("removing a connection leaves no empty index entries")
    func removeCleansIndexes() {
        var registry = registry("c1", "c2")
        _ = registry.bind(id: "u1", to: "c1")
        _ = registry.bind(id: "u2", to: "c2")
        _ = registry.join(["solo", "shared"], connectionID: "c1", at: 1)
        _ = registry.join(["shared"], connectionID: "c2", at: 1)
        #expect(registry.userIDs == ["u1", "u2"])
        #expect(registry.groupIDs == ["shared", "solo"])

        registry.remove("c1")
        #expect(registry.userIDs == ["u2"])
        #expect(registry.groupIDs == ["shared"])
        #expect(!registry.isOnline(id: "u1"))
        #expect(registry.connectionCount(inGroup: "solo") == 0)
        #expect(registry.members(ofAny: ["solo", "shared"]) == ["c2"])
        #expect(registry.connections(of: "u1") == [])

        registry.remove("c2")
        #expect(registry.count == 0)
        #expect(registry.userIDs.isEmpty)
        #expect(registry.groupIDs.isEmpty)
        #expect(registry.connectionIDs.isEmpty)
    }

    @Test("leaving the last member's group and unbinding the last connection shrink the indexes")
    func leaveAndUnbindCleanIndexes() {
        var registry = registry("c1")
        _ = registry.bind(id: "u1", to: "c1")
        _ = registry.join(["g1", "g2"], connectionID: "c1", at: 1)

        _ = registry.leave(["g1"], connectionID: "c1")
        #expect(registry.groupIDs == ["g2"])
        _ = registry.leaveAll(connectionID: "c1")
        #expect(registry.groupIDs.isEmpty)
        _ = registry.unbind(connectionID: "c1")
        #expect(registry.userIDs.isEmpty)
        #expect(registry.count == 1)
    }
}
