import BrokerCore
import FleetCore
import FleetNode
import Foundation
import NIOWebSocket
import NativeProtocol
import Synchronization
import Testing
import WSCTesting

/// The native protocol's client commands end to end: rooms across nodes, acks and errors,
/// limits, heartbeat.
@Suite("Native protocol", .serialized)
struct NativeProtocolTests {
    @Test("join, broadcast to the room's other members across nodes, leave; API sees the rooms", arguments: FleetBrokerKind.allCases)
    func rooms(kind: FleetBrokerKind) async throws {
        try await withFleet(kind) { fleet in
            let (a, aid) = try await fleet.connect(node: 0)
            let (b, _) = try await fleet.connect(node: 1)
            let (c, _) = try await fleet.connect(node: 1)
            for socket in [a, b] {
                try await socket.send(#"{"type":"join","room":"room:lobby"}"#)
                #expect(try await socket.next() == #"{"type":"joined","room":"room:lobby"}"#)
            }
            try await eventually("the API sees the room") {
                try await fleet.get("event=getGroup_IdCount&getGroup_IdCount%5BgroupId%5D=room:lobby").total("getGroup_IdCount") == 2
            }

            try await a.send(#"{"type":"broadcast","room":"room:lobby","data":{"text":"héllo","n":12345678901234567890}}"#)
            let message = try await b.nextJSON()
            #expect(message["type"] as? String == "message" && message["room"] as? String == "room:lobby" && message["from"] as? String == aid)
            let data = try #require(message["data"] as? [String: Any])
            #expect(data["text"] as? String == "héllo")
            #expect(try await a.next() == #"{"type":"broadcast_sent","room":"room:lobby","delivered":1}"#)
            try await c.expectNothing(for: .milliseconds(100))

            try await a.send(#"{"type":"broadcast","room":"room:lobby","data":"all of us","exclude_self":false}"#)
            let received = [try await a.next(), try await a.next()].sorted()
            #expect(received.contains(#"{"type":"broadcast_sent","room":"room:lobby","delivered":2}"#), "\(received)")
            #expect(try await b.nextJSON()["data"] as? String == "all of us")

            try await c.send(#"{"type":"broadcast","room":"room:lobby","data":1}"#)
            let refused = try await c.nextJSON()
            #expect(refused["type"] as? String == "error" && refused["code"] as? String == "not_in_room")

            try await b.send(#"{"type":"leave","room":"room:lobby"}"#)
            #expect(try await b.next() == #"{"type":"left","room":"room:lobby"}"#)
            try await b.send(#"{"type":"leave","room":"room:lobby"}"#)
            #expect(try await b.nextJSON()["code"] as? String == "not_in_room")
            try await b.send(#"{"type":"ping"}"#)
            #expect(try await b.next() == #"{"type":"pong"}"#)
        }
    }

    @Test("getStats and getGroupStats answer per node", arguments: FleetBrokerKind.allCases)
    func stats(kind: FleetBrokerKind) async throws {
        try await withFleet(kind) { fleet in
            let before = epochMilliseconds()
            let (a, aid) = try await fleet.connect(node: 0)
            let (b, _) = try await fleet.connect(node: 1)
            try await a.send(#"{"type":"join","room":"room:stats"}"#)
            _ = try await a.next()
            _ = try await fleet.get("event=bindId&bindId%5Bid%5D=u&bindId%5B_id%5D=\(aid)")
            try await b.send(#"{"type":"ping"}"#)
            _ = try await b.next()
            let answer = try await fleet.get("event=getStats,getGroupStats&getGroupStats%5BgroupId%5D=room:stats")
            let (n0, n1) = (fleet.nodeIDs[0], fleet.nodeIDs[1])
            let stats0 = try #require(answer.results("getStats")[n0] as? [String: Any])
            let stats1 = try #require(answer.results("getStats")[n1] as? [String: Any])
            #expect(stats0["connections"] as? Int == 1 && stats0["rooms"] as? Int == 1 && stats0["users"] as? Int == 1)
            #expect((stats0["messages_sent"] as? Int ?? 0) >= 2)  // open + joined
            #expect(stats1["messages_received"] as? Int == 1)
            #expect((stats0["memory"] as? Int ?? 0) > 1_000_000)
            #expect(stats0["uptime"] is Int)
            let group0 = try #require(answer.results("getGroupStats")[n0] as? [String: Any])
            let group1 = try #require(answer.results("getGroupStats")[n1] as? [String: Any])
            #expect(group0["connections"] as? Int == 1 && group0["users"] as? Int == 1)
            #expect((group0["created_at"] as? Int ?? 0) >= before)
            #expect(group1["connections"] as? Int == 0 && group1["created_at"] is NSNull)
        }
    }

    @Test("an embedder sees connect, join, message, bind, leave and disconnect in order")
    func embedderEvents() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1) { fleet in
            let events = fleet.services[0].events()
            let (socket, id) = try await fleet.connect(node: 0)
            try await socket.send(#"{"type":"join","room":"room:r1"}"#)
            _ = try await socket.next()
            _ = try await fleet.get("event=bindId,joinGroupBy_Id&bindId%5Bid%5D=u&bindId%5B_id%5D=\(id)&joinGroupBy_Id%5BgroupId%5D=room:r2&joinGroupBy_Id%5B_id%5D=\(id)")
            await socket.close()
            let expected: [NodeEvent] = [
                .connected(connectionID: id),
                .message(connectionID: id, text: #"{"type":"join","room":"room:r1"}"#),
                .joined(connectionID: id, room: "room:r1"),
                .bound(connectionID: id, id: "u"),
                .joined(connectionID: id, room: "room:r2"),
                .left(connectionID: id, room: "room:r1"),
                .left(connectionID: id, room: "room:r2"),
                .disconnected(connectionID: id, id: "u"),
            ]
            var seen: [NodeEvent] = []
            for await event in events {
                seen.append(event)
                if seen.count == expected.count { break }
            }
            #expect(seen == expected)
        }
    }

    @Test("a reader of connection events gets no client messages, while an embedder's reader does")
    func connectionEventsWithoutMessages() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1) { fleet in
            let withoutMessages = fleet.services[0].connectionEvents()
            let everything = fleet.services[0].events()
            let (socket, id) = try await fleet.connect(node: 0)
            try await socket.send(#"{"type":"join","room":"room:r1"}"#)
            _ = try await socket.next()
            await socket.close()
            var all: [NodeEvent] = []
            for await event in everything {
                all.append(event)
                if case .disconnected = event { break }
            }
            #expect(all.contains(.message(connectionID: id, text: #"{"type":"join","room":"room:r1"}"#)))
            var seen: [NodeEvent] = []
            for await event in withoutMessages {
                seen.append(event)
                if case .disconnected = event { break }
            }
            #expect(seen == all.filter { if case .message = $0 { false } else { true } })
        }
    }

    @Test("bad messages get an error reply and the connection stays usable")
    func badMessages() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1) { fleet in
            let (socket, id) = try await fleet.connect(node: 0)
            let cases: [(String, String)] = [
                ("{not json", "invalid_json"),
                ("[1,2]", "invalid_json"),
                (#"{"room":"x"}"#, "missing_type"),
                (#"{"type":"dance"}"#, "unknown_type"),
                (#"{"type":"join"}"#, "invalid_room"),
                (#"{"type":"join","room":"a,b"}"#, "invalid_room"),
                (#"{"type":"broadcast","room":"r"}"#, "missing_data"),
                (#"{"type":"reconnect","token":"nope"}"#, "reconnect_failed"),
            ]
            for (text, code) in cases {
                try await socket.send(text)
                let reply = try await socket.nextJSON()
                #expect(reply["type"] as? String == "error" && reply["code"] as? String == code, "\(text) → \(reply)")
            }
            let answer = try await fleet.get("event=sendMessageTo_Id&sendMessageTo_Id%5B_id%5D=\(id)&sendMessageTo_Id%5Bmsg%5D=still")
            #expect(answer.total("sendMessageTo_Id") == 1)
            #expect(try await socket.next() == "still")
        }
    }

    @Test("room policy: client joins limited by pattern, rooms per connection and connections per room")
    func roomLimits() async throws {
        let policy = RoomPolicy(clientJoin: .patterns(["chat-*"]), maxConnectionsPerRoom: 2, maxRoomsPerConnection: 2)
        try await withFleet(.redis, native: .init(rooms: policy)) { fleet in
            let (a, _) = try await fleet.connect(node: 0)
            let (b, _) = try await fleet.connect(node: 1)
            let (c, _) = try await fleet.connect(node: 0)
            try await a.send(#"{"type":"join","room":"admin"}"#)
            #expect(try await a.nextJSON()["code"] as? String == "join_not_allowed")
            for room in ["chat-1", "chat-2"] {
                try await a.send(#"{"type":"join","room":"\#(room)"}"#)
                #expect(try await a.nextJSON()["type"] as? String == "joined")
            }
            try await a.send(#"{"type":"join","room":"chat-3"}"#)
            #expect(try await a.nextJSON()["code"] as? String == "too_many_rooms")

            try await b.send(#"{"type":"join","room":"chat-1"}"#)
            #expect(try await b.nextJSON()["type"] as? String == "joined")
            // chat-1 now holds a (node 0) and b (node 1): full, fleet-wide.
            try await eventually("both joins reached the broker") {
                try await fleet.inspector.hashLength(fleet.keys.group("chat-1")) == 2
            }
            try await c.send(#"{"type":"join","room":"chat-1"}"#)
            let full = try await c.nextJSON()
            #expect(full["code"] as? String == "room_full", "\(full)")
        }
    }

    @Test("rate limit: excess messages get rate_limited; a client that keeps going is closed")
    func rateLimit() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1, native: .init(rateLimit: 5)) { fleet in
            let (socket, _) = try await fleet.connect(node: 0)
            for _ in 0..<5 { try await socket.send(#"{"type":"ping"}"#) }
            for _ in 0..<5 { #expect(try await socket.next() == #"{"type":"pong"}"#) }
            try await socket.send(#"{"type":"ping"}"#)
            #expect(try await socket.nextJSON()["code"] as? String == "rate_limited")
            for _ in 0..<10 { try? await socket.send(#"{"type":"ping"}"#) }
            try await eventually("the abusive client is closed") { socket.isClosed }
            #expect(socket.closeCode == .policyViolation)
            try await eventually("and forgotten") {
                try await fleet.get("event=getConnectionCount").total("getConnectionCount") == 0
            }
        }
    }

    @Test("a message larger than the limit closes the connection (1009); the node forgets it")
    func messageTooLarge() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1, configure: { $0.maxMessageSize = 1024 }) { fleet in
            let (socket, _) = try await fleet.connect(node: 0)
            try await socket.send(#"{"type":"broadcast","room":"r","data":""# + String(repeating: "x", count: 2048) + #""}"#)
            try await eventually("the connection is closed") { socket.isClosed }
            #expect(socket.closeCode == .messageTooLarge)
            try await eventually("and forgotten") {
                try await fleet.get("event=getConnectionCount").total("getConnectionCount") == 0
            }
        }
    }

    @Test("heartbeat: a client that answers no pings is closed after the timeout and its bindings go")
    func heartbeatTimeout() async throws {
        try await withFleet(.redis, nodes: 1, gateways: 1, configure: {
            // A ping every second; the client that answers does so from a thread of its own,
            // so that a test process busy with the other tests cannot make it late.
            $0.webSocketPingInterval = .seconds(1)
            $0.webSocketTimeout = .seconds(2)
        }) { fleet in
            let keys = fleet.keys
            let live = try await IdleWebSocket.open(port: fleet.nodePorts[0])
            live.answerPings()
            let liveIDs = try await fleet.get("event=get_Ids").union("get_Ids")
            #expect(liveIDs.count == 1)
            let silent = try await IdleWebSocket.open(port: fleet.nodePorts[0])
            #expect(try await fleet.get("event=get_Ids").union("get_Ids").count == 2)
            // The silent client is closed after one unanswered ping period (1-2 s).
            #expect(await silent.waitUntilClosed(seconds: 10))
            try await eventually(within: .seconds(5), "the silent client is forgotten, the live one kept") {
                try await fleet.get("event=get_Ids").union("get_Ids") == liveIDs
            }
            try await eventually("its entries leave the broker") {
                try await fleet.connectionOwners().count == 1
            }
            // Pings keep coming and keep being answered: the live client is still here.
            #expect(live.isAnswering)
            #expect(try await fleet.get("event=get_Ids").union("get_Ids") == liveIDs)
        }
    }
}
