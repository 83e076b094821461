import FleetCore

/// A message from a Pusher client, checked for shape: `{"event": string, "channel"?: string,
/// "data"?: any}`. The reasons a message is refused are documented errors (docs/pusher.md).
struct PusherInbound: Sendable, Hashable {
    var event: String
    var channel: String?
    var data: JSONValue?

    struct Malformed: Error, Equatable, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    init(event: String, channel: String? = nil, data: JSONValue? = nil) {
        self.event = event
        self.channel = channel
        self.data = data
    }

    init(parsing text: String) throws(Malformed) {
        guard let value = try? JSONValue(parsing: text.utf8) else { throw Malformed("the message is not JSON") }
        guard case .object(let fields) = value else { throw Malformed("the message is not a JSON object") }
        guard case .string(let event)? = fields["event"], !event.isEmpty else {
            throw Malformed("the message has no \"event\" string")
        }
        self.event = event
        switch fields["channel"] {
        case nil, .null?: channel = nil
        case .string(let name)?: channel = name
        case let other?: throw Malformed("\"channel\" must be a string, not \(other.kind)")
        }
        data = fields["data"]
    }

    /// `data` as an object: an object, or a string holding one (some clients encode it twice).
    func dataObject() -> [String: JSONValue]? {
        switch data {
        case .object(let fields)?: return fields
        case .string(let text)?:
            if case .object(let fields)? = try? JSONValue(parsing: text.utf8) { return fields }
            return nil
        default: return nil
        }
    }

    /// A string field of the data object; nil when absent; throws when of another kind.
    static func string(_ name: String, in fields: [String: JSONValue]) throws(Malformed) -> String? {
        switch fields[name] {
        case nil, .null?: return nil
        case .string(let text)?: return text
        case let other?: throw Malformed("\"\(name)\" must be a string, not \(other.kind)")
        }
    }
}
