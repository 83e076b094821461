import BrokerCore
import BrokerEmbedded
import FleetCore
import Logging
import Synchronization
import Testing

@testable import FleetNode

/// Runs `body` with a fresh embedded broker whose `run()` goes in a child task, stopped
/// afterwards.
private func withEmbeddedBroker(_ body: @Sendable (EmbeddedBroker) async throws -> Void) async throws {
    let broker = EmbeddedBroker()
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await broker.run() }
        defer { group.cancelAll() }
        try await body(broker)
    }
}

/// Applies the diff between two snapshots of one connection to the broker, as BindingSync does.
private func apply(
    _ keys: FleetKeys,
    _ before: ConnectionSnapshot?,
    _ after: ConnectionSnapshot?,
    to broker: some Broker
) async throws {
    let commands = keys.commands(from: before, to: after)
    _ = try await broker.execute(commands, atomically: true)
}

/// Everything the broker holds under the prefix `t:`, hashes as dictionaries and sets as
/// sets, for whole-state comparisons.
private struct BrokerDump: Equatable, CustomStringConvertible {
    var hashes: [String: [String: String]] = [:]
    var sets: [String: Set<String>] = [:]

    var description: String { "hashes: \(hashes.sorted { $0.key < $1.key }), sets: \(sets.sorted { $0.key < $1.key })" }

    static func read(_ broker: some Broker) async throws -> BrokerDump {
        var dump = BrokerDump()
        for key in try await broker.scanKeys(matching: "t:*") {
            if key.hasSuffix(":conns"), key.hasPrefix("t:node:") {
                dump.sets[key] = try await broker.setMembers(key)
            } else {
                dump.hashes[key] = try await broker.hashGetAll(key)
            }
        }
        return dump
    }
}

@Suite("Binding diffs")
struct ConnectionSnapshotTests {
    let keys = FleetKeys(prefix: "t:")

    @Test("key names under the prefix")
    func keyNames() {
        #expect(keys.connections(of: "c1") == "t:conns" && keys.connectionHashes == ["t:conns"])
        #expect(keys.connection("c1") == "t:conn:c1")
        #expect(keys.user("u1") == "t:user:u1")
        #expect(keys.group("g1") == "t:group:g1")
        #expect(keys.nodeConnections("n1") == "t:node:n1:conns")
        #expect(keys.node("n1") == "t:node:n1")
        #expect(keys.nodes == "t:nodes")
    }

