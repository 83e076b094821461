import BrokerCore
import FleetCore
import Foundation
import Hooks
import Logging
import Observability
import PusherCore
import PusherProtocol
import Testing
import WSCTesting

/// Pusher's webhook events across a fleet of 2 nodes: produced once per fleet-wide change,
/// queued, and delivered by a worker to a real receiver.
@Suite("Pusher webhooks across the fleet")
struct PusherWebhookTests {
    /// Long enough for a test's "quick" resubscribe to come within it on a loaded machine
    /// (with 400 ms, a full run under load once resubscribed after the vacate).
    static let vacateDelay = Duration.milliseconds(1200)

    /// The events the receiver got so far, as (name, channel, user_id).
    private static func events(_ receiver: WebhookReceiver) throws -> [String] {
        try receiver.received.flatMap { request -> [String] in
            let json = try #require(try JSONSerialization.jsonObject(with: Data(request.body.utf8)) as? [String: Any])
            return (json["events"] as? [[String: Any]] ?? []).map { event in
                [event["name"] as? String, event["channel"] as? String, event["user_id"] as? String].compactMap { $0 }.joined(separator: " ")
            }
        }
    }

    /// Runs `body` with a receiver, a fleet whose app 1 has webhooks to it (the `eventTypes`
    /// it wants; all when nil) and a worker delivering to it.
    private static func withWebhookFleet(
        _ kind: FleetBrokerKind, nodes: Int = 2, eventTypes: [String]? = nil, heartbeatTTL: Duration = .seconds(3),
        configureApp: (inout PusherApp) -> Void = { _ in },
        _ body: @Sendable (TestFleet, WebhookReceiver) async throws -> Void
    ) async throws {
        let receiver = try await WebhookReceiver()
        defer { Task { await receiver.close() } }
        var withHooks = PusherFleetTests.app
        withHooks.webhooks = [PusherApp.Webhook(url: receiver.url, eventTypes: eventTypes)]
        configureApp(&withHooks)
        let app = withHooks
        try await withFleet(kind, nodes: nodes, gateways: 1, heartbeatTTL: heartbeatTTL, pusher: try PusherApps([app]), pusherNode: { apps in
            var configuration = PusherProtocol.Configuration(apps: apps)
            configuration.webhooks = PusherWebhookSettings(vacateDelay: Self.vacateDelay)
            return configuration
        }) { fleet in
            var configuration = HookWorkerConfiguration(consumer: "w")
            configuration.pollInterval = .milliseconds(20)
            let worker = HookWorker(
                broker: fleet.inspector, keys: HookKeys(prefix: fleet.prefix),
                sources: [.pusher(appID: "1"): [WebhookEndpoint(url: receiver.url, signing: .pusher(key: app.key, secret: app.secret))]],
                configuration: configuration, meter: HookMeter(telemetry: Telemetry()), logger: Logger(label: "hooks-test")
            )
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await worker.run() }
                defer { group.cancelAll() }
                try await body(fleet, receiver)
            }
        }
    }

    @Test("occupied and vacated once per channel, member added and removed once per user, a quick resubscribe gives neither", arguments: FleetBrokerKind.allCases)
    func transitions(kind: FleetBrokerKind) async throws {
        try await Self.withWebhookFleet(kind) { fleet, receiver in
            let a = try await PusherTestClient.connect(fleet, node: 0)
            let b = try await PusherTestClient.connect(fleet, node: 1)
            try await a.subscribe("news")
            try await b.subscribe("news")
            try await a.subscribe("presence-room", member: #"{"user_id":"alice"}"#)
            try await b.subscribe("presence-room", member: #"{"user_id":"alice"}"#)
            try await eventually("occupied and added") { try Self.events(receiver).count >= 3 }
            #expect(try Self.events(receiver).sorted() == ["channel_occupied news", "channel_occupied presence-room", "member_added presence-room alice"])

            // The last subscriber leaves on one node, and another node's client comes back
            // within the delay: no vacated, no second occupied.
            try await a.send(#"{"event":"pusher:unsubscribe","data":{"channel":"news"}}"#)
            try await eventually("a's unsubscribe is written") {
                try await fleet.inspector.hashGetAll(fleet.pusherKeys.nodeChannels(app: "1", node: fleet.nodeIDs[0]))["news"] == nil
            }
            try await b.send(#"{"event":"pusher:unsubscribe","data":{"channel":"news"}}"#)
            try await eventually("the last leave is pending") {
                try await fleet.inspector.get(fleet.pusherKeys.pendingVacate(app: "1", channel: "news")) != nil
            }
            try await a.subscribe("news")

            // Both connections close: the channels and the member go, once each, after the delay.
            await a.close()
            await b.close()
            try await eventually("vacated and removed") { try Self.events(receiver).count >= 6 }
            // Nothing more comes, even after the delays of any leave still pending.
            try await Task.sleep(for: Self.vacateDelay * 3)
            #expect(try Self.events(receiver).sorted() == [
                "channel_occupied news", "channel_occupied presence-room", "channel_vacated news", "channel_vacated presence-room",
                "member_added presence-room alice", "member_removed presence-room alice",
            ])
        }
    }

    @Test("a client event is a client_event webhook with the sender's socket_id, and its user_id on presence", arguments: FleetBrokerKind.allCases)
    func clientEvents(kind: FleetBrokerKind) async throws {
        try await Self.withWebhookFleet(kind, eventTypes: ["client_event"]) { fleet, receiver in
            let a = try await PusherTestClient.connect(fleet, node: 0)
            let b = try await PusherTestClient.connect(fleet, node: 1)
            try await a.subscribe("private-chat")
            try await b.subscribe("private-chat")
            try await a.send(#"{"event":"client-typing","channel":"private-chat","data":{"x":1}}"#)
            #expect(try await b.next()["event"] as? String == "client-typing")
            try await a.subscribe("presence-team", member: #"{"user_id":"ann"}"#)
            try await b.subscribe("presence-team", member: #"{"user_id":"bob"}"#)
            _ = try await a.next()  // bob's member_added
            try await b.send(#"{"event":"client-hi","channel":"presence-team","data":"hello"}"#)
            _ = try await a.next()
            try await eventually("both client events delivered") {
                receiver.received.reduce(0) { $0 + ((try? JSONSerialization.jsonObject(with: Data($1.body.utf8)) as? [String: Any])?["events"] as? [Any] ?? []).count } >= 2
            }
            let events = try receiver.received.flatMap { request in
                try #require(try JSONSerialization.jsonObject(with: Data(request.body.utf8)) as? [String: Any])["events"] as? [[String: String]] ?? []
            }
            #expect(events.count == 2, "only client events: the endpoint wants nothing else")
            #expect(events[0]["name"] == "client_event" && events[0]["channel"] == "private-chat" && events[0]["event"] == "client-typing")
            #expect(events[0]["data"] == #"{"x":1}"#)
            #expect(events[0]["socket_id"] == a.socketID)
            #expect(events[0]["user_id"] == nil)
            #expect(events[1]["channel"] == "presence-team" && events[1]["event"] == "client-hi" && events[1]["data"] == "hello")
            #expect(events[1]["socket_id"] == b.socketID && events[1]["user_id"] == "bob")
        }
    }

    /// A node that died holding the last subscriber of a channel and the last connection of a
    /// presence member: the janitor of the live node forgets it, and the vacate and the
    /// removal are announced once, after the delay.
    @Test("a dead node's channels and members are vacated and removed by the janitor", arguments: FleetBrokerKind.allCases)
    func deadNode(kind: FleetBrokerKind) async throws {
        try await Self.withWebhookFleet(kind, nodes: 1, eventTypes: ["channel_vacated", "member_removed"], heartbeatTTL: .seconds(1)) { fleet, receiver in
            // What a dead node "ghost" left behind, as its writer and the scripts write it.
            let keys = fleet.pusherKeys
            let broker = fleet.inspector
            let ghost = NodeInfo(id: "ghost", host: "127.0.0.1", port: 1, startedAt: 0, connections: 1, version: "x", expiresAt: epochMilliseconds() + 500)
            _ = try await broker.hashSet(fleet.keys.nodes, ["ghost": ghost.encoded()])
            _ = try await broker.setAdd(keys.nodeApps(node: "ghost"), ["1"])
            _ = try await broker.hashSet(keys.nodeChannels(app: "1", node: "ghost"), ["news": "1", "presence-x": "1"])
            _ = try await broker.hashSet(keys.occupancy(app: "1"), ["news": "ghost", "presence-x": "ghost"])
            _ = try await broker.hashSet(keys.nodeOccupancy(app: "1", node: "ghost"), ["news": "", "presence-x": ""])
            _ = try await broker.hashSet(keys.presence(app: "1", channel: "presence-x"), ["zed": "ghost"])
            _ = try await broker.hashSet(keys.nodePresence(app: "1", channel: "presence-x", node: "ghost"), ["zed": "null"])

            try await eventually(within: .seconds(10), "the janitor's leaves are announced") { try Self.events(receiver).count >= 3 }
            #expect(try await broker.hashGetAll(keys.occupancy(app: "1")).isEmpty, "the ghost is forgotten")
            try await Task.sleep(for: Self.vacateDelay * 2)
            #expect(try Self.events(receiver).sorted() == ["channel_vacated news", "channel_vacated presence-x", "member_removed presence-x zed"])
        }
    }

    @Test("many clients missing a cache channel together give one cache_miss; counts give subscription_count", arguments: FleetBrokerKind.allCases)
    func cacheMissAndCounts(kind: FleetBrokerKind) async throws {
        try await Self.withWebhookFleet(kind, eventTypes: ["cache_miss", "subscription_count"], configureApp: { $0.enableSubscriptionCount = true }) { fleet, receiver in
            var clients: [PusherTestClient] = []
            for node in [0, 1, 0] { clients.append(try await PusherTestClient.connect(fleet, node: node)) }
            // Together: the frames each client gets back are not read here.
            for client in clients { try await client.send(#"{"event":"pusher:subscribe","data":{"channel":"cache-news"}}"#) }
            func events() throws -> [[String: Any]] {
                try receiver.received.flatMap { request in
                    try #require(try JSONSerialization.jsonObject(with: Data(request.body.utf8)) as? [String: Any])["events"] as? [[String: Any]] ?? []
                }
            }
            try await eventually("the fleet-wide count of 3 is announced") {
                try events().contains { $0["name"] as? String == "subscription_count" && $0["subscription_count"] as? Int == 3 }
            }
            let misses = try events().filter { $0["name"] as? String == "cache_miss" }
            #expect(misses.count == 1)
            #expect(misses.first?["channel"] as? String == "cache-news")
            #expect(try events().allSatisfy { $0["channel"] as? String == "cache-news" })
            for client in clients { await client.close() }
        }
    }

    @Test("a node that stops in order announces what it held last, once, after the delay", arguments: FleetBrokerKind.allCases)
    func orderlyStop(kind: FleetBrokerKind) async throws {
        try await Self.withWebhookFleet(kind, eventTypes: ["channel_vacated", "member_removed"]) { fleet, receiver in
            let client = try await PusherTestClient.connect(fleet, node: 1)
            try await client.subscribe("solo")
            try await client.subscribe("presence-p", member: #"{"user_id":"pat"}"#)
            await fleet.stopNode(1)
            try await eventually("the stopped node's last holdings are announced") { try Self.events(receiver).count >= 3 }
            try await Task.sleep(for: Self.vacateDelay * 2)
            #expect(try Self.events(receiver).sorted() == ["channel_vacated presence-p", "channel_vacated solo", "member_removed presence-p pat"])
        }
    }
}
