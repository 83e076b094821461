// Each operation of a call on the wire (docs/redis.md), one typed payload per operation:
//
//     {"op":"bindId","args":{"id":"ann","_id":"57b9…"}}
//     {"op":"_sendToGroups","groupId":["g1"],"msg":"hi","mid":"0f1e…","exclude":"57b9…"}
//     {"op":"_claim","token":"9c1e…","_id":"57b9…","id":"ann","groupId":["g1"]}
//     {"op":"_adopt","from":"nodeA","to":"nodeB","sessions":[{"token":"9c1e…","_id":"57b9…",…}]}
//
// An event keeps its arguments in `args`, under the event API's parameter names, as it always
// has: gateways and nodes of neighbouring versions still run each other's events. The
// internal operations carry their own fields beside `op`.

extension NodeOperation {
    func write(to out: inout String) {
        switch self {
        case .event(let event, let arguments):
            // Event names are ASCII letters and `_`: nothing to escape.
            out += #"{"op":""#
            out += event.rawValue
            out += #"","args":"#
            arguments.write(to: &out)
            out += "}"
        case .sendToGroups(let groups, let message, let excluding, let messageID):
            out += #"{"op":"_sendToGroups","groupId":"#
            JSONValue.appendStrings(groups, to: &out)
            out += #","msg":"#
            JSONValue.appendString(message, to: &out)
            if let messageID {
                out += #","mid":"#
                JSONValue.appendString(messageID, to: &out)
            }
            if let excluding {
                out += #","exclude":"#
                JSONValue.appendString(excluding, to: &out)
            }
            out += "}"
        case .claimSession(let token, let connectionID, let id, let groups):
            out += #"{"op":"_claim","token":"#
            JSONValue.appendString(token, to: &out)
            out += #","_id":"#
            JSONValue.appendString(connectionID, to: &out)
            if let id {
                out += #","id":"#
                JSONValue.appendString(id, to: &out)
            }
            out += #","groupId":"#
            JSONValue.appendStrings(groups, to: &out)
            out += "}"
        case .adoptSessions(let from, let to, let sessions):
            out += #"{"op":"_adopt","from":"#
            JSONValue.appendString(from, to: &out)
            out += #","to":"#
            JSONValue.appendString(to, to: &out)
            out += #","sessions":["#
            for index in sessions.indices {
                if index > 0 { out += "," }
                sessions[index].write(to: &out)
            }
            out += "]}"
        }
    }

    /// About the number of bytes ``write(to:)`` appends.
    var estimatedWireSize: Int {
        switch self {
        case .event(let event, let arguments):
            24 + event.rawValue.utf8.count + arguments.estimatedWireSize
        case .sendToGroups(let groups, let message, let excluding, let messageID):
            48 + wireSize(groups) + message.utf8.count + (messageID.map { 9 + $0.utf8.count } ?? 0)
                + (excluding.map { 13 + $0.utf8.count } ?? 0)
        case .claimSession(let token, let connectionID, let id, let groups):
            48 + token.utf8.count + connectionID.utf8.count + (id.map { 8 + $0.utf8.count } ?? 0) + wireSize(groups)
        case .adoptSessions(let from, let to, let sessions):
            48 + from.utf8.count + to.utf8.count + sessions.reduce(0) { $0 + $1.estimatedWireSize + 1 }
        }
    }

    /// Which operation an `op` names.
    private enum Kind {
        case event(FleetEvent)
        case sendToGroups, claim, adopt

        init?(_ name: JSONName) {
            if name.is("_sendToGroups") {
                self = .sendToGroups
            } else if name.is("_claim") {
                self = .claim
            } else if name.is("_adopt") {
                self = .adopt
            } else if let event = EventNames.shared.event(named: name) {
                self = .event(event)
            } else {
                return nil
            }
        }
    }

    /// Every field an operation may carry. Keys may come before `op`, so each is read as it
    /// comes; which ones the operation needs is checked once its name is known.
    private struct Fields {
        var arguments: EventArguments?
        var token: String?
        var connectionID: String?
        var id: String?
        var groups: [String]?
        var message: String?
        var messageID: String?
        var excluding: String?
        var from: String?
        var to: String?
        var sessions: [HandedSession]?

