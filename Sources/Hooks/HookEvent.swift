import FleetCore

/// One webhook event, as queued and as delivered.
///
/// `json` is the event object receivers get, complete (`name`, what it concerns, and
/// `event_id`); `name` and `channel` are kept beside it so that endpoints can filter
/// without reading it. In the stream an event is one entry of five fields: `i` (its id),
/// `t` (when it happened, milliseconds since 1970), `n` (its name), `c` (its channel, absent
/// for native events) and `e` (the JSON).
package struct HookEvent: Sendable, Hashable {
    /// 32 hex digits, unique: receivers de-duplicate by it (delivery is at least once).
    package var id: String
    /// When it happened, in milliseconds since 1970.
    package var timeMs: Int64
    package var name: String
    /// Its Pusher channel; nil for native events.
    package var channel: String?
    /// The event object as receivers get it.
    package var json: String

    package init(id: String, timeMs: Int64, name: String, channel: String?, json: String) {
        self.id = id
        self.timeMs = timeMs
        self.name = name
        self.channel = channel
        self.json = json
    }

    /// An event whose object holds `name`, then `fields` in order, then `event_id`.
    /// - Parameter channel: the `channel` field (written first after `name`), for Pusher events.
    package init(name: String, channel: String? = nil, fields: [(String, JSONValue)] = [], timeMs: Int64 = epochMilliseconds()) {
        let id = Self.makeToken()
        var json = #"{"name":"#
        JSONValue.appendString(name, to: &json)
        if let channel {
            json += #","channel":"#
            JSONValue.appendString(channel, to: &json)
        }
        for (key, value) in fields {
            json += ","
            JSONValue.appendString(key, to: &json)
            json += ":"
            value.write(to: &json)
        }
        json += #","event_id":"#
        JSONValue.appendString(id, to: &json)
        json += "}"
        self.init(id: id, timeMs: timeMs, name: name, channel: channel, json: json)
    }

    /// The stream entry's fields.
    package var streamFields: [String: String] {
        var fields = ["i": id, "t": String(timeMs), "n": name, "e": json]
        if let channel { fields["c"] = channel }
        return fields
    }

    /// Reads an event from a stream entry's fields. - Returns: nil when they are not one.
    package init?(streamFields fields: [String: String]) {
        guard let id = fields["i"], let time = fields["t"].flatMap({ Int64($0) }), let name = fields["n"], let json = fields["e"] else {
            return nil
        }
        self.init(id: id, timeMs: time, name: name, channel: fields["c"], json: json)
    }

    /// 16 random bytes as 32 hex digits: an event id, or any token that must not repeat.
    package static func makeToken() -> String { RandomHex.make(words: 2) }
}

/// Where an event comes from, which decides its stream and its endpoints: a Pusher app, or
/// the native protocol.
package enum HookSource: Sendable, Hashable, CustomStringConvertible {
    case pusher(appID: String)
    case native

    /// The part of its keys that names it: `pusher:<app id>` or `native`.
    package var description: String {
        switch self {
        case .pusher(let appID): "pusher:" + appID
        case .native: "native"
        }
    }
}

/// The webhook streams in the broker.
package struct HookKeys: Sendable {
    package let prefix: String

    package init(prefix: String) {
        self.prefix = prefix
    }

    /// The events of `source` waiting for delivery (a stream, read by ``group``).
    package func queue(_ source: HookSource) -> String { prefix + "hooks:" + source.description }
    /// The events of `source` that could not be delivered within `WEBHOOK_RETRY_FOR`.
    package func deadLetters(_ source: HookSource) -> String { prefix + "hooks:dead:" + source.description }
    /// The consumer group every worker reads the queues with.
    package static let group = "wsc-hooks"
}
