import PusherCore
import Testing

@Suite("PusherChannel")
struct PusherChannelTests {
    // MARK: Names

    @Test(
        "valid names: 1–200 characters of A-Z a-z 0-9 _ - = @ , . ;",
        arguments: [
            "a",
            "my-channel",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-=@,.;",
            "private-foo",
            "presence-room=1@example.com;v,2",
            "private-encrypted-x",
            "cache-x",
            "-",
            String(repeating: "x", count: 200),
            "private-" + String(repeating: "x", count: 192),
        ]
    )
    func validNames(name: String) throws {
        let channel = try #require(PusherChannel(name))
        #expect(channel.name == name)
        #expect(channel.description == name)
    }

    @Test(
        "invalid names: empty, too long, or a character outside the allowed set",
        arguments: [
            "",
            String(repeating: "x", count: 201),
            "private-" + String(repeating: "x", count: 193),
            "my channel",
            " leading",
            "trailing ",
            "tab\there",
            "line\nbreak",
            "café",
            "日本",
            "emoji-😀",
            "colon:name",
            "slash/name",
            "question?",
            "star*",
            "quote\"",
            "back\\slash",
            "plus+",
            "#hash",
            "#server-to-user",  // the prefix without its final dash
            "server-to-user-#",
            "a\u{0}",
        ]
    )
    func invalidNames(name: String) {
        #expect(PusherChannel(name) == nil)
    }

    @Test("the length limit counts characters and includes the #server-to-user- prefix")
    func lengthLimitForServerToUser() throws {
        let prefix = PusherChannel.serverToUserPrefix
        #expect(PusherChannel.maxLength == 200)
        let longest = prefix + String(repeating: "u", count: 200 - prefix.count)
        #expect(try #require(PusherChannel(longest)).kind == .serverToUser(userID: String(repeating: "u", count: 200 - prefix.count)))
        #expect(PusherChannel(longest + "u") == nil)
    }

    // MARK: Kinds

    @Test(
        "the prefix decides the kind (case-sensitive, longest prefix first)",
        arguments: [
            ("foo", PusherChannel.Kind.public),
            ("privatefoo", .public),
            ("Private-foo", .public),
            ("PRESENCE-foo", .public),
            ("encrypted-foo", .public),
            ("private-foo", .private),
            ("private-presence-foo", .private),
            ("private-encryptedfoo", .private),
            ("private-encrypted-foo", .privateEncrypted),
            ("presence-foo", .presence),
            ("presence-private-foo", .presence),
            ("#server-to-user-42", .serverToUser(userID: "42")),
            ("#server-to-user-user_1@x.com", .serverToUser(userID: "user_1@x.com")),
            ("#server-to-user-private-x", .serverToUser(userID: "private-x")),
        ]
    )
    func kinds(name: String, kind: PusherChannel.Kind) throws {
        #expect(try #require(PusherChannel(name)).kind == kind)
    }

    @Test(
        "#server-to-user- needs a user id of allowed characters",
        arguments: ["#server-to-user-", "#server-to-user-a b", "#server-to-user-é", "#server-to-user-a#b", "#server-to-user-a:b"]
    )
    func serverToUserNeedsAValidUser(name: String) {
        #expect(PusherChannel(name) == nil)
    }

    @Test(
        "cache- after the kind's prefix makes a cache channel",
        arguments: [
            ("cache-x", true),
            ("private-cache-x", true),
            ("presence-cache-x", true),
            ("private-encrypted-cache-x", true),
            ("cache-", true),
            ("x-cache-y", false),
            ("cache", false),
            ("cachex", false),
            ("Cache-x", false),
            ("private-mycache-x", false),
            ("presence-cachex", false),
            ("private-encrypted-x-cache-y", false),
            ("encrypted-cache-x", false),
            ("#server-to-user-cache-x", false),
        ]
    )
    func cacheChannels(name: String, isCache: Bool) throws {
        #expect(try #require(PusherChannel(name)).isCache == isCache)
    }

    @Test("the cache prefix keeps the kind of the channel")
    func cacheKeepsKind() throws {
        #expect(try #require(PusherChannel("cache-x")).kind == .public)
        #expect(try #require(PusherChannel("private-cache-x")).kind == .private)
        #expect(try #require(PusherChannel("private-encrypted-cache-x")).kind == .privateEncrypted)
        #expect(try #require(PusherChannel("presence-cache-x")).kind == .presence)
    }

    @Test(
        "auth, presence and client events by kind",
        arguments: [
            // name, needsAuth, isPresence, allowsClientEvents
            ("foo", false, false, false),
            ("cache-foo", false, false, false),
            ("private-foo", true, false, true),
            ("private-cache-foo", true, false, true),
            ("private-encrypted-foo", true, false, false),
            ("presence-foo", true, true, true),
            ("presence-cache-foo", true, true, true),
            ("#server-to-user-1", false, false, false),
        ]
    )
    func permissions(name: String, needsAuth: Bool, isPresence: Bool, allowsClientEvents: Bool) throws {
        let channel = try #require(PusherChannel(name))
        #expect(channel.needsAuth == needsAuth)
        #expect(channel.isPresence == isPresence)
        #expect(channel.allowsClientEvents == allowsClientEvents)
    }

    @Test("channels are equal when their names are")
    func equality() {
        #expect(PusherChannel("private-a") == PusherChannel("private-a"))
        #expect(PusherChannel("private-a") != PusherChannel("private-b"))
        #expect(Set([PusherChannel("a"), PusherChannel("a"), PusherChannel("b")]).count == 2)
    }
}
