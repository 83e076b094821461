import Foundation

/// Which rooms clients may join by themselves (`CLIENT_JOIN`), and the room limits.
public struct RoomPolicy: Sendable, Hashable {
    public enum ClientJoin: Sendable, Hashable {
        case all
        case none
        /// Only rooms whose name starts with one of these prefixes.
        case prefixes([String])

        /// Parses `all`, `none`, or a comma-separated list of prefixes.
        public init?(_ text: String) {
            switch text.trimmingCharacters(in: .whitespaces).lowercased() {
            case "all", "": self = .all
            case "none": self = .none
            default:
                let prefixes = text.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                guard !prefixes.isEmpty else { return nil }
                self = .prefixes(prefixes)
            }
        }
    }

    public var clientJoin: ClientJoin = .all
    /// Connections a room may hold across the fleet; 0 = unlimited.
    public var maxConnectionsPerRoom: Int = 0
    /// Rooms one connection may be in; 0 = unlimited.
    public var maxRoomsPerConnection: Int = 0

    public init(clientJoin: ClientJoin = .all, maxConnectionsPerRoom: Int = 0, maxRoomsPerConnection: Int = 0) {
        self.clientJoin = clientJoin
        self.maxConnectionsPerRoom = maxConnectionsPerRoom
        self.maxRoomsPerConnection = maxRoomsPerConnection
    }

    /// Whether a client may join `room` by itself.
    public func allowsClientJoin(_ room: String) -> Bool {
        switch clientJoin {
        case .all: true
        case .none: false
        case .prefixes(let prefixes): prefixes.contains { room.hasPrefix($0) }
        }
    }

    /// The error for a join, or nil when it may go ahead.
    /// - Parameters:
    ///   - roomsOfConnection: rooms the connection is in now.
    ///   - roomSize: connections in the room across the fleet now.
    public func checkJoin(_ room: String, roomsOfConnection: Int, roomSize: Int) -> ProtocolError? {
        guard allowsClientJoin(room) else {
            return ProtocolError(.joinNotAllowed, "clients may not join \"\(room)\" by themselves")
        }
        if maxRoomsPerConnection > 0, roomsOfConnection >= maxRoomsPerConnection {
            return ProtocolError(.tooManyRooms, "a connection may be in at most \(maxRoomsPerConnection) rooms")
        }
        if maxConnectionsPerRoom > 0, roomSize >= maxConnectionsPerRoom {
            return ProtocolError(.roomFull, "\"\(room)\" is full (\(maxConnectionsPerRoom) connections)")
        }
        return nil
    }
}
