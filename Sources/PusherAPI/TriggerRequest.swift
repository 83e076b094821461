import FleetCore
import Foundation
import PusherCore

/// One event to trigger, checked: `POST /apps/{id}/events`, or one item of `batch_events`.
struct TriggerRequest: Sendable, Hashable {
    /// Attributes a trigger may ask for about its channels.
    enum Attribute: String, Sendable, Hashable, CaseIterable {
        case subscriptionCount = "subscription_count"
        case userCount = "user_count"
    }

    var name: String
    var data: String
    var channels: [PusherChannel]
    var socketID: String?
    var info: [Attribute]

    /// Most channels one trigger may name.
    static let maxChannels = 100
    /// Longest event name.
    static let maxNameLength = 200

    /// Reads and checks a trigger's fields.
    /// - Parameter batchIndex: the position in a batch, for messages.
    static func parse(_ value: JSONValue, app: PusherApp, batchIndex: Int? = nil) throws(PusherAPIError) -> TriggerRequest {
        let at = batchIndex.map { " (batch item \($0))" } ?? ""
        guard case .object(let fields) = value else { throw .badRequest("The event\(at) must be a JSON object") }
        guard case .string(let name)? = fields["name"], !name.isEmpty else { throw .badRequest("Missing event name: give \"name\"\(at)") }
        guard name.count <= maxNameLength else { throw .badRequest("Event name\(at) is longer than \(maxNameLength) characters") }
        let data: String
        switch fields["data"] {
        case .string(let text)?: data = text
        case nil, .null?: throw .badRequest("Missing \"data\"\(at): the event's payload, a string")
        case let other?: data = other.text
        }
        var names: [String] = []
        switch (fields["channels"], fields["channel"]) {
        case (.array(let items)?, nil):
            for item in items {
                guard case .string(let channel) = item else { throw .badRequest("\"channels\"\(at) must be a list of channel names") }
                names.append(channel)
            }
        case (nil, .string(let channel)?):
            names = [channel]
        case (nil, nil):
            throw .badRequest("Missing \"channels\" (a list) or \"channel\"\(at)")
        default:
            throw .badRequest("Give either \"channels\" (a list of names) or \"channel\" (a name)\(at)")
        }
        guard !names.isEmpty else { throw .badRequest("\"channels\"\(at) is empty") }
        guard names.count <= maxChannels else { throw .badRequest("Too many channels\(at): \(names.count), at most \(maxChannels)") }
        var channels: [PusherChannel] = []
        for name in names {
            guard let channel = PusherChannel(name) else {
                throw .badRequest("Invalid channel name \(name.prefix(64))\(at): 1 to 200 characters of A-Z a-z 0-9 _ - = @ , . ;")
            }
            channels.append(channel)
        }
        if channels.count > 1, channels.contains(where: { $0.kind == .privateEncrypted }) {
            throw .badRequest("An event for an encrypted channel must name that channel only\(at)")
        }
        var socketID: String?
        switch fields["socket_id"] {
        case nil, .null?: break
        case .string(let text)?:
            guard isSocketID(text) else { throw .badRequest("Invalid socket_id \(text.prefix(64))\(at): digits.digits") }
            socketID = text
        default: throw .badRequest("socket_id\(at) must be a string")
        }
        var info: [Attribute] = []
        switch fields["info"] {
        case nil, .null?: break
        case .string(let text)?: info = try attributes(text)
        default: throw .badRequest("info\(at) must be a comma-separated string")
        }
        let size = data.utf8.count
        guard size <= app.maxEventPayloadBytes else {
            throw PusherAPIError.tooLarge("Payload too large\(at): data is \(size) bytes, the limit is \(app.maxEventPayloadKB) KB")
        }
        return TriggerRequest(name: name, data: data, channels: channels, socketID: socketID, info: info)
    }

    /// `info=subscription_count,user_count`.
    static func attributes(_ text: String) throws(PusherAPIError) -> [Attribute] {
        var result: [Attribute] = []
        for part in text.split(separator: ",") {
            let name = part.trimmingCharacters(in: .whitespaces)
            guard let attribute = Attribute(rawValue: name) else {
                throw .badRequest("Unknown info attribute \(name.prefix(64)): subscription_count or user_count")
            }
            if !result.contains(attribute) { result.append(attribute) }
        }
        return result
    }

    static func isSocketID(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 2 && parts.allSatisfy { !$0.isEmpty && $0.count <= 20 && $0.allSatisfy(\.isASCIIDigit) }
    }

    /// The frame every subscriber of `channel` receives.
    func frame(for channel: PusherChannel) -> String {
        PusherFrame.event(name, channel: channel.name, data: .string(data))
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
