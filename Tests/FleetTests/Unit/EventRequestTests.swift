import FleetCore
import Foundation
import Testing

@testable import FleetGateway

/// Parses a request; a thrown ``APIError`` is recorded as an issue.
private func parse(
    _ query: String,
    body: String? = nil,
    contentType: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) -> [EventCall] {
    do {
        return try EventRequest.parse(query: query[...], body: body.map { Array($0.utf8) }, contentType: contentType).calls
    } catch {
        Issue.record("unexpected error: \(error)", sourceLocation: sourceLocation)
        return []
    }
}

/// The error a request is refused with; records an issue when it is accepted. Every refusal
/// of a request must be a 400 with code 1.
private func refusal(
    _ query: String,
    body: [UInt8]? = nil,
    contentType: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) -> APIError? {
    do {
        let request = try EventRequest.parse(query: query[...], body: body, contentType: contentType)
        Issue.record("accepted: \(request.calls)", sourceLocation: sourceLocation)
        return nil
    } catch {
        #expect(error.status == 400, sourceLocation: sourceLocation)
        #expect(error.code == 1, sourceLocation: sourceLocation)
        return error
    }
}

private func refusal(
    _ query: String,
    body: String,
    contentType: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) -> APIError? {
    refusal(query, body: Array(body.utf8), contentType: contentType, sourceLocation: sourceLocation)
}

@Suite("Event API requests")
struct EventRequestTests {
    // MARK: GET

    @Test("GET: percent-encoded brackets name the event's parameters")
    func percentEncodedBrackets() {
        let calls = parse("event=bindId&token=T&bindId%5Bid%5D=u&bindId%5B_id%5D=c")
        #expect(calls == [EventCall(event: .bindId, arguments: EventArguments(id: "u", connectionID: "c"))])
    }

    @Test("GET: literal brackets, `+` as space and %XX as UTF-8")
    func queryDecoding() {
        let calls = parse("event=sendMessageToId&sendMessageToId[id]=a+b&sendMessageToId[msg]=h%C3%A9llo+%F0%9F%8C%8D%2B%26%3D")
        #expect(calls == [EventCall(event: .sendMessageToId, arguments: EventArguments(id: "a b", message: "héllo 🌍+&="))])
    }

    @Test("GET: events without parameters, a batch in the order given, token ignored")
    func batchOrder() {
        let calls = parse("token=secret&event=getIds,getConnectionCount,%20get_Ids%20")
        #expect(calls.map(\.event) == [.getIds, .getConnectionCount, .get_Ids])
        #expect(calls.allSatisfy { $0.arguments == EventArguments() })
    }

    @Test("parameters of events not in the batch and unbracketed names are ignored")
    func unrelatedParameters() {
        let calls = parse("event=broadcast&broadcast[msg]=hi&bindId[id]=u&other=1&[x]=y&broadcast[]=z")
        #expect(calls == [EventCall(event: .broadcast, arguments: EventArguments(message: "hi"))])
    }

    // MARK: POST bodies

