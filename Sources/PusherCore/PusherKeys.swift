/// Every Redis key and pub/sub channel of the Pusher side, under `REDIS_PREFIX` + `pusher:`.
/// Per-app names start with the app id, so apps never share a key. docs/redis.md describes
/// each with its type, writer and lifetime.
///
/// On a sharded broker (a Redis Cluster) the keys that a script changes together share a hash
/// tag: a presence channel's keys carry `{<channel>}`, and an app's occupancy and signed-in
/// users `{<app>}` (so their scripts run in one slot, and channels spread over the slots).
package struct PusherKeys: Sendable, Hashable {
    package let prefix: String
    /// Whether the names carry hash tags (``Broker/isSharded``).
    package let isSharded: Bool

    /// - Parameters:
    ///   - prefix: `REDIS_PREFIX` (`wsc:`); the Pusher names go under `<prefix>pusher:`.
    ///   - sharded: whether the broker is a Redis Cluster (hash tags in the names).
    package init(prefix: String, sharded: Bool = false) {
        self.prefix = prefix + "pusher:"
        self.isSharded = sharded
    }

    /// `app`, as a hash tag on a sharded broker: the slot of an app's occupancy and users.
    private func tagged(app: String) -> String { isSharded ? "{" + app + "}" : app }
    /// `channel`, as a hash tag on a sharded broker: the slot of a presence channel's keys.
    private func tagged(channel: String) -> String { isSharded ? "{" + channel + "}" : channel }

    // MARK: Pub/sub

    /// Pub/sub: the events of one channel, as ``PusherBusMessage`` texts. A node subscribes
    /// while it has local subscribers of the channel, so a channel nobody on a node listens to
    /// costs that node nothing.
    package func channelTopic(app: String, channel: String) -> String { prefix + app + ":ch:" + channel }
    /// Pub/sub: commands for every node (terminate a user's connections), as ``PusherControl``.
    package var controlTopic: String { prefix + "control" }
    /// Pub/sub: a signed-in user of the app came online or went offline fleet-wide
    /// (`online\n<user>` / `offline\n<user>`), for the watchlists.
    package func userStatusTopic(app: String) -> String { prefix + app + ":users:status" }

    // MARK: Channels and counts (each node writes its own entries)

    /// Hash: channel → how many of this node's connections are subscribed to it.
    package func nodeChannels(app: String, node: String) -> String { prefix + app + ":node:" + node + ":channels" }
    /// Hash: node → how many connections of the app the node holds.
    package func connections(app: String) -> String { prefix + app + ":connections" }
    /// Set: the apps a node has written state for, so that the janitor can find it all.
    package func nodeApps(node: String) -> String { prefix + "node:" + node + ":apps" }

    // MARK: Presence and users (fleet-wide, changed by scripts only)

    /// Hash: user id → the nodes where the user is a member of the presence channel
    /// (node ids joined by line breaks). A user is added and removed exactly once.
    package func presence(app: String, channel: String) -> String { prefix + app + ":presence:" + tagged(channel: channel) }
    /// Hash: user id → user_info JSON, the members of the presence channel on one node.
    package func nodePresence(app: String, channel: String, node: String) -> String {
        presence(app: app, channel: channel) + ":node:" + node
    }
    /// A glob (Redis `SCAN MATCH`) for every ``nodePresence(app:channel:node:)`` of `node`.
    package func nodePresencePattern(app: String, node: String) -> String {
        Self.globEscaped(prefix + app + ":presence:") + "*" + Self.globEscaped(":node:" + node)
    }
    /// The channel a key matched by ``nodePresencePattern(app:node:)`` is for.
    package func channel(ofNodePresence key: String, app: String, node: String) -> String? {
        let head = prefix + app + ":presence:"
        let tail = ":node:" + node
        guard key.hasPrefix(head), key.hasSuffix(tail), key.count >= head.count + tail.count else { return nil }
        let part = key.dropFirst(head.count).dropLast(tail.count)
        guard isSharded else { return String(part) }
        guard part.first == "{", part.last == "}", part.count >= 2 else { return nil }
        return String(part.dropFirst().dropLast())
    }
    /// Hash: user id → the nodes where the user has a signed-in connection.
    package func users(app: String) -> String { prefix + tagged(app: app) + ":users" }
    /// Hash: user id → "" for the users signed in on one node.
    package func nodeUsers(app: String, node: String) -> String { prefix + tagged(app: app) + ":users:node:" + node }

    // MARK: Cache channels

    /// String with a TTL (30 minutes): the last event of a cache channel, as its frame.
    package func cache(app: String, channel: String) -> String { prefix + app + ":cache:" + channel }
    /// Webhooks: channel → the nodes holding subscribers of it (joined by line breaks), for the
    /// apps with webhooks; one hash per node beside it. Kept by the membership scripts.
    package func occupancy(app: String) -> String { prefix + tagged(app: app) + ":occupied" }
    package func nodeOccupancy(app: String, node: String) -> String { prefix + tagged(app: app) + ":occupied:node:" + node }
    /// Webhooks: set while a `cache_miss` of the channel stands for every miss (`SET NX PX`).
    package func cacheMissAnnounced(app: String, channel: String) -> String { prefix + app + ":cache-miss:" + channel }
    /// Webhooks: the token of a `channel_vacated` waiting for `WEBHOOK_VACATE_DELAY`.
    package func pendingVacate(app: String, channel: String) -> String { prefix + tagged(app: app) + ":vacating:" + channel }
    /// Webhooks: the token of a `member_removed` waiting (channel names hold no `:`).
    package func pendingMemberLeave(app: String, channel: String, user: String) -> String {
        prefix + app + ":leaving:" + tagged(channel: channel) + ":" + user
    }

    /// `text` with the glob's special characters (`*`, `?`, `[`, `]`, `\`) escaped.
    static func globEscaped(_ text: String) -> String {
        var out = ""
        for character in text {
            if "*?[]\\".contains(character) { out.append("\\") }
            out.append(character)
        }
        return out
    }
}

/// A message on a channel topic: the frame to write to every local subscriber (encoded once,
/// by whoever published it) and the socket that must not get it. On the wire:
/// `<socket_id or empty>\n<frame>`.
package struct PusherBusMessage: Sendable, Hashable {
    package var excludedSocketID: String?
    package var frame: String

    package init(frame: String, excluding socketID: String? = nil) {
        self.frame = frame
        self.excludedSocketID = socketID
    }

    package var encoded: String { (excludedSocketID ?? "") + "\n" + frame }

    package init?(decoding payload: String) {
        guard let newline = payload.firstIndex(of: "\n") else { return nil }
        let excluded = payload[..<newline]
        excludedSocketID = excluded.isEmpty ? nil : String(excluded)
        frame = String(payload[payload.index(after: newline)...])
    }
}

/// A command on ``PusherKeys/controlTopic``: `terminate\n<app>\n<user>` closes the user's
/// connections on every node.
package enum PusherControl: Sendable, Hashable {
    case terminate(app: String, userID: String)

    package var encoded: String {
        switch self {
        case .terminate(let app, let user): "terminate\n" + app + "\n" + user
        }
    }

    package init?(decoding payload: String) {
        let parts = payload.split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "terminate" else { return nil }
        self = .terminate(app: String(parts[1]), userID: String(parts[2]))
    }
}
