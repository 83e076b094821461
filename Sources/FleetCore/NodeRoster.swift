/// Which nodes are alive, from the reads of the `nodes` hash and the nodes' own announcements,
/// without I/O (``NodeDirectory`` does the reading).
///
/// A node leaves the roster when its heartbeat has expired, or when it announced itself (on
/// `events:nodes`, as it does when it joins and when it leaves in order) before a read that no
/// longer lists it. A read that merely misses a node whose last heartbeat has not expired does
/// not remove it: on a Redis Cluster a failover can lose the last writes to the `nodes` hash,
/// and the node's next heartbeat writes its entry again, a moment later.
package struct NodeRoster: Sendable {
    /// The last heartbeat read of each node.
    private var known: [String: NodeInfo] = [:]
    /// The nodes that announced themselves, with the generation of their announcement.
    private var announced: [String: UInt64] = [:]
    /// Counts announcements: a read applies those made before it started.
    package private(set) var generation: UInt64 = 0

    package init() {}

    /// Node `id` announced that it joined or left.
    package mutating func announce(_ id: String) {
        generation += 1
        announced[id] = generation
    }

    /// Applies a read of the `nodes` hash that started at `generation` (see ``generation``), at
    /// `now` (epoch milliseconds).
    package mutating func apply(read nodes: [NodeInfo], startedAt generation: UInt64, now: Int64) {
        let listed = Set(nodes.map(\.id))
        for info in nodes { known[info.id] = info }
        for (id, info) in known where !listed.contains(id) {
            let leftInOrder = announced[id].map { $0 <= generation } ?? false
            if leftInOrder || !info.isAlive(at: now) { known[id] = nil }
        }
        announced = announced.filter { $0.value > generation }
    }

    /// The ids of the nodes alive at `now`, sorted.
    package func live(at now: Int64) -> [String] {
        known.values.filter { $0.isAlive(at: now) }.map(\.id).sorted()
    }
}
