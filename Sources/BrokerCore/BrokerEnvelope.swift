// public (encode, decode, the fields): Benchmarks/ (FleetBenchmarks) measures the bus codec.
/// A call sent over the broker: whoever handles it answers on `replyTo` with the same `id`.
/// On the wire: `wscreq1`, the id and the reply channel on a line each, then the body as is
/// (no second layer of JSON around the caller's own encoding).
public struct BrokerRequest: Sendable, Hashable {
    /// Correlation id, unique per request.
    public var id: String
    /// The channel the requester listens on.
    public var replyTo: String
    /// The call itself (the caller's own encoding, typically JSON). In a received request, a
    /// view into the message it came in: its text is not copied.
    public var body: Substring

    package init(id: String, replyTo: String, body: Substring) {
        self.id = id
        self.replyTo = replyTo
        self.body = body
    }

    package init(id: String, replyTo: String, body: String) {
        self.init(id: id, replyTo: replyTo, body: body[...])
    }

    /// Decodes a request received on a subscription. - Throws: when it is not one.
    public init(decoding payload: String) throws {
        (id, replyTo, body) = try Envelope.decode(Self.tag, payload)
    }

    /// The text to publish. - Throws: when the id or reply channel holds a line break.
    package func encoded() throws -> String {
        try Self.encode(id: id, replyTo: replyTo, bodySize: body.utf8.count) { $0.append(contentsOf: body) }
    }

    /// The text to publish for a request whose body `writeBody` appends after the header, in
    /// the same string: the body is never built on its own and copied in.
    /// - Parameter bodySize: about how many bytes `writeBody` appends (reserved at once).
    /// - Throws: when the id or reply channel holds a line break.
    public static func encode(id: String, replyTo: String, bodySize: Int = 0, writeBody: (inout String) -> Void) throws -> String {
        try Envelope.encode(tag, id, replyTo, bodySize: bodySize, writeBody)
    }

    static let tag: StaticString = "wscreq1"
}

/// One responder's answer to a ``BrokerRequest``; on the wire like a request, tagged
/// `wscrep1`, with the responder in place of the reply channel.
public struct BrokerReply: Sendable, Hashable {
    /// The request's correlation id.
    public var id: String
    /// Who answered (a node id): replies are counted once per responder.
    public var from: String
    /// The answer itself; in a received reply, a view into the message it came in.
    public var body: Substring

    package init(id: String, from: String, body: Substring) {
        self.id = id
        self.from = from
        self.body = body
    }

    package init(id: String, from: String, body: String) {
        self.init(id: id, from: from, body: body[...])
    }

    public init(decoding payload: String) throws {
        (id, from, body) = try Envelope.decode(Self.tag, payload)
    }

    package func encoded() throws -> String {
        try Self.encode(id: id, from: from, bodySize: body.utf8.count) { $0.append(contentsOf: body) }
    }

    /// The text to publish for a reply whose body `writeBody` appends after the header, in
    /// the same string. - Throws: when the id or the responder holds a line break.
    public static func encode(id: String, from: String, bodySize: Int = 0, writeBody: (inout String) -> Void) throws -> String {
        try Envelope.encode(tag, id, from, bodySize: bodySize, writeBody)
    }

    static let tag: StaticString = "wscrep1"
}

/// The framing of requests and replies: a tag line, two header lines, the body.
///
/// The header lines may not hold a line break (encoding refuses them), so that no body,
/// whatever it holds, can forge a header: the body starts after the third line feed.
///
/// A payload arrives as a `String`, not a NIO `ByteBuffer`: the Redis broker makes it with one
/// allocation from the RESP bulk reply, and from there nothing is copied: decoding reads the
/// string's own UTF-8 storage, makes Strings of the two header lines only, and hands the body
/// on as a view into the payload. Carrying `ByteBuffer`s instead would save that one
/// allocation and copy per message, measured at 0.11–0.13 µs for a `sendMessageTo_Id` call,
/// against 1.2 µs to read that call and about 18 µs of a node's CPU per call in all: under 1%,
/// not worth making the broker contract, the embedded broker and every subscriber (the Pusher
/// side too) depend on NIO. See docs/performance.md, "The bus codec, typed".
enum Envelope {
    static func encode(
        _ tag: StaticString, _ first: String, _ second: String, bodySize: Int, _ writeBody: (inout String) -> Void
    ) throws -> String {
        guard !holdsLineFeed(first), !holdsLineFeed(second) else {
            throw BrokerError(.invalidArgument, "a request id, reply channel or responder may not contain a line break")
        }
        var text = ""
        text.reserveCapacity(tag.utf8CodeUnitCount + first.utf8.count + second.utf8.count + 3 + bodySize)
        text += tag.description
        text += "\n"
        text += first
        text += "\n"
        text += second
        text += "\n"
        writeBody(&text)
        return text
    }

    /// Reads the tag line and the two header lines, in one pass over the payload's bytes; the
    /// body is what follows the third line feed (bytes: it may hold any text, line feeds too).
    static func decode(_ tag: StaticString, _ payload: String) throws -> (String, String, Substring) {
        var payload = payload
        let header = payload.withUTF8 { bytes -> (first: String, second: String, bodyStart: Int)? in
            guard let firstStart = startAfterTag(tag, in: bytes) else { return nil }
            guard let firstEnd = line(in: bytes, from: firstStart) else { return nil }
            guard let secondEnd = line(in: bytes, from: firstEnd + 1) else { return nil }
            // Cut at line feeds, which are ASCII: each part is valid UTF-8 as the whole is.
            return (
                String(decoding: UnsafeBufferPointer(rebasing: bytes[firstStart..<firstEnd]), as: UTF8.self),
                String(decoding: UnsafeBufferPointer(rebasing: bytes[(firstEnd + 1)..<secondEnd]), as: UTF8.self),
                secondEnd + 1
            )
        }
        guard let header else {
            throw BrokerError(.invalidArgument, "not a \(tag) message: \(payload.prefix(40))")
        }
        let utf8 = payload.utf8
        let body = Substring(utf8[utf8.index(utf8.startIndex, offsetBy: header.bodyStart)...])
        return (header.first, header.second, body)
    }

    /// Where the line after the tag line starts, when `bytes` start with the line `tag`.
    static func startAfterTag(_ tag: StaticString, in bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        let tagBytes = UnsafeBufferPointer(start: tag.utf8Start, count: tag.utf8CodeUnitCount)
        guard bytes.count > tagBytes.count, bytes[tagBytes.count] == newline,
            UnsafeBufferPointer(rebasing: bytes[..<tagBytes.count]).elementsEqual(tagBytes)
        else { return nil }
        return tagBytes.count + 1
    }

    static func holdsLineFeed(_ text: String) -> Bool {
        text.utf8.withContiguousStorageIfAvailable { $0.contains(newline) } ?? text.utf8.contains(newline)
    }

    /// The offset of the first line feed at or after `start`.
    private static func line(in bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        var index = start
        while index < bytes.count {
            if bytes[index] == newline { return index }
            index += 1
        }
        return nil
    }

    static let newline = UInt8(ascii: "\n")
}
