import BrokerCore
import BrokerEmbedded
import BrokerRedis
import FleetCore
import FleetGateway
import FleetHTTP
import FleetNode
import Foundation
import Hooks
import Logging
import Observability
import Redis
import Synchronization
import Testing
import WSCTesting

/// The webhook worker against a real HTTP receiver in this process, on both brokers.
@Suite("Webhook delivery")
struct HookWorkerTests {
    /// Runs a broker of `kind` while `body` runs.
    private static func withBroker(_ kind: FleetBrokerKind, _ body: @Sendable (any Broker) async throws -> Void) async throws {
        let broker = try kind.make()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await broker.run() }
            defer { group.cancelAll() }
            try #require(await broker.waitUntilConnected())
            try await body(broker)
        }
    }

    /// Runs a worker over `sources` while `body` runs (cancelled after it: "killed").
    private static func withWorker(
        _ broker: any Broker, keys: HookKeys, sources: [HookSource: [WebhookEndpoint]], consumer: String = "w1",
        configure: (inout HookWorkerConfiguration) -> Void = { _ in }, telemetry: Telemetry = Telemetry(),
        _ body: @Sendable () async throws -> Void
    ) async throws {
        var configuration = HookWorkerConfiguration(consumer: consumer)
        configuration.pollInterval = .milliseconds(20)
        configuration.initialBackoff = .milliseconds(50)
        configuration.maxBackoff = .milliseconds(200)
        configure(&configuration)
        let worker = HookWorker(
            broker: broker, keys: keys, sources: sources, configuration: configuration, meter: HookMeter(telemetry: telemetry),
            logger: Logger(label: "hooks-test")
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await worker.run() }
            defer { group.cancelAll() }
            try await body()
        }
    }

    private static func keys() -> HookKeys { HookKeys(prefix: "t:\(UUID().uuidString.lowercased()):") }

    private static func events(_ received: WebhookReceiver.Received) throws -> [[String: Any]] {
        let json = try #require(try JSONSerialization.jsonObject(with: Data(received.body.utf8)) as? [String: Any])
        #expect(json["time_ms"] is Int)
        return try #require(json["events"] as? [[String: Any]])
    }

    @Test("queued events reach the endpoint in one signed request, in Pusher's format, filtered", arguments: FleetBrokerKind.allCases)
    func delivers(kind: FleetBrokerKind) async throws {
        try await Self.withBroker(kind) { broker in
            let receiver = try await WebhookReceiver()
            defer { Task { await receiver.close() } }
            let keys = Self.keys()
            let source = HookSource.pusher(appID: "1")
            let endpoint = WebhookEndpoint(
                url: receiver.url, events: ["channel_occupied", "member_added"], channelPrefix: "presence-",
                headers: ["X-Team": "blue", "X-Pusher-Key": "forged"], signing: .pusher(key: "app-key", secret: "app-secret")
            )
            let queued = [
                HookEvent(name: "channel_occupied", channel: "presence-room"),
                HookEvent(name: "channel_occupied", channel: "private-other"),  // filtered out by the channel
                HookEvent(name: "member_added", channel: "presence-room", fields: [("user_id", .string("ann"))]),
                HookEvent(name: "channel_vacated", channel: "presence-room"),  // not an event it wants
            ]
            // Queued before any worker runs: they wait in the stream.
            try await HookQueue(broker: broker, keys: keys).enqueue(queued, from: source)
            try await Self.withWorker(broker, keys: keys, sources: [source: [endpoint]]) {
                try await eventually("the receiver got a request") { !receiver.received.isEmpty }
                let request = receiver.received[0]
                #expect(request.path == "/hooks")
                #expect(request.headers["content-type"] == "application/json")
                #expect(request.headers["x-pusher-key"] == "app-key")
                #expect(request.headers["x-team"] == "blue")
                #expect(request.headers["x-pusher-signature"] == WebhookEndpoint.signature(of: request.body, secret: "app-secret"))
                let events = try Self.events(request)
                #expect(events.map { $0["name"] as? String } == ["channel_occupied", "member_added"])
                #expect(events.map { $0["channel"] as? String } == ["presence-room", "presence-room"])
                #expect(events[1]["user_id"] as? String == "ann")
                #expect(events.map { $0["event_id"] as? String } == [queued[0].id, queued[2].id])
                // Acknowledged: nothing is left pending, even for a worker that claims at once.
                try await eventually("acknowledged") {
                    try await broker.streamAutoClaim(keys.queue(source), group: HookKeys.group, consumer: "x", minIdle: .zero, count: 10).isEmpty
                }
                #expect(receiver.received.count == 1)
            }
        }
    }

    @Test("a receiver that answers 500 gets the same events again, with the same event_id", arguments: FleetBrokerKind.allCases)
    func retries(kind: FleetBrokerKind) async throws {
        try await Self.withBroker(kind) { broker in
            let receiver = try await WebhookReceiver(answers: [.status(500), .status(503)], otherwise: .status(200))
            defer { Task { await receiver.close() } }
            let keys = Self.keys()
            let source = HookSource.native
            let event = HookEvent(name: "join", fields: [("id", .string("ann")), ("groupId", .array([.string("g1")]))])
            try await HookQueue(broker: broker, keys: keys).enqueue([event], from: source)
            let telemetry = Telemetry()
            try await Self.withWorker(
                broker, keys: keys, sources: [source: [WebhookEndpoint(url: receiver.url, signing: .native(secret: "s3cret"))]],
                telemetry: telemetry
            ) {
                try await eventually("three attempts") { receiver.received.count >= 3 }
                let ids = try receiver.received.map { try Self.events($0).first?["event_id"] as? String }
                #expect(ids == [event.id, event.id, event.id])
                for request in receiver.received {
                    #expect(request.headers["x-wscenter-signature"] == WebhookEndpoint.signature(of: request.body, secret: "s3cret"))
                }
                try await eventually("counted") {
                    let metrics = try PrometheusText(parsing: String(decoding: telemetry.render(), as: UTF8.self))
                    return metrics.value("wscenter_webhook_events_delivered_total") == 1
                        && metrics.value("wscenter_webhook_requests_failed_total") == 2
                }
            }
        }
    }

    @Test("events still failing after the retry window go to the dead letters", arguments: FleetBrokerKind.allCases)
    func deadLetters(kind: FleetBrokerKind) async throws {
        try await Self.withBroker(kind) { broker in
            let receiver = try await WebhookReceiver(otherwise: .status(500))
            defer { Task { await receiver.close() } }
            let keys = Self.keys()
            let source = HookSource.pusher(appID: "7")
            let event = HookEvent(name: "channel_vacated", channel: "news")
            try await HookQueue(broker: broker, keys: keys).enqueue([event], from: source)
            let telemetry = Telemetry()
            try await Self.withWorker(
                broker, keys: keys, sources: [source: [WebhookEndpoint(url: receiver.url, signing: .pusher(key: "k", secret: "s"))]],
                configure: { $0.retryFor = .milliseconds(600) }, telemetry: telemetry
            ) {
                try await eventually("dead-lettered") { try await broker.streamLength(keys.deadLetters(source)) == 1 }
                let dead = try #require(try await broker.streamRange(keys.deadLetters(source), count: 10).first)
                #expect(dead.fields["i"] == event.id)
                #expect(dead.fields["e"] == event.json)
                #expect(dead.fields["url"] == receiver.url)
                #expect(dead.fields["error"] == "HTTP 500")
                // Every attempt reached the receiver, and the worker gave up only when the next
                // wait (at most maxBackoff, 200 ms) would have ended past the retry window.
                #expect(Int(dead.fields["attempts"] ?? "") == receiver.received.count)
                #expect(receiver.received.count >= 1)
                #expect(Int64(dead.fields["failed_ms"] ?? "") ?? 0 >= event.timeMs + 600 - 200)
                try await eventually("acknowledged") {
                    try await broker.streamAutoClaim(keys.queue(source), group: HookKeys.group, consumer: "x", minIdle: .zero, count: 10).isEmpty
                }
                #expect(try PrometheusText(parsing: String(decoding: telemetry.render(), as: UTF8.self)).value("wscenter_webhook_events_dead_lettered_total") == 1)
            }
        }
    }

    @Test("a receiver that drips its answer forever counts as failed within the request timeout")
    func drippingReceiver() async throws {
        try await Self.withBroker(.embedded) { broker in
            let receiver = try await WebhookReceiver(otherwise: .drip)
            defer { Task { await receiver.close() } }
            let keys = Self.keys()
            let source = HookSource.native
            try await HookQueue(broker: broker, keys: keys).enqueue([HookEvent(name: "connect", fields: [("_id", .string("c"))])], from: source)
            try await Self.withWorker(
                broker, keys: keys, sources: [source: [WebhookEndpoint(url: receiver.url, signing: .native(secret: nil))]],
                configure: { $0.requestTimeout = .milliseconds(300); $0.retryFor = .milliseconds(900) }
            ) {
                try await eventually("dead-lettered") { try await broker.streamLength(keys.deadLetters(source)) == 1 }
                let dead = try #require(try await broker.streamRange(keys.deadLetters(source), count: 1).first)
                #expect(dead.fields["error"]?.hasPrefix("no complete answer within") == true, "\(dead.fields)")
            }
        }
    }

    @Test("events a stopped worker left pending are delivered by another", arguments: FleetBrokerKind.allCases)
    func takeover(kind: FleetBrokerKind) async throws {
        try await Self.withBroker(kind) { broker in
            // The first worker's receiver never answers: the worker holds the events, then stops.
            let receiver = try await WebhookReceiver(answers: [.never], otherwise: .status(200))
            defer { Task { await receiver.close() } }
            let keys = Self.keys()
            let source = HookSource.pusher(appID: "1")
            let endpoints = [source: [WebhookEndpoint(url: receiver.url, signing: .pusher(key: "k", secret: "s"))]]
            let event = HookEvent(name: "member_removed", channel: "presence-a", fields: [("user_id", .string("bob"))])
            try await HookQueue(broker: broker, keys: keys).enqueue([event], from: source)
            try await Self.withWorker(broker, keys: keys, sources: endpoints, consumer: "first", configure: { $0.requestTimeout = .seconds(30) }) {
                try await eventually("the first worker sent it") { receiver.received.count == 1 }
            }
            // The second takes it over once it has been idle for `claimAfter`.
            try await Self.withWorker(broker, keys: keys, sources: endpoints, consumer: "second", configure: { $0.claimAfter = .milliseconds(300) }) {
                try await eventually("delivered again") { receiver.received.count == 2 }
                #expect(try Self.events(receiver.received[1]).first?["event_id"] as? String == event.id)
                try await eventually("acknowledged") {
                    try await broker.streamAutoClaim(keys.queue(source), group: HookKeys.group, consumer: "x", minIdle: .zero, count: 10).isEmpty
                }
            }
        }
    }

    @Test("a receiver that never answers does not delay another app's deliveries", arguments: FleetBrokerKind.allCases)
    func slowReceiverIsolated(kind: FleetBrokerKind) async throws {
        try await Self.withBroker(kind) { broker in
            let hanging = try await WebhookReceiver(otherwise: .never)
            let quick = try await WebhookReceiver()
            defer { Task { await hanging.close(); await quick.close() } }
            let keys = Self.keys()
            let slowApp = HookSource.pusher(appID: "slow")
            let quickApp = HookSource.pusher(appID: "quick")
            let queue = HookQueue(broker: broker, keys: keys)
            try await Self.withWorker(
                broker, keys: keys,
                sources: [
                    slowApp: [WebhookEndpoint(url: hanging.url, signing: .pusher(key: "k", secret: "s"))],
                    quickApp: [WebhookEndpoint(url: quick.url, signing: .pusher(key: "k", secret: "s"))],
                ],
                configure: { $0.requestTimeout = .seconds(30) }
            ) {
                try await queue.enqueue([HookEvent(name: "channel_occupied", channel: "a")], from: slowApp)
                try await eventually("the slow receiver holds a request") { hanging.received.count == 1 }
                let sent = ContinuousClock.now
                try await queue.enqueue([HookEvent(name: "channel_occupied", channel: "b")], from: quickApp)
                try await eventually(within: .seconds(3), "the other app's event arrives") { quick.received.count == 1 }
                #expect(ContinuousClock.now - sent < .seconds(3))
            }
        }
    }
}

