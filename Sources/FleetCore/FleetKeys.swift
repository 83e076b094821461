/// Every Redis key and pub/sub channel of the fleet, under one prefix (`REDIS_PREFIX`).
/// docs/redis.md describes each with its type, writer and TTL.
///
/// On a sharded broker (a Redis Cluster) two things change, so that no hash slot carries the
/// whole fleet: the fleet-wide `conns` and `sessions` hashes are split into ``bucketCount``
/// hashes chosen by connection id, and the broadcast channel into ``broadcastPartitionCount``
/// partitions. Every other name is the same on every broker.
package struct FleetKeys: Sendable, Hashable {
    package let prefix: String
    /// Whether the names are laid out for a sharded broker (``Broker/isSharded``).
    package let isSharded: Bool

    package init(prefix: String, sharded: Bool = false) {
        self.prefix = prefix
        self.isSharded = sharded
    }

    /// How many hashes `conns` and `sessions` are split into on a sharded broker.
    package static let bucketCount = 256
    /// How many channels the broadcast channel is split into on a sharded broker.
    package static var broadcastPartitionCount: Int { broadcastTags.count }

    /// The hash tags of the broadcast partitions: partition `k`'s tag hashes (CRC16 mod 16384)
    /// into the `k`-th sixteenth of the slot space, so that a cluster whose masters share the
    /// slots evenly gets an even share of partitions (`ShardedKeysTests` checks it).
    static let broadcastTags = [
        "all-0-0", "all-1-3", "all-2-60", "all-3-63", "all-4-23", "all-5-20", "all-6-10", "all-7-13",
        "all-8-60", "all-9-63", "all-10-13", "all-11-10", "all-12-1", "all-13-2", "all-14-63", "all-15-60",
    ]

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

    /// Hash: connection id → the node that owns it, for the hash that holds `connectionID`
    /// (`conns`; on a sharded broker `conns:<bucket>`).
    package func connections(of connectionID: String) -> String { prefix + "conns" + bucketSuffix(connectionID) }
    /// Every hash ``connections(of:)`` may name.
    package var connectionHashes: [String] { bucketed(prefix + "conns") }
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
    /// Hash: connection id → its session token, while the connection lives, for the hash that
    /// holds `connectionID` (`sessions`; on a sharded broker `sessions:<bucket>`).
    package func connectionSessions(of connectionID: String) -> String { prefix + "sessions" + bucketSuffix(connectionID) }
    /// Every hash ``connectionSessions(of:)`` may name.
    package var connectionSessionHashes: [String] { bucketed(prefix + "sessions") }

    /// `:<bucket>` (two hex digits, FNV-1a of the id) on a sharded broker; empty otherwise.
    private func bucketSuffix(_ connectionID: String) -> String {
        guard isSharded else { return "" }
        return ":" + Self.hexByte(Int(Self.fnv1a(connectionID) % UInt32(Self.bucketCount)))
    }

    /// 32-bit FNV-1a: spreads ids over buckets and partitions, the same in every process.
    private static func fnv1a(_ text: String) -> UInt32 {
        var hash: UInt32 = 2_166_136_261
        for byte in text.utf8 {
            hash = (hash ^ UInt32(byte)) &* 16_777_619
        }
        return hash
    }

    private func bucketed(_ name: String) -> [String] {
        isSharded ? (0..<Self.bucketCount).map { name + ":" + Self.hexByte($0) } : [name]
    }

    private static func hexByte(_ value: Int) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[value >> 4], digits[value & 15]])
    }

    // MARK: Channels

    /// Calls every node runs, as published by `publisherID` (a gateway or node id): `bus:all`;
    /// on a sharded broker the partition `bus:all:{<tag>}` that the publisher's id picks, so
    /// that one publisher's broadcasts stay in order while many publishers spread over shards.
    package func broadcastChannel(from publisherID: String) -> String {
        guard isSharded else { return prefix + "bus:all" }
        return partitionChannel(Int(Self.fnv1a(publisherID) % UInt32(Self.broadcastPartitionCount)))
    }
    /// Every broadcast channel: what a node subscribes to.
    package var broadcastChannels: [String] {
        isSharded ? Self.broadcastTags.indices.map(partitionChannel) : [prefix + "bus:all"]
    }

    /// Broadcast partition `index`: `bus:all:{<tag>}`.
    private func partitionChannel(_ index: Int) -> String { prefix + "bus:all:{" + Self.broadcastTags[index] + "}" }
    /// Calls for one node.
    package func nodeChannel(_ nodeID: String) -> String { prefix + "bus:node:" + nodeID }
    /// A node id, published when that node joins or leaves the fleet in an orderly way, so
    /// gateways refresh `master_ids` at once instead of at their next read.
    package var nodeEventsChannel: String { prefix + "events:nodes" }
    /// Replies to one gateway.
    package func replyChannel(_ gatewayID: String) -> String { prefix + "reply:" + gatewayID }
}
