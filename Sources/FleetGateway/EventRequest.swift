import FleetHTTP
import FleetCore
import Foundation

/// One event of a request, with its checked arguments.
package struct EventCall: Sendable, Hashable {
    package var event: FleetEvent
    package var arguments: EventArguments

    package init(event: FleetEvent, arguments: EventArguments) {
        self.event = event
        self.arguments = arguments
    }
}

/// Reads an event API request: the `event` list and `token` from the query, each event's
/// parameters from the query (`NAME[param]=value`) and, for POST, from a JSON body
/// (`{"NAME": {"param": value}}`) or a form body (`NAME[param]=value`). Every event is
/// checked before anything runs: one bad parameter rejects the whole batch.
/// (`token` is the gateway's to check, before this.)
package struct EventRequest: Sendable, Hashable {
    package var calls: [EventCall]

    /// Groups one event may name in its comma-separated `groupId` (`joinGroupById`…): more is
    /// answered 400, so that one call cannot make every node work through an unbounded list.
    package static let maxGroupsPerEvent = 1000

    package enum BodyFormat: Sendable {
        case json, form
    }

    /// - Parameters:
    ///   - query: the raw query string, without `?`.
    ///   - body: the request body, if any.
    ///   - contentType: the `Content-Type` header; a body without one is read as JSON if it
    ///     starts with `{`, else as a form.
    package static func parse(query: Substring, body: [UInt8]? = nil, contentType: String? = nil) throws(APIError) -> EventRequest {
        let pairs: [(name: String, value: String)]
        do {
            pairs = try FormDecoding.pairs(query)
        } catch {
            throw .badRequest("malformed query string: \(error)")
        }
        var eventList: String?
        var parameters: [String: [String: ParameterValue]] = [:]
        for (name, value) in pairs {
            switch name {
            case "token": continue
            case "event": eventList = value
            default:
                if let (event, parameter) = splitBracketed(name) {
                    parameters[event, default: [:]][parameter] = .text(value)
                }
            }
        }
        if let body, !body.isEmpty {
            for (event, values) in try parseBody(body, contentType: contentType) {
                parameters[event, default: [:]].merge(values) { _, new in new }
            }
        }

        guard let eventList, !eventList.trimmingBlanks().isEmpty else {
            throw .badRequest("missing event: give ?event=NAME[,NAME...]")
        }
        var calls: [EventCall] = []
        var seen = Set<FleetEvent>()
        for rawName in eventList.split(separator: ",", omittingEmptySubsequences: false) {
            let name = rawName.trimmingBlanks()
            guard let event = FleetEvent(rawValue: name) else {
                throw .badRequest(name.isEmpty ? "empty event name in \"\(eventList)\"" : "unknown event \"\(name)\"")
            }
            guard seen.insert(event).inserted else {
                throw .badRequest("event \"\(name)\" is given twice; each event of a batch appears once")
            }
            calls.append(EventCall(event: event, arguments: try arguments(for: event, from: parameters[name] ?? [:])))
        }
        return EventRequest(calls: calls)
    }

    // MARK: Parameters

    enum ParameterValue: Hashable {
        case text(String)
        /// A JSON value that is not a string or a number: its kind, for the error.
        case illTyped(String)
    }

    /// `NAME[param]` → (NAME, param).
    static func splitBracketed(_ name: String) -> (String, String)? {
        guard name.hasSuffix("]"), let open = name.firstIndex(of: "[") else { return nil }
        let event = String(name[..<open])
        let parameter = String(name[name.index(after: open)..<name.index(before: name.endIndex)])
        guard !event.isEmpty, !parameter.isEmpty else { return nil }
        return (event, parameter)
    }

    static func arguments(for event: FleetEvent, from values: [String: ParameterValue]) throws(APIError) -> EventArguments {
        var arguments = EventArguments()
        for parameter in event.parameters {
            let text: String
            switch values[parameter.rawValue] {
            case nil:
                throw .badRequest("\(event.rawValue): missing parameter \(parameter.rawValue) (give \(event.rawValue)[\(parameter.rawValue)]=...)")
            case .illTyped(let kind)?:
                throw .badRequest("\(event.rawValue): parameter \(parameter.rawValue) must be a string or a number, not \(kind)")
            case .text(let value)?:
                text = value
            }
            if parameter != .message, text.isEmpty {
                throw .badRequest("\(event.rawValue): parameter \(parameter.rawValue) is empty")
            }
            switch parameter {
            case .id: arguments.id = text
            case .connectionID: arguments.connectionID = text
            case .message: arguments.message = text
            case .appID: arguments.appID = text
            case .channel: arguments.channel = text
            case .name: arguments.name = text
            case .groupID:
                if event.acceptsGroupList {
                    let groups = text.split(separator: ",").map { $0.trimmingBlanks() }.filter { !$0.isEmpty }
                    guard !groups.isEmpty else { throw .badRequest("\(event.rawValue): parameter groupId names no group") }
                    // In the order given, each once: a set of those seen keeps this linear.
                    var seen = Set<String>(minimumCapacity: groups.count)
                    let unique = groups.filter { seen.insert($0).inserted }
                    guard unique.count <= Self.maxGroupsPerEvent else {
                        throw .badRequest("\(event.rawValue): parameter groupId names \(unique.count) groups; at most \(Self.maxGroupsPerEvent) per event")
                    }
                    arguments.groups = unique
                } else {
                    arguments.groups = [text]
                }
            }
        }
        return arguments
    }

    // MARK: Bodies

    static func parseBody(_ body: [UInt8], contentType: String?) throws(APIError) -> [String: [String: ParameterValue]] {
        let type = contentType?.lowercased() ?? ""
        let format: BodyFormat
        if type.contains("json") {
            format = .json
        } else if type.contains("x-www-form-urlencoded") {
            format = .form
        } else {
            let first = body.first { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }
            format = first == UInt8(ascii: "{") || first == UInt8(ascii: "[") ? .json : .form
        }
        switch format {
        case .json: return try parseJSONBody(body)
        case .form: return try parseFormBody(body)
        }
    }

    static func parseFormBody(_ body: [UInt8]) throws(APIError) -> [String: [String: ParameterValue]] {
        guard let text = String(validating: body, as: UTF8.self) else { throw .badRequest("malformed form body: invalid UTF-8") }
        let pairs: [(name: String, value: String)]
        do {
            pairs = try FormDecoding.pairs(text[...])
        } catch {
            throw .badRequest("malformed form body: \(error)")
        }
        var result: [String: [String: ParameterValue]] = [:]
        for (name, value) in pairs {
            guard let (event, parameter) = splitBracketed(name) else { continue }
            result[event, default: [:]][parameter] = .text(value)
        }
        return result
    }

    static func parseJSONBody(_ body: [UInt8]) throws(APIError) -> [String: [String: ParameterValue]] {
        let value: JSONValue
        do {
            value = try JSONValue(parsing: body)
        } catch {
            throw .badRequest("malformed JSON body: \(describe(error))")
        }
        if case .array(let items) = value, items.isEmpty { return [:] }  // PHP's json_encode([])
        guard case .object(let events) = value else {
            throw .badRequest("JSON body must be an object like {\"EVENT\": {\"param\": \"value\"}}, not \(value.kind)")
        }
        var result: [String: [String: ParameterValue]] = [:]
        for (event, parameters) in events {
            switch parameters {
            case .object(let members):
                result[event] = members.mapValues { member in
                    switch member {
                    case .string(let text): .text(text)
                    case .number(let text): .text(text)
                    default: .illTyped(member.kind)
                    }
                }
            case .array(let items) where items.isEmpty:
                // PHP clients encode an empty map as [].
                result[event] = [:]
            default:
                throw .badRequest("JSON body: the value of \"\(event)\" must be an object of parameters, not \(parameters.kind)")
            }
        }
        return result
    }

    private static func describe(_ error: any Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error {
            let underlying = (context.underlyingError as? NSError)?.userInfo[NSDebugDescriptionErrorKey] as? String
            return underlying ?? context.debugDescription
        }
        return "\(error)"
    }
}
