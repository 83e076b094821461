import FleetCore
import NIOWebSocket
import Foundation
import PusherAPI
import PusherCore
import PusherProtocol
import Testing
import WSCTesting

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The Pusher protocol and REST API across a fleet of 2 nodes and 2 gateways, on both
/// brokers (the embedded one is what `wscenter serve` runs). The interop suite
/// (Tests/interop) drives the same with the real pysher and pusher SDK on Redis.
@Suite("Pusher across the fleet")
struct PusherFleetTests {
    static let app = PusherApp(id: "1", key: "app-key", secret: "app-secret")
    static var apps: PusherApps {
        var second = PusherApp(id: "2", key: "key-two", secret: "secret-two")
        second.maxPresenceMembers = 2
        var counted = PusherApp(id: "3", key: "key-counted", secret: "secret-counted")
        counted.enableSubscriptionCount = true
        return try! PusherApps([app, second, counted])
    }

    @Test("public channel: a REST event reaches subscribers on both nodes once; socket_id excludes; counts are fleet-wide", arguments: FleetBrokerKind.allCases)
    func publicChannel(kind: FleetBrokerKind) async throws {
        try await withFleet(kind, pusher: Self.apps) { fleet in
            let a = try await PusherTestClient.connect(fleet, node: 0)
            let b = try await PusherTestClient.connect(fleet, node: 1)
            #expect(a.activityTimeout == 120)
            #expect(a.socketID.wholeMatch(of: /[0-9]+\.[0-9]+/) != nil)
            #expect(a.socketID != b.socketID)
            try await a.subscribe("news")
            try await b.subscribe("news")
            let rest = PusherREST(port: fleet.gatewayPorts[1], app: Self.app)
            let answer = try await rest.post("/apps/1/events", #"{"name":"headline","channels":["news"],"data":"{\"n\":1}","info":"subscription_count"}"#)
            #expect(answer.status == 200)
            #expect(answer.json["channels"] as? [String: [String: Int]] == ["news": ["subscription_count": 2]])
            for client in [a, b] {
                let event = try await client.next()
                #expect(event["event"] as? String == "headline")
                #expect(event["channel"] as? String == "news")
                #expect(event["data"] as? String == #"{"n":1}"#)
            }
            // The sender's own socket is left out.
            _ = try await rest.post("/apps/1/events", #"{"name":"second","channel":"news","data":"x","socket_id":"\#(a.socketID)"}"#)
            #expect(try await b.next()["event"] as? String == "second")
            try await a.expectNothing()
            let channels = try await PusherREST(port: fleet.gatewayPorts[0], app: Self.app).get("/apps/1/channels", ["info": "subscription_count"])
            #expect(channels.json["channels"] as? [String: [String: Int]] == ["news": ["subscription_count": 2]])
            await a.close()
            try await eventually("the count follows a disconnect") {
                let info = try await rest.get("/apps/1/channels/news", ["info": "subscription_count"])
                return info.json["subscription_count"] as? Int == 1
            }
            await b.close()
        }
    }

    @Test("presence: members are fleet-wide; a user on two nodes is one member, removed when its last connection leaves", arguments: FleetBrokerKind.allCases)
    func presence(kind: FleetBrokerKind) async throws {
        try await withFleet(kind, pusher: Self.apps) { fleet in
            let watcher = try await PusherTestClient.connect(fleet, node: 0)
            let succeeded = try await watcher.subscribe("presence-room", member: #"{"user_id":"w","user_info":{"name":"W"}}"#)
            #expect(succeeded == ["ids": ["w"], "hash": ["w": ["name": "W"]], "count": 1] as NSDictionary)
            let alice1 = try await PusherTestClient.connect(fleet, node: 1)
            let joined = try await alice1.subscribe("presence-room", member: #"{"user_id":"alice"}"#)
            #expect((joined["ids"] as? [String])?.sorted() == ["alice", "w"])
            let added = try await watcher.next()
            #expect(added["event"] as? String == "pusher_internal:member_added")
            #expect(try PusherTestClient.decode(added["data"]) == ["user_id": "alice", "user_info": NSNull()] as NSDictionary)
            // The same user on the other node: no second member_added.
            let alice2 = try await PusherTestClient.connect(fleet, node: 0)
            _ = try await alice2.subscribe("presence-room", member: #"{"user_id":"alice"}"#)
            let rest = PusherREST(port: fleet.gatewayPorts[0], app: Self.app)
            let users = try await rest.get("/apps/1/channels/presence-room/users")
            #expect(users.json["users"] as? [[String: String]] == [["id": "alice"], ["id": "w"]])
            let info = try await rest.get("/apps/1/channels/presence-room", ["info": "user_count,subscription_count"])
            #expect(info.json["user_count"] as? Int == 2)
            #expect(info.json["subscription_count"] as? Int == 3)
            await alice1.close()
            try await watcher.expectNothing(for: .milliseconds(300))
            await alice2.close()
            let removed = try await watcher.next()
            #expect(removed["event"] as? String == "pusher_internal:member_removed")
            #expect(try PusherTestClient.decode(removed["data"]) == ["user_id": "alice"] as NSDictionary)
            await watcher.close()
        }
    }

    @Test("client events reach the other nodes' subscribers, not the sender; presence adds user_id", arguments: FleetBrokerKind.allCases)
    func clientEvents(kind: FleetBrokerKind) async throws {
        try await withFleet(kind, pusher: Self.apps) { fleet in
            let a = try await PusherTestClient.connect(fleet, node: 0)
            let b = try await PusherTestClient.connect(fleet, node: 1)
            _ = try await a.subscribe("presence-chat", member: #"{"user_id":"a"}"#)
            _ = try await b.subscribe("presence-chat", member: #"{"user_id":"b"}"#)
            _ = try await a.next()  // member_added b
            try await a.send(#"{"event":"client-typing","channel":"presence-chat","data":{"on":true}}"#)
            let relayed = try await b.next()
            #expect(relayed["event"] as? String == "client-typing")
            #expect(relayed["data"] as? NSDictionary == ["on": true] as NSDictionary)
            #expect(relayed["user_id"] as? String == "a")
            try await a.expectNothing()
            // Not on a public channel.
            try await a.subscribe("open")
            try await a.send(#"{"event":"client-x","channel":"open","data":{}}"#)
            let refused = try await a.next()
            #expect(refused["event"] as? String == "pusher:error")
            #expect((refused["data"] as? [String: Any])?["code"] as? Int == 4009)
            await a.close()
            await b.close()
        }
    }

    @Test("a stopping node's presence members are removed fleet-wide", arguments: FleetBrokerKind.allCases)
    func stoppingNode(kind: FleetBrokerKind) async throws {
        try await withFleet(kind, pusher: Self.apps) { fleet in
            let watcher = try await PusherTestClient.connect(fleet, node: 0)
            _ = try await watcher.subscribe("presence-lobby", member: #"{"user_id":"stay"}"#)
            let leaving = try await PusherTestClient.connect(fleet, node: 1)
            _ = try await leaving.subscribe("presence-lobby", member: #"{"user_id":"go"}"#)
            _ = try await watcher.next()  // member_added go
            await fleet.stopNode(1)
            let removed = try await watcher.next(within: .seconds(5))
            #expect(removed["event"] as? String == "pusher_internal:member_removed")
            #expect(try PusherTestClient.decode(removed["data"]) == ["user_id": "go"] as NSDictionary)
            let users = try await PusherREST(port: fleet.gatewayPorts[0], app: Self.app).get("/apps/1/channels/presence-lobby/users")
            #expect(users.json["users"] as? [[String: String]] == [["id": "stay"]])
            await watcher.close()
        }
    }

    @Test("apps are isolated, and a full presence channel refuses the next member", arguments: FleetBrokerKind.allCases)
    func isolationAndLimits(kind: FleetBrokerKind) async throws {
        try await withFleet(kind, pusher: Self.apps) { fleet in
            let two = try! #require(Self.apps.app(id: "2"))
            let one = try await PusherTestClient.connect(fleet, node: 0)
            let other = try await PusherTestClient.connect(fleet, node: 1, key: "key-two")
            try await one.subscribe("shared")
            try await other.subscribe("shared")
            _ = try await PusherREST(port: fleet.gatewayPorts[0], app: two).post("/apps/2/events", #"{"name":"e","channel":"shared","data":"2"}"#)
            #expect(try await other.next()["data"] as? String == "2")
            try await one.expectNothing()
            let counts = try await PusherREST(port: fleet.gatewayPorts[1], app: Self.app).get("/apps/1/channels/shared", ["info": "subscription_count"])
            #expect(counts.json["subscription_count"] as? Int == 1)
            // App 2 holds 2 presence members at most.
            _ = try await other.subscribe("presence-small", member: #"{"user_id":"1"}"#, app: two)
            let second = try await PusherTestClient.connect(fleet, node: 0, key: "key-two")
            _ = try await second.subscribe("presence-small", member: #"{"user_id":"2"}"#, app: two)
            let third = try await PusherTestClient.connect(fleet, node: 1, key: "key-two")
            let error = try await third.subscribeExpectingError("presence-small", member: #"{"user_id":"3"}"#, app: two)
            #expect(error["status"] as? Int == 403)
            #expect(error["type"] as? String == "LimitReached")
            for client in [one, other, second, third] { await client.close() }
        }
    }

    @Test("subscription_count: subscribers on every node learn the fleet-wide count", arguments: FleetBrokerKind.allCases)
    func subscriptionCount(kind: FleetBrokerKind) async throws {
        try await withFleet(kind, pusher: Self.apps) { fleet in
            let a = try await PusherTestClient.connect(fleet, node: 0, key: "key-counted")
            try await a.subscribe("scores")
            let first = try await a.next()
            #expect(first["event"] as? String == "pusher_internal:subscription_count")
            #expect(try PusherTestClient.decode(first["data"]) == ["subscription_count": 1] as NSDictionary)
            let b = try await PusherTestClient.connect(fleet, node: 1, key: "key-counted")
            try await b.subscribe("scores")
            // Throttled to one event a second per channel and node: the next one says 2.
            for client in [a, b] {
                var count = 0
                while count != 2 {
                    let event = try await client.next(within: .seconds(4))
                    #expect(event["event"] as? String == "pusher_internal:subscription_count")
                    count = try PusherTestClient.decode(event["data"])["subscription_count"] as? Int ?? -1
                }
            }
            await a.close()
            await b.close()
        }
    }

    @Test("a silent client is pinged after the activity timeout and closed (4201) if it does not answer")
    func activityTimeout() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1, pusher: Self.apps, pusherNode: {
            .init(apps: $0, activityTimeout: 1, pongTimeout: .seconds(2))  // time to answer on a loaded machine
        }) { fleet in
            let answering = try await PusherTestClient.connect(fleet, node: 0)
            let silent = try await PusherTestClient.connect(fleet, node: 0)
            #expect(answering.activityTimeout == 1)
            let ping = try await answering.next(within: .seconds(3))
            #expect(ping["event"] as? String == "pusher:ping")
            // The answering client answers at once (not after the other client's ping: waiting
            // for it on a loaded machine could take longer than the pong timeout, and the
            // server would already have closed this one) and from then on stays active, as a
            // live client library does (any message counts). A send after a close would throw
            // (`NIOAsyncWriterError.alreadyFinished`): the loop ignores it, and the test checks
            // below that the client is still open.
            let keepAlive = Task {
                var answer = #"{"event":"pusher:pong","data":{}}"#
                while !Task.isCancelled {
                    try? await answering.send(answer)
                    answer = #"{"event":"pusher:ping","data":{}}"#
                    try? await Task.sleep(for: .milliseconds(250))
                }
            }
            defer { keepAlive.cancel() }
            let silentPing = try await silent.next(within: .seconds(3))
            #expect(silentPing["event"] as? String == "pusher:ping")
            let error = try await silent.next(within: .seconds(10))
            #expect(error["event"] as? String == "pusher:error")
            #expect((error["data"] as? [String: Any])?["code"] as? Int == 4201)
            try await eventually(within: .seconds(10), "the silent client is closed") { silent.socket.isClosed }
            #expect(silent.socket.closeCode == .unknown(4201))
            #expect(!answering.socket.isClosed)
            // It was answered all along.
            try await eventually("the answering client gets its pongs") {
                answering.socket.receivedSoFar.contains { $0.contains("pusher:pong") }
            }
            keepAlive.cancel()
            await answering.close()
        }
    }

    @Test("API_PATH_PREFIX: a request signed over the prefixed path is served with or without the prefix; AUTH_DEMO signs subscriptions")
    func pathPrefixAndDemoAuth() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1, pusher: Self.apps, pusherAPI: {
            .init(apps: $0, pathPrefix: "/pusher", authDemo: true, defaultAppID: "1")
        }) { fleet in
            let client = try await PusherTestClient.connect(fleet, node: 0)
            try await client.subscribe("news")
            let rest = PusherREST(port: fleet.gatewayPorts[0], app: Self.app)
            // The proxy kept the prefix: the gateway gets the path the SDK signed.
            #expect(try await rest.post("/pusher/apps/1/events", #"{"name":"a","channel":"news","data":"1"}"#).status == 200)
            // The proxy stripped it: signed over /pusher/apps/1/events, received as /apps/1/events.
            let signed = try await rest.post("/apps/1/events", #"{"name":"b","channel":"news","data":"2"}"#, signedPath: "/pusher/apps/1/events")
            #expect(signed.status == 200)
            // Any other path does not verify.
            let wrong = try await rest.post("/apps/1/events", #"{"name":"c","channel":"news","data":"3"}"#, signedPath: "/other/apps/1/events")
            #expect(wrong.status == 401)
            #expect(try await client.next()["data"] as? String == "1")
            #expect(try await client.next()["data"] as? String == "2")
            try await client.expectNothing()

            // AUTH_DEMO: the gateway signs a presence subscription, which the node accepts.
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(fleet.gatewayPorts[0])/pusher/auth")!)
            request.httpMethod = "POST"
            request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data("socket_id=\(client.socketID)&channel_name=presence-demo".utf8)
            let (data, response) = try await URLSession.shared.data(for: request)
            #expect((response as? HTTPURLResponse)?.statusCode == 200)
            let answer = try #require(try JSONSerialization.jsonObject(with: data) as? [String: String])
            let auth = try #require(answer["auth"])
            let channelData = try #require(answer["channel_data"])
            try await client.send(#"{"event":"pusher:subscribe","data":{"channel":"presence-demo","auth":"\#(auth)","channel_data":"# + JSONValue.quoted(channelData) + "}}")
            let succeeded = try await client.next()
            #expect(succeeded["event"] as? String == "pusher_internal:subscription_succeeded")
            await client.close()
        }
    }

    @Test("without AUTH_DEMO there is no /pusher/auth")
    func noDemoAuthByDefault() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1, pusher: Self.apps) { fleet in
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(fleet.gatewayPorts[0])/pusher/auth")!)
            request.httpMethod = "POST"
            request.httpBody = Data("socket_id=1.2&channel_name=private-x".utf8)
            let (_, response) = try await URLSession.shared.data(for: request)
            #expect((response as? HTTPURLResponse)?.statusCode == 404)
        }
    }

    @Test("REST errors: bad signature 401, unknown app 404, oversized data 413, bad body 400", arguments: [FleetBrokerKind.embedded])
    func restErrors(kind: FleetBrokerKind) async throws {
        try await withFleet(kind, nodes: 1, gateways: 1, pusher: Self.apps) { fleet in
            let rest = PusherREST(port: fleet.gatewayPorts[0], app: Self.app)
            var wrong = Self.app
            wrong.secret = "not-the-secret"
            let bad = try await PusherREST(port: fleet.gatewayPorts[0], app: wrong).post("/apps/1/events", #"{"name":"e","channel":"c","data":"x"}"#)
            #expect(bad.status == 401)
            #expect((bad.json["error"] as? String)?.contains("Invalid signature") == true)
            #expect(try await rest.post("/apps/9/events", #"{"name":"e","channel":"c","data":"x"}"#).status == 404)
            let big = String(repeating: "x", count: 10 * 1024 + 1)
            #expect(try await rest.post("/apps/1/events", #"{"name":"e","channel":"c","data":"\#(big)"}"#).status == 413)
            let missing = try await rest.post("/apps/1/events", #"{"channel":"c","data":"x"}"#)
            #expect(missing.status == 400)
            #expect((missing.json["error"] as? String)?.contains("name") == true)
            #expect(try await rest.post("/apps/1/events", "{not json").status == 400)
            #expect(try await rest.post("/apps/1/events", #"{"name":"e","channel":"bad name!","data":"x"}"#).status == 400)
            // The Python SDK's bare path (no /apps/{id}) is found by auth_key.
            #expect(try await rest.post("/users/u1/terminate_connections", "{}").status == 200)
        }
    }
}

/// A raw Pusher protocol client over ``TestWebSocket``.
/// What one Pusher connection can grow on a node: its subscriptions, its message rate.
@Suite("Pusher limits per connection")
struct PusherLimitTests {
    @Test("a subscription past MAX_CHANNELS_PER_CONNECTION gets subscription_error 429; leaving one makes room")
    func channelCap() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1, pusher: PusherFleetTests.apps, pusherNode: { .init(apps: $0, maxChannelsPerConnection: 3) }) { fleet in
            let client = try await PusherTestClient.connect(fleet, node: 0)
            for index in 0..<3 { try await client.subscribe("c\(index)") }
            try await client.subscribe("c1")  // again: not a new channel, answered again
            let refused = try await client.subscribeExpectingError("c3")
            #expect(refused["status"] as? Int == 429 && refused["type"] as? String == "LimitReached", "\(refused)")
            try await client.send(#"{"event":"pusher:unsubscribe","data":{"channel":"c0"}}"#)
            try await client.subscribe("c3")
        }
    }

    @Test("protocol messages past the rate get 4301, malformed ones included; a client that keeps on is closed with 4301")
    func commandFlood() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1, pusher: PusherFleetTests.apps, pusherNode: { .init(apps: $0, commandRate: 5) }) { fleet in
            let client = try await PusherTestClient.connect(fleet, node: 0)
            for index in 0..<40 {
                try await client.send(index % 2 == 0 ? #"{"event":"pusher:subscribe","data":{"channel":"flood-\#(index)"}}"# : "not json")
            }
            try await eventually("the flooding client is closed") { client.socket.isClosed }
            #expect(client.socket.closeCode == WebSocketErrorCode(codeNumber: 4301), "\(String(describing: client.socket.closeCode))")
            let received = client.socket.receivedSoFar
            #expect(received.contains { $0.contains("4301") }, "\(received.suffix(3))")
            #expect(received.filter { $0.contains("subscription_succeeded") }.count <= 5, "\(received.count)")
        }
    }
}

struct PusherTestClient: Sendable {
    let socket: TestWebSocket
    let socketID: String
    let app: PusherApp
    let activityTimeout: Int

    static func connect(_ fleet: TestFleet, node: Int, key: String = "app-key") async throws -> PusherTestClient {
        let socket = try await TestWebSocket.connect("ws://127.0.0.1:\(fleet.nodePorts[node])/app/\(key)?protocol=7&client=test&version=1")
        let established = try await socket.nextJSON()
        #expect(established["event"] as? String == "pusher:connection_established")
        let data = try decode(established["data"])
        let socketID = try #require(data["socket_id"] as? String)
        #expect((data["activity_timeout"] as? Int ?? 0) >= 1)
        let app = try #require(PusherFleetTests.apps.app(key: key))
        return PusherTestClient(socket: socket, socketID: socketID, app: app, activityTimeout: data["activity_timeout"] as? Int ?? 0)
    }

    /// A `data` that is a JSON string holding an object, decoded.
    static func decode(_ data: Any?) throws -> NSDictionary {
        let text = try #require(data as? String, "data is not a string: \(String(describing: data))")
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? NSDictionary)
    }

    func send(_ text: String) async throws { try await socket.send(text) }
    func next(within timeout: Duration = .seconds(5)) async throws -> [String: Any] { try await socket.nextJSON(within: timeout) }
    func expectNothing(for duration: Duration = .milliseconds(200)) async throws { try await socket.expectNothing(for: duration) }
    func close() async { await socket.close() }

    private func subscribeMessage(_ channel: String, member: String?, app: PusherApp?) -> String {
        let app = app ?? self.app
        var data = #"{"channel":"\#(channel)""#
        if channel.hasPrefix("private-") || channel.hasPrefix("presence-") {
            let auth = PusherSignature.channelAuth(app: app, socketID: socketID, channel: channel, channelData: member)
            data += #","auth":"\#(auth)""#
        }
        if let member {
            data += #","channel_data":"# + JSONValue.quoted(member)
        }
        return #"{"event":"pusher:subscribe","data":"# + data + "}}"
    }

    /// Subscribes and waits for `subscription_succeeded`; returns the presence data (or empty).
    @discardableResult
    func subscribe(_ channel: String, member: String? = nil, app: PusherApp? = nil) async throws -> NSDictionary {
        try await send(subscribeMessage(channel, member: member, app: app))
        let reply = try await next()
        #expect(reply["event"] as? String == "pusher_internal:subscription_succeeded", "\(reply)")
        #expect(reply["channel"] as? String == channel)
        let data = try Self.decode(reply["data"])
        return data["presence"] as? NSDictionary ?? [:]
    }

    func subscribeExpectingError(_ channel: String, member: String? = nil, app: PusherApp? = nil) async throws -> [String: Any] {
        try await send(subscribeMessage(channel, member: member, app: app))
        let reply = try await next()
        #expect(reply["event"] as? String == "pusher:subscription_error", "\(reply)")
        return try #require(reply["data"] as? [String: Any])
    }
}

/// The Pusher REST API of a gateway, signed as the server SDKs sign it.
struct PusherREST: Sendable {
    let port: Int
    let app: PusherApp

    struct Answer: @unchecked Sendable {
        let status: Int
        let json: [String: Any]
    }

    func get(_ path: String, _ parameters: [String: String] = [:]) async throws -> Answer {
        try await request("GET", path, parameters, body: nil)
    }

    /// POSTs `body` to `path`, signed over `signedPath` (by default `path`).
    func post(_ path: String, _ body: String, signedPath: String? = nil) async throws -> Answer {
        try await request("POST", path, [:], body: Array(body.utf8), signedPath: signedPath)
    }

    private func request(_ method: String, _ path: String, _ parameters: [String: String], body: [UInt8]?, signedPath: String? = nil) async throws -> Answer {
        let signed = PusherSignature.signedParameters(
            app: app, method: method, path: signedPath ?? path, parameters: parameters.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
            body: body, timestamp: Int(Date().timeIntervalSince1970)
        )
        var components = URLComponents(string: "http://127.0.0.1:\(port)\(path)")!
        components.queryItems = signed.map { URLQueryItem(name: $0.0, value: $0.1) }
        var request = URLRequest(url: try #require(components.url))
        request.httpMethod = method
        request.timeoutInterval = 10
        if let body {
            request.httpBody = Data(body)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        let json = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return Answer(status: status, json: try #require(json, "not a JSON object: \(String(decoding: data, as: UTF8.self))"))
    }
}
