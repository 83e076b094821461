import FleetNode
import Foundation
import Testing
import WSCTesting

/// Bad requests get a precise error, change nothing, and the fleet keeps serving.
@Suite("Fleet errors", .serialized)
struct FleetErrorTests {
    @Test("tokens: missing or wrong → 401 code 1, checked before anything else; a listed token works")
    func tokens() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1, tokens: ["alpha", "beta"]) { fleet in
            let missing = try await fleet.get("event=getConnectionCount")
            #expect(missing.status == 401 && missing.code == 1)
            #expect(missing.message?.contains("missing token") == true)
            let wrong = try await fleet.get("event=nope&token=gamma")
            #expect(wrong.status == 401 && wrong.code == 1 && wrong.message == "invalid token")
            let right = try await fleet.get("event=getConnectionCount&token=beta")
            #expect(right.status == 200 && right.code == 0 && right.masterIDs == fleet.nodeIDs)
        }
    }

    @Test("unknown event, missing or ill-typed parameter, malformed bodies → 400 naming the problem; nothing of the batch runs")
    func badRequests() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1) { fleet in
            let (socket, id) = try await fleet.connect(node: 0)
            let unknown = try await fleet.get("event=getConnectionCount,sendEverything")
            #expect(unknown.status == 400 && unknown.code == 1 && unknown.message == #"unknown event "sendEverything""#)

            // bindId is fine, sendMessageToId lacks msg: neither runs.
            let half = try await fleet.get("event=bindId,sendMessageToId&bindId%5Bid%5D=u&bindId%5B_id%5D=\(id)&sendMessageToId%5Bid%5D=u")
            #expect(half.status == 400 && half.code == 1)
            #expect(half.message?.contains("sendMessageToId") == true && half.message?.contains("msg") == true)
            #expect(try await fleet.get("event=getIds").union("getIds").isEmpty, "the valid half of the batch ran")

            let illTyped = try await fleet.post("event=bindId", body: #"{"bindId":{"id":["u"],"_id":"\#(id)"}}"#)
            #expect(illTyped.status == 400 && illTyped.message?.contains("bindId: parameter id must be a string or a number") == true)
            let malformed = try await fleet.post("event=bindId", body: #"{"bindId":"#)
            #expect(malformed.status == 400 && malformed.message?.hasPrefix("malformed JSON body") == true)
            let badUTF8 = try await fleet.get("event=broadcast&broadcast%5Bmsg%5D=%E9t%E9")
            #expect(badUTF8.status == 400 && badUTF8.message?.hasPrefix("malformed query string") == true, "\(badUTF8.json)")
            let noEvent = try await fleet.get("token=x")
            #expect(noEvent.status == 400 && noEvent.message?.hasPrefix("missing event") == true)

            let big = String(repeating: "x", count: (1 << 20) + 10)
            let tooLarge = try await fleet.post("event=broadcast", body: #"{"broadcast":{"msg":"\#(big)"}}"#)
            #expect(tooLarge.status == 413 && tooLarge.code == 1)

            // Still serving, and nothing reached the client.
            let fine = try await fleet.get("event=sendMessageTo_Id&sendMessageTo_Id%5B_id%5D=\(id)&sendMessageTo_Id%5Bmsg%5D=ok")
            #expect(fine.total("sendMessageTo_Id") == 1)
            #expect(try await socket.next() == "ok")
        }
    }

    @Test("a client that stops reading is disconnected once its queue is full; others keep receiving")
    func slowClient() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1, outboxLimit: 8) { fleet in
            let idle = try await IdleWebSocket.open(port: fleet.nodePorts[0])
            let (reader, _) = try await fleet.connect(node: 0)
            #expect(try await fleet.get("event=getConnectionCount").total("getConnectionCount") == 2)
            // 40 × 256 KiB: far more than the idle client's queue and socket buffers hold.
            let chunk = String(repeating: "z", count: 256 * 1024)
            for _ in 0..<40 {
                let sent = try await fleet.post("event=broadcast", body: #"{"broadcast":{"msg":"\#(chunk)"}}"#)
                #expect(sent.status == 200)
                #expect(try await reader.next().count == chunk.utf8.count)
            }
            try await eventually("the idle client is forgotten") {
                try await fleet.get("event=getConnectionCount").total("getConnectionCount") == 1
            }
            #expect(await idle.waitUntilClosed(seconds: 5), "the server did not close the idle client's connection")
        }
    }
}
