import BrokerCore
import FleetCore
import Foundation
import Logging

/// Removes what dead nodes left in the broker. Any node may run it; a lock with a TTL keeps
/// it to one at a time. A node is dead when its `node:<id>` key has expired (Redis's TTL is
/// the judge) and its `nodes` entry is past `expires_at`.
struct NodeJanitor: Sendable {
    let broker: any Broker
    let keys: FleetKeys
    let nodeID: String
    let logger: Logger
    var sessionTTL: Duration = .seconds(300)
    /// Removes what a dead node left for the client protocols (run before its bindings go).
    var forgetProtocolState: @Sendable (String) async throws -> Void = { _ in }

    /// One pass; returns the dead nodes it cleaned up.
    @discardableResult
    func sweep() async throws -> [String] {
        let token = nodeID + ":" + UUID().uuidString
        guard try await broker.setIfAbsent(keys.janitorLock, to: token, ttl: .seconds(30)) else { return [] }
        defer {
            let broker = broker, lock = keys.janitorLock
            Task { try? await broker.deleteIfEquals(lock, value: token) }
        }
        let now = epochMilliseconds()
        var cleaned: [String] = []
        for (id, text) in try await broker.hashGetAll(keys.nodes) where id != nodeID {
            if let info = try? NodeInfo(decoding: text), info.isAlive(at: now) { continue }
            guard try await broker.get(keys.node(id)) == nil else { continue }
            try await forgetProtocolState(id)
            try await Self.forgetNode(id, broker: broker, keys: keys, sessionTTL: sessionTTL)
            cleaned.append(id)
        }
        if !cleaned.isEmpty {
            logger.info("cleaned up after dead nodes", metadata: ["nodes": "\(cleaned.sorted().joined(separator: ","))"])
        }
        return cleaned
    }

    /// Removes a node and every connection it owned.
    static func forgetNode(_ nodeID: String, broker: any Broker, keys: FleetKeys, sessionTTL: Duration = .seconds(300)) async throws {
        for connectionID in try await broker.setMembers(keys.nodeConnections(nodeID)) {
            try await forget(connectionID, of: nodeID, broker: broker, keys: keys, sessionTTL: sessionTTL)
        }
        _ = try await broker.executeAtomicallyPerSlot([
            .delete(keys: [keys.nodeConnections(nodeID), keys.node(nodeID)]),
            .hashDelete(key: keys.nodes, fields: [nodeID]),
        ])
    }

    /// Removes one connection of `nodeID` from every binding key; its session, if any, turns
    /// away with the connection's user and groups, for `sessionTTL`.
    static func forget(_ connectionID: String, of nodeID: String, broker: any Broker, keys: FleetKeys, sessionTTL: Duration = .seconds(300)) async throws {
        let hash = try await broker.hashGetAll(keys.connection(connectionID))
        let snapshot = ConnectionSnapshot(connectionID: connectionID, hash: hash)
            ?? ConnectionSnapshot(connectionID: connectionID, node: nodeID)
        if let token = try await broker.hashGet(keys.connectionSessions(of: connectionID), field: connectionID) {
            try await SessionStore.suspend(
                token: token, connectionID: connectionID, id: snapshot.id, groups: snapshot.groups.sorted(),
                broker: broker, keys: keys, ttl: sessionTTL
            )
        }
        _ = try await broker.executeAtomicallyPerSlot(keys.commands(from: snapshot, to: nil))
    }
}