/// A node's native events, queued by the producer and delivered by a worker.
@Suite("Native webhooks from a node")
struct NativeHookTests {
    @Test("connect, join, bind, leave and disconnect reach WEBHOOK_URL in order, signed", arguments: FleetBrokerKind.allCases)
    func nativeEvents(kind: FleetBrokerKind) async throws {
        try await withFleet(kind, nodes: 1, gateways: 1) { fleet in
            let receiver = try await WebhookReceiver()
            defer { Task { await receiver.close() } }
            let keys = HookKeys(prefix: fleet.prefix)
            let broker = fleet.inspector
            let producer = NativeHookProducer(
                events: fleet.services[0].connectionEvents(),
                outbox: HookOutbox(queue: HookQueue(broker: broker, keys: keys), file: nil, telemetry: Telemetry(), logger: Logger(label: "hooks-test")),
                names: ["connect", "disconnect", "bind", "join", "leave"], logger: Logger(label: "hooks-test")
            )
            var configuration = HookWorkerConfiguration(consumer: "w")
            configuration.pollInterval = .milliseconds(20)
            let worker = HookWorker(
                broker: broker, keys: keys, sources: [.native: [WebhookEndpoint(url: receiver.url, signing: .native(secret: "s"))]],
                configuration: configuration, meter: HookMeter(telemetry: Telemetry()), logger: Logger(label: "hooks-test")
            )
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await producer.run() }
                group.addTask { try await worker.run() }
                defer { group.cancelAll() }
                let (socket, id) = try await fleet.connect(node: 0)
                try await socket.send(#"{"type":"join","room":"room:r1"}"#)
                _ = try await socket.next()
                _ = try await fleet.get("event=bindId&bindId%5Bid%5D=u&bindId%5B_id%5D=\(id)")
                await socket.close()
                let expected = ["connect", "join", "bind", "leave", "disconnect"]
                func names() throws -> [[String: Any]] {
                    try receiver.received.flatMap { request -> [[String: Any]] in
                        #expect(request.headers["x-wscenter-signature"] == WebhookEndpoint.signature(of: request.body, secret: "s"))
                        let json = try #require(try JSONSerialization.jsonObject(with: Data(request.body.utf8)) as? [String: Any])
                        return json["events"] as? [[String: Any]] ?? []
                    }
                }
                try await eventually("every event delivered") { try names().count >= expected.count }
                let events = try names()
                #expect(events.map { $0["name"] as? String } == expected)
                #expect(events.allSatisfy { $0["_id"] as? String == id && ($0["event_id"] as? String)?.count == 32 })
                #expect(events[1]["groupId"] as? String == "room:r1")
                #expect(events[2]["id"] as? String == "u")
                #expect(events[4]["id"] as? String == "u")
            }
        }
    }
}

