import FleetCore
import FleetGateway

/// A random event API request, described before it is written out, so a test knows the calls
/// it must parse to, or the one thing wrong with it.
struct RequestSpec {
    enum Place { case query, body }
    enum BodyFormat { case none, json, form }

    struct Parameter {
        var name: FleetParameter
        /// What is sent: a string, or a JSON number or other JSON value in a JSON body.
        var value: JSONValue
        var place: Place
        /// A value in the query that the body's value overrides.
        var decoy: String?
    }

    struct Event {
        var name: String
        var parameters: [Parameter]
        /// The arguments the gateway must read.
        var expected: EventArguments
    }

    var events: [Event]
    var bodyFormat: BodyFormat
    /// Pairs the parser must ignore: `token`, names without brackets, other events' parameters.
    var extraPairs: [(String, String)]

    /// The calls this request must parse to.
    var expectedCalls: [EventCall] {
        events.map { EventCall(event: FleetEvent(rawValue: $0.name)!, arguments: $0.expected) }
    }

    /// A valid request of one to four distinct events.
    static func random(using random: inout FuzzRandom) -> RequestSpec {
        let chosen = FleetEvent.allCases.shuffled(using: &random).prefix(random.int(1...4))
        let bodyFormat = random.pick([BodyFormat.none, .json, .form])
        let events = chosen.map { event in
            var expected = EventArguments()
            let parameters = event.parameters.map { name in
                var value: JSONValue
                switch name {
                case .groupID where event.acceptsGroupList:
                    // A list with spaces, empty entries and repeats: read as the distinct names.
                    let groups = (0..<random.int(1...4)).map { _ in groupName(using: &random) }
                    let repeated = groups + (random.chance(30) ? [random.pick(groups)] : [])
                    expected.groups = repeated.reduce(into: []) { unique, group in if !unique.contains(group) { unique.append(group) } }
                    value = .string(repeated.map { random.pick(["", " ", "  "]) + $0 + random.pick(["", " "]) }.joined(separator: random.pick([",", ",", ",,"])))
                case .message:
                    let text = random.text(random.int(0...20))
                    expected.message = text
                    value = .string(text)
                default:
                    let text = random.chance(20) ? String(Int64.random(in: .min ... .max, using: &random)) : nonEmptyText(using: &random)
                    switch name {
                    case .id: expected.id = text
                    case .connectionID: expected.connectionID = text
                    case .appID: expected.appID = text
                    case .channel: expected.channel = text
                    case .name: expected.name = text
                    case .groupID, .message: expected.groups = [text]
                    }
                    // Sent as a JSON number only when it is one as written: `Int64` also reads "+1" and "007".
                    value = bodyFormat == .json && Int64(text).map({ String($0) == text }) == true && random.chance(50) ? .number(text) : .string(text)
                }
                let place: Place = bodyFormat == .none || random.chance(30) ? .query : .body
                let decoy = place == .body && random.chance(20) ? "decoy" : nil
                return Parameter(name: name, value: place == .query ? .string(value.textValue) : value, place: place, decoy: decoy)
            }
            return Event(name: event.rawValue, parameters: parameters, expected: expected)
        }
        var extra: [(String, String)] = [("token", random.text(random.int(0...8)))]
        if random.chance(50) { extra.append(("other", random.text(4))) }
        if random.chance(50), let absent = FleetEvent.allCases.first(where: { event in !chosen.contains(event) }) {
            extra.append(("\(absent.rawValue)[id]", random.text(4)))
        }
        return RequestSpec(events: Array(events), bodyFormat: bodyFormat, extraPairs: extra)
    }

    /// A group name without commas or whitespace, of scalars that never join a neighbouring
    /// comma into one `Character` (as a combining mark would).
    static func groupName(using random: inout FuzzRandom) -> String {
        String((0..<random.int(1...10)).map { _ in random.pick(groupAlphabet) })
    }

    static let groupAlphabet = Array("abcXYZ019_-.:;[]{}%+=&#!?'\"\\/<>\0é你😀")

    static func nonEmptyText(using random: inout FuzzRandom) -> String {
        let text = random.text(random.int(1...16))
        return text.isEmpty ? "x" : text
    }

    // MARK: Writing it out

    /// The request as the gateway receives it.
    func render(using random: inout FuzzRandom) -> (query: String, body: [UInt8]?, contentType: String?) {
        var queryPairs = extraPairs.map { (Self.formEncode($0.0, using: &random), Self.formEncode($0.1, using: &random)) }
        let list = events.map { random.pick(["", " "]) + $0.name + random.pick(["", " "]) }.joined(separator: ",")
        queryPairs.append(("event", Self.formEncode(list, using: &random)))
        var bodyPairs: [(String, String)] = []
        var jsonBody: [String: JSONValue] = [:]
        for event in events {
            var jsonParameters: [String: JSONValue] = [:]
            for parameter in event.parameters {
                let name = Self.bracketed(event.name, parameter.name.rawValue, using: &random)
                if let decoy = parameter.decoy { queryPairs.append((name, Self.formEncode(decoy, using: &random))) }
                switch (parameter.place, bodyFormat) {
                case (.query, _), (.body, .none):
                    queryPairs.append((name, Self.formEncode(parameter.value.textValue, using: &random)))
                case (.body, .form):
                    bodyPairs.append((name, Self.formEncode(parameter.value.textValue, using: &random)))
                case (.body, .json):
                    jsonParameters[parameter.name.rawValue] = parameter.value
                }
            }
            if bodyFormat == .json, !jsonParameters.isEmpty || random.chance(30) {
                // PHP writes an empty map as `[]`.
                jsonBody[event.name] = jsonParameters.isEmpty && random.chance(50) ? .array([]) : .object(jsonParameters)
            }
        }
        let query = queryPairs.shuffled(using: &random).map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        switch bodyFormat {
        case .none:
            return (query, nil, nil)
        case .json:
            let body = random.pick(["", " ", "\n\t"]) + JSONValue.object(jsonBody).text
            return (query, Array(body.utf8), random.pick([nil, "application/json", "application/json; charset=utf-8"]))
        case .form:
            bodyPairs.append(("unbracketed", "ignored"))
            let body = bodyPairs.shuffled(using: &random).map { "\($0.0)=\($0.1)" }.joined(separator: "&")
            return (query, Array(body.utf8), random.pick([nil, "application/x-www-form-urlencoded"]))
        }
    }

    /// `event[parameter]`, its brackets literal or escaped.
    static func bracketed(_ event: String, _ parameter: String, using random: inout FuzzRandom) -> String {
        random.chance(50) ? "\(event)[\(parameter)]" : "\(event)%5B\(formEncode(parameter, using: &random))%5D"
    }

    /// `application/x-www-form-urlencoded`: unreserved bytes as is, a space as `+` or `%20`,
    /// everything else `%XX` in either case.
    static func formEncode(_ text: String, using random: inout FuzzRandom) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: " ") where random.chance(50):
                out += "+"
            default:
                let hex = String(byte, radix: 16, uppercase: random.chance(50))
                out += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }
}

extension JSONValue {
    /// The text of a string or a number, as a query parameter carries it.
    var textValue: String {
        switch self {
        case .string(let text), .number(let text): text
        default: self.text
        }
    }
}
