import BrokerCore
import FleetCore
import FleetNode
import Foundation
import NativeProtocol
import NIOWebSocket
import Testing
import WSCTesting

/// Resumable sessions: a client that lost its connection resumes on any node with its user id
/// and groups, and gets the messages it missed, in order.
@Suite("Resumable sessions", .serialized)
struct SessionTests {
    @Test("after open a 256-bit reconnect token arrives; resume on another node restores id and groups, once", arguments: FleetBrokerKind.allCases)
    func resumeElsewhere(kind: FleetBrokerKind) async throws {
        try await withFleet(kind) { fleet in
            let keys = fleet.keys
            let (old, oldID, token) = try await fleet.connectWithToken(node: 0)
            #expect(token.count == 64 && token.allSatisfy(\.isHexDigit))
            _ = try await fleet.get("event=bindId,joinGroupBy_Id&bindId%5Bid%5D=ann&bindId%5B_id%5D=\(oldID)&joinGroupBy_Id%5BgroupId%5D=g1,g2&joinGroupBy_Id%5B_id%5D=\(oldID)")
            await old.close()
            try await eventually("the old connection is gone") {
                try await fleet.get("event=getConnectionCount").total("getConnectionCount") == 0
            }

            // While away: four messages for her (by id, by old _id, to one of her groups, to
            // everyone), and two that are not.
            let (other, _) = try await fleet.connect(node: 1)
            for query in [
                "event=sendMessageToId&sendMessageToId%5Bid%5D=ann&sendMessageToId%5Bmsg%5D=m1",
                "event=sendMessageTo_Id&sendMessageTo_Id%5B_id%5D=\(oldID)&sendMessageTo_Id%5Bmsg%5D=m2",
                "event=sendMessageToId&sendMessageToId%5Bid%5D=zed&sendMessageToId%5Bmsg%5D=not-hers",
                "event=sendToGroup&sendToGroup%5BgroupId%5D=g2&sendToGroup%5Bmsg%5D=m3",
                "event=sendToGroup&sendToGroup%5BgroupId%5D=g9&sendToGroup%5Bmsg%5D=not-hers-either",
                "event=broadcast&broadcast%5Bmsg%5D=m4",
            ] {
                #expect(try await fleet.get(query, gateway: 1).status == 200)
            }
            #expect(try await other.next() == "m4")

            let events = fleet.services[1].events()
            let (new, newID, _) = try await fleet.connectWithToken(node: 1)
            try await new.send(#"{"type":"reconnect","token":"\#(token)"}"#)
            let reply = try await new.nextJSON()
            #expect(reply["type"] as? String == "reconnected" && reply["previous_id"] as? String == oldID && reply["_id"] as? String == newID, "\(reply)")
            #expect(reply["missed"] as? Int == 4)
            let resumed = await firstElement(of: events, within: .seconds(2)) {
                if case .reconnected = $0 { true } else { false }
            }
            #expect(resumed == .reconnected(connectionID: newID, previousID: oldID, missed: 4))
            for expected in ["m1", "m2", "m3", "m4"] {
                #expect(try await new.next() == expected)
            }

            let answer = try await fleet.get("event=getIds,getGroupIdsBy_Id,isOnlineId&getGroupIdsBy_Id%5B_id%5D=\(newID)&isOnlineId%5Bid%5D=ann", gateway: 1)
            #expect(answer.union("getIds") == ["ann"])
            #expect(answer.union("getGroupIdsBy_Id") == ["g1", "g2"])
            #expect(answer.results("isOnlineId")[fleet.nodeIDs[1]] as? Bool == true)
            try await eventually("the broker has the new binding") {
                let user = try await fleet.inspector.hashGetAll(keys.user("ann"))
                let group = try await fleet.inspector.hashGetAll(keys.group("g2"))
                return user == [newID: fleet.nodeIDs[1]] && group == [newID: "ann"]
            }
            let sent = try await fleet.get("event=sendMessageToId&sendMessageToId%5Bid%5D=ann&sendMessageToId%5Bmsg%5D=welcome+back")
            #expect(sent.total("sendMessageToId") == 1)
            #expect(try await new.next() == "welcome back")

            // Single use: the same token again fails, and the connection stays usable.
            let (third, _, _) = try await fleet.connectWithToken(node: 0)
            try await third.send(#"{"type":"reconnect","token":"\#(token)"}"#)
            #expect(try await third.nextJSON()["code"] as? String == "reconnect_failed")
            try await third.send(#"{"type":"ping"}"#)
            #expect(try await third.next() == #"{"type":"pong"}"#)
        }
    }

    @Test("resuming a session whose connection is still open closes the old connection")
    func resumeLive() async throws {
        try await withFleet(.redis) { fleet in
            let (old, oldID, token) = try await fleet.connectWithToken(node: 0)
            _ = try await fleet.get("event=bindId&bindId%5Bid%5D=bob&bindId%5B_id%5D=\(oldID)")
            let (new, newID, _) = try await fleet.connectWithToken(node: 1)
            try await new.send(#"{"type":"reconnect","token":"\#(token)"}"#)
            let reply = try await new.nextJSON()
            #expect(reply["previous_id"] as? String == oldID && reply["missed"] as? Int == 0, "\(reply)")
            try await eventually("the old connection is closed") { old.isClosed }
            try await new.expectNothing(for: .milliseconds(100))
            let answer = try await fleet.get("event=get_Ids,getIds")
            #expect(answer.union("get_Ids") == [newID])
            #expect(answer.union("getIds") == ["bob"])
        }
    }

    @Test("a message the new connection already got live, before its reconnect, is not replayed again", arguments: FleetBrokerKind.allCases)
    func noDuplicateBeforeReconnect(kind: FleetBrokerKind) async throws {
        try await withFleet(kind) { fleet in
            let (old, oldID, token) = try await fleet.connectWithToken(node: 0)
            _ = try await fleet.get("event=bindId&bindId%5Bid%5D=dee&bindId%5B_id%5D=\(oldID)")
            await old.close()
            try await eventually("the old connection is gone") {
                try await fleet.get("event=getConnectionCount").total("getConnectionCount") == 0
            }
            _ = try await fleet.get("event=sendMessageToId&sendMessageToId%5Bid%5D=dee&sendMessageToId%5Bmsg%5D=before")
            // The new connection is open but has not resumed yet: a broadcast reaches it live and
            // is also recorded for the away session.
            let (new, _, _) = try await fleet.connectWithToken(node: 1)
            _ = try await fleet.get("event=broadcast&broadcast%5Bmsg%5D=both")
            #expect(try await new.next() == "both")
            try await new.send(#"{"type":"reconnect","token":"\#(token)"}"#)
            let reply = try await new.nextJSON()
            #expect(reply["type"] as? String == "reconnected" && reply["missed"] as? Int == 1, "\(reply)")
            #expect(try await new.next() == "before")
            try await new.expectNothing(for: .milliseconds(150))
        }
    }

    @Test("the replay keeps the last REPLAY_MAX messages and says how many were dropped; live messages follow it")
    func replayBound() async throws {
        try await withFleet(.redis, configure: { $0.replayMax = 3 }) { fleet in
            let (old, _, token) = try await fleet.connectWithToken(node: 0)
            _ = try await fleet.get("event=joinGroupBy_Id&joinGroupBy_Id%5BgroupId%5D=news&joinGroupBy_Id%5B_id%5D=" + (try await fleet.get("event=get_Ids").union("get_Ids").first ?? ""))
            await old.close()
            try await eventually("the connection is gone") {
                try await fleet.get("event=getConnectionCount").total("getConnectionCount") == 0
            }
            for index in 1...5 {
                _ = try await fleet.get("event=sendToGroup&sendToGroup%5BgroupId%5D=news&sendToGroup%5Bmsg%5D=n\(index)")
            }
            let (new, _, _) = try await fleet.connectWithToken(node: 1)
            try await new.send(#"{"type":"reconnect","token":"\#(token)"}"#)
            #expect(try await new.nextJSON()["missed"] as? Int == 3)
            let notice = try await new.nextJSON()
            #expect(notice["type"] as? String == "replay_truncated" && notice["dropped"] as? Int == 2, "\(notice)")
            for expected in ["n3", "n4", "n5"] { #expect(try await new.next() == expected) }
            _ = try await fleet.get("event=sendToGroup&sendToGroup%5BgroupId%5D=news&sendToGroup%5Bmsg%5D=live")
            #expect(try await new.next() == "live")
        }
    }

    @Test("wrong tokens: reconnect_failed and the connection stays usable; too many close it (1008); an expired session cannot be resumed")
    func failures() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1, native: .init(reconnectionMaxAttempts: 3), configure: {
            $0.reconnectionTTL = .milliseconds(300)
        }) { fleet in
            let (old, _, token) = try await fleet.connectWithToken(node: 0)
            await old.close()
            try await Task.sleep(for: .milliseconds(600))  // past the session's TTL
            let (socket, _, _) = try await fleet.connectWithToken(node: 0)
            try await socket.send(#"{"type":"reconnect","token":"\#(token)"}"#)
            #expect(try await socket.nextJSON()["code"] as? String == "reconnect_failed", "an expired session resumed")
            try await socket.send(#"{"type":"reconnect","token":"nope"}"#)
            #expect(try await socket.nextJSON()["code"] as? String == "reconnect_failed")
            try await socket.send(#"{"type":"ping"}"#)
            #expect(try await socket.next() == #"{"type":"pong"}"#)
            try await socket.send(#"{"type":"reconnect","token":"nope"}"#)
            #expect(try await socket.nextJSON()["code"] as? String == "reconnect_failed")
            try await eventually("the third failure closes the connection") { socket.isClosed }
            #expect(socket.closeCode == .policyViolation)
        }
    }
}

extension FleetProcessTests {
    @Test("SIGTERM of a node: its away sessions move to another node, and their replay is complete")
    func handOverOnStop() async throws {
        let fleet = try await ProcessFleet(redisURL: try TestEnvironment.redisURL(), gateways: 1)
        let (socket, id, token) = try await fleet.connectWithToken(node: 1)
        _ = try await fleet.api.get("event=bindId&bindId%5Bid%5D=lee&bindId%5B_id%5D=\(id)")
        fleet.nodes[1].kill(SIGTERM)
        #expect(fleet.nodes[1].termination == "exit status 0", "\(fleet.nodes[1].output())")
        #expect(fleet.nodes[1].output().contains("handed over sessions"), "\(fleet.nodes[1].output())")
        try await eventually("the client sees the close") { socket.isClosed }
        // Sent after the node is gone: recorded by the node that took the session over.
        let sent = try await fleet.api.get("event=sendMessageToId&sendMessageToId%5Bid%5D=lee&sendMessageToId%5Bmsg%5D=after-stop")
        #expect(sent.masterIDs == [fleet.nodeIDs[0]])

        let (new, _, _) = try await fleet.connectWithToken(node: 0)
        try await new.send(#"{"type":"reconnect","token":"\#(token)"}"#)
        let reply = try await new.nextJSON()
        #expect(reply["type"] as? String == "reconnected" && reply["missed"] as? Int == 1, "\(reply)")
        #expect(try await new.next() == "after-stop")
        try await new.expectNothing(for: .milliseconds(150))
    }

    @Test("SIGKILL of a node: its client resumes on another node with its id and groups")
    func resumeAfterKill() async throws {
        let fleet = try await ProcessFleet(redisURL: try TestEnvironment.redisURL(), gateways: 1)
        let (socket, id, token) = try await fleet.connectWithToken(node: 1)
        _ = try await fleet.api.get("event=bindId,joinGroupBy_Id&bindId%5Bid%5D=kim&bindId%5B_id%5D=\(id)&joinGroupBy_Id%5BgroupId%5D=team&joinGroupBy_Id%5B_id%5D=\(id)")
        // The node writes bindings to Redis just after it answers: a crash in between loses the
        // write, and with it what a resume could restore. Kill it once they are written.
        let redis = try await fleet.inspector()
        let keys = FleetKeys(prefix: fleet.prefix)
        try await eventually("the binding reaches Redis") {
            try await redis.hashGetAll(keys.connection(id)) == ["node": fleet.nodeIDs[1], "id": "kim", "groups": "team"]
        }
        fleet.nodes[1].kill()
        try await eventually("the client sees its connection drop") { socket.isClosed }

        // Right away, before the dead node leaves master_ids or the janitor runs.
        let (new, newID, _) = try await fleet.connectWithToken(node: 0)
        try await new.send(#"{"type":"reconnect","token":"\#(token)"}"#)
        let reply = try await new.nextJSON()
        #expect(reply["type"] as? String == "reconnected" && reply["previous_id"] as? String == id, "\(reply) \(fleet.output())")
        // What was sent while its node was down could not be recorded: the client is told.
        let notice = try await new.nextJSON()
        #expect(notice["type"] as? String == "replay_truncated" && notice["reason"] as? String == "node_lost", "\(notice)")
        let api = fleet.api
        let survivor = fleet.nodeIDs[0]
        try await eventually(within: .seconds(10), "answers show the resumed session only") {
            let answer = try await api.get("event=getIds,getGroup_IdCount,get_Ids&getGroup_IdCount%5BgroupId%5D=team")
            return answer.masterIDs == [survivor] && answer.union("getIds") == ["kim"] && answer.total("getGroup_IdCount") == 1
                && answer.union("get_Ids") == [newID]
        }
        let last = try await api.get("event=getIds,getGroup_IdCount,get_Ids&getGroup_IdCount%5BgroupId%5D=team")
        #expect(
            last.masterIDs == [survivor] && last.union("getIds") == ["kim"] && last.union("get_Ids") == [newID]
                && last.total("getGroup_IdCount") == 1,
            "\(last.json)"
        )
    }
}
