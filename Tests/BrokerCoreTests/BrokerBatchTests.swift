@testable import BrokerCore
import Testing

@Suite("Batches of requests and replies")
struct BrokerBatchTests {
    private static let bodies = ["", "x", "{\"ops\":[]}", "a\nb\n\nc", "wscreqs1\nforged\n2\n", "é😀\u{0}\r\n"]

    @Test("a batch reads back as written, in order, with bodies of any text")
    func roundTrip() throws {
        let entries = Self.bodies.enumerated().map { BrokerBatch.Entry(id: "id\($0.offset)", body: $0.element) }
        let payload = try BrokerBatch.encodeRequests(entries, replyTo: "wsc:reply:gw")
        #expect(payload.hasPrefix("wscreqs1\nwsc:reply:gw\n6\nid0\n0\n\nid1\n1\nx\n"))
        let received = try BrokerRequests(decoding: payload)
        #expect(received.replyTo == "wsc:reply:gw")
        #expect(received.requests == entries.map { BrokerRequest(id: $0.id, replyTo: "wsc:reply:gw", body: $0.body) })

        let replies = try BrokerReplies.decode(BrokerBatch.encodeReplies(entries, from: "nodeB"))
        #expect(replies == entries.map { BrokerReply(id: $0.id, from: "nodeB", body: $0.body) })
    }

    @Test("the example in docs/redis.md reads as two calls")
    func documentedExample() throws {
        let body = #"{"ops":[{"op":"getConnectionCount","args":{}}]}"#
        let payload = "wscreqs1\nwsc:reply:47d94c703749f1839b754652ef6ac155\n2\nCFC3B741-AD5C-41BE-A0A7-5A0B1ED98254\n47\n\(body)\n"
            + "0A6B3F2E-9C1D-4E8F-B7A6-5D4C3B2A1F0E\n47\n\(body)\n"
        let received = try BrokerRequests(decoding: payload)
        #expect(received.requests.map(\.id) == ["CFC3B741-AD5C-41BE-A0A7-5A0B1ED98254", "0A6B3F2E-9C1D-4E8F-B7A6-5D4C3B2A1F0E"])
        #expect(received.requests.allSatisfy { $0.body == body })
    }

    @Test("a batch of one is a plain request or reply, and plain ones are read as batches of one")
    func batchOfOne() throws {
        let one = [BrokerBatch.Entry(id: "i", body: "{}")]
        let request = try BrokerBatch.encodeRequests(one, replyTo: "r")
        #expect(request == "wscreq1\ni\nr\n{}")
        #expect(try BrokerRequests(decoding: request).requests == [BrokerRequest(id: "i", replyTo: "r", body: "{}")])
        let reply = try BrokerBatch.encodeReplies(one, from: "n")
        #expect(reply == "wscrep1\ni\nn\n{}")
        #expect(try BrokerReplies.decode(reply) == [BrokerReply(id: "i", from: "n", body: "{}")])
    }

    @Test("ids and headers with a line break are refused")
    func lineBreaks() {
        let two = [BrokerBatch.Entry(id: "a", body: ""), BrokerBatch.Entry(id: "b\n", body: "")]
        #expect(throws: BrokerError.self) { _ = try BrokerBatch.encodeRequests(two, replyTo: "r") }
        #expect(throws: BrokerError.self) { _ = try BrokerBatch.encodeReplies([.init(id: "a", body: ""), .init(id: "b", body: "")], from: "n\n") }
    }

    @Test(
        "a broken batch is refused as a whole",
        arguments: [
            "wscreqs1\nr\n2\na\n1\nx\n",  // fewer entries than announced
            "wscreqs1\nr\n2\na\n1\nx\nb\n1\ny\nc\n1\nz\n",  // text after the last entry
            "wscreqs1\nr\n2\na\n2\nx\nb\n1\ny\n",  // a length past its body's line feed
            "wscreqs1\nr\n2\na\n1\nx\nb\n5\ny\n",  // a length past the end
            "wscreqs1\nr\n2\na\n1\nxb\n1\ny\n",  // no line feed after a body
            "wscreqs1\nr\n1\na\n1\nx\n",  // a batch of one is sent plain
            "wscreqs1\nr\n0\n",
            "wscreqs1\nr\n4097\n",  // more than a batch can hold
            "wscreqs1\nr\n-2\n",
            "wscreqs1\nr\n2x\na\n1\nx\nb\n1\ny\n",
            "wscreqs1\nr\n2\na\n+1\nx\nb\n1\ny\n",
            "wscreqs1\nr\n2\na\n1234567890\nx\nb\n1\ny\n",
            "wscreqs1\nr\n",
            "wscreqs1\n",
        ]
    )
    func refusesBroken(_ payload: String) {
        #expect(throws: BrokerError.self) { _ = try BrokerRequests(decoding: payload) }
        let reply = "wscreps1" + payload.dropFirst("wscreqs1".count)
        #expect(throws: BrokerError.self) { _ = try BrokerReplies.decode(reply) }
    }

