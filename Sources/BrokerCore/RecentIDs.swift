/// The last `capacity` distinct ids seen, in a set with first-in-first-out eviction: lets a
/// responder run a request published twice (``BrokerRequester`` on a sharded broker) once.
package struct RecentIDs: Sendable {
    private var members: Set<String> = []
    private var order: [String?]
    private var next = 0

    package init(capacity: Int) {
        precondition(capacity > 0, "RecentIDs needs room for one id")
        order = Array(repeating: nil, count: capacity)
        members.reserveCapacity(capacity)
    }

    /// Records `id`. - Returns: `false` when it was already among the recent ids.
    package mutating func insert(_ id: String) -> Bool {
        guard members.insert(id).inserted else { return false }
        if let evicted = order[next] { members.remove(evicted) }
        order[next] = id
        next = (next + 1) % order.count
        return true
    }
}
