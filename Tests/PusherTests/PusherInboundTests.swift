import FleetCore
import Testing

@testable import PusherProtocol

@Suite("PusherInbound")
struct PusherInboundTests {
    /// The error that parsing `text` throws, or nil when it parses.
    private func malformed(_ text: String) -> PusherInbound.Malformed? {
        do {
            _ = try PusherInbound(parsing: text)
            return nil
        } catch {
            return error
        }
    }

    // MARK: Shape

    @Test("event, channel and data are read")
    func parses() throws {
        let message = try PusherInbound(parsing: #"{"event":"pusher:subscribe","channel":"c","data":{"channel":"private-a","auth":"k:s"}}"#)
        #expect(message.event == "pusher:subscribe")
        #expect(message.channel == "c")
        #expect(message.data == .object(["channel": .string("private-a"), "auth": .string("k:s")]))
        #expect(message == PusherInbound(
            event: "pusher:subscribe", channel: "c", data: .object(["channel": .string("private-a"), "auth": .string("k:s")])
        ))
    }

    @Test("channel and data may be absent or null; unknown fields are ignored")
    func optionalFields() throws {
        let bare = try PusherInbound(parsing: #"{"event":"pusher:ping"}"#)
        #expect(bare == PusherInbound(event: "pusher:ping"))
        #expect(bare.data == nil)

        let nulls = try PusherInbound(parsing: #"{"event":"pusher:ping","channel":null,"data":null,"extra":[1]}"#)
        #expect(nulls.channel == nil)
        #expect(nulls.data == .null)
        #expect(nulls.dataObject() == nil)
    }

    @Test("data keeps its JSON kind")
    func dataKinds() throws {
        #expect(try PusherInbound(parsing: #"{"event":"e","data":"text"}"#).data == .string("text"))
        #expect(try PusherInbound(parsing: #"{"event":"e","data":12}"#).data == .number("12"))
        #expect(try PusherInbound(parsing: #"{"event":"e","data":true}"#).data == .bool(true))
        #expect(try PusherInbound(parsing: #"{"event":"e","data":[1,"a"]}"#).data == .array([.number("1"), .string("a")]))
    }

    @Test(
        "malformed messages are refused with their reason",
        arguments: [
            ("", "the message is not JSON"),
            ("{", "the message is not JSON"),
            ("event: x", "the message is not JSON"),
            (#"{"event""#, "the message is not JSON"),
            (#"{"event":"e"} trailing"#, "the message is not JSON"),
            ("[]", "the message is not a JSON object"),
            (#"[{"event":"e"}]"#, "the message is not a JSON object"),
            (#""{\"event\":\"e\"}""#, "the message is not a JSON object"),
            ("42", "the message is not a JSON object"),
            ("null", "the message is not a JSON object"),
            ("{}", #"the message has no "event" string"#),
            (#"{"event":""}"#, #"the message has no "event" string"#),
            (#"{"event":null}"#, #"the message has no "event" string"#),
            (#"{"event":1}"#, #"the message has no "event" string"#),
            (#"{"event":{"name":"e"}}"#, #"the message has no "event" string"#),
            (#"{"Event":"e"}"#, #"the message has no "event" string"#),
            (#"{"event":"e","channel":1}"#, #""channel" must be a string, not a number"#),
            (#"{"event":"e","channel":true}"#, #""channel" must be a string, not a boolean"#),
            (#"{"event":"e","channel":["c"]}"#, #""channel" must be a string, not an array"#),
            (#"{"event":"e","channel":{}}"#, #""channel" must be a string, not an object"#),
        ]
    )
    func malformedMessages(text: String, reason: String) {
        #expect(malformed(text) == PusherInbound.Malformed(reason))
        #expect(malformed(text)?.description == reason)
    }

    // MARK: Data

    @Test("dataObject: an object, or a string that holds one")
    func dataObject() throws {
        let object = try PusherInbound(parsing: #"{"event":"e","data":{"channel":"a","n":1}}"#)
        #expect(object.dataObject() == ["channel": .string("a"), "n": .number("1")])

        // Some clients encode data twice: a string holding the object.
        let twice = try PusherInbound(parsing: #"{"event":"e","data":"{\"channel\":\"a\",\"n\":1}"}"#)
        #expect(twice.dataObject() == ["channel": .string("a"), "n": .number("1")])
        #expect(twice.data == .string(#"{"channel":"a","n":1}"#))
    }

    @Test(
        "dataObject is nil for anything else",
        arguments: [
            #"{"event":"e"}"#,
            #"{"event":"e","data":null}"#,
            #"{"event":"e","data":"text"}"#,
            #"{"event":"e","data":""}"#,
            #"{"event":"e","data":"[1,2]"}"#,
            #"{"event":"e","data":"\"{}\""}"#,
            #"{"event":"e","data":"{"}"#,
            #"{"event":"e","data":1}"#,
            #"{"event":"e","data":[{}]}"#,
        ]
    )
    func noDataObject(text: String) throws {
        #expect(try PusherInbound(parsing: text).dataObject() == nil)
    }

    @Test("string(_:in:): the text, nil when absent or null, an error naming the field otherwise")
    func stringField() throws {
        let fields: [String: JSONValue] = [
            "auth": .string("k:s"), "empty": .string(""), "none": .null, "n": .number("1"), "o": .object([:]), "b": .bool(false),
        ]
        #expect(try PusherInbound.string("auth", in: fields) == "k:s")
        #expect(try PusherInbound.string("empty", in: fields) == "")
        #expect(try PusherInbound.string("none", in: fields) == nil)
        #expect(try PusherInbound.string("missing", in: fields) == nil)
        #expect(throws: PusherInbound.Malformed(#""n" must be a string, not a number"#)) { try PusherInbound.string("n", in: fields) }
        #expect(throws: PusherInbound.Malformed(#""o" must be a string, not an object"#)) { try PusherInbound.string("o", in: fields) }
        #expect(throws: PusherInbound.Malformed(#""b" must be a string, not a boolean"#)) { try PusherInbound.string("b", in: fields) }
    }

    @Test("text with unicode and escapes parses to the same strings")
    func unicode() throws {
        let message = try PusherInbound(parsing: #"{"event":"client-ça\n","channel":"private-a","data":{"text":"😀 \"q\" \u00e9"}}"#)
        #expect(message.event == "client-ça\n")
        #expect(message.dataObject()?["text"] == .string("😀 \"q\" é"))
    }
}
