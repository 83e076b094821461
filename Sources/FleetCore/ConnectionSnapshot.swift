import BrokerCore

/// What the fleet's Redis state says of one connection: its owner, bound user and groups.
package struct ConnectionSnapshot: Sendable, Hashable {
    package var connectionID: String
    package var node: String
    package var id: String?
    package var groups: Set<String>

    package init(connectionID: String, node: String, id: String? = nil, groups: Set<String> = []) {
        self.connectionID = connectionID
        self.node = node
        self.id = id
        self.groups = groups
    }

    /// Reads the `conn:<_id>` hash back (nil when it does not name a node).
    package init?(connectionID: String, hash: [String: String]) {
        guard let node = hash["node"], !node.isEmpty else { return nil }
        let id = hash["id"].flatMap { $0.isEmpty ? nil : $0 }
        let groups = (hash["groups"] ?? "").split(separator: ",").map(String.init)
        self.init(connectionID: connectionID, node: node, id: id, groups: Set(groups))
    }
}

extension FleetKeys {
    /// The commands that take Redis from `before` to `after` for one connection: nil
    /// `before` is a new connection (or a rebuild), nil `after` a closed one. Run them in
    /// one MULTI/EXEC (`Broker.executeAtomicallyPerSlot`).
    package func commands(from before: ConnectionSnapshot?, to after: ConnectionSnapshot?) -> [BrokerCommand] {
        guard let snapshot = after ?? before else { return [] }
        let cid = snapshot.connectionID
        var commands: [BrokerCommand] = []
        guard let after else {
            // Closed: remove every trace.
            commands.append(.hashDelete(key: connections(of: cid), fields: [cid]))
            commands.append(.delete(keys: [connection(cid)]))
            commands.append(.setRemove(key: nodeConnections(snapshot.node), members: [cid]))
            if let id = snapshot.id { commands.append(.hashDelete(key: user(id), fields: [cid])) }
            for name in snapshot.groups.sorted() { commands.append(.hashDelete(key: group(name), fields: [cid])) }
            return commands
        }
        var fields: [String: String] = [:]
        if before == nil || before?.node != after.node {
            commands.append(.hashSet(key: connections(of: cid), fields: [cid: after.node]))
            commands.append(.setAdd(key: nodeConnections(after.node), members: [cid]))
            fields["node"] = after.node
        }
        if before?.id != after.id || before == nil {
            if let old = before?.id, old != after.id { commands.append(.hashDelete(key: user(old), fields: [cid])) }
            if let new = after.id { commands.append(.hashSet(key: user(new), fields: [cid: after.node])) }
            fields["id"] = after.id ?? ""
        }
        if before?.groups != after.groups || before == nil {
            fields["groups"] = after.groups.sorted().joined(separator: ",")
        }
        let left = (before?.groups ?? []).subtracting(after.groups)
        for name in left.sorted() { commands.append(.hashDelete(key: group(name), fields: [cid])) }
        // Every group the connection is in names its bound user: rewrite them all when the
        // user changed, else only the new ones.
        let idChanged = before?.id != after.id
        let joined = idChanged || before == nil ? after.groups : after.groups.subtracting(before?.groups ?? [])
        for name in joined.sorted() { commands.append(.hashSet(key: group(name), fields: [cid: after.id ?? ""])) }
        if !fields.isEmpty { commands.append(.hashSet(key: connection(cid), fields: fields)) }
        return commands
    }
}
