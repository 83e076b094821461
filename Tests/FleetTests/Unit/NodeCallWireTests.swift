import FleetCore
import Foundation
import Testing

/// The hand-written bus codec reads what the Codable form (JSONEncoder) writes and the other
/// way round, so nodes and gateways of either build talk to each other.
@Suite("NodeCall and NodeCallReply wire codec")
struct NodeCallWireTests {
    static let operations: [NodeOperation] = [
        .event(.getConnectionCount, EventArguments()),
        .event(.bindId, EventArguments(id: "u/1 \"quoted\"", connectionID: "c\n2")),
        .event(.joinGroupById, EventArguments(id: "ü", groups: ["a", "b,c", "😀"])),
        .event(.sendToGroup, EventArguments(groups: ["g"], message: "{\"json\":[1,2]}\u{01}\t", messageID: "00ff00ff00ff00ff")),
        .event(.broadcast, EventArguments(message: "")),
        .sendToGroups(["g1", "g2"], message: "m", excluding: "c1", messageID: "0123456789abcdef"),
        .sendToGroups([], message: "m"),
        .claimSession(token: "tok", connectionID: "c9", id: nil, groups: []),
        .claimSession(token: "tok", connectionID: "c9", id: "ann", groups: ["g1"]),
        .adoptSessions(from: "n1", to: "n2", sessions: [
            HandedSession(token: "t", connectionID: "c", id: "u", groups: ["g"], recorded: 3, remaining: 1_000)
        ]),
    ]

    static let results: [OperationResult] = [
        .int(0), .int(-42), .bool(true), .bool(false), .strings([]), .strings(["a", "b\"c", "é"]),
        .object(try! JSONValue(parsing: #"{"session":"away","recorded":4,"groups":["g1"]}"#.utf8)),
        .failure(code: 1, message: "bad \"args\""), .timeout,
    ]

    @Test("a call written by hand reads back, and JSONDecoder reads it the same")
    func callsRoundTrip() throws {
        let call = NodeCall(operations: Self.operations)
        let text = call.wireText()
        #expect(try NodeCall(wireText: text.utf8) == call)
        #expect(try JSONDecoder().decode(NodeCall.self, from: Data(text.utf8)) == call)
        for operation in Self.operations {
            let single = NodeCall(operations: [operation])
            #expect(try NodeCall(wireText: single.wireText().utf8) == single)
        }
    }

    @Test("a call written by JSONEncoder reads the same by hand")
    func callsFromJSONEncoder() throws {
        let call = NodeCall(operations: Self.operations)
        let encoder = JSONEncoder()
        #expect(try NodeCall(wireText: encoder.encode(call)) == call)
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        #expect(try NodeCall(wireText: encoder.encode(call)) == call)
    }

    @Test("a reply written by hand reads back, and JSONDecoder reads it the same")
    func repliesRoundTrip() throws {
        let reply = NodeCallReply(results: Self.results)
        let text = reply.wireText()
        #expect(try NodeCallReply(wireText: text.utf8) == reply)
        #expect(try JSONDecoder().decode(NodeCallReply.self, from: Data(text.utf8)) == reply)
        #expect(try NodeCallReply(wireText: JSONEncoder().encode(reply)) == reply)
    }

    @Test("the documented examples, keys in any order, unknown keys, null and \\/ escapes")
    func documentedShapes() throws {
        let call = try NodeCall(wireText: #"{"ops":[{"op":"joinGroupBy_Id","args":{"_id":"f7b6","groupId":["a","b"]}}]}"#.utf8)
        #expect(call.operations == [.event(.joinGroupBy_Id, EventArguments(connectionID: "f7b6", groups: ["a", "b"]))])
        let reordered = try NodeCall(
            wireText: #" { "v": {"x": [1, {}]}, "ops" : [ { "args" : { "msg" : "a\/b", "id" : null, "extra": true }, "op" : "broadcast" } ] } "#.utf8
        )
        #expect(reordered.operations == [.event(.broadcast, EventArguments(message: "a/b"))])
        let reply = try NodeCallReply(wireText: #"{"results":[{"i":1},{"code":3,"msg":"timeout"},{"b":null,"s":["x"]}],"more":0}"#.utf8)
        #expect(reply.results == [.int(1), .timeout, .strings(["x"])])
    }

    @Test(
        "what is not a call or a reply is refused",
        arguments: [
            "", "{}", "[]", #"{"ops":{}}"#, #"{"ops":[{"op":"nope","args":{}}]}"#, #"{"ops":[{"op":"broadcast"}]}"#,
            #"{"ops":[{"args":{}}]}"#, #"{"ops":[{"op":"bindId","args":{"id":1}}]}"#,
            #"{"ops":[{"op":"bindId","args":{"groupId":"g"}}]}"#, #"{"ops":[]} x"#, #"{"ops":["#,
        ]
    )
    func refusesCalls(_ text: String) {
        #expect(throws: (any Error).self) { _ = try NodeCall(wireText: text.utf8) }
    }

    @Test(
        "what is not a reply is refused",
        arguments: [
            "", "{}", #"{"results":[{}]}"#, #"{"results":[{"i":"1"}]}"#, #"{"results":[{"i":1.5}]}"#,
            #"{"results":[{"b":1}]}"#, #"{"results":[{"s":[1]}]}"#, #"{"results":[{"j":"{"}]}"#, #"{"results":[{"code":1}]}"#,
        ]
    )
    func refusesReplies(_ text: String) {
        #expect(throws: (any Error).self) { _ = try NodeCallReply(wireText: text.utf8) }
    }
}
