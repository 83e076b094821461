// Each result of a reply on the wire (docs/redis.md), tagged by its one key, so that no reader
// can confuse `true` with `1`:
//
//     {"i":2500}  {"b":true}  {"s":["a","b"]}  {"j":{"connections":3,…}}
//     {"claim":{"session":"away","recorded":4,"complete":true,"id":"ann","groupId":["g1"]}}
//     {"code":1,"msg":"…"}

extension OperationResult {
    func write(to out: inout String) {
        switch self {
        case .int(let value):
            out += #"{"i":"#
            out += String(value)
            out += "}"
        case .bool(let value):
            out += value ? #"{"b":true}"# : #"{"b":false}"#
        case .strings(let values):
            out += #"{"s":"#
            JSONValue.appendStrings(values, to: &out)
            out += "}"
        case .object(let value):
            out += #"{"j":"#
            value.write(to: &out)
            out += "}"
        case .claim(let answer):
            out += #"{"claim":"#
            answer.write(to: &out)
            out += "}"
        case .failure(let code, let message):
            out += #"{"code":"#
            out += String(code)
            out += #","msg":"#
            JSONValue.appendString(message, to: &out)
            out += "}"
        }
    }

    /// About the number of bytes ``write(to:)`` appends.
    var estimatedWireSize: Int {
        switch self {
        case .int, .bool: 28
        case .strings(let values): 8 + wireSize(values)
        case .object: 128
        case .claim(let answer): 10 + answer.estimatedWireSize
        case .failure(let code, let message): 24 + String(code).utf8.count + message.utf8.count
        }
    }

    /// Reads one result. A `null` tag counts as absent; of several tags, the first of `i`,
    /// `b`, `s`, `j`, `claim`, then `code` with `msg`, wins.
    init(reading reader: inout JSONReader) throws {
        var int: Int?
        var bool: Bool?
        var strings: [String]?
        var object: JSONValue?
        var claim: ClaimAnswer?
        var code: Int?
        var message: String?
        try reader.object { reader, key in
            if try reader.null() { return }
            if key.is("i") {
                int = try reader.integer()
            } else if key.is("b") {
                bool = try reader.bool()
            } else if key.is("s") {
                strings = try reader.strings()
            } else if key.is("j") {
                guard reader.peek() == UInt8(ascii: "{") else { throw reader.failure("j must be an object") }
                object = try reader.value()
            } else if key.is("claim") {
                claim = try ClaimAnswer(reading: &reader)
            } else if key.is("code") {
                code = try reader.integer()
            } else if key.is("msg") {
                message = try reader.requiredString()
            } else {
                try reader.skipValue()
            }
        }
        if let int {
            self = .int(int)
        } else if let bool {
            self = .bool(bool)
        } else if let strings {
            self = .strings(strings)
        } else if let object {
            self = .object(object)
        } else if let claim {
            self = .claim(claim)
        } else if let code, let message {
            self = .failure(code: code, message: message)
        } else {
            throw reader.failure("a result without i, b, s, j, claim or code and msg")
        }
    }
}

extension ClaimAnswer {
    /// Appends the answer as JSON: `{"session":"away","recorded":n,"complete":b,"id":…,"groupId":[…]}`
    /// or `{"session":"live"}` or `{}`, with `"seen":[…]` from the node of the resuming
    /// connection. (The same text on the bus and wherever else it is shown.)
    package func write(to out: inout String) {
        var first = true
        func key(_ quotedKey: String) {
            out += first ? "{" : ","
            out += quotedKey
            first = false
        }
        switch session {
        case .away(let recorded, let complete, let id, let groups)?:
            key(#""session":"away","recorded":"#)
            out += String(recorded)
            out += complete ? #","complete":true"# : #","complete":false"#
            if let id {
                out += #","id":"#
                JSONValue.appendString(id, to: &out)
            }
            out += #","groupId":"#
            JSONValue.appendStrings(groups, to: &out)
        case .live?:
            key(#""session":"live""#)
        case nil:
            break
        }
        if let seen {
            key(#""seen":"#)
            JSONValue.appendStrings(seen, to: &out)
        }
        out += first ? "{}" : "}"
    }

    var estimatedWireSize: Int {
        var size = 10 + (seen.map { 8 + wireSize($0) } ?? 0)
        switch session {
        case .away(_, _, let id, let groups)?: size += 80 + (id?.utf8.count ?? 0) + wireSize(groups)
        case .live?: size += 20
        case nil: break
        }
        return size
    }

    init(reading reader: inout JSONReader) throws {
        enum State { case away, live }
        var state: State?
        var recorded: Int?
        var complete: Bool?
        var id: String?
        var groups: [String]?
        var seen: [String]?
        try reader.object { reader, key in
            if key.is("session") {
                if try reader.null() {
                    state = nil
                } else {
                    let name = try reader.name()
                    if name.is("away") {
                        state = .away
                    } else if name.is("live") {
                        state = .live
                    } else {
                        throw reader.failure("unknown session state \(name.text)")
                    }
                }
            } else if key.is("recorded") {
                recorded = try reader.null() ? nil : reader.integer()
            } else if key.is("complete") {
                complete = try reader.null() ? nil : reader.bool()
            } else if key.is("id") {
                id = try reader.optionalString()
            } else if key.is("groupId") {
                groups = try reader.optionalStrings()
            } else if key.is("seen") {
                seen = try reader.optionalStrings()
            } else {
                try reader.skipValue()
            }
        }
        switch state {
        case nil:
            self.init(seen: seen)
        case .live:
            self.init(session: .live, seen: seen)
        case .away:
            guard let recorded, let complete, let groups else {
                throw reader.failure("an away session without recorded, complete or groupId")
            }
            self.init(session: .away(recorded: recorded, complete: complete, id: id, groups: groups), seen: seen)
        }
    }
}