    @Test("a request batch is not a reply batch, nor the other way round")
    func tagsAreDistinct() throws {
        let two = [BrokerBatch.Entry(id: "a", body: "1"), BrokerBatch.Entry(id: "b", body: "2")]
        #expect(throws: BrokerError.self) { _ = try BrokerReplies.decode(BrokerBatch.encodeRequests(two, replyTo: "r")) }
        #expect(throws: BrokerError.self) { _ = try BrokerRequests(decoding: BrokerBatch.encodeReplies(two, from: "n")) }
    }

    @Test("received bodies are views into the message, not copies")
    func bodiesAreViews() throws {
        let entries = (0..<3).map { BrokerBatch.Entry(id: "id\($0)", body: String(repeating: "{\"ops\":[]}", count: 5 + $0)) }
        var payload = try BrokerBatch.encodeRequests(entries, replyTo: "wsc:reply:47d94c703749f1839b754652ef6ac155")
        let received = try BrokerRequests(decoding: payload)
        let payloadRange = payload.withUTF8 { Int(bitPattern: $0.baseAddress)..<(Int(bitPattern: $0.baseAddress) + $0.count) }
        for request in received.requests {
            var body = request.body
            let start = body.withUTF8 { Int(bitPattern: $0.baseAddress) }
            #expect(payloadRange.contains(start))
        }
    }

    // MARK: The requester's table

    @Test("requests to one channel queue behind the first, until the batch is full")
    func queueing() {
        var table = PendingTable()
        let entry = { (id: String) in BrokerBatch.Entry(id: id, body: id) }
        guard case .leads = table.enqueue(entry("a"), on: "c", limit: 3) else { Issue.record("the first leads"); return }
        guard case .joins = table.enqueue(entry("b"), on: "c", limit: 3) else { Issue.record("the second joins"); return }
        guard case .leads = table.enqueue(entry("x"), on: "other", limit: 3) else { Issue.record("another channel"); return }
        guard case .closes(let full) = table.enqueue(entry("c"), on: "c", limit: 3) else { Issue.record("the third closes"); return }
        #expect(full.map(\.id) == ["a", "b", "c"])
        // The leader of the closed batch finds nothing left to publish; the next request leads anew.
        #expect(table.takeBatch(on: "c").isEmpty)
        guard case .leads = table.enqueue(entry("d"), on: "c", limit: 3) else { Issue.record("a new batch"); return }
        #expect(table.takeBatch(on: "c").map(\.id) == ["d"])
        #expect(table.takeBatch(on: "other").map(\.id) == ["x"])
    }

    @Test("a request whose batch could not be published throws, even past its deadline")
    func failure() async {
        var table = PendingTable()
        let past = ContinuousClock.now - .seconds(1)
        table.add("a", .count(1), deadline: past)
        table.add("b", .count(1), deadline: .now + .seconds(5))
        // Unpublished, a request is not ended by its deadline: its publisher decides.
        #expect(table.expire(at: .now).0.isEmpty)
        #expect(table.published(["a"], failure: BrokerError(.unavailable, "down"), at: .now).isEmpty, "nobody waits yet")
        var waited = true
        await withCheckedContinuation { continuation in
            waited = !table.wait("a", continuation)
            if !waited { continuation.resume() }
        }
        #expect(!waited, "a failed request does not wait")
        #expect(throws: BrokerError.self) { _ = try table.take("a") }
        // Published, its deadline counts.
        _ = table.published(["b"], failure: nil, at: .now)
        #expect(table.expire(at: .now).1 != nil, "b's deadline is kept")
        _ = table.expire(at: .now + .seconds(6))
        await withCheckedContinuation { continuation in
            waited = !table.wait("b", continuation)
            if !waited { continuation.resume() }
        }
        #expect(!waited, "b ended at its deadline")
        #expect(throws: Never.self) { _ = try table.take("b") }
    }
}
