import Foundation

/// Which rooms clients may join by themselves (`CLIENT_JOIN`), and the room limits.
///
/// Rooms and the API's groups are one namespace: a client in a group receives what the API
/// sends to it. So by default a client may only join rooms in a namespace of their own,
/// `room:*`; every other group is managed by the API alone, and guessing its name gets a
/// client nothing. Operators open other names with patterns, or everything with `all`.
public struct RoomPolicy: Sendable, Hashable {
    public enum ClientJoin: Sendable, Hashable {
        /// Any name, the API's groups included (opt-in).
        case all
        case none
        /// Names matching one of these patterns (`*` stands for any run of characters,
        /// nothing else is special; an entry without `*` is an exact name).
        case patterns([String])

        /// The default: the `room:` namespace.
        public static let standard = ClientJoin.patterns(["room:*"])

        /// Parses `all`, `none`, or a comma-separated list of patterns.
        package init?(_ text: String) {
            switch text.trimmingCharacters(in: .whitespaces).lowercased() {
            case "all": self = .all
            case "none": self = .none
            default:
                let patterns = text.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                guard !patterns.isEmpty, !patterns.contains(where: { $0.contains(",") }) else { return nil }
                self = .patterns(patterns)
            }
        }

        /// How the policy reads in an error or a log line.
        var summary: String {
            switch self {
            case .all: "all"
            case .none: "none"
            case .patterns(let patterns): patterns.joined(separator: ",")
            }
        }
    }

    public var clientJoin: ClientJoin = .standard
    /// Connections a room may hold across the fleet; 0 = unlimited.
    public var maxConnectionsPerRoom: Int = 0
    /// Rooms one connection may be in when it joins one itself; 0 = unlimited.
    public var maxRoomsPerConnection: Int = RoomPolicy.defaultMaxRoomsPerConnection

    /// A connection's own joins stop at 100 rooms unless configured otherwise.
    public static let defaultMaxRoomsPerConnection = 100

    public init(clientJoin: ClientJoin = .standard, maxConnectionsPerRoom: Int = 0, maxRoomsPerConnection: Int = RoomPolicy.defaultMaxRoomsPerConnection) {
        self.clientJoin = clientJoin
        self.maxConnectionsPerRoom = maxConnectionsPerRoom
        self.maxRoomsPerConnection = maxRoomsPerConnection
    }

    /// Whether a client may join `room` by itself.
    package func allowsClientJoin(_ room: String) -> Bool {
        switch clientJoin {
        case .all: true
        case .none: false
        case .patterns(let patterns): patterns.contains { Self.matches(room, pattern: $0) }
        }
    }

    /// The error for a join, or nil when it may go ahead.
    /// - Parameters:
    ///   - roomsOfConnection: rooms the connection is in now.
    ///   - roomSize: connections in the room across the fleet now.
    package func checkJoin(_ room: String, roomsOfConnection: Int, roomSize: Int) -> ProtocolError? {
        guard allowsClientJoin(room) else {
            let rule = if case .none = clientJoin { "clients may join no room by themselves" } else { "clients may join rooms matching \(clientJoin.summary) by themselves" }
            return ProtocolError(.joinNotAllowed, "\(rule) (CLIENT_JOIN); \"\(room)\" is managed by the API")
        }
        if maxRoomsPerConnection > 0, roomsOfConnection >= maxRoomsPerConnection {
            return ProtocolError(.tooManyRooms, "a connection may be in at most \(maxRoomsPerConnection) rooms")
        }
        if maxConnectionsPerRoom > 0, roomSize >= maxConnectionsPerRoom {
            return ProtocolError(.roomFull, "\"\(room)\" is full (\(maxConnectionsPerRoom) connections)")
        }
        return nil
    }

    /// Whether `name` matches `pattern`, where `*` stands for any run of characters (none
    /// included). Linear in practice: the classic backtracking over the last `*` only.
    static func matches(_ name: String, pattern: String) -> Bool {
        let text = Array(name.unicodeScalars), glob = Array(pattern.unicodeScalars)
        var t = 0, g = 0
        var star: (glob: Int, text: Int)?
        while t < text.count {
            if g < glob.count, glob[g] == "*" {
                star = (g, t)
                g += 1
            } else if g < glob.count, glob[g] == text[t] {
                g += 1
                t += 1
            } else if let last = star {
                g = last.glob + 1
                t = last.text + 1
                star = (last.glob, last.text + 1)
            } else {
                return false
            }
        }
        while g < glob.count, glob[g] == "*" { g += 1 }
        return g == glob.count
    }
}
