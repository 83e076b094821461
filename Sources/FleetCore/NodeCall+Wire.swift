import Foundation

// The bodies of calls and replies on the bus (docs/redis.md), written and read by hand: the
// same JSON as the `Codable` conformances in NodeOperation.swift, at a fraction of the cost of
// Foundation's JSONEncoder/JSONDecoder on the gateway's and the node's hot paths. Keys may come
// in any order, unknown keys are skipped, `null` stands for an absent optional, as with
// JSONDecoder.

extension NodeCall {
    /// The call's JSON body: `{"ops":[{"op":NAME,"args":{...}},...]}`.
    public func wireText() -> String {
        WireEnvelope.write("ops", operations) { $0.write(to: &$1) }
    }

    /// Reads a call's JSON body.
    /// - Throws: `DecodingError` when it is not JSON or not a call (an unknown operation, a
    ///   parameter of the wrong type, `ops` or an operation's `op`/`args` missing).
    public init(wireText text: some Sequence<UInt8>) throws {
        self.init(operations: try WireEnvelope.read(text, "ops", what: "call") { try NodeOperation(reading: &$0) })
    }
}

extension NodeCallReply {
    /// The reply's JSON body: `{"results":[...]}`.
    public func wireText() -> String {
        WireEnvelope.write("results", results) { $0.write(to: &$1) }
    }

    /// Reads a reply's JSON body. - Throws: `DecodingError` when it is not one.
    public init(wireText text: some Sequence<UInt8>) throws {
        self.init(results: try WireEnvelope.read(text, "results", what: "reply") { try OperationResult(reading: &$0) })
    }
}

/// A call's or a reply's body: one object whose `key` holds the list (other keys skipped).
private enum WireEnvelope {
    static func write<Item>(_ key: String, _ items: [Item], _ write: (Item, inout String) -> Void) -> String {
        var out = "{\"" + key + "\":["
        for (index, item) in items.enumerated() {
            if index > 0 { out += "," }
            write(item, &out)
        }
        out += "]}"
        return out
    }

    static func read<Item>(
        _ text: some Sequence<UInt8>, _ key: String, what: String, _ read: (inout JSONReader) throws -> Item
    ) throws -> [Item] {
        var reader = JSONReader(bytes: Array(text))
        var items: [Item]?
        try reader.object { reader, found in
            if found == key {
                items = try reader.array { reader in try read(&reader) }
            } else {
                _ = try reader.value()
            }
        }
        guard reader.isAtEnd() else { throw reader.failure("unexpected text after the \(what)") }
        guard let items else { throw reader.failure("a \(what) without \(key)") }
        return items
    }
}

extension NodeOperation {
    private static let wireSendToGroups = "_sendToGroups"
    private static let wireClaim = "_claim"
    private static let wireAdopt = "_adopt"

    func write(to out: inout String) {
        let name: String
        let arguments: EventArguments
        switch self {
        case .event(let event, let eventArguments):
            (name, arguments) = (event.rawValue, eventArguments)
        case .adoptSessions(let from, let to, let sessions):
            // Rare (a node stopping): the sessions keep their Codable encoding, as JSON text in `msg`.
            let text = String(decoding: (try? JSONEncoder().encode(sessions)) ?? Data("[]".utf8), as: UTF8.self)
            (name, arguments) = (Self.wireAdopt, EventArguments(id: from, connectionID: to, message: text))
        case .claimSession(let token, let connectionID, let id, let groups):
            (name, arguments) = (Self.wireClaim, EventArguments(id: id, connectionID: connectionID, groups: groups, message: token))
        case .sendToGroups(let groups, let message, let excluding, let messageID):
            (name, arguments) = (
                Self.wireSendToGroups,
                EventArguments(connectionID: excluding, groups: groups, message: message, messageID: messageID)
            )
        }
        out += #"{"op":"#
        JSONValue.appendString(name, to: &out)
        out += #","args":"#
        arguments.write(to: &out)
        out += "}"
    }

    init(reading reader: inout JSONReader) throws {
        var name: String?
        var arguments: EventArguments?
        try reader.object { reader, key in
            switch key {
            case "op": name = try reader.requiredString()
            case "args": arguments = try EventArguments(reading: &reader)
            default: _ = try reader.value()
            }
        }
        guard let name else { throw reader.failure("an operation without op") }
        guard let arguments else { throw reader.failure("an operation without args") }
        switch name {
        case Self.wireAdopt:
            let sessions = try JSONDecoder().decode([HandedSession].self, from: Data((arguments.message ?? "[]").utf8))
            self = .adoptSessions(from: arguments.id ?? "", to: arguments.connectionID ?? "", sessions: sessions)
        case Self.wireClaim:
            self = .claimSession(
                token: arguments.message ?? "", connectionID: arguments.connectionID ?? "", id: arguments.id, groups: arguments.groups ?? []
            )
        case Self.wireSendToGroups:
            self = .sendToGroups(
                arguments.groups ?? [], message: arguments.message ?? "", excluding: arguments.connectionID, messageID: arguments.messageID
            )
        default:
            guard let event = FleetEvent(rawValue: name) else { throw reader.failure("unknown operation \(name)") }
            self = .event(event, arguments)
        }
    }
}

