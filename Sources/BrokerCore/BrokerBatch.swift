// Several requests of one requester to one channel in one message, and several replies of one
// responder in one message: a gateway under load publishes the calls its tasks made within
// one turn of its executor together, and a node answers them together (docs/redis.md,
// "Batches"). One message instead of many saves Redis a PUBLISH and each subscriber a
// receive, a decode and a reply per request.
//
// On the wire, after a tag line and a header line, the count of entries, then each entry as
// its id, the byte length of its body and the body, each on its own line:
//
//     wscreqs1            wscreps1
//     <reply channel>     <responder>
//     <count>             <count>
//     <id>                <id>
//     <length>            <length>
//     <body>              <body>
//     …                   …
//
// A batch of one is written as a plain request or reply (`wscreq1`, `wscrep1`), which every
// responder and requester reads.

/// The requests one received message carries: one, or a requester's batch.
package struct BrokerRequests: Sendable {
    /// The channel their requester listens on.
    package var replyTo: String
    /// The requests, in the order they were made; each body a view into the message.
    package var requests: [BrokerRequest]

    package init(replyTo: String, requests: [BrokerRequest]) {
        self.replyTo = replyTo
        self.requests = requests
    }

    /// Decodes a message received on a subscription: a single request or a batch.
    /// - Throws: ``BrokerError`` when it is neither.
    package init(decoding payload: String) throws {
        if let batch = try BatchEnvelope.decode(BrokerBatch.requestTag, payload) {
            self.init(replyTo: batch.header, requests: batch.entries.map { BrokerRequest(id: $0.id, replyTo: batch.header, body: $0.body) })
        } else {
            let request = try BrokerRequest(decoding: payload)
            self.init(replyTo: request.replyTo, requests: [request])
        }
    }
}

/// Reads the replies one received message carries: one, or a responder's batch.
package enum BrokerReplies {
    /// - Throws: ``BrokerError`` when the message is neither a reply nor a batch of replies.
    package static func decode(_ payload: String) throws -> [BrokerReply] {
        if let batch = try BatchEnvelope.decode(BrokerBatch.replyTag, payload) {
            return batch.entries.map { BrokerReply(id: $0.id, from: batch.header, body: $0.body) }
        }
        return [try BrokerReply(decoding: payload)]
    }
}

/// Writes batches of requests and replies.
package enum BrokerBatch {
    /// One entry of a batch: a correlation id and a body.
    package struct Entry: Sendable {
        package var id: String
        package var body: String

        package init(id: String, body: String) {
            self.id = id
            self.body = body
        }
    }

    /// The text to publish for `requests` made by the requester listening on `replyTo`: a
    /// plain request when there is one. - Throws: when an id or `replyTo` holds a line break.
    package static func encodeRequests(_ requests: [Entry], replyTo: String) throws -> String {
        if requests.count == 1 {
            return try BrokerRequest.encode(id: requests[0].id, replyTo: replyTo, bodySize: requests[0].body.utf8.count) {
                $0 += requests[0].body
            }
        }
        return try BatchEnvelope.encode(requestTag, replyTo, requests)
    }

    /// The text to publish for `replies` from `responder`: a plain reply when there is one.
    /// - Throws: when an id or `responder` holds a line break.
    package static func encodeReplies(_ replies: [Entry], from responder: String) throws -> String {
        if replies.count == 1 {
            return try BrokerReply.encode(id: replies[0].id, from: responder, bodySize: replies[0].body.utf8.count) {
                $0 += replies[0].body
            }
        }
        return try BatchEnvelope.encode(replyTag, responder, replies)
    }

    static let requestTag: StaticString = "wscreqs1"
    static let replyTag: StaticString = "wscreps1"
}

extension Broker {
    /// Answers the requests of `received` on their reply channel, in one message.
    ///
    /// On a sharded broker, a reply that reached nobody (the reply channel's slot was moving)
    /// is published again after the pauses of ``BrokerRequester/republishPauses`` until
    /// someone receives it; a requester counts one reply per responder.
    /// - Parameter replies: one entry per request answered (ids of `received.requests`).
    package func reply(to received: BrokerRequests, from responder: String, _ replies: [BrokerBatch.Entry]) async throws {
        guard !replies.isEmpty else { return }
        let message = try BrokerBatch.encodeReplies(replies, from: responder)
        var reached = try await publish(message, to: received.replyTo)
        guard isSharded else { return }
        for pause in BrokerRequester.republishPauses where reached == 0 {
            try await Task.sleep(for: pause)
            reached = try await publish(message, to: received.replyTo)
        }
    }
}

