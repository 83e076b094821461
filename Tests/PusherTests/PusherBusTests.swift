import PusherCore
import Testing

/// What travels on the bus (channel topics and the control topic) and the key layout.
@Suite("Pusher bus and keys")
struct PusherBusTests {
    // MARK: PusherBusMessage

    @Test(
        "a bus message round-trips, with or without an excluded socket",
        arguments: [
            (PusherBusMessage(frame: #"{"event":"e","data":"d"}"#, excluding: "123.456"), "123.456\n{\"event\":\"e\",\"data\":\"d\"}"),
            (PusherBusMessage(frame: #"{"event":"e","data":"d"}"#), "\n{\"event\":\"e\",\"data\":\"d\"}"),
            (PusherBusMessage(frame: "line one\nline two\n\n", excluding: "1.2"), "1.2\nline one\nline two\n\n"),
            (PusherBusMessage(frame: "\nstarts with a break"), "\n\nstarts with a break"),
            (PusherBusMessage(frame: "", excluding: "9.9"), "9.9\n"),
            (PusherBusMessage(frame: ""), "\n"),
        ]
    )
    func busMessageRoundTrip(message: PusherBusMessage, encoded: String) throws {
        #expect(message.encoded == encoded)
        let decoded = try #require(PusherBusMessage(decoding: encoded))
        #expect(decoded == message)
        #expect(decoded.frame == message.frame)
        #expect(decoded.excludedSocketID == message.excludedSocketID)
    }

    @Test("an empty exclusion decodes as none")
    func emptyExclusion() throws {
        let message = PusherBusMessage(frame: "f", excluding: "")
        #expect(message.encoded == "\nf")
        #expect(try #require(PusherBusMessage(decoding: message.encoded)).excludedSocketID == nil)
        #expect(try #require(PusherBusMessage(decoding: "\nf")).excludedSocketID == nil)
    }

    @Test("a payload without a line break is not a bus message")
    func busMessageWithoutBreak() {
        #expect(PusherBusMessage(decoding: "") == nil)
        #expect(PusherBusMessage(decoding: #"{"event":"e"}"#) == nil)
    }

    // MARK: PusherControl

    @Test(
        "terminate round-trips; a user id may hold line breaks",
        arguments: [
            ("1", "user-42", "terminate\n1\nuser-42"),
            ("app_x", "", "terminate\napp_x\n"),
            ("1", "multi\nline\nuser", "terminate\n1\nmulti\nline\nuser"),
            ("1", "ünïcode 😀", "terminate\n1\nünïcode 😀"),
        ]
    )
    func controlRoundTrip(app: String, user: String, encoded: String) throws {
        let control = PusherControl.terminate(app: app, userID: user)
        #expect(control.encoded == encoded)
        #expect(PusherControl(decoding: encoded) == control)
    }

    @Test(
        "anything else on the control topic is ignored",
        arguments: ["", "terminate", "terminate\n1", "Terminate\n1\nu", "kill\n1\nu", "terminate 1 u", "\n1\nu"]
    )
    func controlRefuses(payload: String) {
        #expect(PusherControl(decoding: payload) == nil)
    }

    // MARK: PusherKeys

    @Test("every name sits under <prefix>pusher: and per-app names start with the app id")
    func keyLayout() {
        let keys = PusherKeys(prefix: "wsc:")
        #expect(keys.prefix == "wsc:pusher:")
        #expect(keys.channelTopic(app: "1", channel: "private-a") == "wsc:pusher:1:ch:private-a")
        #expect(keys.controlTopic == "wsc:pusher:control")
        #expect(keys.userStatusTopic(app: "1") == "wsc:pusher:1:users:status")
        #expect(keys.nodeChannels(app: "1", node: "n1") == "wsc:pusher:1:node:n1:channels")
        #expect(keys.connections(app: "1") == "wsc:pusher:1:connections")
        #expect(keys.nodeApps(node: "n1") == "wsc:pusher:node:n1:apps")
        #expect(keys.presence(app: "1", channel: "presence-a") == "wsc:pusher:1:presence:presence-a")
        #expect(keys.nodePresence(app: "1", channel: "presence-a", node: "n1") == "wsc:pusher:1:presence:presence-a:node:n1")
        #expect(keys.users(app: "1") == "wsc:pusher:1:users")
        #expect(keys.nodeUsers(app: "1", node: "n1") == "wsc:pusher:1:users:node:n1")
        #expect(keys.cache(app: "1", channel: "cache-a") == "wsc:pusher:1:cache:cache-a")
        #expect(PusherKeys(prefix: "").controlTopic == "pusher:control")
    }

    @Test("two apps never share a name")
    func appsAreSeparate() {
        let keys = PusherKeys(prefix: "wsc:")
        func names(_ app: String) -> Set<String> {
            [
                keys.channelTopic(app: app, channel: "c"), keys.userStatusTopic(app: app), keys.nodeChannels(app: app, node: "n"),
                keys.connections(app: app), keys.presence(app: app, channel: "presence-c"),
                keys.nodePresence(app: app, channel: "presence-c", node: "n"), keys.users(app: app),
                keys.nodeUsers(app: app, node: "n"), keys.cache(app: app, channel: "cache-c"),
            ]
        }
        #expect(names("1").count == 9)
        #expect(names("1").isDisjoint(with: names("2")))
        #expect(names("1").isDisjoint(with: names("11")))
    }
}
