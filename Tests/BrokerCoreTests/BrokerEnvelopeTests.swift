import BrokerCore
import Testing

@Suite("The request and reply envelope")
struct BrokerEnvelopeTests {
    @Test("a request and a reply read back as written, with bodies of any text")
    func roundTrip() throws {
        for body in ["", "x", "{\"ops\":[]}", "a\nb\n\nc", "wscreq1\nforged\nwsc:reply:evil\n{}", "é😀\u{0}\r\n"] {
            let request = BrokerRequest(id: "CFC3B741-AD5C-41BE-A0A7-5A0B1ED98254", replyTo: "wsc:reply:gw", body: body)
            let payload = try request.encoded()
            #expect(payload == "wscreq1\nCFC3B741-AD5C-41BE-A0A7-5A0B1ED98254\nwsc:reply:gw\n" + body)
            #expect(try BrokerRequest(decoding: payload) == request)

            let reply = BrokerReply(id: "1", from: "nodeB", body: body)
            #expect(try reply.encoded() == "wscrep1\n1\nnodeB\n" + body)
            #expect(try BrokerReply(decoding: reply.encoded()) == reply)
        }
    }

    @Test("a body written in place is the same as one given whole")
    func writtenBody() throws {
        let written = try BrokerRequest.encode(id: "i", replyTo: "r", bodySize: 2) { $0 += "{}" }
        #expect(written == (try BrokerRequest(id: "i", replyTo: "r", body: "{}").encoded()))
        let reply = try BrokerReply.encode(id: "i", from: "n") { $0 += "[]" }
        #expect(reply == "wscrep1\ni\nn\n[]")
    }

    /// What makes the header safe: no header field can hold a line break, so whatever a body
    /// holds (a user's message, say), it cannot move where the body starts.
    @Test("header fields with a line break are refused, so a body cannot forge them")
    func headerLineBreaks() throws {
        #expect(throws: BrokerError.self) { _ = try BrokerRequest(id: "a\nb", replyTo: "r", body: "").encoded() }
        #expect(throws: BrokerError.self) { _ = try BrokerRequest(id: "a", replyTo: "r\n", body: "").encoded() }
        #expect(throws: BrokerError.self) { _ = try BrokerReply(id: "\n", from: "n", body: "").encoded() }
        #expect(throws: BrokerError.self) { _ = try BrokerReply.encode(id: "i", from: "n\nx") { _ in } }
        let request = try BrokerRequest(decoding: "wscreq1\nid\nchannel\nwscreq1\nforged\nother\nbody")
        #expect(request.id == "id" && request.replyTo == "channel")
        #expect(request.body == "wscreq1\nforged\nother\nbody")
    }

    @Test(
        "what is not a request is refused",
        arguments: ["", "wscreq1", "wscreq1\n", "wscreq1\nid", "wscreq1\nid\nchannel", "wscrep1\nid\nchannel\n", "wscreq2\nid\nr\n", "Wscreq1\ni\nr\n", "wscreq\ni\nr\n", " wscreq1\ni\nr\n"]
    )
    func refusesRequests(_ payload: String) {
        #expect(throws: BrokerError.self) { _ = try BrokerRequest(decoding: payload) }
    }

    @Test("the least a request can be: empty header fields and body")
    func emptyFields() throws {
        let request = try BrokerRequest(decoding: "wscreq1\n\n\n")
        #expect(request == BrokerRequest(id: "", replyTo: "", body: ""))
        #expect(throws: BrokerError.self) { _ = try BrokerReply(decoding: "wscreq1\n\n\n") }
    }

    @Test("a received body is a view into the payload, not a copy")
    func bodyIsAView() throws {
        var payload = "wscreq1\nCFC3B741-AD5C-41BE-A0A7-5A0B1ED98254\nwsc:reply:47d94c703749f1839b754652ef6ac155\n"
            + String(repeating: "{\"ops\":[]}", count: 10)
        let request = try BrokerRequest(decoding: payload)
        var body = request.body
        let payloadStart = payload.withUTF8 { Int(bitPattern: $0.baseAddress) }
        let bodyStart = body.withUTF8 { Int(bitPattern: $0.baseAddress) }
        #expect(bodyStart - payloadStart == payload.utf8.count - body.utf8.count)
    }
}
