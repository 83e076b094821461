import Foundation

/// What a node says of itself in its heartbeat (`nodes` hash and `node:<id>` key).
package struct NodeInfo: Codable, Sendable, Hashable {
    package var id: String
    /// The address clients connect to (the bind address, or the host name when that is 0.0.0.0).
    package var host: String
    package var port: Int
    /// Milliseconds since 1970.
    package var startedAt: Int64
    package var connections: Int
    package var version: String
    /// Milliseconds since 1970 after which the node counts as dead unless it beats again.
    package var expiresAt: Int64

    package init(id: String, host: String, port: Int, startedAt: Int64, connections: Int, version: String, expiresAt: Int64) {
        self.id = id
        self.host = host
        self.port = port
        self.startedAt = startedAt
        self.connections = connections
        self.version = version
        self.expiresAt = expiresAt
    }

    enum CodingKeys: String, CodingKey {
        case id, host, port, connections, version
        case startedAt = "started_at"
        case expiresAt = "expires_at"
    }

    package func encoded() -> String {
        // A struct of strings and integers always encodes.
        String(decoding: (try? JSONEncoder().encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }

    package init(decoding text: String) throws {
        self = try JSONDecoder().decode(Self.self, from: Data(text.utf8))
    }

    /// Whether the node is alive at `now` (milliseconds since 1970).
    package func isAlive(at now: Int64) -> Bool { expiresAt > now }
}

/// Milliseconds since 1970, the clock of heartbeats.
package func epochMilliseconds(_ date: Date = Date()) -> Int64 {
    Int64((date.timeIntervalSince1970 * 1000).rounded())
}

/// The version nodes report in their heartbeat.
package let wscenterVersion = "0.3.0"
