import FleetCore

/// The JSON texts the server sends on a Pusher connection. Each is built once and written as
/// is to every recipient.
package enum PusherFrame {
    /// An event's `data`: a string (the REST API's, and every `pusher_internal:` event's, JSON
    /// encoded as a string) or a JSON value written as is (a client event's object).
    package enum Data: Sendable, Hashable {
        case string(String)
        case json(String)
    }

    /// `{"event":…,"channel":…,"data":…,"user_id":…}` (channel and user_id when given).
    package static func event(_ name: String, channel: String?, data: Data, userID: String? = nil) -> String {
        var out = #"{"event":"#
        JSONValue.appendString(name, to: &out)
        if let channel {
            out += #","channel":"#
            JSONValue.appendString(channel, to: &out)
        }
        out += #","data":"#
        switch data {
        case .string(let text): JSONValue.appendString(text, to: &out)
        case .json(let text): out += text
        }
        if let userID {
            out += #","user_id":"#
            JSONValue.appendString(userID, to: &out)
        }
        out += "}"
        return out
    }

    /// `pusher:connection_established` with `data` a JSON string of socket_id and activity_timeout.
    package static func connectionEstablished(socketID: String, activityTimeout: Int) -> String {
        event("pusher:connection_established", channel: nil, data: .string(
            #"{"socket_id":"# + JSONValue.quoted(socketID) + #","activity_timeout":"# + String(activityTimeout) + "}"
        ))
    }

    /// `pusher:error` with `{"message":…,"code":…}` (code omitted when nil).
    package static func error(_ code: Int?, _ message: String) -> String {
        var data = #"{"message":"# + JSONValue.quoted(message)
        if let code { data += #","code":"# + String(code) }
        data += "}"
        return event("pusher:error", channel: nil, data: .json(data))
    }

    /// `pusher:subscription_error` with `{"type":…,"error":…,"status":…}`.
    package static func subscriptionError(channel: String, type: String, error: String, status: Int) -> String {
        event("pusher:subscription_error", channel: channel, data: .json(
            #"{"type":"# + JSONValue.quoted(type) + #","error":"# + JSONValue.quoted(error) + #","status":"# + String(status) + "}"
        ))
    }

    package static let pong = #"{"event":"pusher:pong","data":"{}"}"#
    package static let ping = #"{"event":"pusher:ping","data":"{}"}"#

    package static func subscriptionSucceeded(channel: String, data: String = "{}") -> String {
        event("pusher_internal:subscription_succeeded", channel: channel, data: .string(data))
    }

    /// The presence part of `subscription_succeeded`: `{"presence":{"ids":…,"hash":…,"count":…}}`.
    /// - Parameter members: user id → user_info JSON text (`null` when none), in id order.
    package static func presenceData(_ members: [(id: String, info: String)]) -> String {
        var ids = "[", hash = "{"
        for (index, member) in members.enumerated() {
            if index > 0 { ids += ","; hash += "," }
            JSONValue.appendString(member.id, to: &ids)
            JSONValue.appendString(member.id, to: &hash)
            hash += ":" + member.info
        }
        return #"{"presence":{"ids":"# + ids + #"],"hash":"# + hash + #"},"count":"# + String(members.count) + "}}"
    }

    package static func memberAdded(channel: String, userID: String, info: String) -> String {
        event("pusher_internal:member_added", channel: channel, data: .string(
            #"{"user_id":"# + JSONValue.quoted(userID) + #","user_info":"# + info + "}"
        ))
    }

    package static func memberRemoved(channel: String, userID: String) -> String {
        event("pusher_internal:member_removed", channel: channel, data: .string(#"{"user_id":"# + JSONValue.quoted(userID) + "}"))
    }

    package static func subscriptionCount(channel: String, count: Int) -> String {
        event("pusher_internal:subscription_count", channel: channel, data: .string(#"{"subscription_count":"# + String(count) + "}"))
    }

    package static func cacheMiss(channel: String) -> String {
        event("pusher:cache_miss", channel: channel, data: .string("{}"))
    }

    package static func signinSuccess(userData: String) -> String {
        event("pusher:signin_success", channel: nil, data: .json(#"{"user_data":"# + JSONValue.quoted(userData) + "}"))
    }

    /// `pusher_internal:watchlist_events` as pusher-js reads it: `data.events[].name/user_ids`.
    package static func watchlistEvents(_ events: [(name: String, userIDs: [String])]) -> String {
        let list = events.map { event in
            #"{"name":"# + JSONValue.quoted(event.name) + #","user_ids":["#
                + event.userIDs.map(JSONValue.quoted).joined(separator: ",") + "]}"
        }
        return PusherFrame.event("pusher_internal:watchlist_events", channel: nil, data: .json(#"{"events":["# + list.joined(separator: ",") + "]}"))
    }
}
