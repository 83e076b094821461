import BrokerCore
import FleetCore
import Foundation
import Testing
import WSCTesting

/// The event API end to end: real WebSocket clients on two nodes, requests through two
/// gateways, on the embedded broker and on a real Redis.
@Suite("Fleet end to end", .serialized)
struct FleetIntegrationTests {
    @Test("open greets with the _id; ping gets pong", arguments: FleetBrokerKind.allCases)
    func openAndPing(kind: FleetBrokerKind) async throws {
        try await withFleet(kind, nodes: 1, gateways: 1) { fleet in
            let (socket, id) = try await fleet.connect(node: 0)
            #expect(id.count == 32 && id.allSatisfy(\.isHexDigit))
            try await socket.send("ping")
            #expect(try await socket.next() == #"{"cmd":"pong","_id":"\#(id)"}"#)
            try await socket.send("something else")
            let error = try await socket.nextJSON()
            #expect(error["type"] as? String == "error" && error["code"] as? String == "invalid_json")
        }
    }

    @Test("bind, query and send across two nodes; both gateways answer alike", arguments: FleetBrokerKind.allCases)
    func bindAndSend(kind: FleetBrokerKind) async throws {
        try await withFleet(kind) { fleet in
            let (a, aid) = try await fleet.connect(node: 0)
            let (b, bid) = try await fleet.connect(node: 1)
            let (n0, n1) = (fleet.nodeIDs[0], fleet.nodeIDs[1])

            let bound = try await fleet.get("event=bindId&bindId%5Bid%5D=u1&bindId%5B_id%5D=\(aid)")
            #expect(bound.status == 200 && bound.code == 0)
            #expect(bound.masterIDs == fleet.nodeIDs.sorted())
            #expect(bound.results("bindId")[n0] as? Int == 1)
            #expect(bound.results("bindId")[n1] as? Int == 0)
            // One user id, two connections on two nodes (POST JSON through the other gateway).
            let second = try await fleet.post("event=bindId", body: #"{"bindId":{"id":"u1","_id":"\#(bid)"}}"#, gateway: 1)
            #expect(second.results("bindId")[n1] as? Int == 1)

            for gateway in [0, 1] {
                let answer = try await fleet.get(
                    "event=getConnectionCount,getIds,get_Ids,isOnlineId,isOnline_Id&isOnlineId%5Bid%5D=u1&isOnline_Id%5B_id%5D=\(bid)",
                    gateway: gateway
                )
                #expect(answer.results("getConnectionCount")[n0] as? Int == 1)
                #expect(answer.results("getConnectionCount")[n1] as? Int == 1)
                #expect(answer.results("getIds")[n0] as? [String] == ["u1"])
                #expect(answer.results("getIds")[n1] as? [String] == ["u1"])
                #expect(answer.union("get_Ids") == [aid, bid].sorted())
                #expect(answer.results("isOnlineId")[n0] as? Bool == true)
                #expect(answer.results("isOnline_Id")[n0] as? Bool == false)
                #expect(answer.results("isOnline_Id")[n1] as? Bool == true)
            }

            let sent = try await fleet.get("event=sendMessageToId&sendMessageToId%5Bid%5D=u1&sendMessageToId%5Bmsg%5D=h%C3%A9llo%20%F0%9F%91%8B", gateway: 1)
            #expect(sent.results("sendMessageToId")[n0] as? Int == 1)
            #expect(sent.results("sendMessageToId")[n1] as? Int == 1)
            #expect(try await a.next() == "héllo 👋")
            #expect(try await b.next() == "héllo 👋")

            let direct = try await fleet.get("event=sendMessageTo_Id&sendMessageTo_Id%5B_id%5D=\(bid)&sendMessageTo_Id%5Bmsg%5D=%7B%22x%22%3A1%7D")
            #expect(direct.results("sendMessageTo_Id")[n1] as? Int == 1)
            #expect(direct.results("sendMessageTo_Id")[n0] as? Int == 0)
            #expect(try await b.next() == #"{"x":1}"#)
            try await a.expectNothing()

            let everyone = try await fleet.get("event=broadcast&broadcast%5Bmsg%5D=all")
            #expect(everyone.total("broadcast") == 2)
            #expect(try await a.next() == "all")
            #expect(try await b.next() == "all")

            let unbound = try await fleet.get("event=unBindId,getIds&unBindId%5Bid%5D=u1")
            #expect(unbound.total("unBindId") == 2)
            #expect(unbound.union("getIds").isEmpty)
            let again = try await fleet.get("event=unBind_Id&unBind_Id%5B_id%5D=\(aid)")
            #expect(again.total("unBind_Id") == 0)
        }
    }

    @Test("groups: join, query, send and leave, by id and by _id, across nodes", arguments: FleetBrokerKind.allCases)
    func groups(kind: FleetBrokerKind) async throws {
        try await withFleet(kind) { fleet in
            let (a, aid) = try await fleet.connect(node: 0)
            let (b, bid) = try await fleet.connect(node: 1)
            let (c, cid) = try await fleet.connect(node: 1)
            let (n0, n1) = (fleet.nodeIDs[0], fleet.nodeIDs[1])
            _ = try await fleet.get("event=bindId&bindId%5Bid%5D=alice&bindId%5B_id%5D=\(aid)")
            _ = try await fleet.get("event=bindId&bindId%5Bid%5D=bob&bindId%5B_id%5D=\(bid)")

            let joined = try await fleet.get(
                "event=joinGroupById,joinGroupBy_Id&joinGroupById%5BgroupId%5D=room,lobby&joinGroupById%5Bid%5D=alice"
                    + "&joinGroupBy_Id%5BgroupId%5D=room&joinGroupBy_Id%5B_id%5D=\(bid)"
            )
            #expect(joined.results("joinGroupById")[n0] as? Int == 1)
            #expect(joined.results("joinGroupById")[n1] as? Int == 0)
            #expect(joined.results("joinGroupBy_Id")[n1] as? Int == 1)
            _ = try await fleet.post("event=joinGroupBy_Id", body: "joinGroupBy_Id%5BgroupId%5D=side&joinGroupBy_Id%5B_id%5D=\(cid)", contentType: "application/x-www-form-urlencoded")

            let asked = try await fleet.get(
                "event=getGroupIds,getGroupIdsById,getGroupIdsBy_Id,isInGroupById,isInGroupBy_Id,getGroupIdCount,getGroup_IdCount"
                    + "&getGroupIdsById%5Bid%5D=alice&getGroupIdsBy_Id%5B_id%5D=\(bid)"
                    + "&isInGroupById%5BgroupId%5D=lobby&isInGroupById%5Bid%5D=alice"
                    + "&isInGroupBy_Id%5BgroupId%5D=lobby&isInGroupBy_Id%5B_id%5D=\(bid)"
                    + "&getGroupIdCount%5BgroupId%5D=room&getGroup_IdCount%5BgroupId%5D=room"
            )
            #expect(asked.results("getGroupIds")[n0] as? [String] == ["lobby", "room"])
            #expect(asked.results("getGroupIds")[n1] as? [String] == ["room", "side"])
            #expect(asked.union("getGroupIdsById") == ["lobby", "room"])
            #expect(asked.results("getGroupIdsBy_Id")[n1] as? [String] == ["room"])
            #expect(asked.results("getGroupIdsBy_Id")[n0] as? [String] == [])
            #expect(asked.results("isInGroupById")[n0] as? Bool == true)
            #expect(asked.any("isInGroupBy_Id") == false)
            #expect(asked.total("getGroupIdCount") == 2)
            #expect(asked.total("getGroup_IdCount") == 2)

            let toRoom = try await fleet.get("event=sendToGroup&sendToGroup%5BgroupId%5D=room&sendToGroup%5Bmsg%5D=to-room", gateway: 1)
            #expect(toRoom.results("sendToGroup")[n0] as? Int == 1)
            #expect(toRoom.results("sendToGroup")[n1] as? Int == 1)
            #expect(try await a.next() == "to-room")
            #expect(try await b.next() == "to-room")

            // alice is in room and lobby: their members (alice, bob) get it once each; c is not.
            let byUser = try await fleet.get("event=sendMessageToGroupByOnlyId&sendMessageToGroupByOnlyId%5Bid%5D=alice&sendMessageToGroupByOnlyId%5Bmsg%5D=by-alice")
            #expect(byUser.total("sendMessageToGroupByOnlyId") == 2)
            #expect(try await a.next() == "by-alice")
            #expect(try await b.next() == "by-alice")
            let byConnection = try await fleet.get("event=sendMessageToGroupByOnly_Id&sendMessageToGroupByOnly_Id%5B_id%5D=\(cid)&sendMessageToGroupByOnly_Id%5Bmsg%5D=by-c")
            #expect(byConnection.total("sendMessageToGroupByOnly_Id") == 1)
            #expect(try await c.next() == "by-c")
            try await a.expectNothing(for: .milliseconds(50))
            try await b.expectNothing(for: .milliseconds(50))

            let left = try await fleet.get(
                "event=leaveGroupById,leaveGroupBy_Id,getGroupIdCount&leaveGroupById%5BgroupId%5D=lobby&leaveGroupById%5Bid%5D=alice"
                    + "&leaveGroupBy_Id%5BgroupId%5D=room&leaveGroupBy_Id%5B_id%5D=\(bid)&getGroupIdCount%5BgroupId%5D=room"
            )
            #expect(left.total("leaveGroupById") == 1)
            #expect(left.total("leaveGroupBy_Id") == 1)
            #expect(left.total("getGroupIdCount") == 1)
            let all = try await fleet.get("event=leaveAllGroupById,leaveAllGroupBy_Id,getGroupIds&leaveAllGroupById%5Bid%5D=alice&leaveAllGroupBy_Id%5B_id%5D=\(cid)")
            #expect(all.total("leaveAllGroupById") == 1)
            #expect(all.total("leaveAllGroupBy_Id") == 1)
            #expect(all.union("getGroupIds").isEmpty)
            _ = (a, b, c)
        }
    }

    @Test("a batch runs in order: bind then send in one request", arguments: FleetBrokerKind.allCases)
    func batchOrder(kind: FleetBrokerKind) async throws {
        try await withFleet(kind) { fleet in
            let (socket, id) = try await fleet.connect(node: 1)
            let answer = try await fleet.post(
                "event=bindId,sendMessageToId,getIds",
                body: #"{"bindId":{"id":42,"_id":"\#(id)"},"sendMessageToId":{"id":"42","msg":"first"},"getIds":{}}"#
            )
            #expect(answer.status == 200)
            #expect(answer.total("sendMessageToId") == 1)
            #expect(answer.union("getIds") == ["42"])
            #expect(try await socket.next() == "first")
        }
    }

    @Test("disconnect and orderly node stop leave nothing behind in answers or in the broker", arguments: FleetBrokerKind.allCases)
    func cleanup(kind: FleetBrokerKind) async throws {
        try await withFleet(kind) { fleet in
            let keys = fleet.keys
            let (a, aid) = try await fleet.connect(node: 0)
            let (_, bid) = try await fleet.connect(node: 1)
            _ = try await fleet.get("event=bindId,joinGroupBy_Id&bindId%5Bid%5D=u&bindId%5B_id%5D=\(aid)&joinGroupBy_Id%5BgroupId%5D=g&joinGroupBy_Id%5B_id%5D=\(aid)")
            try await eventually("bindings written") {
                let user = try await fleet.inspector.hashGetAll(keys.user("u"))
                let group = try await fleet.inspector.hashGetAll(keys.group("g"))
                return user == [aid: fleet.nodeIDs[0]] && group == [aid: "u"]
            }
            await a.close()
            try await eventually("the closed connection is gone from answers") {
                let answer = try await fleet.get("event=getIds,get_Ids,getGroupIds")
                return answer.union("getIds").isEmpty && answer.union("get_Ids") == [bid] && answer.union("getGroupIds").isEmpty
            }
            try await eventually("the closed connection is gone from the broker") {
                let conns = try await fleet.connectionOwners()
                let user = try await fleet.inspector.hashGetAll(keys.user("u"))
                let group = try await fleet.inspector.hashGetAll(keys.group("g"))
                let record = try await fleet.inspector.hashGetAll(keys.connection(aid))
                return conns.keys.sorted() == [bid] && user.isEmpty && group.isEmpty && record.isEmpty
            }

            await fleet.stopNode(1)
            // The stopped node's notice reaches the gateways' directories a moment later (the
            // bus is asynchronous), well before its heartbeat TTL (3 s) would.
            try await eventually(within: .seconds(1), "the stopped node leaves master_ids") {
                try await fleet.get("event=get_Ids").masterIDs == [fleet.nodeIDs[0]]
            }
            let after = try await fleet.get("event=get_Ids")
            #expect(after.masterIDs == [fleet.nodeIDs[0]])
            #expect(after.union("get_Ids").isEmpty)
            #expect(try await fleet.connectionOwners().isEmpty)
            #expect(try await fleet.inspector.hashGetAll(keys.nodes).keys.sorted() == [fleet.nodeIDs[0]])
        }
    }

    @Test("a listed node that does not answer: timeout entry and extra, then it expires and is cleaned up", arguments: FleetBrokerKind.allCases)
    func unresponsiveNode(kind: FleetBrokerKind) async throws {
        try await withFleet(kind, nodes: 1, gateways: 1, callTimeout: .milliseconds(300)) { fleet in
            let keys = fleet.keys
            let ghost = NodeInfo(id: "ghost", host: "127.0.0.1", port: 1, startedAt: 0, connections: 5, version: "x", expiresAt: epochMilliseconds() + 4_000)
            _ = try await fleet.inspector.hashSet(keys.nodes, ["ghost": ghost.encoded()])
            _ = try await fleet.inspector.setAdd(keys.nodeConnections("ghost"), ["ghost-conn"])
            _ = try await fleet.inspector.hashSet(keys.connections(of: "ghost-conn"), ["ghost-conn": "ghost"])
            // Listed once the gateway's node cache has been refreshed (a fixed sleep here let
            // a loaded machine pass the ghost's expiry before the request).
            try await eventually("the gateway lists the ghost") {
                try await fleet.get("event=getConnectionCount").masterIDs.contains("ghost")
            }

            let answer = try await fleet.get("event=getConnectionCount,sendMessageTo_Id&sendMessageTo_Id%5B_id%5D=ghost-conn&sendMessageTo_Id%5Bmsg%5D=x")
            #expect(answer.status == 200 && answer.code == 0)
            #expect(answer.masterIDs == [fleet.nodeIDs[0], "ghost"].sorted())
            #expect(answer.extra == ["ghost"])
            let timeout = answer.results("getConnectionCount")["ghost"] as? [String: Any]
            #expect(timeout?["code"] as? Int == 3 && timeout?["msg"] as? String == "timeout")
            #expect(answer.results("getConnectionCount")[fleet.nodeIDs[0]] as? Int == 0)
            #expect((answer.results("sendMessageTo_Id")["ghost"] as? [String: Any])?["code"] as? Int == 3)

            try await eventually(within: .seconds(8), "the ghost leaves master_ids and the janitor removes it") {
                let listed = try await fleet.get("event=getConnectionCount").masterIDs
                let nodes = try await fleet.inspector.hashGetAll(keys.nodes)
                let conns = try await fleet.connectionOwners()
                return listed == [fleet.nodeIDs[0]] && nodes["ghost"] == nil && conns["ghost-conn"] == nil
            }
        }
    }
}