extension EventArguments {
    /// `{"id":…,"_id":…,"groupId":[…],"msg":…,"mid":…}`, absent ones left out.
    func write(to out: inout String) {
        var first = true
        func key(_ name: StaticString) {
            out += first ? "{\"" : ",\""
            first = false
            out += name.description
            out += "\":"
        }
        if let id {
            key("id")
            JSONValue.appendString(id, to: &out)
        }
        if let connectionID {
            key("_id")
            JSONValue.appendString(connectionID, to: &out)
        }
        if let groups {
            key("groupId")
            out += "["
            for (index, group) in groups.enumerated() {
                if index > 0 { out += "," }
                JSONValue.appendString(group, to: &out)
            }
            out += "]"
        }
        if let message {
            key("msg")
            JSONValue.appendString(message, to: &out)
        }
        if let messageID {
            key("mid")
            JSONValue.appendString(messageID, to: &out)
        }
        out += first ? "{}" : "}"
    }

    init(reading reader: inout JSONReader) throws {
        self.init()
        var arguments = self
        try reader.object { reader, key in
            switch key {
            case "id": arguments.id = try reader.optionalString()
            case "_id": arguments.connectionID = try reader.optionalString()
            case "groupId":
                if reader.peek() == UInt8(ascii: "n") {
                    _ = try reader.value()
                    arguments.groups = nil
                } else {
                    arguments.groups = try reader.array { reader in try reader.requiredString() }
                }
            case "msg": arguments.message = try reader.optionalString()
            case "mid": arguments.messageID = try reader.optionalString()
            default: _ = try reader.value()
            }
        }
        self = arguments
    }
}

extension OperationResult {
    /// Tagged, as the Codable form: `{"i":n}`, `{"b":…}`, `{"s":[…]}`, `{"j":"…"}`,
    /// `{"code":n,"msg":"…"}`.
    func write(to out: inout String) {
        switch self {
        case .int(let value):
            out += #"{"i":"#
            out += String(value)
            out += "}"
        case .bool(let value):
            out += value ? #"{"b":true}"# : #"{"b":false}"#
        case .strings(let values):
            out += #"{"s":["#
            for (index, value) in values.enumerated() {
                if index > 0 { out += "," }
                JSONValue.appendString(value, to: &out)
            }
            out += "]}"
        case .object(let value):
            out += #"{"j":"#
            JSONValue.appendString(value.text, to: &out)
            out += "}"
        case .failure(let code, let message):
            out += #"{"code":"#
            out += String(code)
            out += #","msg":"#
            JSONValue.appendString(message, to: &out)
            out += "}"
        }
    }

    /// Reads one result; the tags are tried in the Codable form's order (`i`, `b`, `s`, `j`,
    /// then `code` and `msg`).
    init(reading reader: inout JSONReader) throws {
        var members: [String: JSONValue] = [:]
        try reader.object { reader, key in
            let value = try reader.value()
            if members[key] == nil { members[key] = value }
        }
        func present(_ key: String) -> JSONValue? {
            guard let value = members[key], value != .null else { return nil }
            return value
        }
        if let value = present("i") {
            self = .int(try Self.integer(value, reader))
        } else if let value = present("b") {
            guard case .bool(let flag) = value else { throw reader.failure("b must be a boolean") }
            self = .bool(flag)
        } else if let value = present("s") {
            guard case .array(let items) = value else { throw reader.failure("s must be an array of strings") }
            self = .strings(try items.map { item in
                guard case .string(let text) = item else { throw reader.failure("s must be an array of strings") }
                return text
            })
        } else if let value = present("j") {
            guard case .string(let text) = value else { throw reader.failure("j must be a string") }
            self = .object(try JSONValue(parsing: text.utf8))
        } else {
            guard let code = present("code"), let message = present("msg"), case .string(let text) = message else {
                throw reader.failure("a result without i, b, s, j or code and msg")
            }
            self = .failure(code: try Self.integer(code, reader), message: text)
        }
    }

    private static func integer(_ value: JSONValue, _ reader: JSONReader) throws -> Int {
        guard case .number(let text) = value, let integer = Int(text) else { throw reader.failure("expected an integer") }
        return integer
    }
}

extension JSONReader {
    /// Reads an object, calling `member` with each key; `member` must read the key's value.
    mutating func object(_ member: (inout JSONReader, String) throws -> Void) throws {
        guard peek() == UInt8(ascii: "{") else { throw failure("expected an object") }
        try enterContainer()
        defer { depth -= 1 }
        if consume(UInt8(ascii: "}")) { return }
        repeat {
            guard peek() == UInt8(ascii: "\"") else { throw failure("expected a string key") }
            let key = try string()
            guard consume(UInt8(ascii: ":")) else { throw failure("expected ':' after a key") }
            try member(&self, key)
        } while try separator(closing: UInt8(ascii: "}"))
    }

    /// Reads an array, each element with `element`.
    mutating func array<Element>(_ element: (inout JSONReader) throws -> Element) throws -> [Element] {
        guard peek() == UInt8(ascii: "[") else { throw failure("expected an array") }
        try enterContainer()
        defer { depth -= 1 }
        var items: [Element] = []
        if consume(UInt8(ascii: "]")) { return items }
        repeat {
            items.append(try element(&self))
        } while try separator(closing: UInt8(ascii: "]"))
        return items
    }

    /// A string value.
    mutating func requiredString() throws -> String {
        guard peek() == UInt8(ascii: "\"") else { throw failure("expected a string") }
        return try string()
    }

    /// A string value, or nil for `null`.
    mutating func optionalString() throws -> String? {
        if peek() == UInt8(ascii: "n") {
            guard case .null = try value() else { throw failure("expected a string") }
            return nil
        }
        return try requiredString()
    }
}
