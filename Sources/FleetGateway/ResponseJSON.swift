import FleetCore

/// Writes the API's answers in the seed's shape, keys in a fixed order:
/// `{"code":0,"msg":"ok","extra":[],"master_ids":[...],"data":{EVENT:{NODE:result}}}` (for an
/// event the gateway answers itself, such as `getWebhookDeadLetters`, `{EVENT:{KEY:result}}`).
enum ResponseJSON {
    static func success(_ result: APIResult) -> String {
        var out = #"{"code":0,"msg":"ok","extra":"#
        appendStrings(result.extra, to: &out)
        out += #","master_ids":"#
        appendStrings(result.masterIDs, to: &out)
        out += #","data":{"#
        for (index, entry) in result.data.enumerated() {
            if index > 0 { out += "," }
            appendString(entry.event.rawValue, to: &out)
            out += ":{"
            // Node events: every live node; the gateway's own: what its answer concerns.
            let keys = entry.event.routing == .gateway ? entry.results.keys.sorted() : result.masterIDs
            for (position, key) in keys.enumerated() {
                if position > 0 { out += "," }
                appendString(key, to: &out)
                out += ":"
                append(entry.results[key] ?? entry.event.resultKind.neutral, to: &out)
            }
            out += "}"
        }
        out += "}}"
        return out
    }

    static func failure(_ error: APIError, masterIDs: [String] = []) -> String {
        var out = #"{"code":"# + String(error.code) + #","msg":"#
        appendString(error.message, to: &out)
        out += #","extra":[],"master_ids":"#
        appendStrings(masterIDs, to: &out)
        out += #","data":{}}"#
        return out
    }

    static func append(_ result: OperationResult, to out: inout String) {
        switch result {
        case .int(let value): out += String(value)
        case .bool(let value): out += value ? "true" : "false"
        case .strings(let values): appendStrings(values, to: &out)
        case .object(let value): value.write(to: &out)
        case .claim(let answer): answer.write(to: &out)
        case .failure(let code, let message):
            out += #"{"code":"# + String(code) + #","msg":"#
            appendString(message, to: &out)
            out += "}"
        }
    }

    static func appendStrings(_ values: [String], to out: inout String) {
        out += "["
        for (index, value) in values.enumerated() {
            if index > 0 { out += "," }
            appendString(value, to: &out)
        }
        out += "]"
    }

    static func appendString(_ value: String, to out: inout String) {
        JSONValue.appendString(value, to: &out)
    }
}