    @Test("open → bind → join two groups → rebind → leave one → close, key by key")
    func lifecycle() async throws {
        try await withEmbeddedBroker { broker in
            let keys = self.keys

            // Open.
            let opened = ConnectionSnapshot(connectionID: "c1", node: "n1")
            try await apply(keys, nil, opened, to: broker)
            #expect(try await broker.hashGetAll("t:conns") == ["c1": "n1"])
            #expect(try await broker.hashGetAll("t:conn:c1") == ["node": "n1", "id": "", "groups": ""])
            #expect(try await broker.setMembers("t:node:n1:conns") == ["c1"])
            #expect(Set(try await broker.scanKeys(matching: "t:*")) == ["t:conns", "t:conn:c1", "t:node:n1:conns"])

            // Bind to u1.
            let bound = ConnectionSnapshot(connectionID: "c1", node: "n1", id: "u1")
            try await apply(keys, opened, bound, to: broker)
            #expect(try await broker.hashGetAll("t:conn:c1") == ["node": "n1", "id": "u1", "groups": ""])
            #expect(try await broker.hashGetAll("t:user:u1") == ["c1": "n1"])
            #expect(try await broker.hashGetAll("t:conns") == ["c1": "n1"])
            #expect(try await broker.setMembers("t:node:n1:conns") == ["c1"])

            // Join two groups.
            let joined = ConnectionSnapshot(connectionID: "c1", node: "n1", id: "u1", groups: ["g1", "g2"])
            try await apply(keys, bound, joined, to: broker)
            #expect(try await broker.hashGetAll("t:conn:c1") == ["node": "n1", "id": "u1", "groups": "g1,g2"])
            #expect(try await broker.hashGetAll("t:group:g1") == ["c1": "u1"])
            #expect(try await broker.hashGetAll("t:group:g2") == ["c1": "u1"])
            #expect(try await broker.hashGetAll("t:user:u1") == ["c1": "n1"])

            // Rebind to u2: the old user's hash goes, the groups name the new user.
            let rebound = ConnectionSnapshot(connectionID: "c1", node: "n1", id: "u2", groups: ["g1", "g2"])
            try await apply(keys, joined, rebound, to: broker)
            #expect(try await broker.hashGetAll("t:conn:c1") == ["node": "n1", "id": "u2", "groups": "g1,g2"])
            #expect(try await broker.hashGetAll("t:user:u1") == [:])
            #expect(try await broker.hashGetAll("t:user:u2") == ["c1": "n1"])
            #expect(try await broker.hashGetAll("t:group:g1") == ["c1": "u2"])
            #expect(try await broker.hashGetAll("t:group:g2") == ["c1": "u2"])

            // Leave g1.
            let left = ConnectionSnapshot(connectionID: "c1", node: "n1", id: "u2", groups: ["g2"])
            try await apply(keys, rebound, left, to: broker)
            #expect(try await broker.hashGetAll("t:conn:c1") == ["node": "n1", "id": "u2", "groups": "g2"])
            #expect(try await broker.hashGetAll("t:group:g1") == [:])
            #expect(try await broker.hashGetAll("t:group:g2") == ["c1": "u2"])
            #expect(Set(try await broker.scanKeys(matching: "t:*")) == [
                "t:conns", "t:conn:c1", "t:node:n1:conns", "t:user:u2", "t:group:g2",
            ])

