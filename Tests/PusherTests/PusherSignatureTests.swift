import PusherCore
import Testing

/// Signatures against Pusher's published examples and vectors made with the official
/// Python server SDK.
///
/// The SDK vectors were produced once with `pusher` 3.3.4 from PyPI:
///
///     p = pusher.Pusher(app_id='3', key='278d425bdf160c739803', secret='7ad3773142a6692b25b8')
///     p.authenticate(channel='presence-foobar', socket_id='1234.1234',
///                    custom_data={'user_id': '10', 'user_info': {'name': 'Mr. Channels'}})
///     p.authenticate_user(socket_id='1234.1234', user_data={'id': '12345', 'name': 'Ann'})
///     with mock.patch('time.time', return_value=1353088179):
///         pusher.http.Request(p._pusher_client, 'GET', '/apps/3/channels',
///                             {'filter_by_prefix': 'presence-', 'info': 'user_count'}).query_params
///         pusher.http.Request(p._pusher_client, 'POST', '/apps/3/events',
///                             {'name': 'foo', 'channels': ['project-3'], 'data': '{"some":"data"}'})
///
/// (Python's `json.dumps` puts a space after `:` and `,`; the strings below keep its bytes.)
@Suite("PusherSignature")
struct PusherSignatureTests {
    static let app = PusherApp(id: "3", key: "278d425bdf160c739803", secret: "7ad3773142a6692b25b8")

    // MARK: Primitives

    @Test("sign is lowercase hex HMAC-SHA256 (the RFC example)")
    func signIsHMACSHA256() {
        #expect(
            PusherSignature.sign("The quick brown fox jumps over the lazy dog", secret: "key")
                == "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        )
    }

    @Test("md5 is lowercase hex of the bytes given")
    func md5OfBytes() {
        #expect(PusherSignature.md5([UInt8]()) == "d41d8cd98f00b204e9800998ecf8427e")
        #expect(PusherSignature.md5(Array("héllo\n".utf8)) == "1082e4bdaee22cfa4057c4f6a5e4c3da")
    }

    @Test("verify accepts the signature of the text only")
    func verifySignature() {
        let signature = PusherSignature.sign("text", secret: "s")
        #expect(PusherSignature.verify(signature, of: "text", secret: "s"))
        #expect(!PusherSignature.verify(signature, of: "text ", secret: "s"))
        #expect(!PusherSignature.verify(signature, of: "text", secret: "t"))
        #expect(!PusherSignature.verify(signature.uppercased(), of: "text", secret: "s"))
        #expect(!PusherSignature.verify(String(signature.dropLast()), of: "text", secret: "s"))
    }

    @Test(
        "constantTimeEquals is plain equality of the UTF-8 bytes",
        arguments: [
            ("", "", true),
            ("abc", "abc", true),
            ("héllo", "héllo", true),
            ("abc", "abd", false),
            ("abc", "ab", false),
            ("ab", "abc", false),
            ("", "a", false),
            ("a", "", false),
            ("é", "e\u{301}", false),  // equal as Swift strings, different bytes
            ("0000", "000\u{0}", false),
        ]
    )
    func constantTimeEquals(lhs: String, rhs: String, equal: Bool) {
        #expect(PusherSignature.constantTimeEquals(lhs, rhs) == equal)
    }

    // MARK: Channel authorization

    @Test("private channel auth matches Pusher's published example")
    func privateChannelAuth() {
        let auth = PusherSignature.channelAuth(app: Self.app, socketID: "1234.1234", channel: "private-foobar", channelData: nil)
        #expect(auth == "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4")
        let text = PusherSignature.channelAuthText(socketID: "1234.1234", channel: "private-foobar", channelData: nil)
        #expect(text == "1234.1234:private-foobar")
        #expect(PusherSignature.verifyAuth(auth, app: Self.app, text: text))
    }