    @Test("POST: a JSON body gives the parameters")
    func jsonBody() {
        let calls = parse(
            "event=bindId,sendMessageTo_Id",
            body: #"{"bindId": {"id": "user123", "_id": "conn1"}, "sendMessageTo_Id": {"_id": "conn1", "msg": "Hé \"x\"\n"}}"#,
            contentType: "application/json; charset=utf-8"
        )
        #expect(calls == [
            EventCall(event: .bindId, arguments: EventArguments(id: "user123", connectionID: "conn1")),
            EventCall(event: .sendMessageTo_Id, arguments: EventArguments(connectionID: "conn1", message: "Hé \"x\"\n")),
        ])
    }

    @Test("POST: a JSON body without Content-Type is recognised by its `{`")
    func jsonBodySniffed() {
        let calls = parse("event=isOnlineId", body: "  \n{\"isOnlineId\": {\"id\": \"u\"}}")
        #expect(calls == [EventCall(event: .isOnlineId, arguments: EventArguments(id: "u"))])
    }

    @Test("POST: a form body gives the parameters")
    func formBody() {
        let calls = parse(
            "event=sendToGroup",
            body: "sendToGroup%5BgroupId%5D=room1&sendToGroup[msg]=Hello+%E4%B8%96%E7%95%8C",
            contentType: "application/x-www-form-urlencoded"
        )
        #expect(calls == [EventCall(event: .sendToGroup, arguments: EventArguments(groups: ["room1"], message: "Hello 世界"))])
    }

    @Test("POST: a form body without Content-Type is read as a form")
    func formBodySniffed() {
        let calls = parse("event=broadcast", body: "broadcast[msg]=x")
        #expect(calls == [EventCall(event: .broadcast, arguments: EventArguments(message: "x"))])
    }

    @Test("the body's values win over the query's")
    func bodyOverridesQuery() {
        let calls = parse(
            "event=sendMessageToId&sendMessageToId[id]=fromQuery&sendMessageToId[msg]=q",
            body: #"{"sendMessageToId": {"msg": "fromBody"}}"#,
            contentType: "application/json"
        )
        #expect(calls == [EventCall(event: .sendMessageToId, arguments: EventArguments(id: "fromQuery", message: "fromBody"))])
    }

    @Test("JSON numbers become their text")
    func jsonNumbers() {
        let calls = parse(
            "event=bindId,broadcast",
            body: #"{"bindId": {"id": 123, "_id": -7}, "broadcast": {"msg": 1.5}}"#,
            contentType: "application/json"
        )
        #expect(calls == [
            EventCall(event: .bindId, arguments: EventArguments(id: "123", connectionID: "-7")),
            EventCall(event: .broadcast, arguments: EventArguments(message: "1.5")),
        ])
    }

    @Test("JSON integer spellings: 1.0 and 1e2 are integers, -0 is 0")
    func jsonIntegerSpellings() {
        let calls = parse(
            "event=bindId,broadcast",
            body: #"{"bindId": {"id": 1.0, "_id": 1e2}, "broadcast": {"msg": 9223372036854775807}}"#,
            contentType: "application/json"
        )
        #expect(calls == [
            EventCall(event: .bindId, arguments: EventArguments(id: "1", connectionID: "100")),
            EventCall(event: .broadcast, arguments: EventArguments(message: "9223372036854775807")),
        ])
    }

    /// Guards a bug found while writing these tests: `JSONValue.init(from:)` in
    /// Sources/FleetGateway/EventRequest.swift fell back to `Double` for an integer outside
    /// Int64, so `12345678901234567890` reached the node as "1.2345678901234567e+19", another
    /// id. An integer must keep its text as written, or the request must be refused (400).
    @Test(
        "an integer outside Int64 keeps its text or is refused, never becomes another id",
        arguments: ["12345678901234567890", "-9223372036854775809", "100000000000000000000", "1234567890123456789012345678901234567890"]
    )
    func jsonHugeInteger(_ number: String) {
        do {
            let request = try EventRequest.parse(
                query: "event=isOnlineId", body: Array(#"{"isOnlineId": {"id": \#(number)}}"#.utf8), contentType: "application/json"
            )
            #expect(request.calls.first?.arguments.id == number)
        } catch {
            #expect(error.status == 400)
        }
    }

    @Test(
        "JSON booleans, objects, arrays and null are refused naming the event and parameter",
        arguments: ["true", "false", #"{"a": 1}"#, "[1]", "null"]
    )
    func jsonIllTyped(_ value: String) {
        let error = refusal("event=isOnlineId", body: #"{"isOnlineId": {"id": \#(value)}}"#, contentType: "application/json")
        #expect(error?.message.contains("isOnlineId") == true, "\(String(describing: error))")
        #expect(error?.message.contains("id") == true)
    }

    @Test("PHP-style [] stands for empty parameters")
    func phpEmptyArray() {
        let calls = parse("event=getConnectionCount,getIds", body: #"{"getConnectionCount": [], "getIds": {}}"#, contentType: "application/json")
        #expect(calls.map(\.event) == [.getConnectionCount, .getIds])
    }

    @Test("an event's value that is not an object (or []) is refused naming the event")
    func jsonEventValueNotObject() {
        let error = refusal("event=getIds", body: #"{"getIds": "x"}"#, contentType: "application/json")
        #expect(error?.message.contains("getIds") == true, "\(String(describing: error))")
        _ = refusal("event=getIds", body: #"{"getIds": [1]}"#, contentType: "application/json")
    }

    // MARK: Event list errors

    @Test("a missing or blank event is refused", arguments: ["", "token=T", "event=", "event=%20%20"])
    func missingEvent(_ query: String) {
        let error = refusal(query)
        #expect(error?.message.contains("event") == true, "\(String(describing: error))")
    }

    @Test("an unknown event is refused, naming it")
    func unknownEvent() {
        let error = refusal("event=getIds,noSuchEvent")
        #expect(error?.message.contains("noSuchEvent") == true, "\(String(describing: error))")
        // Names are case-sensitive.
        let lower = refusal("event=getids")
        #expect(lower?.message.contains("getids") == true)
    }

    @Test("an event given twice is refused")
    func duplicateEvent() {
        let error = refusal("event=getIds,getConnectionCount,getIds")
        #expect(error?.message.contains("getIds") == true, "\(String(describing: error))")
    }

    @Test("an empty event name in the list is refused", arguments: ["event=getIds,,get_Ids", "event=getIds,", "event=,getIds"])
    func emptyEventName(_ query: String) {
        let error = refusal(query)
        #expect(error?.message.contains("empty event name") == true, "\(String(describing: error))")
    }

    // MARK: Parameter errors

    @Test("a missing parameter is refused naming the event and the parameter", arguments: FleetEvent.allCases.filter { !$0.parameters.isEmpty })
    func missingParameter(_ event: FleetEvent) {
        let full: [FleetParameter: String] = [.id: "u", .connectionID: "c", .groupID: "g", .message: "m", .appID: "1", .channel: "ch", .name: "n"]
        for missing in event.parameters {
            let given = event.parameters.filter { $0 != missing }
                .map { "\(event.rawValue)%5B\($0.rawValue)%5D=\(full[$0]!)" }
            let query = (["event=\(event.rawValue)"] + given).joined(separator: "&")
            let error = refusal(query)
            #expect(error?.message.contains(event.rawValue) == true, "\(String(describing: error))")
            #expect(error?.message.contains("missing parameter \(missing.rawValue)") == true, "\(String(describing: error))")
        }
    }

    @Test("one bad event refuses the whole batch")
    func badEventRefusesBatch() {
        let error = refusal("event=broadcast,bindId&broadcast[msg]=hi&bindId[id]=u")
        #expect(error?.message.contains("bindId") == true)
        #expect(error?.message.contains("_id") == true)
    }

    @Test("an empty id, _id or groupId is refused, an empty msg is allowed")
    func emptyValues() {
        let id = refusal("event=isOnlineId&isOnlineId[id]=")
        #expect(id?.message.contains("isOnlineId") == true)
        #expect(id?.message.contains("empty") == true, "\(String(describing: id))")
        let cid = refusal("event=isOnline_Id&isOnline_Id[_id]")
        #expect(cid?.message.contains("_id") == true, "\(String(describing: cid))")
        let group = refusal("event=getGroupIdCount&getGroupIdCount[groupId]=")
        #expect(group?.message.contains("groupId") == true, "\(String(describing: group))")
        let jsonID = refusal("event=bindId", body: #"{"bindId": {"id": "", "_id": "c"}}"#, contentType: "application/json")
        #expect(jsonID?.message.contains("id") == true)

        let calls = parse("event=broadcast&broadcast[msg]=")
        #expect(calls == [EventCall(event: .broadcast, arguments: EventArguments(message: ""))])
        let jsonCalls = parse("event=sendMessageTo_Id", body: #"{"sendMessageTo_Id": {"_id": "c", "msg": ""}}"#, contentType: "application/json")
        #expect(jsonCalls == [EventCall(event: .sendMessageTo_Id, arguments: EventArguments(connectionID: "c", message: ""))])
    }

    // MARK: groupId lists

    @Test(
        "groupId lists are split, trimmed and deduplicated where the event takes a list",
        arguments: [FleetEvent.joinGroupById, .leaveGroupById, .joinGroupBy_Id, .leaveGroupBy_Id, .sendToGroup]
    )
    func groupLists(_ event: FleetEvent) {
        #expect(event.acceptsGroupList)
        let others = event.parameters.filter { $0 != .groupID }.map { "\(event.rawValue)[\($0.rawValue)]=x" }
        let query = (["event=\(event.rawValue)", "\(event.rawValue)[groupId]=b,%20a%20,,b,c%20"] + others).joined(separator: "&")
        let calls = parse(query)
        #expect(calls.first?.arguments.groups == ["b", "a", "c"])

        let onlyCommas = (["event=\(event.rawValue)", "\(event.rawValue)[groupId]=,%20,"] + others).joined(separator: "&")
        let error = refusal(onlyCommas)
        #expect(error?.message.contains("groupId") == true, "\(String(describing: error))")
    }

    @Test(
        "groupId is kept literal where the event takes one group",
        arguments: [FleetEvent.isInGroupById, .isInGroupBy_Id, .getGroupIdCount, .getGroup_IdCount]
    )
    func literalGroup(_ event: FleetEvent) {
        #expect(!event.acceptsGroupList)
        let others = event.parameters.filter { $0 != .groupID }.map { "\(event.rawValue)[\($0.rawValue)]=x" }
        let query = (["event=\(event.rawValue)", "\(event.rawValue)[groupId]=a,%20b"] + others).joined(separator: "&")
        #expect(parse(query).first?.arguments.groups == ["a, b"])
    }

    // MARK: Malformed input

    @Test("a malformed percent-escape is refused", arguments: ["event=get%ZZIds", "event=getIds&x=%", "event=getIds&x=%4", "event=getIds&x=%C3"])
    func malformedEscape(_ query: String) {
        let error = refusal(query)
        #expect(error?.message.contains("malformed") == true, "\(String(describing: error))")
    }

    @Test("a malformed form body is refused")
    func malformedForm() {
        let error = refusal("event=broadcast", body: "broadcast[msg]=%G1", contentType: "application/x-www-form-urlencoded")
        #expect(error?.message.contains("form") == true, "\(String(describing: error))")
        let invalidUTF8 = refusal("event=broadcast", body: [0x62, 0x3D, 0xFF], contentType: "application/x-www-form-urlencoded")
        #expect(invalidUTF8?.message.contains("form") == true)
    }

    @Test("malformed JSON is refused", arguments: [#"{"bindId": "#, #"{"bindId": {"id" "u"}}"#, "{oops}", #"{"a":1} trailing"#])
    func malformedJSON(_ body: String) {
        let error = refusal("event=getIds", body: body, contentType: "application/json")
        #expect(error?.message.contains("JSON") == true, "\(String(describing: error))")
    }

    @Test("a JSON body that is not an object is refused", arguments: [#"["getIds"]"#, #""text""#, "42", "true", "null"])
    func jsonNotObject(_ body: String) {
        let error = refusal("event=getIds", body: body, contentType: "application/json")
        #expect(error?.message.contains("JSON") == true, "\(String(describing: error))")
    }

    @Test("APIError helpers carry the documented status and code")
    func apiErrors() {
        #expect(APIError.badRequest("x") == APIError(status: 400, code: 1, "x"))
        #expect(APIError.unauthorized("x") == APIError(status: 401, code: 1, "x"))
        #expect(APIError.tooLarge(limit: 10).status == 413)
        #expect(APIError.brokerUnavailable("down").status == 503)
        #expect(APIError.brokerUnavailable("down").code == 2)
    }
}

// MARK: - Wire types

extension EventRequestTests {
    fileprivate func roundTrip(_ operations: [NodeOperation], sourceLocation: SourceLocation = #_sourceLocation) throws -> [NodeOperation] {
        let decoded = try NodeCall(wireText: NodeCall(operations: operations).wireText()).operations
        #expect(decoded == operations, sourceLocation: sourceLocation)
        return decoded
    }

    fileprivate func roundTrip(_ results: [OperationResult], sourceLocation: SourceLocation = #_sourceLocation) throws -> [OperationResult] {
        let decoded = try NodeCallReply(wireText: NodeCallReply(results: results).wireText()).results
        #expect(decoded == results, sourceLocation: sourceLocation)
        return decoded
    }

    @Test("NodeOperation round trips, every event and _sendToGroups")
    func nodeOperations() throws {
        var operations: [NodeOperation] = FleetEvent.allCases.map {
            .event($0, EventArguments(id: "u", connectionID: "c", groups: ["g1", "g2"], message: "héllo\n\"🌍\""))
        }
        operations.append(.event(.getIds, EventArguments()))
        operations.append(.sendToGroups(["a", "b"], message: "m"))
        operations.append(.sendToGroups([], message: ""))
        for operation in operations { _ = try roundTrip([operation]) }
    }

    @Test("NodeOperation's wire shape: op and args with wire parameter names")
    func nodeOperationShape() throws {
        let text = NodeCall(operations: [.event(.bindId, EventArguments(id: "u", connectionID: "c"))]).wireText()
        let call = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let object = try #require((call["ops"] as? [[String: Any]])?.first)
        #expect(object["op"] as? String == "bindId")
        let args = try #require(object["args"] as? [String: Any])
        #expect(args["id"] as? String == "u")
        #expect(args["_id"] as? String == "c")

        let groups = NodeCall(operations: [.sendToGroups(["g"], message: "m")]).wireText()
        let groupsCall = try #require(try JSONSerialization.jsonObject(with: Data(groups.utf8)) as? [String: Any])
        #expect((groupsCall["ops"] as? [[String: Any]])?.first?["op"] as? String == "_sendToGroups")
    }

    @Test("an unknown operation does not decode")
    func unknownOperation() {
        #expect(throws: DecodingError.self) {
            _ = try NodeCall(wireText: #"{"ops":[{"op":"nope","args":{}}]}"#)
        }
    }

    @Test("OperationResult round trips; .bool(true) and .int(1) stay distinct")
    func operationResults() throws {
        let results: [OperationResult] = [
            .int(0), .int(1), .int(-5), .bool(true), .bool(false), .strings([]), .strings(["a", "é"]),
            .failure(code: 1, message: "bad"), .timeout,
        ]
        let decoded = try roundTrip(results)
        #expect(decoded[1] == .int(1))
        #expect(decoded[3] == .bool(true))
        #expect(decoded[1] != decoded[3])
        #expect(decoded[4] == .bool(false))
        #expect(decoded[0] != decoded[4])
        #expect(decoded[5] == .strings([]))
        #expect(OperationResult.timeout == .failure(code: 3, message: "timeout"))
    }

    @Test("NodeCall and NodeCallReply round trip")
    func callsAndReplies() throws {
        let call = NodeCall(operations: [
            .event(.bindId, EventArguments(id: "u", connectionID: "c")),
            .sendToGroups(["g"], message: "m"),
            .event(.broadcast, EventArguments(message: "")),
        ])
        #expect(try roundTrip(call.operations) == call.operations)
        let object = try JSONSerialization.jsonObject(with: Data(call.wireText().utf8)) as? [String: Any]
        #expect((object?["ops"] as? [Any])?.count == 3)

        let reply = NodeCallReply(results: [.int(1), .bool(true), .strings(["x"]), .timeout])
        #expect(try roundTrip(reply.results) == reply.results)
    }

    @Test("NodeInfo round trip with snake_case keys; liveness by expires_at")
    func nodeInfo() throws {
        let info = NodeInfo(
            id: "node-1", host: "10.0.0.5", port: 8090, startedAt: 1_700_000_000_123,
            connections: 42, version: wscenterVersion, expiresAt: 1_700_000_003_123
        )
        let text = info.encoded()
        #expect(try NodeInfo(decoding: text) == info)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["started_at"] as? Int64 == 1_700_000_000_123)
        #expect(object["expires_at"] as? Int64 == 1_700_000_003_123)
        #expect(object["port"] as? Int == 8090)
        #expect(info.isAlive(at: 1_700_000_003_122))
        #expect(!info.isAlive(at: 1_700_000_003_123))
        #expect(throws: (any Error).self) { _ = try NodeInfo(decoding: "{}") }
    }
}