/// The framing of batches (see the top of this file).
enum BatchEnvelope {
    /// The most entries a received batch may announce: requesters send far fewer
    /// (``BrokerRequester`` closes a batch at 64), so more is a forged or broken message.
    static let maxEntries = 4096

    struct Decoded {
        var header: String
        var entries: [(id: String, body: Substring)]
    }

    static func encode(_ tag: StaticString, _ header: String, _ entries: [BrokerBatch.Entry]) throws -> String {
        guard !holdsLineFeed(header), !entries.contains(where: { holdsLineFeed($0.id) }) else {
            throw BrokerError(.invalidArgument, "a request id, reply channel or responder may not contain a line break")
        }
        var text = ""
        text.reserveCapacity(tag.utf8CodeUnitCount + header.utf8.count + 8 + entries.reduce(0) { $0 + $1.id.utf8.count + $1.body.utf8.count + 8 })
        text += tag.description
        text += "\n"
        text += header
        text += "\n"
        text += String(entries.count)
        text += "\n"
        for entry in entries {
            text += entry.id
            text += "\n"
            text += String(entry.body.utf8.count)
            text += "\n"
            text += entry.body
            text += "\n"
        }
        return text
    }

    /// Reads a batch tagged `tag`. - Returns: nil when the payload is not tagged `tag` (it may
    /// be a single request or reply). - Throws: when it is tagged `tag` but broken.
    static func decode(_ tag: StaticString, _ payload: String) throws -> Decoded? {
        var payload = payload
        let layout = payload.withUTF8 { bytes -> Result<(header: String, entries: [(id: String, body: Range<Int>)])?, BrokerError> in
            guard let start = Envelope.startAfterTag(tag, in: bytes) else { return .success(nil) }
            var cursor = Cursor(bytes: bytes, position: start)
            guard let header = cursor.line(), let count = cursor.number(), count >= 2, count <= maxEntries else {
                return .failure(broken(tag, "its header"))
            }
            var entries: [(id: String, body: Range<Int>)] = []
            entries.reserveCapacity(count)
            for _ in 0..<count {
                guard let id = cursor.line(), let length = cursor.number(), let body = cursor.body(length) else {
                    return .failure(broken(tag, "entry \(entries.count + 1) of \(count)"))
                }
                entries.append((String(decoding: id, as: UTF8.self), body))
            }
            guard cursor.position == bytes.count else { return .failure(broken(tag, "text after its last entry")) }
            return .success((String(decoding: header, as: UTF8.self), entries))
        }
        guard let layout = try layout.get() else { return nil }
        // Every body starts after a line feed and ends before one: both are boundaries of
        // UTF-8 characters, so each view is valid text, read where it lies.
        let utf8 = payload.utf8
        return Decoded(header: layout.header, entries: layout.entries.map { entry in
            (entry.id, Substring(utf8[utf8.index(utf8.startIndex, offsetBy: entry.body.lowerBound)..<utf8.index(utf8.startIndex, offsetBy: entry.body.upperBound)]))
        })
    }

    private struct Cursor {
        let bytes: UnsafeBufferPointer<UInt8>
        var position: Int

        /// The bytes up to the next line feed, which it passes.
        mutating func line() -> UnsafeBufferPointer<UInt8>? {
            var end = position
            while end < bytes.count, bytes[end] != newline { end += 1 }
            guard end < bytes.count else { return nil }
            defer { position = end + 1 }
            return UnsafeBufferPointer(rebasing: bytes[position..<end])
        }

        /// A line of 1 to 9 decimal digits.
        mutating func number() -> Int? {
            guard let digits = line(), (1...9).contains(digits.count) else { return nil }
            var value = 0
            for digit in digits {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) else { return nil }
                value = value * 10 + Int(digit - UInt8(ascii: "0"))
            }
            return value
        }

        /// `length` bytes followed by a line feed, which it passes.
        mutating func body(_ length: Int) -> Range<Int>? {
            let end = position + length
            guard end < bytes.count, bytes[end] == newline else { return nil }
            defer { position = end + 1 }
            return position..<end
        }
    }

    private static func broken(_ tag: StaticString, _ part: String) -> BrokerError {
        BrokerError(.invalidArgument, "a broken \(tag) message: \(part)")
    }

    private static func holdsLineFeed(_ text: String) -> Bool { Envelope.holdsLineFeed(text) }

    private static let newline = Envelope.newline
}
