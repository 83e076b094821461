import BrokerCore
import FleetCore
import FleetNode
import Foundation
import PusherCore
import Testing
import WSCTesting

/// The events the console at /ui/ needs, on both brokers: `getStats`' address and version,
/// `get_IdsById`, and the gateway's own `getBroker`, `getPusherChannels` and
/// `triggerPusherEvent`.
@Suite("Event API: the console's events")
struct ConsoleEventTests {
    @Test("getStats says each node's version and address; get_IdsById lists a user's connections per node", arguments: FleetBrokerKind.allCases)
    func statsAndUserConnections(kind: FleetBrokerKind) async throws {
        try await withFleet(kind) { fleet in
            let (a, aid) = try await fleet.connect(node: 0)
            let (b, bid) = try await fleet.connect(node: 1)
            let (c, cid) = try await fleet.connect(node: 1)
            for connection in [aid, bid] {
                #expect(try await fleet.get("event=bindId&bindId%5Bid%5D=alice&bindId%5B_id%5D=\(connection)").total("bindId") == 1)
            }
            _ = try await fleet.get("event=bindId&bindId%5Bid%5D=bob&bindId%5B_id%5D=\(cid)")
            let answer = try await fleet.get("event=getStats,get_IdsById&get_IdsById%5Bid%5D=alice")
            for (index, node) in fleet.nodeIDs.enumerated() {
                let stats = try #require(answer.results("getStats")[node] as? [String: Any])
                #expect(stats["version"] as? String == wscenterVersion)
                #expect(stats["address"] as? String == "127.0.0.1:\(fleet.nodePorts[index])")
            }
            let connections = answer.results("get_IdsById")
            #expect(connections[fleet.nodeIDs[0]] as? [String] == [aid])
            #expect(connections[fleet.nodeIDs[1]] as? [String] == [bid])
            let nobody = try await fleet.get("event=get_IdsById&get_IdsById%5Bid%5D=nobody")
            #expect(nobody.union("get_IdsById").isEmpty && nobody.masterIDs.count == 2)
            let missing = try await fleet.get("event=get_IdsById")
            #expect(missing.status == 400 && missing.message?.contains("get_IdsById: missing parameter id") == true, "\(missing.json)")
            for socket in [a, b, c] { await socket.close() }
        }
    }

