import FleetCore
import Testing

/// The bus codec: one typed payload per operation and per result (docs/redis.md), each read
/// back as it was written, the documented text exactly, and what is not a call or a reply
/// refused.
@Suite("NodeCall and NodeCallReply wire codec")
struct NodeCallWireTests {
    static let session: HandedSession = {
        var session = HandedSession(token: "t\"1", connectionID: "c", id: "u", groups: ["g", "h"], recorded: 3, remaining: 1_000)
        session.kept = [12, 0, 64]
        session.complete = false
        session.address = "10.0.0.7"
        return session
    }()

    static let operations: [NodeOperation] = [
        .event(.getConnectionCount, EventArguments()),
        .event(.bindId, EventArguments(id: "u/1 \"quoted\"", connectionID: "c\n2")),
        .event(.joinGroupById, EventArguments(id: "ü", groups: ["a", "b,c", "😀"])),
        .event(.sendToGroup, EventArguments(groups: ["g"], message: "{\"json\":[1,2]}\u{01}\t\\", messageID: "00ff00ff00ff00ff")),
        .event(.broadcast, EventArguments(message: "")),
        .event(.getGroupIds, EventArguments(groups: [])),
        .sendToGroups(["g1", "g2"], message: "m", excluding: "c1", messageID: "0123456789abcdef"),
        .sendToGroups([], message: ""),
        .claimSession(token: "tok", connectionID: "c9", id: nil, groups: []),
        .claimSession(token: "tok", connectionID: "c9", id: "ann", groups: ["g1"]),
        .adoptSessions(from: "n1", to: "n2", sessions: [
            HandedSession(token: "t", connectionID: "c", id: nil, groups: [], recorded: 0, remaining: 0), session,
        ]),
        .adoptSessions(from: "n1", to: "n2", sessions: []),
    ] + FleetEvent.allCases.map { .event($0, EventArguments(id: "u", connectionID: "c", groups: ["g"], message: "m", messageID: "1")) }

