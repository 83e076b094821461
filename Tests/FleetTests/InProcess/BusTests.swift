import BrokerCore
import FleetCore
import Synchronization
import Testing
import WSCTesting

/// What a node does with the messages on its bus channel, whoever publishes them.
@Suite("The bus between gateways and nodes")
struct BusTests {
    /// Bad input on the bus is logged and dropped by the node, never answered and never fatal:
    /// the next call is answered as usual. (Calls to one node run in the order they were
    /// published, so once the calls after the bad messages are answered, the bad ones have
    /// been read.)
    @Test("a node ignores what is not a call, the shapes of earlier versions too, and answers the next call", arguments: FleetBrokerKind.allCases)
    func malformedCalls(kind: FleetBrokerKind) async throws {
        try await withFleet(kind, nodes: 1, gateways: 1) { fleet in
            let keys = fleet.keys
            let replyChannel = keys.replyChannel("bus-test")
            let replies = try await fleet.inspector.subscribe(to: [replyChannel])
            defer { replies.cancel() }
            let bad = [
                "not a request at all",
                "wscreq1\nbad-0\n\(replyChannel)",
                "wscrep1\nbad-1\n\(replyChannel)\n{\"results\":[{\"i\":1}]}",
                "wscreq1\nbad-2\n\(replyChannel)\n{\"ops\":[",
                "wscreq1\nbad-3\n\(replyChannel)\n{\"ops\":[{\"op\":\"sendEverything\",\"args\":{}}]}",
                // A claim and a hand-over as an earlier version wrote them.
                "wscreq1\nbad-4\n\(replyChannel)\n{\"ops\":[{\"op\":\"_claim\",\"args\":{\"msg\":\"tok\",\"_id\":\"c\",\"groupId\":[]}}]}",
                "wscreq1\nbad-5\n\(replyChannel)\n{\"ops\":[{\"op\":\"_adopt\",\"args\":{\"id\":\"a\",\"_id\":\"b\",\"msg\":\"[]\"}}]}",
                "wscreq1\nbad-6\n\(replyChannel)\n{\"ops\":[{\"op\":\"bindId\",\"args\":{\"id\":1,\"_id\":\"c\"}}]}",
            ]
            for payload in bad {
                try await fleet.inspector.publish(payload, to: keys.nodeChannel(fleet.nodeIDs[0]))
            }
            let call = NodeCall(operations: [.event(.getConnectionCount, EventArguments())])
            for id in ["good-0", "good-1"] {
                let request = try BrokerRequest.encode(id: id, replyTo: replyChannel) { call.write(to: &$0) }
                try await fleet.inspector.publish(request, to: keys.nodeChannel(fleet.nodeIDs[0]))
            }

            // Replies go out concurrently: either good one may come first.
            let heard = Mutex<[String]>([])
            let last = await firstElement(of: replies, within: .seconds(10)) { message in
                guard let reply = try? BrokerReply(decoding: message.payload) else { return false }
                #expect((try? NodeCallReply(wireText: reply.body)) == NodeCallReply(results: [.int(0)]), "\(message.payload)")
                return heard.withLock { heard in
                    heard.append(reply.id)
                    return heard.contains("good-0") && heard.contains("good-1")
                }
            }
            #expect(last != nil, "the calls after the bad messages were not answered")
            #expect(heard.withLock { $0 }.sorted() == ["good-0", "good-1"])
        }
    }
}
