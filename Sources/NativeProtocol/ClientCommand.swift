import FleetCore

/// A command a client sends over the native protocol, as JSON text.
public enum ClientCommand: Sendable, Hashable {
    /// `{"type":"ping"}`
    case ping
    /// `{"type":"join","room":"r"}`
    case join(room: String)
    /// `{"type":"leave","room":"r"}`
    case leave(room: String)
    /// `{"type":"broadcast","room":"r","data":...}`: `data` is kept as JSON text.
    case broadcast(room: String, data: String, excludeSelf: Bool)
    /// `{"type":"reconnect","token":"..."}`
    case reconnect(token: String)

    /// The longest room name a client may use.
    public static let maxRoomLength = 200

    /// Parses one text message. Errors carry the protocol's error code.
    public static func parse(_ text: String) -> Result<ClientCommand, ProtocolError> {
        guard let value = try? JSONValue(parsing: text.utf8) else {
            return .failure(ProtocolError(.invalidJSON, "the message is not valid JSON"))
        }
        guard case .object(let fields) = value else {
            return .failure(ProtocolError(.invalidJSON, "the message must be a JSON object with a \"type\", not \(value.kind)"))
        }
        guard case .string(let type)? = fields["type"] else {
            return .failure(ProtocolError(.missingType, "the message has no \"type\" string"))
        }
        switch type {
        case "ping":
            return .success(.ping)
        case "join", "leave", "broadcast":
            guard case .string(let room)? = fields["room"], !room.isEmpty else {
                return .failure(ProtocolError(.invalidRoom, "\"\(type)\" needs a non-empty \"room\" string"))
            }
            guard room.count <= maxRoomLength, !room.contains(",") else {
                return .failure(ProtocolError(.invalidRoom, "a room name has at most \(maxRoomLength) characters and no comma"))
            }
            switch type {
            case "join": return .success(.join(room: room))
            case "leave": return .success(.leave(room: room))
            default: break
            }
            guard let data = fields["data"] else {
                return .failure(ProtocolError(.missingData, "\"broadcast\" needs \"data\""))
            }
            var excludeSelf = true
            switch fields["exclude_self"] {
            case nil: break
            case .bool(let flag)?: excludeSelf = flag
            default: return .failure(ProtocolError(.invalidArgument, "\"exclude_self\" must be true or false"))
            }
            return .success(.broadcast(room: room, data: data.text, excludeSelf: excludeSelf))
        case "reconnect":
            guard case .string(let token)? = fields["token"], !token.isEmpty else {
                return .failure(ProtocolError(.invalidArgument, "\"reconnect\" needs a \"token\" string"))
            }
            return .success(.reconnect(token: token))
        default:
            return .failure(ProtocolError(.unknownType, "unknown type \"\(type.prefix(64))\""))
        }
    }
}

/// An error reply of the native protocol: `{"type":"error","code":"...","message":"..."}`.
public struct ProtocolError: Error, Sendable, Hashable {
    public struct Code: RawRepresentable, Sendable, Hashable {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        public static let invalidJSON = Code(rawValue: "invalid_json")
        public static let missingType = Code(rawValue: "missing_type")
        public static let unknownType = Code(rawValue: "unknown_type")
        public static let invalidRoom = Code(rawValue: "invalid_room")
        public static let missingData = Code(rawValue: "missing_data")
        public static let invalidArgument = Code(rawValue: "invalid_argument")
        public static let joinNotAllowed = Code(rawValue: "join_not_allowed")
        public static let roomFull = Code(rawValue: "room_full")
        public static let tooManyRooms = Code(rawValue: "too_many_rooms")
        public static let notInRoom = Code(rawValue: "not_in_room")
        public static let rateLimited = Code(rawValue: "rate_limited")
        public static let reconnectFailed = Code(rawValue: "reconnect_failed")
        public static let unavailable = Code(rawValue: "unavailable")
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}