        mutating func read(_ key: JSONName, from reader: inout JSONReader) throws {
            if key.is("args") {
                arguments = try reader.null() ? nil : EventArguments(reading: &reader)
            } else if key.is("groupId") {
                groups = try reader.optionalStrings()
            } else if key.is("msg") {
                message = try reader.optionalString()
            } else if key.is("mid") {
                messageID = try reader.optionalString()
            } else if key.is("_id") {
                connectionID = try reader.optionalString()
            } else if key.is("id") {
                id = try reader.optionalString()
            } else if key.is("token") {
                token = try reader.optionalString()
            } else if key.is("exclude") {
                excluding = try reader.optionalString()
            } else if key.is("from") {
                from = try reader.optionalString()
            } else if key.is("to") {
                to = try reader.optionalString()
            } else if key.is("sessions") {
                sessions = try reader.null() ? nil : HandedSession.list(reading: &reader)
            } else {
                try reader.skipValue()
            }
        }
    }

    init(reading reader: inout JSONReader) throws {
        var kind: Kind?
        var fields = Fields()
        try reader.object { reader, key in
            if key.is("op") {
                let name = try reader.name()
                guard let named = Kind(name) else { throw reader.failure("unknown operation \(name.text)") }
                kind = named
            } else {
                try fields.read(key, from: &reader)
            }
        }
        func missing(_ field: String, _ operation: String) -> DecodingError {
            reader.failure("\(operation) without \(field)")
        }
        switch kind {
        case nil:
            throw reader.failure("an operation without op")
        case .event(let event):
            guard let arguments = fields.arguments else { throw missing("args", event.rawValue) }
            self = .event(event, arguments)
        case .sendToGroups:
            guard let groups = fields.groups else { throw missing("groupId", "_sendToGroups") }
            guard let message = fields.message else { throw missing("msg", "_sendToGroups") }
            self = .sendToGroups(groups, message: message, excluding: fields.excluding, messageID: fields.messageID)
        case .claim:
            guard let token = fields.token else { throw missing("token", "_claim") }
            guard let connectionID = fields.connectionID else { throw missing("_id", "_claim") }
            guard let groups = fields.groups else { throw missing("groupId", "_claim") }
            self = .claimSession(token: token, connectionID: connectionID, id: fields.id, groups: groups)
        case .adopt:
            guard let from = fields.from else { throw missing("from", "_adopt") }
            guard let to = fields.to else { throw missing("to", "_adopt") }
            guard let sessions = fields.sessions else { throw missing("sessions", "_adopt") }
            self = .adoptSessions(from: from, to: to, sessions: sessions)
        }
    }
}

/// The events' names as bytes, one after the other, so that an `op` is matched without a
/// String per event (comparing it with each event's `rawValue` in turn, a String made and
/// released 29 times, cost more than the rest of reading the operation).
private struct EventNames: Sendable {
    static let shared = EventNames()

    private let bytes: [UInt8]
    private let entries: [(start: Int, count: Int, event: FleetEvent)]

    private init() {
        var bytes: [UInt8] = []
        var entries: [(start: Int, count: Int, event: FleetEvent)] = []
        for event in FleetEvent.allCases {
            entries.append((bytes.count, event.rawValue.utf8.count, event))
            bytes += event.rawValue.utf8
        }
        self.bytes = bytes
        self.entries = entries
    }

    func event(named name: JSONName) -> FleetEvent? {
        bytes.withUnsafeBufferPointer { bytes in
            for entry in entries where name.is(UnsafeBufferPointer(rebasing: bytes[entry.start..<entry.start + entry.count])) {
                return entry.event
            }
            return nil
        }
    }
}

/// The number of bytes `values` take as a JSON array of strings without escapes.
func wireSize(_ values: [String]) -> Int {
    values.reduce(2) { $0 + $1.utf8.count + 3 }
}

