import Foundation

/// The arguments of an event once the gateway has checked them. Unused ones are nil.
public struct EventArguments: Codable, Sendable, Hashable {
    /// A user id.
    public var id: String?
    /// A connection id.
    public var connectionID: String?
    /// One or more groups (`groupId`, split on commas where the event allows a list).
    public var groups: [String]?
    /// The message text, delivered as is.
    public var message: String?
    /// The message's id, unique per send, set by whoever sends it (gateway or node): a message
    /// both recorded for a session and delivered live to its new connection is replayed once.
    public var messageID: String?

    public init(id: String? = nil, connectionID: String? = nil, groups: [String]? = nil, message: String? = nil, messageID: String? = nil) {
        self.id = id
        self.connectionID = connectionID
        self.groups = groups
        self.message = message
        self.messageID = messageID
    }

    /// A new message id (16 random hex digits).
    public static func makeMessageID() -> String {
        var generator = SystemRandomNumberGenerator()
        let hex = String(generator.next() as UInt64, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    enum CodingKeys: String, CodingKey {
        case id
        case connectionID = "_id"
        case groups = "groupId"
        case message = "msg"
        case messageID = "mid"
    }
}

/// One thing a node is asked to do.
public enum NodeOperation: Sendable, Hashable {
    /// One of the API's events.
    case event(FleetEvent, EventArguments)
    /// Send `message` to every local member of any of `groups`, once per connection, except
    /// the connection `excluding`; answers the number reached. The second step of
    /// `sendMessageToGroupByOnly(_)Id`, and a client's room broadcast.
    case sendToGroups([String], message: String, excluding: String? = nil, messageID: String? = nil)
    /// A session resumes on connection `connectionID` with user `id` and `groups`. Sent to
    /// every node on the broadcast channel, so that every node runs it at the same point of
    /// the calls' order: the node holding the session stops recording for it (or closes its
    /// still-open connection), and the node of `connectionID` binds it and holds its live
    /// messages until the replay is queued. Answers `{"session":"away","recorded":n}`,
    /// `{"session":"live"}` or `{}`.
    case claimSession(token: String, connectionID: String, id: String?, groups: [String])
    /// A stopping node hands its away sessions to another node: at this point of the calls'
    /// order, `from` stops recording for them and `to` starts. Sent on the broadcast channel.
    case adoptSessions(from: String, to: String, sessions: [HandedSession])
}

/// An away session as one node hands it to another.
public struct HandedSession: Codable, Sendable, Hashable {
    public var token: String
    /// The `_id` of the connection that ended.
    public var connectionID: String
    public var id: String?
    public var groups: [String]
    /// Messages recorded so far (the mailbox's numbering goes on from there).
    public var recorded: Int
    /// Milliseconds left before the session expires.
    public var remaining: Int64
    /// Sizes of the messages its mailbox keeps, oldest first (nil from older nodes).
    public var kept: [Int]?
    /// False when its replay is known to be incomplete (nil from older nodes: complete).
    public var complete: Bool?
    /// The client address it connected from (nil from older nodes).
    public var address: String?

    public init(token: String, connectionID: String, id: String?, groups: [String], recorded: Int, remaining: Int64) {
        self.token = token
        self.connectionID = connectionID
        self.id = id
        self.groups = groups
        self.recorded = recorded
        self.remaining = remaining
    }
}

extension NodeOperation: Codable {
    private enum CodingKeys: String, CodingKey { case op, args }
    private static let sendToGroupsName = "_sendToGroups"
    private static let claimName = "_claim"
    private static let adoptName = "_adopt"

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let name = try container.decode(String.self, forKey: .op)
        let arguments = try container.decode(EventArguments.self, forKey: .args)
        if name == Self.adoptName {
            let sessions = try JSONDecoder().decode([HandedSession].self, from: Data((arguments.message ?? "[]").utf8))
            self = .adoptSessions(from: arguments.id ?? "", to: arguments.connectionID ?? "", sessions: sessions)
        } else if name == Self.claimName {
            self = .claimSession(
                token: arguments.message ?? "", connectionID: arguments.connectionID ?? "", id: arguments.id, groups: arguments.groups ?? []
            )
        } else if name == Self.sendToGroupsName {
            self = .sendToGroups(
                arguments.groups ?? [], message: arguments.message ?? "", excluding: arguments.connectionID, messageID: arguments.messageID
            )
        } else if let event = FleetEvent(rawValue: name) {
            self = .event(event, arguments)
        } else {
            throw DecodingError.dataCorruptedError(forKey: .op, in: container, debugDescription: "unknown operation \(name)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .event(let event, let arguments):
            try container.encode(event.rawValue, forKey: .op)
            try container.encode(arguments, forKey: .args)
        case .adoptSessions(let from, let to, let sessions):
            try container.encode(Self.adoptName, forKey: .op)
            let text = String(decoding: try JSONEncoder().encode(sessions), as: UTF8.self)
            try container.encode(EventArguments(id: from, connectionID: to, message: text), forKey: .args)
        case .claimSession(let token, let connectionID, let id, let groups):
            try container.encode(Self.claimName, forKey: .op)
            try container.encode(EventArguments(id: id, connectionID: connectionID, groups: groups, message: token), forKey: .args)
        case .sendToGroups(let groups, let message, let excluding, let messageID):
            try container.encode(Self.sendToGroupsName, forKey: .op)
            try container.encode(EventArguments(connectionID: excluding, groups: groups, message: message, messageID: messageID), forKey: .args)
        }
    }
}

/// A node's answer to one operation.
public enum OperationResult: Sendable, Hashable {
    case int(Int)
    case bool(Bool)
    case strings([String])
    /// A JSON object (`getStats`, `getGroupStats`).
    case object(JSONValue)
    /// The operation could not run on that node: `code` 1 for bad arguments (the gateway
    /// checks them first, so this means a version mismatch), 3 for a timeout.
    case failure(code: Int, message: String)

    /// What the gateway reports for a node that did not answer in time.
    public static let timeout = OperationResult.failure(code: 3, message: "timeout")
}

extension OperationResult: Codable {
    // Tagged, so that no JSON decoder can confuse `true` with `1`.
    private enum CodingKeys: String, CodingKey { case i, b, s, j, code, msg }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let value = try container.decodeIfPresent(Int.self, forKey: .i) {
            self = .int(value)
        } else if let value = try container.decodeIfPresent(Bool.self, forKey: .b) {
            self = .bool(value)
        } else if let value = try container.decodeIfPresent([String].self, forKey: .s) {
            self = .strings(value)
        } else if let text = try container.decodeIfPresent(String.self, forKey: .j) {
            self = .object(try JSONValue(parsing: text.utf8))
        } else {
            self = .failure(
                code: try container.decode(Int.self, forKey: .code),
                message: try container.decode(String.self, forKey: .msg)
            )
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .int(let value): try container.encode(value, forKey: .i)
        case .bool(let value): try container.encode(value, forKey: .b)
        case .strings(let value): try container.encode(value, forKey: .s)
        case .object(let value): try container.encode(value.text, forKey: .j)
        case .failure(let code, let message):
            try container.encode(code, forKey: .code)
            try container.encode(message, forKey: .msg)
        }
    }
}

/// The body of a call from a gateway to a node: operations to run in order.
public struct NodeCall: Codable, Sendable, Hashable {
    public var operations: [NodeOperation]
    public init(operations: [NodeOperation]) { self.operations = operations }
    enum CodingKeys: String, CodingKey { case operations = "ops" }
}

/// A node's reply: one result per operation, in order.
public struct NodeCallReply: Codable, Sendable, Hashable {
    public var results: [OperationResult]
    public init(results: [OperationResult]) { self.results = results }
}
