import FleetCore
import Testing

@testable import PusherAPI
import PusherCore

/// The REST API's request checks, without a server: signatures (with and without a proxy's
/// path prefix, stale timestamps, body_md5) and the parsing of a trigger.
@Suite("Pusher REST API checks")
struct PusherAPIUnitTests {
    static let app = PusherApp(id: "3", key: "278d425bdf160c739803", secret: "7ad3773142a6692b25b8")
    static let body = Array(#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#.utf8)
    /// Pusher's published example: POST /apps/3/events at 1353088179.
    static let parameters = [
        ("auth_key", "278d425bdf160c739803"), ("auth_timestamp", "1353088179"), ("auth_version", "1.0"),
        ("body_md5", "ec365a775a4cd0599faeb73354201b6f"),
        ("auth_signature", "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"),
    ]

    func authenticate(
        _ authenticator: RequestAuthenticator, path: String = "/apps/3/events", appID: String? = "3",
        parameters: [(String, String)] = PusherAPIUnitTests.parameters, body: [UInt8]? = PusherAPIUnitTests.body, now: Int = 1_353_088_179
    ) -> Result<PusherApp, PusherAPIError> {
        Result { () throws(PusherAPIError) in
            try authenticator.authenticate(method: "POST", path: path, appID: appID, parameters: parameters, body: body, now: now)
        }
    }

    func status(_ result: Result<PusherApp, PusherAPIError>) -> Int {
        switch result {
        case .success: 200
        case .failure(let error): error.status
        }
    }

    @Test("Pusher's published request verifies; the app is found by id or by auth_key")
    func publishedExample() throws {
        let authenticator = RequestAuthenticator(apps: try PusherApps([Self.app]))
        #expect(try authenticate(authenticator).get() == Self.app)
        // A path without an app id (the Python SDK's /users/…) finds the app by auth_key.
        #expect(try authenticate(authenticator, appID: nil).get() == Self.app)
    }

    @Test("a timestamp more than 600 s off, a changed body, a wrong key or app → 401/404")
    func refusals() throws {
        let authenticator = RequestAuthenticator(apps: try PusherApps([Self.app]))
        #expect(status(authenticate(authenticator, now: 1_353_088_179 + 600)) == 200)
        #expect(status(authenticate(authenticator, now: 1_353_088_179 + 601)) == 401)
        #expect(status(authenticate(authenticator, now: 1_353_088_179 - 601)) == 401)
        #expect(status(authenticate(authenticator, body: Array("{}".utf8))) == 401)
        #expect(status(authenticate(authenticator, appID: "4")) == 404)
        var wrongKey = Self.parameters
        wrongKey[0].1 = "other"
        #expect(status(authenticate(authenticator, parameters: wrongKey)) == 401)
        #expect(status(authenticate(authenticator, path: "/apps/3/events/")) == 401)
        var missing = Self.parameters
        missing.removeLast()
        #expect(status(authenticate(authenticator, parameters: missing)) == 401)
        if case .failure(let error) = authenticate(authenticator, path: "/apps/3/other") {
            #expect(error.message.contains(#"POST\n/apps/3/other\nauth_key="#), "\(error.message)")
        }
    }

    @Test("a disabled app answers 403 once the signature is right")
    func disabled() throws {
        var app = Self.app
        app.enabled = false
        let authenticator = RequestAuthenticator(apps: try PusherApps([app]))
        #expect(status(authenticate(authenticator)) == 403)
    }

    @Test("API_PATH_PREFIX: the signature may cover the path with or without the prefix")
    func pathPrefix() throws {
        for prefix in ["/pusher", "pusher/", "/pusher/"] {
            let authenticator = RequestAuthenticator(apps: try PusherApps([Self.app]), pathPrefix: prefix)
            #expect(authenticator.pathPrefix == "/pusher")
            #expect(authenticator.candidatePaths("/apps/3/events") == ["/apps/3/events", "/pusher/apps/3/events"])
            #expect(authenticator.candidatePaths("/pusher/apps/3/events") == ["/pusher/apps/3/events", "/apps/3/events"])
            // Signed over /apps/3/events (the published example), received with the prefix.
            #expect(status(authenticate(authenticator, path: "/pusher/apps/3/events")) == 200)
            #expect(status(authenticate(authenticator, path: "/other/apps/3/events")) == 401)
        }
        #expect(RequestAuthenticator(apps: try PusherApps([Self.app])).candidatePaths("/apps/3/events") == ["/apps/3/events"])
    }

    // MARK: Triggers

    func parse(_ json: String, app: PusherApp = PusherAPIUnitTests.app) -> Result<TriggerRequest, PusherAPIError> {
        Result { () throws(PusherAPIError) in
            guard let value = try? JSONValue(parsing: json.utf8) else { throw .badRequest("not JSON") }
            return try TriggerRequest.parse(value, app: app)
        }
    }

    @Test("a trigger's fields: channels or channel, socket_id, info, data of any kind")
    func triggerFields() throws {
        let many = try parse(#"{"name":"e","channels":["a","presence-b"],"data":"x","socket_id":"1.2","info":"user_count,subscription_count"}"#).get()
        #expect(many.channels.map(\.name) == ["a", "presence-b"])
        #expect(many.socketID == "1.2")
        #expect(many.info == [.userCount, .subscriptionCount])
        #expect(many.frame(for: many.channels[0]) == #"{"event":"e","channel":"a","data":"x"}"#)
        let one = try parse(#"{"name":"e","channel":"a","data":{"k":1}}"#).get()
        #expect(one.channels.map(\.name) == ["a"])
        #expect(one.data == #"{"k":1}"#)
    }

    @Test("refused triggers say why", arguments: [
        (#"{"channel":"a","data":"x"}"#, 400, "name"),
        (#"{"name":"e","data":"x"}"#, 400, "channels"),
        (#"{"name":"e","channel":"a"}"#, 400, "data"),
        (#"{"name":"e","channel":"a","channels":["b"],"data":"x"}"#, 400, "either"),
        (#"{"name":"e","channels":[],"data":"x"}"#, 400, "empty"),
        (#"{"name":"e","channel":"bad name","data":"x"}"#, 400, "Invalid channel name"),
        (#"{"name":"e","channels":["private-encrypted-a","b"],"data":"x"}"#, 400, "encrypted"),
        (#"{"name":"e","channel":"a","data":"x","socket_id":"12"}"#, 400, "socket_id"),
        (#"{"name":"e","channel":"a","data":"x","info":"members"}"#, 400, "info attribute"),
        (#"["e"]"#, 400, "object"),
    ])
    func refusedTriggers(json: String, status: Int, words: String) {
        guard case .failure(let error) = parse(json) else {
            Issue.record("\(json) was accepted")
            return
        }
        #expect(error.status == status)
        #expect(error.message.contains(words), "\(error.message)")
    }

    @Test("limits: 100 channels, 200-character names, the app's payload size (413)")
    func triggerLimits() throws {
        let hundred = (0..<100).map { "\"c\($0)\"" }.joined(separator: ",")
        #expect(throws: Never.self) { try parse(#"{"name":"e","channels":[\#(hundred)],"data":"x"}"#).get() }
        #expect(status(parse(#"{"name":"e","channels":[\#(hundred),"one-more"],"data":"x"}"#).map { _ in Self.app }) == 400)
        let longName = String(repeating: "n", count: 201)
        #expect(status(parse(#"{"name":"\#(longName)","channel":"a","data":"x"}"#).map { _ in Self.app }) == 400)
        var small = Self.app
        small.maxEventPayloadKB = 1
        #expect(throws: Never.self) { try parse(#"{"name":"e","channel":"a","data":"\#(String(repeating: "x", count: 1024))"}"#, app: small).get() }
        #expect(status(parse(#"{"name":"e","channel":"a","data":"\#(String(repeating: "x", count: 1025))"}"#, app: small).map { _ in small }) == 413)
    }
}
