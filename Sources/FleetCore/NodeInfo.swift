import Foundation

/// What a node says of itself in its heartbeat (`nodes` hash and `node:<id>` key).
public struct NodeInfo: Codable, Sendable, Hashable {
    public var id: String
    /// The address clients connect to (the bind address, or the host name when that is 0.0.0.0).
    public var host: String
    public var port: Int
    /// Milliseconds since 1970.
    public var startedAt: Int64
    public var connections: Int
    public var version: String
    /// Milliseconds since 1970 after which the node counts as dead unless it beats again.
    public var expiresAt: Int64

    public init(id: String, host: String, port: Int, startedAt: Int64, connections: Int, version: String, expiresAt: Int64) {
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

    public func encoded() -> String {
        // A struct of strings and integers always encodes.
        String(decoding: (try? JSONEncoder().encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }

    public init(decoding text: String) throws {
        self = try JSONDecoder().decode(Self.self, from: Data(text.utf8))
    }

    /// Whether the node is alive at `now` (milliseconds since 1970).
    public func isAlive(at now: Int64) -> Bool { expiresAt > now }
}

/// Milliseconds since 1970, the clock of heartbeats.
public func epochMilliseconds(_ date: Date = Date()) -> Int64 {
    Int64((date.timeIntervalSince1970 * 1000).rounded())
}

/// The version nodes report in their heartbeat.
public let wscenterVersion = "0.3.0"
