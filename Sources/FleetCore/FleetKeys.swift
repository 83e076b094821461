/// Every Redis key and pub/sub channel of the fleet, under one prefix (`REDIS_PREFIX`).
/// docs/redis.md describes each with its type, writer and TTL.
package struct FleetKeys: Sendable, Hashable {
    package let prefix: String

    package init(prefix: String) { self.prefix = prefix }

    // MARK: Nodes

    /// Hash: node id → ``NodeInfo`` JSON. The index of nodes; entries past their
    /// `expires_at` are dead and are removed by the janitor.
    package var nodes: String { prefix + "nodes" }
    /// String with a TTL: the node's ``NodeInfo`` JSON, rewritten every heartbeat.
    package func node(_ nodeID: String) -> String { prefix + "node:" + nodeID }
    /// Set: the connection ids a node owns, so that a dead node's entries can be found.
    package func nodeConnections(_ nodeID: String) -> String { prefix + "node:" + nodeID + ":conns" }
    /// String with a TTL: the janitor's lock (one janitor at a time in the fleet).
    package var janitorLock: String { prefix + "janitor:lock" }

    // MARK: Bindings

    /// Hash: connection id → the node that owns it.
    package var connections: String { prefix + "conns" }
    /// Hash with fields `node`, `id` (bound user, if any), `groups` (comma-separated).
    package func connection(_ connectionID: String) -> String { prefix + "conn:" + connectionID }
    /// Hash: connection id → node, for each connection bound to the user id.
    package func user(_ id: String) -> String { prefix + "user:" + id }
    /// Hash: connection id → bound user id ("" when unbound), for each member connection.
    package func group(_ groupID: String) -> String { prefix + "group:" + groupID }

    // MARK: Sessions

    /// Hash: a resumable session (`conn`, `node`, `state` live|away, and once away `id`,
    /// `groups`); TTL = the reconnection TTL once away.
    package func session(_ token: String) -> String { prefix + "session:" + token }
    /// Hash: the messages recorded for an away session (`0000000001` … → message text, and
    /// `n` → how many were recorded); the last `REPLAY_MAX` are kept; TTL = reconnection TTL.
    package func mailbox(_ token: String) -> String { prefix + "mailbox:" + token }
    /// Hash: connection id → its session token, while the connection lives.
    package var connectionSessions: String { prefix + "sessions" }

    // MARK: Channels

    /// Calls every node runs.
    package var broadcastChannel: String { prefix + "bus:all" }
    /// Calls for one node.
    package func nodeChannel(_ nodeID: String) -> String { prefix + "bus:node:" + nodeID }
    /// A node id, published when that node joins or leaves the fleet in an orderly way, so
    /// gateways refresh `master_ids` at once instead of at their next read.
    package var nodeEventsChannel: String { prefix + "events:nodes" }
    /// Replies to one gateway.
    package func replyChannel(_ gatewayID: String) -> String { prefix + "reply:" + gatewayID }
}