extension EventArguments {
    /// `{"id":…,"_id":…,"groupId":[…],"msg":…,"mid":…}`, absent ones left out.
    func write(to out: inout String) {
        var first = true
        func key(_ quotedKey: String) {
            out += first ? "{" : ","
            out += quotedKey
            first = false
        }
        if let id {
            key(#""id":"#)
            JSONValue.appendString(id, to: &out)
        }
        if let connectionID {
            key(#""_id":"#)
            JSONValue.appendString(connectionID, to: &out)
        }
        if let groups {
            key(#""groupId":"#)
            JSONValue.appendStrings(groups, to: &out)
        }
        if let message {
            key(#""msg":"#)
            JSONValue.appendString(message, to: &out)
        }
        if let messageID {
            key(#""mid":"#)
            JSONValue.appendString(messageID, to: &out)
        }
        out += first ? "{}" : "}"
    }

    var estimatedWireSize: Int {
        2 + (id.map { 8 + $0.utf8.count } ?? 0) + (connectionID.map { 9 + $0.utf8.count } ?? 0)
            + (groups.map { 11 + wireSize($0) } ?? 0) + (message.map { 9 + $0.utf8.count } ?? 0)
            + (messageID.map { 9 + $0.utf8.count } ?? 0)
    }

    init(reading reader: inout JSONReader) throws {
        var arguments = EventArguments()
        try reader.object { reader, key in
            if key.is("id") {
                arguments.id = try reader.optionalString()
            } else if key.is("_id") {
                arguments.connectionID = try reader.optionalString()
            } else if key.is("groupId") {
                arguments.groups = try reader.optionalStrings()
            } else if key.is("msg") {
                arguments.message = try reader.optionalString()
            } else if key.is("mid") {
                arguments.messageID = try reader.optionalString()
            } else {
                try reader.skipValue()
            }
        }
        self = arguments
    }
}

extension HandedSession {
    /// `{"token":…,"_id":…,"id":…,"groupId":[…],"recorded":n,"remaining":ms,"kept":[…],"complete":b,"address":…}`,
    /// absent optionals left out.
    func write(to out: inout String) {
        out += #"{"token":"#
        JSONValue.appendString(token, to: &out)
        out += #","_id":"#
        JSONValue.appendString(connectionID, to: &out)
        if let id {
            out += #","id":"#
            JSONValue.appendString(id, to: &out)
        }
        out += #","groupId":"#
        JSONValue.appendStrings(groups, to: &out)
        out += #","recorded":"#
        out += String(recorded)
        out += #","remaining":"#
        out += String(remaining)
        if let kept {
            out += #","kept":["#
            for index in kept.indices {
                if index > 0 { out += "," }
                out += String(kept[index])
            }
            out += "]"
        }
        if let complete { out += complete ? #","complete":true"# : #","complete":false"# }
        if let address {
            out += #","address":"#
            JSONValue.appendString(address, to: &out)
        }
        out += "}"
    }

    static func list(reading reader: inout JSONReader) throws -> [HandedSession] {
        var sessions: [HandedSession] = []
        try reader.array { reader in sessions.append(try HandedSession(reading: &reader)) }
        return sessions
    }

    var estimatedWireSize: Int {
        128 + token.utf8.count + connectionID.utf8.count + (id?.utf8.count ?? 0) + wireSize(groups)
            + (kept?.count ?? 0) * 8 + (address?.utf8.count ?? 0)
    }

    init(reading reader: inout JSONReader) throws {
        var token: String?
        var connectionID: String?
        var id: String?
        var groups: [String]?
        var recorded: Int?
        var remaining: Int?
        var kept: [Int]?
        var complete: Bool?
        var address: String?
        try reader.object { reader, key in
            if key.is("token") {
                token = try reader.optionalString()
            } else if key.is("_id") {
                connectionID = try reader.optionalString()
            } else if key.is("id") {
                id = try reader.optionalString()
            } else if key.is("groupId") {
                groups = try reader.optionalStrings()
            } else if key.is("recorded") {
                recorded = try reader.null() ? nil : reader.integer()
            } else if key.is("remaining") {
                remaining = try reader.null() ? nil : reader.integer()
            } else if key.is("kept") {
                kept = try reader.null() ? nil : reader.integers()
            } else if key.is("complete") {
                complete = try reader.null() ? nil : reader.bool()
            } else if key.is("address") {
                address = try reader.optionalString()
            } else {
                try reader.skipValue()
            }
        }
        guard let token, let connectionID, let groups, let recorded, let remaining else {
            throw reader.failure("a handed session without token, _id, groupId, recorded or remaining")
        }
        self.init(token: token, connectionID: connectionID, id: id, groups: groups, recorded: recorded, remaining: Int64(remaining))
        self.kept = kept
        self.complete = complete
        self.address = address
    }
}
