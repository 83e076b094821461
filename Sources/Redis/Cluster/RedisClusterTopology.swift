/// Which master serves which hash slots, as `CLUSTER SLOTS` tells it.
public struct RedisClusterTopology: Sendable, Hashable {
    /// A node's address.
    public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        /// `host:port` as Redis writes it in `MOVED` and `ASK` (an IPv6 host has colons too:
        /// the port is what follows the last one).
        public init?(_ text: some StringProtocol) {
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else { return nil }
            var host = String(text[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { return nil }
            self.init(host: host, port: port)
        }

        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// A master and its replicas, and the slots the master serves.
    public struct Shard: Sendable, Hashable {
        public var master: Endpoint
        public var replicas: [Endpoint]
        /// Slot ranges, in the order the server listed them.
        public var slots: [ClosedRange<Int>]
    }

    /// One shard per master, ordered by master address.
    public let shards: [Shard]
    /// Slot → index in ``shards``, or -1 for a slot no master serves.
    private let owners: [Int16]

    public init(shards: [Shard]) {
        let ordered = shards.sorted { ($0.master.host, $0.master.port) < ($1.master.host, $1.master.port) }
        var owners = [Int16](repeating: -1, count: RedisClusterSlot.count)
        for (index, shard) in ordered.enumerated() {
            for range in shard.slots {
                for slot in range.clamped(to: 0...(RedisClusterSlot.count - 1)) { owners[slot] = Int16(index) }
            }
        }
        self.shards = ordered
        self.owners = owners
    }

    /// Reads a `CLUSTER SLOTS` reply: `[[start, end, [host, port, id, …], replica…], …]`.
    /// - Parameter queried: the node that answered; a master listed without a host (an empty
    ///   string, or `?`) is on that host.
    /// - Throws: ``RedisError`` `.protocolError` for a reply of another shape.
    public init(slotsReply reply: RESPValue, queried: Endpoint) throws {
        guard let ranges = reply.array else { throw RedisError(.protocolError, "CLUSTER SLOTS: not an array", command: "CLUSTER") }
        var byMaster: [Endpoint: Shard] = [:]
        for entry in ranges {
            guard let fields = entry.array, fields.count >= 3, let start = fields[0].int, let end = fields[1].int, start <= end,
                  let master = Self.endpoint(fields[2], queried: queried)
            else { throw RedisError(.protocolError, "CLUSTER SLOTS: malformed slot range", command: "CLUSTER") }
            let replicas = fields.dropFirst(3).compactMap { Self.endpoint($0, queried: queried) }
            byMaster[master, default: Shard(master: master, replicas: [], slots: [])].slots.append(start...end)
            for replica in replicas where !(byMaster[master]?.replicas.contains(replica) ?? true) {
                byMaster[master]?.replicas.append(replica)
            }
        }
        self.init(shards: Array(byMaster.values))
    }

    private static func endpoint(_ value: RESPValue, queried: Endpoint) -> Endpoint? {
        guard let fields = value.array, fields.count >= 2, let port = fields[1].int else { return nil }
        let host = fields[0].string ?? ""
        return Endpoint(host: host.isEmpty || host == "?" ? queried.host : host, port: port)
    }

    /// The master serving `slot`, or nil when none does (the cluster is incomplete).
    public func master(ofSlot slot: Int) -> Endpoint? {
        guard slot >= 0, slot < owners.count else { return nil }
        let index = Int(owners[slot])
        return index < 0 ? nil : shards[index].master
    }

    /// Whether every slot has a master.
    public var coversEverySlot: Bool { !owners.contains(-1) }

    /// Every node, masters first.
    public var endpoints: [Endpoint] { shards.map(\.master) + shards.flatMap(\.replicas) }
}
