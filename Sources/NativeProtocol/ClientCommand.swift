import FleetCore

/// A command a client sends over the native protocol, as JSON text.
package enum ClientCommand: Sendable, Hashable {
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
    package static let maxRoomLength = 200

    /// Parses one text message. Errors carry the protocol's error code.
    package static func parse(_ text: String) -> Result<ClientCommand, ProtocolError> {
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
package struct ProtocolError: Error, Sendable, Hashable {
    package struct Code: RawRepresentable, Sendable, Hashable {
        package let rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }

        package static let invalidJSON = Code(rawValue: "invalid_json")
        package static let missingType = Code(rawValue: "missing_type")
        package static let unknownType = Code(rawValue: "unknown_type")
        package static let invalidRoom = Code(rawValue: "invalid_room")
        package static let missingData = Code(rawValue: "missing_data")
        package static let invalidArgument = Code(rawValue: "invalid_argument")
        package static let joinNotAllowed = Code(rawValue: "join_not_allowed")
        package static let roomFull = Code(rawValue: "room_full")
        package static let tooManyRooms = Code(rawValue: "too_many_rooms")
        package static let notInRoom = Code(rawValue: "not_in_room")
        package static let rateLimited = Code(rawValue: "rate_limited")
        package static let reconnectFailed = Code(rawValue: "reconnect_failed")
        package static let unavailable = Code(rawValue: "unavailable")
    }

    package var code: Code
    package var message: String

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}