/// Events produced while Redis is unreachable wait in the spool file and reach the queue, in
/// order, once it is back; a new outbox on the same file picks up what an earlier one left.
@Suite("The webhook spool")
struct HookSpoolTests {
    @Test("stop Redis, produce events, start Redis: the spooled events arrive, in order")
    func redisOutage() async throws {
        let server = try await RedisServerProcess.start()
        let broker = RedisBroker(configuration: try RedisConfiguration(url: server.url))
        let keys = HookKeys(prefix: "t:\(UUID().uuidString.lowercased()):")
        let file = NSTemporaryDirectory() + "wscenter-spool-test-\(UUID().uuidString).spool"
        defer { try? FileManager.default.removeItem(atPath: file) }
        let telemetry = Telemetry()
        let outbox = HookOutbox(queue: HookQueue(broker: broker, keys: keys), file: file, capacity: 5, telemetry: telemetry, logger: Logger(label: "spool-test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await broker.run() }
            group.addTask { await outbox.run() }
            defer { group.cancelAll() }
            try #require(await broker.waitUntilConnected())
            let first = HookEvent(name: "connect", fields: [("_id", .string("c0"))])
            await outbox.send([first], from: .native)
            #expect(try await broker.streamLength(keys.queue(.native)) == 1, "straight to the queue while Redis answers")

            await server.stop()
            let during = (1...6).map { HookEvent(name: "join", fields: [("_id", .string("c\($0)"))]) }
            for event in during { await outbox.send([event], from: .native) }
            #expect(outbox.spooledCount == 5, "the spool holds 5; the sixth is dropped and counted")
            let spooled = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
            #expect(spooled.count == 5)
            #expect(try PrometheusText(parsing: String(decoding: telemetry.render(), as: UTF8.self)).value("wscenter_webhook_events_dropped_total") == 1)

            try await server.restart()
            try await eventually(within: .seconds(15), "the spool is re-queued") { outbox.spooledCount == 0 }
            let queued = try await broker.streamRange(keys.queue(.native), count: 100).compactMap { HookEvent(streamFields: $0.fields) }
            // The test server keeps nothing across its restart (no RDB, no AOF), so the first
            // event went with it; the spooled ones come in order, with their ids.
            #expect(queued.map(\.id) == during.prefix(5).map(\.id))
            #expect(try String(contentsOfFile: file, encoding: .utf8).isEmpty, "the file is emptied")
        }
        await server.stop()
    }

    @Test("a new outbox re-queues what an earlier process left in the file")
    func leftByAnEarlierProcess() async throws {
        let broker = EmbeddedBroker()
        let keys = HookKeys(prefix: "t:")
        let file = NSTemporaryDirectory() + "wscenter-spool-test-\(UUID().uuidString).spool"
        defer { try? FileManager.default.removeItem(atPath: file) }
        let left = [HookEvent(name: "channel_occupied", channel: "a"), HookEvent(name: "member_added", channel: "presence-b", fields: [("user_id", .string("u"))])]
        try (HookOutbox.line((.pusher(appID: "1"), left[0])) + HookOutbox.line((.pusher(appID: "1"), left[1])) + "not json\n")
            .write(toFile: file, atomically: true, encoding: .utf8)
        let outbox = HookOutbox(queue: HookQueue(broker: broker, keys: keys), file: file, telemetry: Telemetry(), logger: Logger(label: "spool-test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await broker.run() }
            group.addTask { await outbox.run() }
            defer { group.cancelAll() }
            try await eventually("re-queued") { try await broker.streamLength(keys.queue(.pusher(appID: "1"))) == 2 }
            let queued = try await broker.streamRange(keys.queue(.pusher(appID: "1")), count: 10).compactMap { HookEvent(streamFields: $0.fields) }
            #expect(queued == left)
        }
    }
}

/// `getWebhookDeadLetters`: the gateway reads the dead-letter streams itself.
@Suite("Dead letters through the event API")
struct DeadLetterAPITests {
    private final class BrokerBox: Sendable {
        let broker = Mutex<(any Broker)?>(nil)
    }

    @Test("the event API lists each source's dead letters, beside node events in one batch", arguments: FleetBrokerKind.allCases)
    func listed(kind: FleetBrokerKind) async throws {
        let box = BrokerBox()
        try await withFleet(kind, nodes: 1, gateways: 1, configureGateway: { configuration in
            let keys = HookKeys(prefix: configuration.prefix)
            configuration.webhookDeadLetters = {
                let broker = try #require(box.broker.withLock { $0 })
                return try await HookDeadLetters.read(broker: broker, keys: keys, sources: [.pusher(appID: "1"), .native])
            }
        }) { fleet in
            box.broker.withLock { $0 = fleet.inspector }
            let keys = HookKeys(prefix: fleet.prefix)
            let event = HookEvent(name: "channel_vacated", channel: "news")
            var fields = event.streamFields
            fields["url"] = "http://127.0.0.1:1/hooks"
            fields["error"] = "HTTP 500"
            fields["attempts"] = "7"
            fields["failed_ms"] = "1764748800123"
            _ = try await fleet.inspector.streamAdd(keys.deadLetters(.pusher(appID: "1")), fields, maxLength: 100)

            let answer = try await fleet.get("event=getConnectionCount,getWebhookDeadLetters")
            #expect(answer.status == 200 && answer.code == 0)
            #expect(answer.results("getConnectionCount")[fleet.nodeIDs[0]] as? Int == 0)
            let letters = answer.results("getWebhookDeadLetters")
            #expect((letters["native"] as? [String: Any])?["count"] as? Int == 0)
            let app = try #require(letters["pusher:1"] as? [String: Any])
            #expect(app["count"] as? Int == 1)
            let oldest = try #require((app["oldest"] as? [[String: Any]])?.first)
            #expect((oldest["event"] as? [String: Any])?["name"] as? String == "channel_vacated")
            #expect((oldest["event"] as? [String: Any])?["event_id"] as? String == event.id)
            #expect(oldest["url"] as? String == "http://127.0.0.1:1/hooks")
            #expect(oldest["error"] as? String == "HTTP 500")
            #expect(oldest["attempts"] as? Int == 7)
            #expect(oldest["failed_ms"] as? Int == 1_764_748_800_123)
        }
    }

    @Test("without webhooks the answer is empty")
    func empty() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1) { fleet in
            let answer = try await fleet.get("event=getWebhookDeadLetters")
            #expect(answer.status == 200 && answer.code == 0)
            #expect(answer.results("getWebhookDeadLetters").isEmpty)
        }
    }
}
