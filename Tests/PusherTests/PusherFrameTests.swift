import Foundation
import PusherCore
import Testing

/// Every frame is JSON that pusher-js reads: `event`, optional `channel`, and `data` that is
/// a string (which pusher-js parses again) or an object, depending on the event.
@Suite("PusherFrame")
struct PusherFrameTests {
    /// `text` parsed as a JSON object.
    private func object(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let value = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        return try #require(value as? [String: Any], "not a JSON object: \(text)", sourceLocation: sourceLocation)
    }

    /// The frame's `data`, which must be a string holding a JSON object.
    private func dataString(_ frame: [String: Any], sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let text = try #require(frame["data"] as? String, "data is not a string", sourceLocation: sourceLocation)
        return try object(text, sourceLocation: sourceLocation)
    }

    /// The frame's `data`, which must be a JSON object (not a string).
    private func dataObject(_ frame: [String: Any], sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        try #require(frame["data"] as? [String: Any], "data is not an object", sourceLocation: sourceLocation)
    }

    // MARK: Events

    @Test("event: the fields given, data as a string or as JSON written as is")
    func event() throws {
        let plain = try object(PusherFrame.event("my-event", channel: "my-channel", data: .string(#"{"a":1}"#)))
        #expect(Set(plain.keys) == ["event", "channel", "data"])
        #expect(plain["event"] as? String == "my-event")
        #expect(plain["channel"] as? String == "my-channel")
        #expect(plain["data"] as? String == #"{"a":1}"#)

        let json = try object(PusherFrame.event("client-typing", channel: "private-x", data: .json(#"{"a":[1,true,null]}"#), userID: "u1"))
        #expect(Set(json.keys) == ["event", "channel", "data", "user_id"])
        #expect(json["user_id"] as? String == "u1")
        let data = try dataObject(json)
        #expect(data["a"] as? [Any] != nil)
        #expect((data["a"] as? [Any])?.count == 3)

        let bare = try object(PusherFrame.event("pusher:x", channel: nil, data: .json("42")))
        #expect(Set(bare.keys) == ["event", "data"])
        #expect(bare["data"] as? Int == 42)
    }

    @Test("event: exact text, fields in the order event, channel, data, user_id")
    func eventText() {
        #expect(
            PusherFrame.event("e", channel: "c", data: .string("d"), userID: "u") == #"{"event":"e","channel":"c","data":"d","user_id":"u"}"#
        )
        #expect(PusherFrame.event("e", channel: nil, data: .json("{}")) == #"{"event":"e","data":{}}"#)
    }

    @Test(
        "strings are escaped: quotes, backslashes, line breaks, control characters, unicode",
        arguments: [
            #"say "hi""#,
            #"back\slash"#,
            "line\nbreak\r\ttab",
            "bell\u{7}null\u{0}unit\u{1F}",
            "café ✓ 日本 😀",
            "\u{2028}\u{2029}",
            "</script>",
            "",
        ]
    )
    func escaping(text: String) throws {
        let frame = try object(PusherFrame.event(text, channel: text, data: .string(text), userID: text))
        #expect(frame["event"] as? String == text)
        #expect(frame["channel"] as? String == text)
        #expect(frame["data"] as? String == text)
        #expect(frame["user_id"] as? String == text)
        // Each frame is one line: a raw line break never reaches the wire.
        #expect(!PusherFrame.event(text, channel: nil, data: .string(text)).contains("\n"))
    }

    // MARK: Connection

    @Test("connection_established: data is a JSON string holding socket_id and activity_timeout")
    func connectionEstablished() throws {
        let frame = try object(PusherFrame.connectionEstablished(socketID: "123.456", activityTimeout: 120))
        #expect(Set(frame.keys) == ["event", "data"])
        #expect(frame["event"] as? String == "pusher:connection_established")
        let data = try dataString(frame)
        #expect(Set(data.keys) == ["socket_id", "activity_timeout"])
        #expect(data["socket_id"] as? String == "123.456")
        #expect(data["activity_timeout"] as? Int == 120)
    }

    @Test("pusher:error: data is an object with message and code (code left out when nil)")
    func error() throws {
        let frame = try object(PusherFrame.error(4001, #"App key "x" does not exist"#))
        #expect(Set(frame.keys) == ["event", "data"])
        #expect(frame["event"] as? String == "pusher:error")
        let data = try dataObject(frame)
        #expect(data["message"] as? String == #"App key "x" does not exist"#)
        #expect(data["code"] as? Int == 4001)

        let noCode = try dataObject(try object(PusherFrame.error(nil, "bad\nmessage")))
        #expect(Set(noCode.keys) == ["message"])
        #expect(noCode["message"] as? String == "bad\nmessage")
    }

    @Test("ping and pong: data is the string \"{}\"")
    func pingPong() throws {
        let pong = try object(PusherFrame.pong)
        #expect(pong["event"] as? String == "pusher:pong")
        #expect(pong["data"] as? String == "{}")
        let ping = try object(PusherFrame.ping)
        #expect(ping["event"] as? String == "pusher:ping")
        #expect(ping["data"] as? String == "{}")
    }

    @Test("signin_success: data is an object whose user_data is the signed string, unchanged")
    func signinSuccess() throws {
        let userData = #"{"id": "12345", "name": "Ann \"A\""}"#
        let frame = try object(PusherFrame.signinSuccess(userData: userData))
        #expect(frame["event"] as? String == "pusher:signin_success")
        #expect(frame["channel"] == nil)
        let data = try dataObject(frame)
        #expect(data["user_data"] as? String == userData)
    }

    // MARK: Subscriptions

    @Test("subscription_succeeded: channel, data the string \"{}\" by default")
    func subscriptionSucceeded() throws {
        let frame = try object(PusherFrame.subscriptionSucceeded(channel: "private-a"))
        #expect(frame["event"] as? String == "pusher_internal:subscription_succeeded")
        #expect(frame["channel"] as? String == "private-a")
        #expect(frame["data"] as? String == "{}")
    }

    @Test("presence subscription_succeeded: data string parses to presence ids, hash and count")
    func presenceSubscriptionSucceeded() throws {
        let members: [(id: String, info: String)] = [
            (id: "1", info: #"{"name":"Ann","tags":["a","b"]}"#),
            (id: "2", info: "null"),
            (id: #"we"ird\id"#, info: #""just a string""#),
        ]
        let frame = try object(PusherFrame.subscriptionSucceeded(channel: "presence-room", data: PusherFrame.presenceData(members)))
        #expect(frame["channel"] as? String == "presence-room")
        let data = try dataString(frame)
        #expect(Set(data.keys) == ["presence"])
        let presence = try #require(data["presence"] as? [String: Any])
        #expect(Set(presence.keys) == ["ids", "hash", "count"])
        #expect(presence["ids"] as? [String] == ["1", "2", #"we"ird\id"#])
        #expect(presence["count"] as? Int == 3)
        let hash = try #require(presence["hash"] as? [String: Any])
        #expect(Set(hash.keys) == ["1", "2", #"we"ird\id"#])
        let ann = try #require(hash["1"] as? [String: Any])
        #expect(ann["name"] as? String == "Ann")
        #expect(ann["tags"] as? [String] == ["a", "b"])
        #expect(hash["2"] is NSNull)
        #expect(hash[#"we"ird\id"#] as? String == "just a string")
    }

    @Test("presence data with no members: empty ids and hash, count 0")
    func emptyPresence() throws {
        let text = PusherFrame.presenceData([])
        #expect(text == #"{"presence":{"ids":[],"hash":{},"count":0}}"#)
        let presence = try #require(try object(text)["presence"] as? [String: Any])
        #expect((presence["ids"] as? [Any])?.isEmpty == true)
        #expect((presence["hash"] as? [String: Any])?.isEmpty == true)
        #expect(presence["count"] as? Int == 0)
    }

    @Test("subscription_error: channel, data object with type, error and status")
    func subscriptionError() throws {
        let frame = try object(PusherFrame.subscriptionError(channel: "private-a", type: "AuthError", error: "Invalid \"auth\"", status: 401))
        #expect(frame["event"] as? String == "pusher:subscription_error")
        #expect(frame["channel"] as? String == "private-a")
        let data = try dataObject(frame)
        #expect(Set(data.keys) == ["type", "error", "status"])
        #expect(data["type"] as? String == "AuthError")
        #expect(data["error"] as? String == "Invalid \"auth\"")
        #expect(data["status"] as? Int == 401)
    }

    @Test("member_added: data string with user_id and the user_info value")
    func memberAdded() throws {
        let frame = try object(PusherFrame.memberAdded(channel: "presence-a", userID: "u\"1", info: #"{"name":"Bob"}"#))
        #expect(frame["event"] as? String == "pusher_internal:member_added")
        #expect(frame["channel"] as? String == "presence-a")
        let data = try dataString(frame)
        #expect(Set(data.keys) == ["user_id", "user_info"])
        #expect(data["user_id"] as? String == "u\"1")
        #expect((data["user_info"] as? [String: Any])?["name"] as? String == "Bob")

        let noInfo = try dataString(try object(PusherFrame.memberAdded(channel: "presence-a", userID: "2", info: "null")))
        #expect(noInfo["user_info"] is NSNull)
    }

    @Test("member_removed: data string with user_id only")
    func memberRemoved() throws {
        let frame = try object(PusherFrame.memberRemoved(channel: "presence-a", userID: "u1"))
        #expect(frame["event"] as? String == "pusher_internal:member_removed")
        #expect(frame["channel"] as? String == "presence-a")
        let data = try dataString(frame)
        #expect(Set(data.keys) == ["user_id"])
        #expect(data["user_id"] as? String == "u1")
    }

    @Test("subscription_count: data string with subscription_count")
    func subscriptionCount() throws {
        let frame = try object(PusherFrame.subscriptionCount(channel: "my-channel", count: 1234))
        #expect(frame["event"] as? String == "pusher_internal:subscription_count")
        #expect(frame["channel"] as? String == "my-channel")
        let data = try dataString(frame)
        #expect(Set(data.keys) == ["subscription_count"])
        #expect(data["subscription_count"] as? Int == 1234)
    }

    @Test("cache_miss: channel, data the string \"{}\"")
    func cacheMiss() throws {
        let frame = try object(PusherFrame.cacheMiss(channel: "cache-a"))
        #expect(frame["event"] as? String == "pusher:cache_miss")
        #expect(frame["channel"] as? String == "cache-a")
        #expect(frame["data"] as? String == "{}")
    }

    // MARK: Watchlists

    @Test("watchlist_events: data object with events[].name and user_ids")
    func watchlistEvents() throws {
        let frame = try object(PusherFrame.watchlistEvents([
            (name: "online", userIDs: ["1", "2"]),
            (name: "offline", userIDs: ["x\"y"]),
            (name: "online", userIDs: []),
        ]))
        #expect(frame["event"] as? String == "pusher_internal:watchlist_events")
        #expect(frame["channel"] == nil)
        let data = try dataObject(frame)
        let events = try #require(data["events"] as? [[String: Any]])
        #expect(events.count == 3)
        #expect(events.map { $0["name"] as? String } == ["online", "offline", "online"])
        #expect(events.map { $0["user_ids"] as? [String] } == [["1", "2"], ["x\"y"], []])
        #expect(events.allSatisfy { Set($0.keys) == ["name", "user_ids"] })

        let none = try dataObject(try object(PusherFrame.watchlistEvents([])))
        #expect((none["events"] as? [Any])?.isEmpty == true)
    }
}
