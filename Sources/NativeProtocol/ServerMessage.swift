import FleetCore

/// The messages the node sends over the native protocol, as JSON text.
package enum ServerMessage {
    package static let pong = #"{"type":"pong"}"#

    package static func joined(_ room: String) -> String {
        #"{"type":"joined","room":"# + JSONValue.quoted(room) + "}"
    }

    package static func left(_ room: String) -> String {
        #"{"type":"left","room":"# + JSONValue.quoted(room) + "}"
    }

    package static func broadcastSent(_ room: String, delivered: Int) -> String {
        #"{"type":"broadcast_sent","room":"# + JSONValue.quoted(room) + #","delivered":"# + String(delivered) + "}"
    }

    /// What the other members of `room` receive for a client's broadcast.
    package static func roomMessage(_ room: String, from connectionID: String, data: String) -> String {
        #"{"type":"message","room":"# + JSONValue.quoted(room) + #","from":"# + JSONValue.quoted(connectionID)
            + #","data":"# + data + "}"
    }

    /// The reply to a successful `reconnect`; `missed` messages follow it.
    package static func reconnected(previousID: String, connectionID: String, missed: Int) -> String {
        #"{"type":"reconnected","previous_id":"# + JSONValue.quoted(previousID) + #","_id":"# + JSONValue.quoted(connectionID)
            + #","missed":"# + String(missed) + "}"
    }

    /// Sent after `reconnected` when the replay is not complete: `dropped` older messages were
    /// beyond `REPLAY_MAX`, or (`dropped` nil) the session's node was lost and what was sent
    /// while it was down could not be recorded.
    package static func replayTruncated(dropped: Int?) -> String {
        if let dropped {
            return #"{"type":"replay_truncated","reason":"replay_max","dropped":"# + String(dropped) + "}"
        }
        return #"{"type":"replay_truncated","reason":"node_lost"}"#
    }

    /// The session missed messages while away that no count tells: a room over
    /// `MAX_AWAY_SESSIONS_PER_ROOM`, or recordings the broker could not take in time.
    package static let replayIncomplete = #"{"type":"replay_truncated","reason":"incomplete"}"#

    package static func error(_ error: ProtocolError) -> String {
        #"{"type":"error","code":"# + JSONValue.quoted(error.code.rawValue) + #","message":"#
            + JSONValue.quoted(error.message) + "}"
    }
}
