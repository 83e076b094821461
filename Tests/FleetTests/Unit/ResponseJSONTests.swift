import FleetCore
import Foundation
import Testing

@testable import FleetGateway

/// `value` written as a JSON string literal.
private func jsonString(_ value: String) -> String {
    var out = ""
    ResponseJSON.appendString(value, to: &out)
    return out
}

/// Parses `text` with Foundation, failing the test when it is not a JSON object.
private func parseObject(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
    return try #require(object as? [String: Any], "not a JSON object: \(text)", sourceLocation: sourceLocation)
}

@Suite("API answers")
struct ResponseJSONTests {
    /// Two nodes listed out of alphabetical order, two events; node "b2" missed the second
    /// event and timed out on the first.
    private let twoNodes = APIResult(
        masterIDs: ["z9", "b2"],
        extra: ["b2"],
        data: [
            (event: .getConnectionCount, results: ["b2": .timeout, "z9": .int(5)]),
            (event: .getIds, results: ["z9": .strings(["user1", "user2"])]),
        ]
    )

    @Test("success: exact text, keys in order, nodes in master_ids order, missing results neutral")
    func successExact() {
        let expected = #"{"code":0,"msg":"ok","extra":["b2"],"master_ids":["z9","b2"],"data":{"#
            + #""getConnectionCount":{"z9":5,"b2":{"code":3,"msg":"timeout"}},"#
            + #""getIds":{"z9":["user1","user2"],"b2":[]}}}"#
        #expect(ResponseJSON.success(twoNodes) == expected)
    }

    @Test("the neutral value of a missing node follows the event's result kind")
    func neutralValues() {
        let result = APIResult(
            masterIDs: ["n1", "n2"],
            extra: [],
            data: [
                (event: .isOnlineId, results: ["n1": .bool(true)]),
                (event: .bindId, results: ["n2": .int(1)]),
                (event: .getGroupIdsById, results: [:]),
            ]
        )
        let expected = #"{"code":0,"msg":"ok","extra":[],"master_ids":["n1","n2"],"data":{"#
            + #""isOnlineId":{"n1":true,"n2":false},"bindId":{"n1":0,"n2":1},"getGroupIdsById":{"n1":[],"n2":[]}}}"#
        #expect(ResponseJSON.success(result) == expected)
    }

    @Test("no nodes and no events still give the full shape")
    func emptyResult() {
        let empty = APIResult(masterIDs: [], extra: [], data: [])
        #expect(ResponseJSON.success(empty) == #"{"code":0,"msg":"ok","extra":[],"master_ids":[],"data":{}}"#)
        let noNodes = APIResult(masterIDs: [], extra: [], data: [(event: .broadcast, results: [:])])
        #expect(ResponseJSON.success(noNodes) == #"{"code":0,"msg":"ok","extra":[],"master_ids":[],"data":{"broadcast":{}}}"#)
    }

    @Test("a failure result of one node is written as {code, msg}")
    func failureResult() {
        var out = ""
        ResponseJSON.append(.failure(code: 1, message: "bindId: missing _id"), to: &out)
        #expect(out == #"{"code":1,"msg":"bindId: missing _id"}"#)
        out = ""
        ResponseJSON.append(.int(-3), to: &out)
        #expect(out == "-3")
        out = ""
        ResponseJSON.append(.bool(false), to: &out)
        #expect(out == "false")
    }

    // MARK: Strings

    @Test("quotes, backslash, newline, CR, tab and other control characters are escaped")
    func escaping() {
        #expect(jsonString(#"say "hi""#) == #""say \"hi\"""#)
        #expect(jsonString(#"C:\dir"#) == #""C:\\dir""#)
        #expect(jsonString("a\nb\rc\td") == #""a\nb\rc\td""#)
        #expect(jsonString("\u{0}\u{1}\u{8}\u{c}\u{1b}\u{1f}") == #""\u0000\u0001\u0008\u000c\u001b\u001f""#)
        #expect(jsonString(" ~\u{7f}") == "\" ~\u{7f}\"")
        #expect(jsonString("") == #""""#)
    }

    @Test("non-ASCII text is kept as UTF-8, not escaped")
    func utf8Kept() {
        #expect(jsonString("héllo") == "\"héllo\"")
        #expect(jsonString("🎉 世界") == "\"🎉 世界\"")
        #expect(Array(jsonString("é").utf8) == [0x22, 0xC3, 0xA9, 0x22])
        // A flag (two scalars) and a combining accent survive scalar by scalar.
        #expect(jsonString("🇫🇷e\u{301}") == "\"🇫🇷e\u{301}\"")
    }

    @Test("every string written parses back to itself with JSONSerialization")
    func stringsRoundTrip() throws {
        var tricky = (0..<0x20).map { String(UnicodeScalar(UInt8($0))) }
        tricky += [#"""#, #"\"#, "/", "héllo", "🎉", "\u{2028}\u{2029}", "\u{7f}", "a\"b\\c\nd"]
        let result = APIResult(
            masterIDs: tricky,
            extra: [],
            data: [(event: .getIds, results: Dictionary(uniqueKeysWithValues: tricky.map { ($0, OperationResult.strings([$0])) }))]
        )
        let object = try parseObject(ResponseJSON.success(result))
        #expect(object["master_ids"] as? [String] == tricky)
        let data = try #require(object["data"] as? [String: Any])
        let ids = try #require(data["getIds"] as? [String: Any])
        for text in tricky {
            #expect(ids[text] as? [String] == [text], "round trip of \(text.unicodeScalars.map(\.value))")
        }
    }

    @Test("the success answer parses with JSONSerialization to the expected values")
    func successParses() throws {
        let object = try parseObject(ResponseJSON.success(twoNodes))
        #expect(object["code"] as? Int == 0)
        #expect(object["msg"] as? String == "ok")
        #expect(object["extra"] as? [String] == ["b2"])
        #expect(object["master_ids"] as? [String] == ["z9", "b2"])
        let data = try #require(object["data"] as? [String: Any])
        #expect(Set(data.keys) == ["getConnectionCount", "getIds"])
        let counts = try #require(data["getConnectionCount"] as? [String: Any])
        #expect(counts["z9"] as? Int == 5)
        let timeout = try #require(counts["b2"] as? [String: Any])
        #expect(timeout["code"] as? Int == 3)
        #expect(timeout["msg"] as? String == "timeout")
        let ids = try #require(data["getIds"] as? [String: Any])
        #expect(ids["z9"] as? [String] == ["user1", "user2"])
        #expect(ids["b2"] as? [String] == [])
    }

    // MARK: Failures

    @Test("failure: the seed's shape with the error's code and message")
    func failureShape() throws {
        let error = APIError(status: 400, code: 1, #"unknown event "nope\x""#)
        let text = ResponseJSON.failure(error)
        #expect(text == #"{"code":1,"msg":"unknown event \"nope\\x\"","extra":[],"master_ids":[],"data":{}}"#)
        let object = try parseObject(text)
        #expect(object["msg"] as? String == #"unknown event "nope\x""#)

        let unavailable = ResponseJSON.failure(APIError(status: 503, code: 2, "broker unreachable: down"), masterIDs: ["n1", "n2"])
        #expect(unavailable == #"{"code":2,"msg":"broker unreachable: down","extra":[],"master_ids":["n1","n2"],"data":{}}"#)
        let parsed = try parseObject(unavailable)
        #expect(parsed["code"] as? Int == 2)
        #expect(parsed["master_ids"] as? [String] == ["n1", "n2"])
        #expect((parsed["data"] as? [String: Any])?.isEmpty == true)
    }
}
