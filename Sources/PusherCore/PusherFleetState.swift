import BrokerCore
import FleetCore

/// Reads of the fleet-wide Pusher state: channel occupancy, subscription counts, presence
/// members and connection counts, summed or united over the **live** nodes only, so a dead
/// node's entries never show, even before the janitor removes them.
package struct PusherFleetState: Sendable {
    package let broker: any Broker
    package let keys: PusherKeys

    package init(broker: any Broker, keys: PusherKeys) {
        self.broker = broker
        self.keys = keys
    }

    /// Subscription count of every occupied channel of the app (optionally only names with
    /// `prefix`), summed over `nodes`.
    package func subscriptionCounts(app: String, prefix: String? = nil, nodes: [String]) async throws -> [String: Int] {
        guard !nodes.isEmpty else { return [:] }
        let values = try await broker.execute(nodes.map { .hashGetAll(key: keys.nodeChannels(app: app, node: $0)) }, atomically: false)
        var counts: [String: Int] = [:]
        for case .hash(let channels) in values {
            for (channel, text) in channels where prefix.map(channel.hasPrefix) ?? true {
                guard let count = Int(text), count > 0 else { continue }
                counts[channel, default: 0] += count
            }
        }
        return counts
    }

    /// One channel's subscription count, summed over `nodes`.
    package func subscriptionCount(app: String, channel: String, nodes: [String]) async throws -> Int {
        guard !nodes.isEmpty else { return 0 }
        let values = try await broker.execute(nodes.map { .hashGet(key: keys.nodeChannels(app: app, node: $0), field: channel) }, atomically: false)
        return values.reduce(0) { total, value in
            guard case .string(let text) = value, let count = Int(text), count > 0 else { return total }
            return total + count
        }
    }

    /// The members of a presence channel on `nodes`: user id → user_info JSON text, one entry
    /// per user however many nodes and connections hold it (the first node's info, in node order).
    package func presenceMembers(app: String, channel: String, nodes: [String]) async throws -> [(id: String, info: String)] {
        guard !nodes.isEmpty else { return [] }
        let values = try await broker.execute(
            nodes.sorted().map { .hashGetAll(key: keys.nodePresence(app: app, channel: channel, node: $0)) }, atomically: false
        )
        var members: [String: String] = [:]
        for case .hash(let users) in values {
            for (user, info) in users where members[user] == nil { members[user] = info }
        }
        return members.sorted { $0.key < $1.key }.map { (id: $0.key, info: $0.value) }
    }

    /// How many distinct users the presence channels of the app have on `nodes`
    /// (for `info=user_count`).
    package func userCounts(app: String, channels: [String], nodes: [String]) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for channel in channels {
            counts[channel] = try await presenceMembers(app: app, channel: channel, nodes: nodes).count
        }
        return counts
    }

    /// Connections the app holds on `nodes`.
    package func connectionCount(app: String, nodes: [String]) async throws -> Int {
        let counts = try await broker.hashGetAll(keys.connections(app: app))
        return nodes.reduce(0) { $0 + (counts[$1].flatMap(Int.init) ?? 0) }
    }

    /// Whether `user` has a signed-in connection on any of `nodes`.
    package func onlineUsers(app: String, among users: [String], nodes: [String]) async throws -> Set<String> {
        guard !users.isEmpty, !nodes.isEmpty else { return [] }
        let values = try await broker.execute(users.map { .hashGet(key: keys.users(app: app), field: $0) }, atomically: false)
        let live = Set(nodes)
        var online: Set<String> = []
        for (user, value) in zip(users, values) {
            guard case .string(let holders) = value else { continue }
            if holders.split(separator: "\n").contains(where: { live.contains(String($0)) }) { online.insert(user) }
        }
        return online
    }
}
