import FleetCore

/// Random JSON, generated from its structure, and the hostile shapes a parser must survive.
enum JSONGenerator {
    /// A random value at most `depth` levels deep. Numbers are written the way ``JSONValue``
    /// keeps them (integers of up to 38 digits, fractions that print as written), so
    /// `JSONValue(parsing: value.text) == value` must hold.
    static func value(depth: Int, using random: inout FuzzRandom) -> JSONValue {
        switch random.int(depth > 0 ? 0...7 : 0...4) {
        case 0: return .null
        case 1: return .bool(random.chance(50))
        case 2: return .number(number(using: &random))
        case 3, 4: return .string(random.text(random.length() % 24))
        case 5: return .array((0..<random.int(0...4)).map { _ in value(depth: depth - 1, using: &random) })
        default:
            var members: [String: JSONValue] = [:]
            for _ in 0..<random.int(0...4) {
                members[random.text(random.int(0...8))] = value(depth: depth - 1, using: &random)
            }
            return .object(members)
        }
    }

    /// An integer of up to 38 digits or a fraction, as ``JSONValue`` writes it.
    static func number(using random: inout FuzzRandom) -> String {
        switch random.int(0...5) {
        case 0: return String(random.int(-1000...1000))
        case 1: return String(Int64.random(in: .min ... .max, using: &random))
        case 2: return String(UInt64.random(in: UInt64(Int64.max) + 1 ... .max, using: &random))
        case 3:  // 20 to 38 digits: beyond 64 bits, kept exactly
            let digits = random.int(20...38)
            let text = String(random.int(1...9)) + String((1..<digits).map { _ in Character(String(random.int(0...9))) })
            return random.chance(50) ? text : "-" + text
        default:  // a fraction exactly representable in binary: prints as written
            return String(Double(random.int(-100_000...100_000)) + random.pick([0.5, 0.25, 0.125, 0.75]))
        }
    }

    /// `depth` nested arrays, objects, or a mix, closed or left open.
    static func deep(_ depth: Int, using random: inout FuzzRandom) -> [UInt8] {
        let openers: [String] = [#"["#, #"{"a":"#, #"{"":["#]
        let style = random.int(0...3)
        var text = ""
        var closers: [String] = []
        text.reserveCapacity(depth * 6)
        for level in 0..<depth {
            let opener = style < 3 ? openers[style] : openers[level % 3]
            text += opener
            closers.append(opener == "[" ? "]" : opener.hasSuffix("[") ? "]}" : "}")
        }
        text += random.pick(["1", "\"x\"", "null", "{}", "[]"])
        if random.chance(70) { text += closers.reversed().joined() }
        return Array(text.utf8)
    }
}