            // Close: nothing of the connection is left.
            try await apply(keys, left, nil, to: broker)
            #expect(try await broker.hashGetAll("t:conns") == [:])
            #expect(try await broker.hashGetAll("t:conn:c1") == [:])
            #expect(try await broker.hashGetAll("t:user:u2") == [:])
            #expect(try await broker.hashGetAll("t:group:g2") == [:])
            #expect(try await broker.setMembers("t:node:n1:conns") == [])
            #expect(try await broker.scanKeys(matching: "t:*") == [])
        }
    }

    @Test("closing one connection leaves the other connections' entries in shared keys")
    func closeKeepsOthers() async throws {
        try await withEmbeddedBroker { broker in
            let keys = self.keys
            let a = ConnectionSnapshot(connectionID: "a", node: "n1", id: "u", groups: ["g"])
            let b = ConnectionSnapshot(connectionID: "b", node: "n1", id: "u", groups: ["g", "h"])
            try await apply(keys, nil, a, to: broker)
            try await apply(keys, nil, b, to: broker)
            #expect(try await broker.hashGetAll("t:user:u") == ["a": "n1", "b": "n1"])
            #expect(try await broker.hashGetAll("t:group:g") == ["a": "u", "b": "u"])

            try await apply(keys, a, nil, to: broker)
            let expected = BrokerDump(
                hashes: [
                    "t:conns": ["b": "n1"],
                    "t:conn:b": ["node": "n1", "id": "u", "groups": "g,h"],
                    "t:user:u": ["b": "n1"],
                    "t:group:g": ["b": "u"],
                    "t:group:h": ["b": "u"],
                ],
                sets: ["t:node:n1:conns": ["b"]]
            )
            #expect(try await BrokerDump.read(broker) == expected)
        }
    }

    @Test("unbinding rewrites the connection's group entries with an empty user")
    func unbindRewritesGroups() async throws {
        try await withEmbeddedBroker { broker in
            let keys = self.keys
            let bound = ConnectionSnapshot(connectionID: "c1", node: "n1", id: "u1", groups: ["g1"])
            let unbound = ConnectionSnapshot(connectionID: "c1", node: "n1", id: nil, groups: ["g1"])
            try await apply(keys, nil, bound, to: broker)
            try await apply(keys, bound, unbound, to: broker)
            #expect(try await broker.hashGetAll("t:conn:c1") == ["node": "n1", "id": "", "groups": "g1"])
            #expect(try await broker.hashGetAll("t:user:u1") == [:])
            #expect(try await broker.hashGetAll("t:group:g1") == ["c1": ""])
        }
    }

    @Test("a NodeHub's reported changes, applied in order, leave the broker matching the hub")
    func hubChangesMirrorIntoBroker() async throws {
        try await withEmbeddedBroker { broker in
            let keys = self.keys
            let changes = ChangeQueue()
            let hub = NodeHub(nodeID: "n1") { changes.append($0) }
            let sockets = ["c1", "c2", "c3"].map { _ in embeddedSocket() }
            for (connection, socket) in zip(["c1", "c2", "c3"], sockets) { hub.open(connection, socket: socket.1) }
            _ = hub.execute([
                .event(.bindId, EventArguments(id: "u1", connectionID: "c1")),
                .event(.bindId, EventArguments(id: "u1", connectionID: "c2")),
                .event(.joinGroupById, EventArguments(id: "u1", groups: ["g1", "g2"])),
                .event(.joinGroupBy_Id, EventArguments(connectionID: "c3", groups: ["g2"])),
                .event(.bindId, EventArguments(id: "u2", connectionID: "c2")),
                .event(.leaveGroupBy_Id, EventArguments(connectionID: "c1", groups: ["g1"])),
            ])
            hub.close("c1")
            for change in changes.take() { try await apply(keys, change.before, change.after, to: broker) }

            let expected = BrokerDump(
                hashes: [
                    "t:conns": ["c2": "n1", "c3": "n1"],
                    "t:conn:c2": ["node": "n1", "id": "u2", "groups": "g1,g2"],
                    "t:conn:c3": ["node": "n1", "id": "", "groups": "g2"],
                    "t:user:u2": ["c2": "n1"],
                    "t:group:g1": ["c2": "u2"],
                    "t:group:g2": ["c2": "u2", "c3": ""],
                ],
                sets: ["t:node:n1:conns": ["c2", "c3"]]
            )
            #expect(try await BrokerDump.read(broker) == expected)

            // And each conn hash reads back as the hub's own snapshot.
            for snapshot in hub.snapshots() {
                let hash = try await broker.hashGetAll(keys.connection(snapshot.connectionID))
                #expect(ConnectionSnapshot(connectionID: snapshot.connectionID, hash: hash) == snapshot)
            }
        }
    }

    @Test("a rebuild (nil before) writes everything; no change gives no commands")
    func rebuildAndNoop() async throws {
        let full = ConnectionSnapshot(connectionID: "c1", node: "n1", id: "u1", groups: ["b", "a"])
        #expect(keys.commands(from: full, to: full).isEmpty)
        #expect(keys.commands(from: nil, to: nil).isEmpty)

        try await withEmbeddedBroker { broker in
            let keys = self.keys
            try await apply(keys, nil, full, to: broker)
            // Applying the same rebuild twice is harmless (idempotent).
            try await apply(keys, nil, full, to: broker)
            let expected = BrokerDump(
                hashes: [
                    "t:conns": ["c1": "n1"],
                    "t:conn:c1": ["node": "n1", "id": "u1", "groups": "a,b"],
                    "t:user:u1": ["c1": "n1"],
                    "t:group:a": ["c1": "u1"],
                    "t:group:b": ["c1": "u1"],
                ],
                sets: ["t:node:n1:conns": ["c1"]]
            )
            #expect(try await BrokerDump.read(broker) == expected)
        }
    }

    /// Guards a bug found while writing these tests: `BindingSync.resync` (Sources/FleetNode/
    /// BindingSync.swift) rewrote each live connection with `commands(from: nil, to:)`, which
    /// removes nothing. When a change was lost while the broker was unreachable and Redis kept
    /// its data, the stale `group:<g>` and `user:<old id>` entries of a live connection
    /// survived the resync. A resync must leave exactly the hub's state.
    @Test("a resync after a lost change leaves exactly the hub's state in the broker")
    func resyncRepairsLostChange() async throws {
        try await withEmbeddedBroker { broker in
            let keys = self.keys
            // The broker saw c1 bound to `old` and in g1 and g2 ...
            let recorded = ConnectionSnapshot(connectionID: "c1", node: "n1", id: "old", groups: ["g1", "g2"])
            try await apply(keys, nil, recorded, to: broker)
            // ... but meanwhile the hub rebound it to `new` and it left g1; that change was lost.
            let live = ConnectionSnapshot(connectionID: "c1", node: "n1", id: "new", groups: ["g2"])

            var logger = Logger(label: "test.binding-sync")
            logger.logLevel = .critical
            let sync = BindingSync(broker: broker, keys: keys, nodeID: "n1", sessionTTL: .seconds(300), logger: logger)
            sync.requestResync()
            let runner = Task { await sync.run(snapshots: { [live] }) }
            defer { runner.cancel() }
            // The resync has run once conn:c1 names the new user (bounded wait).
            let deadline = ContinuousClock.now + .seconds(2)
            while try await broker.hashGet(keys.connection("c1"), field: "id") != "new", ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            runner.cancel()
            await runner.value

            let expected = BrokerDump(
                hashes: [
                    "t:conns": ["c1": "n1"],
                    "t:conn:c1": ["node": "n1", "id": "new", "groups": "g2"],
                    "t:user:new": ["c1": "n1"],
                    "t:group:g2": ["c1": "new"],
                ],
                sets: ["t:node:n1:conns": ["c1"]]
            )
            #expect(try await BrokerDump.read(broker) == expected)
        }
    }

    // MARK: Reading a conn hash back

    @Test("ConnectionSnapshot(connectionID:hash:) round trip")
    func snapshotFromHash() async throws {
        let snapshots = [
            ConnectionSnapshot(connectionID: "c1", node: "n1"),
            ConnectionSnapshot(connectionID: "c2", node: "n1", id: "u1"),
            ConnectionSnapshot(connectionID: "c3", node: "n2", id: "u2", groups: ["g1", "g2", "g3"]),
            ConnectionSnapshot(connectionID: "c4", node: "n2", groups: ["only"]),
        ]
        try await withEmbeddedBroker { broker in
            let keys = self.keys
            for snapshot in snapshots {
                try await apply(keys, nil, snapshot, to: broker)
                let hash = try await broker.hashGetAll(keys.connection(snapshot.connectionID))
                #expect(ConnectionSnapshot(connectionID: snapshot.connectionID, hash: hash) == snapshot)
            }
        }
    }

    @Test("ConnectionSnapshot(connectionID:hash:) reads fields and refuses a hash without a node")
    func snapshotFromHashFields() {
        #expect(
            ConnectionSnapshot(connectionID: "c", hash: ["node": "n", "id": "u", "groups": "x,y"])
                == ConnectionSnapshot(connectionID: "c", node: "n", id: "u", groups: ["x", "y"])
        )
        #expect(
            ConnectionSnapshot(connectionID: "c", hash: ["node": "n", "id": "", "groups": ""])
                == ConnectionSnapshot(connectionID: "c", node: "n")
        )
        #expect(ConnectionSnapshot(connectionID: "c", hash: ["node": "n"]) == ConnectionSnapshot(connectionID: "c", node: "n"))
        #expect(ConnectionSnapshot(connectionID: "c", hash: [:]) == nil)
        #expect(ConnectionSnapshot(connectionID: "c", hash: ["node": "", "id": "u"]) == nil)
        #expect(ConnectionSnapshot(connectionID: "c", hash: ["id": "u", "groups": "g"]) == nil)
    }
}

/// Collects a hub's binding changes in order.
private final class ChangeQueue: Sendable {
    private let changes = Mutex<[BindingChange]>([])
    func append(_ change: BindingChange) { changes.withLock { $0.append(change) } }
    func take() -> [BindingChange] { changes.withLock { log in defer { log = [] }; return log } }
}