    static let results: [OperationResult] = [
        .int(0), .int(-42), .int(Int.max), .int(Int.min), .bool(true), .bool(false), .strings([]), .strings(["a", "b\"c", "é"]),
        .object(try! JSONValue(parsing: #"{"connections":4,"groups":["g1"],"nested":{"x":[1.5,null,true]}}"#.utf8)),
        .object(.object([:])),
        .claim(ClaimAnswer()),
        .claim(ClaimAnswer(session: .live)),
        .claim(ClaimAnswer(session: .away(recorded: 4, complete: true, id: "ann", groups: ["g1", "g2"]))),
        .claim(ClaimAnswer(session: .away(recorded: 0, complete: false, id: nil, groups: []), seen: [])),
        .claim(ClaimAnswer(seen: ["0f1e2d3c4b5a6978", "x"])),
        .failure(code: 1, message: "bad \"args\""), .timeout,
    ]

    @Test("every operation reads back as written, alone and together")
    func callsRoundTrip() throws {
        for operation in Self.operations {
            let single = NodeCall(operations: [operation])
            #expect(try NodeCall(wireText: single.wireText()) == single)
        }
        let call = NodeCall(operations: Self.operations)
        let text = call.wireText()
        #expect(try NodeCall(wireText: text) == call)
        #expect(try NodeCall(wireText: "x\(text)y".dropFirst().dropLast()) == call)
        let bytes = Array(text.utf8)
        #expect(try bytes.withUnsafeBytes { try NodeCall(wireBytes: $0) } == call)
        #expect(try NodeCall(wireText: NodeCall(operations: []).wireText()).operations.isEmpty)
    }

    @Test("every result reads back as written, alone and together")
    func repliesRoundTrip() throws {
        for result in Self.results {
            let single = NodeCallReply(results: [result])
            #expect(try NodeCallReply(wireText: single.wireText()) == single)
        }
        let reply = NodeCallReply(results: Self.results)
        let text = reply.wireText()
        #expect(try NodeCallReply(wireText: text) == reply)
        #expect(try NodeCallReply(wireText: "x\(text)y".dropFirst().dropLast()) == reply)
        #expect(try Array(text.utf8).withUnsafeBytes { try NodeCallReply(wireBytes: $0) } == reply)
    }

    @Test("the size estimate covers what is written without escapes")
    func estimates() {
        for operation in Self.operations {
            let call = NodeCall(operations: [operation])
            let text = call.wireText()
            if !text.contains("\\") { #expect(call.estimatedWireSize >= text.utf8.count, "\(text)") }
        }
        for result in Self.results {
            let reply = NodeCallReply(results: [result])
            let text = reply.wireText()
            if case .object = result { continue }
            if !text.contains("\\") { #expect(reply.estimatedWireSize >= text.utf8.count, "\(text)") }
        }
    }

    @Test("each operation's documented text, exactly")
    func documentedCalls() {
        let cases: [(NodeOperation, String)] = [
            (.event(.joinGroupBy_Id, EventArguments(connectionID: "f7b6", groups: ["a", "b"])),
             #"{"op":"joinGroupBy_Id","args":{"_id":"f7b6","groupId":["a","b"]}}"#),
            (.event(.sendMessageTo_Id, EventArguments(connectionID: "c", message: "hi", messageID: "0f1e2d3c4b5a6978")),
             #"{"op":"sendMessageTo_Id","args":{"_id":"c","msg":"hi","mid":"0f1e2d3c4b5a6978"}}"#),
            (.event(.getConnectionCount, EventArguments()), #"{"op":"getConnectionCount","args":{}}"#),
            (.sendToGroups(["g1", "g2"], message: "hi", excluding: "c", messageID: "0f1e2d3c4b5a6978"),
             #"{"op":"_sendToGroups","groupId":["g1","g2"],"msg":"hi","mid":"0f1e2d3c4b5a6978","exclude":"c"}"#),
            (.sendToGroups(["g"], message: "hi"), #"{"op":"_sendToGroups","groupId":["g"],"msg":"hi"}"#),
            (.claimSession(token: "9c1e", connectionID: "57b9", id: "ann", groups: ["g1", "g2"]),
             #"{"op":"_claim","token":"9c1e","_id":"57b9","id":"ann","groupId":["g1","g2"]}"#),
            (.claimSession(token: "9c1e", connectionID: "57b9", id: nil, groups: []),
             #"{"op":"_claim","token":"9c1e","_id":"57b9","groupId":[]}"#),
            (.adoptSessions(from: "nodeA", to: "nodeB", sessions: [Self.session]),
             #"{"op":"_adopt","from":"nodeA","to":"nodeB","sessions":[{"token":"t\"1","_id":"c","id":"u","groupId":["g","h"],"#
                + #""recorded":3,"remaining":1000,"kept":[12,0,64],"complete":false,"address":"10.0.0.7"}]}"#),
            (.adoptSessions(from: "a", to: "b", sessions: [HandedSession(token: "t", connectionID: "c", id: nil, groups: [], recorded: 0, remaining: 5)]),
             #"{"op":"_adopt","from":"a","to":"b","sessions":[{"token":"t","_id":"c","groupId":[],"recorded":0,"remaining":5}]}"#),
        ]
        for (operation, text) in cases {
            #expect(NodeCall(operations: [operation]).wireText() == #"{"ops":["# + text + "]}")
        }
    }

    @Test("each result's documented text, exactly")
    func documentedResults() {
        let cases: [(OperationResult, String)] = [
            (.int(2_500), #"{"i":2500}"#), (.bool(false), #"{"b":false}"#), (.strings(["a", "b"]), #"{"s":["a","b"]}"#),
            (.object(.object(["connections": .number("3"), "groups": .array([.string("g")])])), #"{"j":{"connections":3,"groups":["g"]}}"#),
            (.claim(ClaimAnswer(session: .away(recorded: 4, complete: true, id: "ann", groups: ["g1", "g2"]))),
             #"{"claim":{"session":"away","recorded":4,"complete":true,"id":"ann","groupId":["g1","g2"]}}"#),
            (.claim(ClaimAnswer(session: .live)), #"{"claim":{"session":"live"}}"#),
            (.claim(ClaimAnswer(seen: ["0f1e2d3c4b5a6978"])), #"{"claim":{"seen":["0f1e2d3c4b5a6978"]}}"#),
            (.claim(ClaimAnswer()), #"{"claim":{}}"#),
            (.failure(code: 1, message: "no"), #"{"code":1,"msg":"no"}"#),
        ]
        for (result, text) in cases {
            #expect(NodeCallReply(results: [result]).wireText() == #"{"results":["# + text + "]}")
        }
    }

    @Test("keys in any order, op last, unknown keys, null, escaped keys and \\/ escapes")
    func lenientShapes() throws {
        let reordered = try NodeCall(
            wireText: #" { "v": {"x": [1, {}]}, "ops" : [ { "args" : { "msg" : "a\/b", "id" : null, "extra": true }, "op" : "broadcast" } ] } "#
        )
        #expect(reordered.operations == [.event(.broadcast, EventArguments(message: "a/b"))])
        let claim = try NodeCall(wireText: #"{"ops":[{"groupId":["g"],"\u0074oken":"t","id":null,"_id":"c","op":"_cl\u0061im","msg":"ignored"}]}"#)
        #expect(claim.operations == [.claimSession(token: "t", connectionID: "c", id: nil, groups: ["g"])])
        let send = try NodeCall(wireText: #"{"ops":[{"op":"_sendToGroups","msg":"m","groupId":[],"exclude":null,"mid":null}]}"#)
        #expect(send.operations == [.sendToGroups([], message: "m")])
        let adopt = try NodeCall(
            wireText: #"{"ops":[{"sessions":[{"remaining":2.0,"recorded":1e1,"groupId":["g"],"_id":"c","token":"t","kept":null,"x":[]}],"to":"b","from":"a","op":"_adopt"}]}"#
        )
        #expect(adopt.operations == [.adoptSessions(from: "a", to: "b", sessions: [
            HandedSession(token: "t", connectionID: "c", id: nil, groups: ["g"], recorded: 10, remaining: 2)
        ])])
        let reply = try NodeCallReply(
            wireText: #"{"results":[{"i":1},{"code":3,"msg":"timeout"},{"b":null,"s":["x"]},{"claim":{"seen":null,"session":"live","n":1}}],"more":0}"#
        )
        #expect(reply.results == [.int(1), .timeout, .strings(["x"]), .claim(ClaimAnswer(session: .live))])
    }

    @Test(
        "what is not a call is refused",
        arguments: [
            "", "{}", "[]", "null", #"{"ops":{}}"#, #"{"ops":[{"op":"nope","args":{}}]}"#, #"{"ops":[{"op":"broadcast"}]}"#,
            #"{"ops":[{"args":{}}]}"#, #"{"ops":[{"op":1,"args":{}}]}"#, #"{"ops":[{"op":"bindId","args":{"id":1}}]}"#,
            #"{"ops":[{"op":"bindId","args":{"groupId":"g"}}]}"#, #"{"ops":[{"op":"bindId","args":[]}]}"#,
            #"{"ops":[]} x"#, #"{"ops":["#, #"{"ops":[{"op":"bindId","args":{"id":"\ud800"}}]}"#,
            // Each internal operation without a field it needs, or with one of the wrong type.
            #"{"ops":[{"op":"_sendToGroups","msg":"m"}]}"#, #"{"ops":[{"op":"_sendToGroups","groupId":["g"]}]}"#,
            #"{"ops":[{"op":"_sendToGroups","groupId":"g","msg":"m"}]}"#, #"{"ops":[{"op":"_sendToGroups","groupId":[],"msg":"m","exclude":1}]}"#,
            #"{"ops":[{"op":"_claim","_id":"c","groupId":[]}]}"#, #"{"ops":[{"op":"_claim","token":"t","groupId":[]}]}"#,
            #"{"ops":[{"op":"_claim","token":"t","_id":"c"}]}"#, #"{"ops":[{"op":"_claim","token":null,"_id":"c","groupId":[]}]}"#,
            #"{"ops":[{"op":"_adopt","to":"b","sessions":[]}]}"#, #"{"ops":[{"op":"_adopt","from":"a","sessions":[]}]}"#,
            #"{"ops":[{"op":"_adopt","from":"a","to":"b"}]}"#, #"{"ops":[{"op":"_adopt","from":"a","to":"b","sessions":[{}]}]}"#,
            #"{"ops":[{"op":"_adopt","from":"a","to":"b","sessions":[{"token":"t","_id":"c","groupId":[],"recorded":1.5,"remaining":0}]}]}"#,
            #"{"ops":[{"op":"_adopt","from":"a","to":"b","sessions":[{"token":"t","_id":"c","groupId":[],"recorded":1,"remaining":0,"complete":1}]}]}"#,
            #"{"ops":[{"op":"_adopt","from":"a","to":"b","sessions":[{"token":"t","_id":"c","groupId":[],"recorded":1,"remaining":1e30}]}]}"#,
            // The shapes of earlier versions: a claim's token in msg, sessions as JSON text.
            #"{"ops":[{"op":"_claim","args":{"msg":"t","_id":"c","groupId":[]}}]}"#,
            #"{"ops":[{"op":"_adopt","args":{"id":"a","_id":"b","msg":"[]"}}]}"#,
            #"{"ops":[{"op":"_sendToGroups","args":{"groupId":["g"],"msg":"m"}}]}"#,
        ]
    )
    func refusesCalls(_ text: String) {
        #expect(throws: DecodingError.self) { _ = try NodeCall(wireText: text) }
    }

    @Test(
        "what is not a reply is refused",
        arguments: [
            "", "{}", #"{"results":{}}"#, #"{"results":[{}]}"#, #"{"results":[{"i":"1"}]}"#, #"{"results":[{"i":1.5}]}"#,
            #"{"results":[{"i":99999999999999999999}]}"#, #"{"results":[{"b":1}]}"#, #"{"results":[{"s":[1]}]}"#,
            #"{"results":[{"s":"a"}]}"#, #"{"results":[{"code":1}]}"#, #"{"results":[{"msg":"m"}]}"#,
            #"{"results":[{"code":"1","msg":"m"}]}"#, #"{"results":[]} []"#,
            // `j` holds an object, no longer its text in a string.
            #"{"results":[{"j":"{}"}]}"#, #"{"results":[{"j":[1]}]}"#, #"{"results":[{"j":{"a":}}]}"#,
            #"{"results":[{"claim":[]}]}"#, #"{"results":[{"claim":{"session":"gone"}}]}"#,
            #"{"results":[{"claim":{"session":"away","complete":true,"groupId":[]}}]}"#,
            #"{"results":[{"claim":{"session":"away","recorded":1,"groupId":[]}}]}"#,
            #"{"results":[{"claim":{"session":"away","recorded":1,"complete":true}}]}"#,
            #"{"results":[{"claim":{"seen":[1]}}]}"#,
        ]
    )
    func refusesReplies(_ text: String) {
        #expect(throws: DecodingError.self) { _ = try NodeCallReply(wireText: text) }
    }

    @Test("bytes that are not UTF-8 are refused, in values and in keys")
    func invalidUTF8() {
        for bytes: [UInt8] in [
            Array(#"{"ops":[{"op":"broadcast","args":{"msg":""#.utf8) + [0xFF] + Array(#""}}]}"#.utf8),
            Array(#"{"ops":[{"op":"broadcast","args":{""#.utf8) + [0xC0, 0x80] + Array(#"":1}}]}"#.utf8),
            Array(#"{"ops":[{"op":"broad"#.utf8) + [0xE2, 0x82] + Array(#"cast","args":{}}]}"#.utf8),
        ] {
            #expect(throws: DecodingError.self) { _ = try bytes.withUnsafeBytes { try NodeCall(wireBytes: $0) } }
        }
    }
}
