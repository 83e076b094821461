/// The connections of one node, their bound user ids and groups, with the indexes the 27
/// events need. No I/O and no clock: the hub's state machine owns one and passes the time in.
///
/// Invariants: a connection has at most one user id; `users[id]` holds exactly the
/// connections bound to `id`; `groups[g]` holds exactly the connections in `g`; no index
/// keeps an empty set.
public struct ConnectionRegistry: Sendable {
    public struct Entry: Sendable, Hashable {
        public var id: String?
        public var groups: Set<String> = []
    }

    public private(set) var connections: [String: Entry] = [:]
    private var users: [String: Set<String>] = [:]
    private var groupMembers: [String: Set<String>] = [:]
    /// When each group got its first member on this node (milliseconds since 1970).
    public private(set) var groupCreatedAt: [String: Int64] = [:]

    public init() {}

    public var count: Int { connections.count }

    // MARK: Connections

    /// Adds a connection; false if the id is already here.
    @discardableResult
    public mutating func add(_ connectionID: String) -> Bool {
        guard connections[connectionID] == nil else { return false }
        connections[connectionID] = Entry()
        return true
    }

    /// Removes a connection with its binding and groups; returns what it had.
    @discardableResult
    public mutating func remove(_ connectionID: String) -> Entry? {
        guard let entry = connections.removeValue(forKey: connectionID) else { return nil }
        if let id = entry.id { Self.removeIndex(&users, id, connectionID) }
        for group in entry.groups { Self.removeIndex(&groupMembers, group, connectionID) }
        forgetEmptyGroups(entry.groups)
        return entry
    }

    // MARK: Binding

    /// Binds `connectionID` to user `id` (replacing any earlier user). False if the
    /// connection is not here.
    public mutating func bind(id: String, to connectionID: String) -> Bool {
        guard let entry = connections[connectionID] else { return false }
        if entry.id == id { return true }
        if let old = entry.id { Self.removeIndex(&users, old, connectionID) }
        connections[connectionID]?.id = id
        users[id, default: []].insert(connectionID)
        return true
    }

    /// Unbinds every connection of user `id`; returns those connections.
    public mutating func unbind(id: String) -> [String] {
        guard let members = users.removeValue(forKey: id) else { return [] }
        for connectionID in members { connections[connectionID]?.id = nil }
        return members.sorted()
    }

    /// Unbinds one connection; false if it is not here or not bound.
    public mutating func unbind(connectionID: String) -> Bool {
        guard let id = connections[connectionID]?.id else { return false }
        connections[connectionID]?.id = nil
        Self.removeIndex(&users, id, connectionID)
        return true
    }

    // MARK: Groups

    /// Adds a connection to groups; false if it is not here or was in all of them already.
    /// - Parameter createdAt: the time (milliseconds since 1970) noted for a group that gets
    ///   its first member.
    public mutating func join(_ groups: [String], connectionID: String, at createdAt: Int64) -> Bool {
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
    public mutating func leave(_ groups: [String], connectionID: String) -> Bool {
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
    public mutating func leaveAll(connectionID: String) -> Bool {
        guard let groups = connections[connectionID]?.groups, !groups.isEmpty else { return false }
        return leave(Array(groups), connectionID: connectionID)
    }

    // MARK: Queries

    /// The connections bound to user `id`.
    public func connections(of id: String) -> [String] { users[id].map { $0.sorted() } ?? [] }

    public var userIDs: [String] { users.keys.sorted() }
    public var connectionIDs: [String] { connections.keys.sorted() }
    public var groupIDs: [String] { groupMembers.keys.sorted() }

    public func isOnline(id: String) -> Bool { users[id] != nil }
    public func isOnline(connectionID: String) -> Bool { connections[connectionID] != nil }

    /// Groups any connection of user `id` is in.
    public func groups(ofUser id: String) -> [String] {
        var result = Set<String>()
        for connectionID in users[id] ?? [] { result.formUnion(connections[connectionID]?.groups ?? []) }
        return result.sorted()
    }

    public func groups(ofConnection connectionID: String) -> [String] {
        connections[connectionID]?.groups.sorted() ?? []
    }

    public func isInGroup(_ group: String, id: String) -> Bool {
        (users[id] ?? []).contains { connections[$0]?.groups.contains(group) == true }
    }

    public func isInGroup(_ group: String, connectionID: String) -> Bool {
        connections[connectionID]?.groups.contains(group) == true
    }

    /// Distinct bound users among the group's connections.
    public func userCount(inGroup group: String) -> Int {
        Set((groupMembers[group] ?? []).compactMap { connections[$0]?.id }).count
    }

    public func connectionCount(inGroup group: String) -> Int { groupMembers[group]?.count ?? 0 }

    /// Connections in any of `groups`, each once.
    public func members(ofAny groups: [String]) -> Set<String> {
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
