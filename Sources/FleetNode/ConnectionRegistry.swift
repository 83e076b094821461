/// The connections of one node, their bound user ids and groups, with the indexes the 27
/// events need. No I/O and no clock: the hub's state machine owns one and passes the time in.
///
/// Invariants: a connection has at most one user id; `users[id]` holds exactly the
/// connections bound to `id`; `groups[g]` holds exactly the connections in `g`; no index
/// keeps an empty set.
package struct ConnectionRegistry: Sendable {
    package struct Entry: Sendable, Hashable {
        package var id: String?
        package var groups: Set<String> = []
    }

    package private(set) var connections: [String: Entry] = [:]
    private var users: [String: Set<String>] = [:]
    private var groupMembers: [String: Set<String>] = [:]
    /// When each group got its first member on this node (milliseconds since 1970).
    package private(set) var groupCreatedAt: [String: Int64] = [:]

    package init() {}

    package var count: Int { connections.count }

    // MARK: Connections

    /// Adds a connection; false if the id is already here.
    @discardableResult
    package mutating func add(_ connectionID: String) -> Bool {
        guard connections[connectionID] == nil else { return false }
        connections[connectionID] = Entry()
        return true
    }

    /// Removes a connection with its binding and groups; returns what it had.
    @discardableResult
    package mutating func remove(_ connectionID: String) -> Entry? {
        guard let entry = connections.removeValue(forKey: connectionID) else { return nil }
        if let id = entry.id { Self.removeIndex(&users, id, connectionID) }
        for group in entry.groups { Self.removeIndex(&groupMembers, group, connectionID) }
        forgetEmptyGroups(entry.groups)
        return entry
    }

    // MARK: Binding

    /// Binds `connectionID` to user `id` (replacing any earlier user). False if the
    /// connection is not here.
    package mutating func bind(id: String, to connectionID: String) -> Bool {
        guard let entry = connections[connectionID] else { return false }
        if entry.id == id { return true }
        if let old = entry.id { Self.removeIndex(&users, old, connectionID) }
        connections[connectionID]?.id = id
        users[id, default: []].insert(connectionID)
        return true
    }

    /// Unbinds every connection of user `id`; returns those connections.
    package mutating func unbind(id: String) -> [String] {
        guard let members = users.removeValue(forKey: id) else { return [] }
        for connectionID in members { connections[connectionID]?.id = nil }
        return members.sorted()
    }

    /// Unbinds one connection; false if it is not here or not bound.
    package mutating func unbind(connectionID: String) -> Bool {
        guard let id = connections[connectionID]?.id else { return false }
        connections[connectionID]?.id = nil
        Self.removeIndex(&users, id, connectionID)
        return true
    }

    // MARK: Groups

    /// Adds a connection to groups; false if it is not here or was in all of them already.
    /// - Parameter createdAt: the time (milliseconds since 1970) noted for a group that gets
    ///   its first member.
    package mutating func join(_ groups: [String], connectionID: String, at createdAt: Int64) -> Bool {
        guard connections[connectionID] != nil else { return false }
        var changed = false
        for group in groups where connections[connectionID]!.groups.insert(group).inserted {
            if groupMembers[group] == nil { groupCreatedAt[group] = createdAt }
            groupMembers[group, default: []].insert(connectionID)
            changed = true
        }
        return changed
    }

    /// Removes a connection from groups; false if it was in none of them.
    package mutating func leave(_ groups: [String], connectionID: String) -> Bool {
        guard connections[connectionID] != nil else { return false }
        var changed = false
        for group in groups where connections[connectionID]!.groups.remove(group) != nil {
            Self.removeIndex(&groupMembers, group, connectionID)
            changed = true
        }
        forgetEmptyGroups(groups)
        return changed
    }

    /// Removes a connection from every group; false if it was in none.
    package mutating func leaveAll(connectionID: String) -> Bool {
        guard let groups = connections[connectionID]?.groups, !groups.isEmpty else { return false }
        return leave(Array(groups), connectionID: connectionID)
    }

    // MARK: Queries

    /// The connections bound to user `id`.
    package func connections(of id: String) -> [String] { users[id].map { $0.sorted() } ?? [] }

    package var userIDs: [String] { users.keys.sorted() }
    package var connectionIDs: [String] { connections.keys.sorted() }
    package var groupIDs: [String] { groupMembers.keys.sorted() }

    package func isOnline(id: String) -> Bool { users[id] != nil }
    package func isOnline(connectionID: String) -> Bool { connections[connectionID] != nil }

    /// Groups any connection of user `id` is in.
    package func groups(ofUser id: String) -> [String] {
        var result = Set<String>()
        for connectionID in users[id] ?? [] { result.formUnion(connections[connectionID]?.groups ?? []) }
        return result.sorted()
    }

    package func groups(ofConnection connectionID: String) -> [String] {
        connections[connectionID]?.groups.sorted() ?? []
    }

    package func isInGroup(_ group: String, id: String) -> Bool {
        (users[id] ?? []).contains { connections[$0]?.groups.contains(group) == true }
    }

    package func isInGroup(_ group: String, connectionID: String) -> Bool {
        connections[connectionID]?.groups.contains(group) == true
    }

    /// Distinct bound users among the group's connections.
    package func userCount(inGroup group: String) -> Int {
        Set((groupMembers[group] ?? []).compactMap { connections[$0]?.id }).count
    }

    package func connectionCount(inGroup group: String) -> Int { groupMembers[group]?.count ?? 0 }

    /// Connections in any of `groups`, each once.
    package func members(ofAny groups: [String]) -> Set<String> {
        var result = Set<String>()
        for group in groups { result.formUnion(groupMembers[group] ?? []) }
        return result
    }

    // MARK: Private

    private mutating func forgetEmptyGroups(_ groups: some Sequence<String>) {
        for group in groups where groupMembers[group] == nil { groupCreatedAt.removeValue(forKey: group) }
    }

    private static func removeIndex(_ index: inout [String: Set<String>], _ key: String, _ connectionID: String) {
        index[key]?.remove(connectionID)
        if index[key]?.isEmpty == true { index.removeValue(forKey: key) }
    }
}
