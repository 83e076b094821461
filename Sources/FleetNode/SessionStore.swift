import BrokerCore
import FleetCore

/// Resumable sessions in the broker, so that a client may resume on any node. A session is
/// created live with its connection (`session:<token>` names the connection and node; the
/// `sessions` hash maps the connection back to its token). When the connection ends it turns
/// `away` with the user id and groups, for `ttl`, in the same step that removes the
/// connection's bindings (``BindingSync``; the janitor for a dead node). A resume claims it
/// atomically, once.
package struct SessionStore: Sendable {
    let broker: any Broker
    let keys: FleetKeys
    let nodeID: String
    package let ttl: Duration

    /// 64 random hex digits (256 bits).
    package static func makeToken() -> String {
        RandomHex.make(words: 4)
    }

    /// Records a live connection's session.
    package func open(token: String, connectionID: String) async throws {
        _ = try await broker.executeAtomicallyPerSlot([
            .hashSet(key: keys.session(token), fields: ["conn": connectionID, "node": nodeID, "state": "live"]),
            .hashSet(key: keys.connectionSessions(of: connectionID), fields: [connectionID: token]),
        ])
    }

    /// The commands that turn a session away (it then waits `ttl` for a resume, with what its
    /// connection had). Only a session that still exists turns away: one claimed (deleted) a
    /// moment ago by a resume elsewhere must not come back.
    static func suspendCommands(
        token: String, connectionID: String, id: String?, groups: [String], keys: FleetKeys, ttl: Duration
    ) -> [BrokerCommand] {
        [
            .hashSetIfExists(key: keys.session(token), fields: ["state": "away", "id": id ?? "", "groups": groups.joined(separator: ",")]),
            .expire(key: keys.session(token), ttl: ttl),
            .hashDelete(key: keys.connectionSessions(of: connectionID), fields: [connectionID]),
        ]
    }

    static func suspend(
        token: String, connectionID: String, id: String?, groups: [String], broker: any Broker, keys: FleetKeys, ttl: Duration
    ) async throws {
        _ = try await broker.executeAtomicallyPerSlot(
            suspendCommands(token: token, connectionID: connectionID, id: id, groups: groups, keys: keys, ttl: ttl)
        )
    }

    /// A session as the broker holds it.
    package struct Record: Sendable, Hashable {
        package var connectionID: String
        package var node: String?
        package var isLive: Bool
        package var id: String?
        package var groups: [String]
    }

    /// Reads a session; nil when the token is unknown, expired or already used.
    package func read(_ token: String) async throws -> Record? {
        Self.record(try await broker.hashGetAll(keys.session(token)))
    }

    /// Takes the session: deletes it so that no one else can, and returns what it held (nil if
    /// someone else took it first or it expired).
    package func claim(_ token: String) async throws -> Record? {
        let values = try await broker.execute([
            .hashGetAll(key: keys.session(token)),
            .delete(keys: [keys.session(token)]),
        ], atomically: true)
        guard case .hash(let hash)? = values.first, let record = Self.record(hash) else { return nil }
        _ = try await broker.hashDelete(keys.connectionSessions(of: record.connectionID), fields: [record.connectionID])
        return record
    }

    /// What the broker's binding records say of a connection (its user and groups): for a
    /// session whose node died before the janitor turned it away.
    package func recordedBinding(of connectionID: String) async throws -> (id: String?, groups: [String])? {
        let hash = try await broker.hashGetAll(keys.connection(connectionID))
        return ConnectionSnapshot(connectionID: connectionID, hash: hash).map { ($0.id, $0.groups.sorted()) }
    }

    static func record(_ hash: [String: String]) -> Record? {
        guard let connectionID = hash["conn"], !connectionID.isEmpty else { return nil }
        return Record(
            connectionID: connectionID,
            node: hash["node"],
            isLive: hash["state"] == "live",
            id: hash["id"].flatMap { $0.isEmpty ? nil : $0 },
            groups: (hash["groups"] ?? "").split(separator: ",").map(String.init)
        )
    }
}