    @Test("presence channel auth signs channel_data too (Python SDK vector)")
    func presenceChannelAuth() {
        let channelData = #"{"user_id": "10", "user_info": {"name": "Mr. Channels"}}"#
        let expected = "278d425bdf160c739803:96f61cf0b64a80c5cf1852da9dea2998a90fd7fa840c4cc62212573f1c524cdf"
        let text = PusherSignature.channelAuthText(socketID: "1234.1234", channel: "presence-foobar", channelData: channelData)
        #expect(text == "1234.1234:presence-foobar:" + channelData)
        #expect(PusherSignature.channelAuth(app: Self.app, socketID: "1234.1234", channel: "presence-foobar", channelData: channelData) == expected)
        #expect(PusherSignature.verifyAuth(expected, app: Self.app, text: text))
        // The same signature does not cover other channel_data, or none.
        let other = PusherSignature.channelAuthText(socketID: "1234.1234", channel: "presence-foobar", channelData: #"{"user_id": "11"}"#)
        #expect(!PusherSignature.verifyAuth(expected, app: Self.app, text: other))
        let bare = PusherSignature.channelAuthText(socketID: "1234.1234", channel: "presence-foobar", channelData: nil)
        #expect(!PusherSignature.verifyAuth(expected, app: Self.app, text: bare))
    }

    @Test("user sign-in auth signs socket_id::user::user_data (Python SDK vector)")
    func signinAuth() {
        let userData = #"{"id": "12345", "name": "Ann"}"#
        let auth = PusherSignature.signinAuth(app: Self.app, socketID: "1234.1234", userData: userData)
        #expect(auth == "278d425bdf160c739803:3b1afa23c29928a05b1c4dfd64b3dfab2d51c6f860c7d51c111c5327ebd6548b")
        #expect(PusherSignature.verifyAuth(auth, app: Self.app, text: "1234.1234::user::" + userData))
        #expect(!PusherSignature.verifyAuth(auth, app: Self.app, text: "1234.1235::user::" + userData))
    }

    @Test("verifyAuth rejects a wrong key, a wrong signature, and a malformed auth")
    func verifyAuthRejects() {
        let text = "1234.1234:private-foobar"
        let signature = "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
        #expect(PusherSignature.verifyAuth("278d425bdf160c739803:" + signature, app: Self.app, text: text))

        // Another app's key with the right signature.
        #expect(!PusherSignature.verifyAuth("278d425bdf160c739804:" + signature, app: Self.app, text: text))
        #expect(!PusherSignature.verifyAuth(":" + signature, app: Self.app, text: text))
        // The right key with a signature off by one digit, cut short, or made for another text.
        let wrong = String(signature.dropLast()) + "5"
        #expect(!PusherSignature.verifyAuth("278d425bdf160c739803:" + wrong, app: Self.app, text: text))
        #expect(!PusherSignature.verifyAuth("278d425bdf160c739803:" + signature.prefix(32), app: Self.app, text: text))
        #expect(!PusherSignature.verifyAuth("278d425bdf160c739803:", app: Self.app, text: text))
        #expect(!PusherSignature.verifyAuth("278d425bdf160c739803:" + signature, app: Self.app, text: "1234.1234:private-foobaz"))
        // A signature made with another secret.
        let otherSecret = PusherApp(id: "3", key: "278d425bdf160c739803", secret: "another")
        #expect(!PusherSignature.verifyAuth(
            PusherSignature.channelAuth(app: otherSecret, socketID: "1234.1234", channel: "private-foobar", channelData: nil),
            app: Self.app, text: text
        ))
        // No colon at all, an empty auth, or something after the signature.
        #expect(!PusherSignature.verifyAuth(signature, app: Self.app, text: text))
        #expect(!PusherSignature.verifyAuth("278d425bdf160c739803" + signature, app: Self.app, text: text))
        #expect(!PusherSignature.verifyAuth("", app: Self.app, text: text))
        #expect(!PusherSignature.verifyAuth("278d425bdf160c739803:" + signature + ":", app: Self.app, text: text))
    }

    /// `verifyAuth` splits `key:signature` at the first colon, so a key may not hold one:
    /// such an app is refused when the apps are loaded.
    @Test("an app key with a colon is refused")
    func colonInKey() throws {
        let app = PusherApp(id: "9", key: "ab:cd", secret: "s")
        #expect(app.problems().contains { $0.contains(":") })
        #expect(throws: PusherAppsError.self) { try PusherApps([app]) }
    }

    // MARK: REST requests

    /// The body of Pusher's published REST example, byte for byte.
    static let publishedBody = Array(#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#.utf8)

    @Test("a signed POST matches Pusher's published example")
    func publishedPostExample() throws {
        #expect(PusherSignature.md5(Self.publishedBody) == "ec365a775a4cd0599faeb73354201b6f")
        let parameters = PusherSignature.signedParameters(
            app: Self.app, method: "POST", path: "/apps/3/events", body: Self.publishedBody, timestamp: 1_353_088_179
        )
        let values = Dictionary(parameters, uniquingKeysWith: { first, _ in first })
        #expect(parameters.count == 5)
        #expect(values["auth_key"] == "278d425bdf160c739803")
        #expect(values["auth_timestamp"] == "1353088179")
        #expect(values["auth_version"] == "1.0")
        #expect(values["body_md5"] == "ec365a775a4cd0599faeb73354201b6f")
        #expect(values["auth_signature"] == "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c")

        // What a server checks: the request text of the parameters as received.
        let text = PusherSignature.requestText(method: "POST", path: "/apps/3/events", parameters: parameters)
        #expect(text == """
            POST
            /apps/3/events
            auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f
            """)
        #expect(PusherSignature.verify("da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c", of: text, secret: Self.app.secret))
    }

    @Test("the Python SDK's signed POST verifies (its body has spaces)")
    func pythonPost() {
        let body = Array(#"{"name": "foo", "channels": ["project-3"], "data": "{\"some\":\"data\"}"}"#.utf8)
        #expect(PusherSignature.md5(body) == "fc3b09a10b64bfbae6a3fe62247c2535")
        let received: [(String, String)] = [
            ("auth_key", "278d425bdf160c739803"),
            ("auth_signature", "6ca021b21608bbd9ab698da5cda6b718041fc48fd5a8018e2dd0255cf00b659e"),
            ("auth_timestamp", "1353088179"),
            ("auth_version", "1.0"),
            ("body_md5", "fc3b09a10b64bfbae6a3fe62247c2535"),
        ]
        let text = PusherSignature.requestText(method: "POST", path: "/apps/3/events", parameters: received)
        #expect(PusherSignature.sign(text, secret: Self.app.secret) == "6ca021b21608bbd9ab698da5cda6b718041fc48fd5a8018e2dd0255cf00b659e")
        let made = PusherSignature.signedParameters(app: Self.app, method: "POST", path: "/apps/3/events", body: body, timestamp: 1_353_088_179)
        #expect(made.last?.0 == "auth_signature")
        #expect(made.last?.1 == "6ca021b21608bbd9ab698da5cda6b718041fc48fd5a8018e2dd0255cf00b659e")
    }

    @Test("the Python SDK's signed GET with query parameters verifies")
    func pythonGet() {
        // The SDK sends body_md5 of the empty body on a GET too; it is signed like any parameter.
        let received: [(String, String)] = [
            ("auth_key", "278d425bdf160c739803"),
            ("auth_signature", "f3f17c61ae491cc9085db68b22076e9b772e3bcb301659d655153ee3f9782aba"),
            ("auth_timestamp", "1353088179"),
            ("auth_version", "1.0"),
            ("body_md5", "d41d8cd98f00b204e9800998ecf8427e"),
            ("filter_by_prefix", "presence-"),
            ("info", "user_count"),
        ]
        // In the order of a URL a client might send, not sorted.
        let shuffled = [received[6], received[1], received[5], received[0], received[4], received[3], received[2]]
        let text = PusherSignature.requestText(method: "GET", path: "/apps/3/channels", parameters: shuffled)
        #expect(text == """
            GET
            /apps/3/channels
            auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=d41d8cd98f00b204e9800998ecf8427e&filter_by_prefix=presence-&info=user_count
            """)
        #expect(PusherSignature.verify("f3f17c61ae491cc9085db68b22076e9b772e3bcb301659d655153ee3f9782aba", of: text, secret: Self.app.secret))
    }

    @Test("signedParameters on a GET without a body adds no body_md5")
    func signedGetWithoutBody() {
        let parameters = PusherSignature.signedParameters(
            app: Self.app, method: "GET", path: "/apps/3/channels",
            parameters: [("filter_by_prefix", "presence-"), ("info", "user_count")], timestamp: 1_353_088_179
        )
        #expect(parameters.map(\.0) == ["filter_by_prefix", "info", "auth_key", "auth_timestamp", "auth_version", "auth_signature"])
        // hmac.new(secret, "GET\n/apps/3/channels\nauth_key=…&auth_timestamp=1353088179&auth_version=1.0
        // &filter_by_prefix=presence-&info=user_count", sha256), computed with Python's hmac.
        #expect(parameters.last?.1 == "16819168891cb5dfd72b5c7a5d3d602605b26c6ba1930033b5e2eeeb65010291")
        let empty = PusherSignature.signedParameters(app: Self.app, method: "POST", path: "/x", body: [], timestamp: 1)
        #expect(!empty.contains { $0.0 == "body_md5" })
    }

    @Test("requestText uppercases the method, lowercases and sorts keys, leaves out auth_signature, keeps values as sent")
    func requestTextShape() {
        let text = PusherSignature.requestText(method: "get", path: "/apps/1/channels/presence-a%20b", parameters: [
            ("Info", "user_count,subscription_count"),
            ("AUTH_SIGNATURE", "ignored"),
            ("auth_signature", "ignored too"),
            ("b", "2"),
            ("a", "x y&z"),
            ("B", "1"),
            ("auth_key", "k"),
        ])
        #expect(text == "GET\n/apps/1/channels/presence-a%20b\na=x y&z&auth_key=k&b=1&b=2&info=user_count,subscription_count")
        #expect(PusherSignature.requestText(method: "POST", path: "/p", parameters: []) == "POST\n/p\n")
        #expect(PusherSignature.requestText(method: "POST", path: "/p", parameters: [("auth_signature", "s")]) == "POST\n/p\n")
    }

    @Test("a tampered parameter breaks the REST signature")
    func tamperedRequest() {
        let parameters = PusherSignature.signedParameters(
            app: Self.app, method: "POST", path: "/apps/3/events", body: Self.publishedBody, timestamp: 1_353_088_179
        )
        let signature = parameters.first { $0.0 == "auth_signature" }!.1
        var later = parameters
        later[1] = ("auth_timestamp", "1353088180")
        #expect(!PusherSignature.verify(signature, of: PusherSignature.requestText(method: "POST", path: "/apps/3/events", parameters: later), secret: Self.app.secret))
        #expect(!PusherSignature.verify(signature, of: PusherSignature.requestText(method: "POST", path: "/apps/4/events", parameters: parameters), secret: Self.app.secret))
        #expect(!PusherSignature.verify(signature, of: PusherSignature.requestText(method: "GET", path: "/apps/3/events", parameters: parameters), secret: Self.app.secret))
    }
}