    @Test("ADVERTISE_HOST replaces the bind address in getStats' address and in the heartbeat")
    func advertisedHost() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1, configure: { $0.advertisedHost = "ws-1.example.net" }) { fleet in
            let answer = try await fleet.get("event=getStats")
            let stats = try #require(answer.results("getStats")[fleet.nodeIDs[0]] as? [String: Any])
            #expect(stats["address"] as? String == "ws-1.example.net:\(fleet.nodePorts[0])")
            let heartbeat = try #require(try await fleet.inspector.hashGet(fleet.keys.nodes, field: fleet.nodeIDs[0]))
            #expect(try NodeInfo(decoding: heartbeat).host == "ws-1.example.net")
        }
    }

    @Test("getBroker: the gateway's broker kind, link and latency, keyed by the gateway", arguments: FleetBrokerKind.allCases)
    func broker(kind: FleetBrokerKind) async throws {
        try await withFleet(kind, nodes: 1, gateways: 1) { fleet in
            let answer = try await fleet.get("event=getBroker,getConnectionCount")
            #expect(answer.status == 200 && answer.code == 0)
            let byGateway = answer.results("getBroker")
            #expect(byGateway.count == 1)
            let status = try #require(byGateway.values.first as? [String: Any])
            #expect(status["kind"] as? String == kind.rawValue)
            #expect(status["connected"] as? Bool == true)
            let latency = try #require(status["latency_ms"] as? Double)
            #expect(latency >= 0 && latency < 1000)
            #expect(answer.total("getConnectionCount") == 0)
        }
    }

    @Test("getPusherChannels lists each app's occupied channels, counts and presence members; triggerPusherEvent reaches subscribers", arguments: FleetBrokerKind.allCases)
    func pusher(kind: FleetBrokerKind) async throws {
        try await withFleet(kind, pusher: PusherFleetTests.apps) { fleet in
            let a = try await PusherTestClient.connect(fleet, node: 0)
            let b = try await PusherTestClient.connect(fleet, node: 1)
            try await a.subscribe("news")
            try await b.subscribe("news")
            _ = try await a.subscribe("presence-room", member: #"{"user_id":"alice"}"#)
            let empty = try await fleet.get("event=getPusherChannels")
            let apps = empty.results("getPusherChannels")
            #expect(Set(apps.keys) == ["1", "2", "3"])
            let first = try #require(apps["1"] as? [String: Any])
            #expect(first["key"] as? String == "app-key" && first["connections"] as? Int == 2 && first["truncated"] as? Bool == false)
            let channels = try #require(first["channels"] as? [String: [String: Any]])
            #expect(channels["news"]?["subscription_count"] as? Int == 2 && channels["news"]?["users"] == nil)
            #expect(channels["presence-room"]?["subscription_count"] as? Int == 1)
            #expect(channels["presence-room"]?["user_count"] as? Int == 1 && channels["presence-room"]?["users"] as? [String] == ["alice"])
            #expect(((apps["2"] as? [String: Any])?["channels"] as? [String: Any])?.isEmpty == true)

            let trigger = try await fleet.post(
                "event=triggerPusherEvent", body: #"{"triggerPusherEvent":{"appId":"1","channel":"news","name":"headline","msg":"{\"n\":1}"}}"#
            )
            #expect(trigger.status == 200 && trigger.code == 0, "\(trigger.json)")
            let published = try #require(trigger.results("triggerPusherEvent")["1"] as? [String: Any])
            #expect(published["channel"] as? String == "news" && published["event"] as? String == "headline" && published["published"] as? Bool == true)
            for client in [a, b] {
                let event = try await client.next()
                #expect(event["event"] as? String == "headline" && event["channel"] as? String == "news" && event["data"] as? String == #"{"n":1}"#)
            }
            await a.close()
            await b.close()
        }
    }

    @Test("triggerPusherEvent refuses, with 400 (413 for a payload over the app's limit) and nothing sent, what the REST API refuses")
    func pusherRefusals() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1, pusher: PusherFleetTests.apps) { fleet in
            let client = try await PusherTestClient.connect(fleet, node: 0)
            try await client.subscribe("news")
            func trigger(app: String = "1", channel: String = "news", name: String = "e", data: String = "x") async throws -> APIResponse {
                let body = JSONValue.object([
                    "triggerPusherEvent": .object(["appId": .string(app), "channel": .string(channel), "name": .string(name), "msg": .string(data)]),
                ]).text
                return try await fleet.post("event=triggerPusherEvent", body: body)
            }
            let cases: [(APIResponse, Int, String)] = [
                (try await trigger(app: "9"), 400, "unknown Pusher app 9"),
                (try await trigger(channel: "bad channel"), 400, "Invalid channel name"),
                (try await trigger(name: String(repeating: "n", count: 201)), 400, "Event name is longer than 200"),
                (try await trigger(data: String(repeating: "x", count: 10 * 1024 + 1)), 413, "Payload too large"),
                (try await fleet.get("event=triggerPusherEvent&triggerPusherEvent%5BappId%5D=1&triggerPusherEvent%5Bchannel%5D=news&triggerPusherEvent%5Bmsg%5D=x"), 400, "missing parameter name"),
            ]
            for (answer, status, message) in cases {
                #expect(answer.status == status && answer.code == 1 && answer.message?.contains(message) == true, "\(answer.json)")
            }
            try await client.expectNothing()
            await client.close()
        }
    }

    @Test("without the Pusher protocol: getPusherChannels is empty and triggerPusherEvent is refused with 400")
    func withoutPusher() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1) { fleet in
            let channels = try await fleet.get("event=getPusherChannels")
            #expect(channels.status == 200 && channels.results("getPusherChannels").isEmpty)
            let trigger = try await fleet.get(
                "event=triggerPusherEvent&triggerPusherEvent%5BappId%5D=1&triggerPusherEvent%5Bchannel%5D=c&triggerPusherEvent%5Bname%5D=e&triggerPusherEvent%5Bmsg%5D=x"
            )
            #expect(trigger.status == 400 && trigger.message?.contains("not available on this gateway") == true, "\(trigger.json)")
        }
    }
}
