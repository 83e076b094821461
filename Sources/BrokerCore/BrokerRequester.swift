import Foundation
import Synchronization

/// A call sent over the broker: whoever handles it answers on `replyTo` with the same `id`.
/// On the wire: `wscreq1`, the id and the reply channel on a line each, then the body as is
/// (no second layer of JSON around the caller's own encoding).
public struct BrokerRequest: Sendable, Hashable {
    /// Correlation id, unique per request.
    public var id: String
    /// The channel the requester listens on.
    public var replyTo: String
    /// The call itself (the caller's own encoding, typically JSON).
    public var body: String

    public init(id: String, replyTo: String, body: String) {
        self.id = id
        self.replyTo = replyTo
        self.body = body
    }

    /// Decodes a request received on a subscription. - Throws: when it is not one.
    public init(decoding payload: String) throws {
        (id, replyTo, body) = try Envelope.decode(Self.tag, payload)
    }

    /// The text to publish. - Throws: when the id or reply channel holds a line break.
    public func encoded() throws -> String {
        try Envelope.encode(Self.tag, id, replyTo, body)
    }

    static let tag = "wscreq1"
}

/// One responder's answer to a ``BrokerRequest``; on the wire like a request, tagged
/// `wscrep1`, with the responder in place of the reply channel.
public struct BrokerReply: Sendable, Hashable {
    /// The request's correlation id.
    public var id: String
    /// Who answered (a node id): replies are counted once per responder.
    public var from: String
    public var body: String

    public init(id: String, from: String, body: String) {
        self.id = id
        self.from = from
        self.body = body
    }

    public init(decoding payload: String) throws {
        (id, from, body) = try Envelope.decode(Self.tag, payload)
    }

    public func encoded() throws -> String {
        try Envelope.encode(Self.tag, id, from, body)
    }

    static let tag = "wscrep1"
}

/// The framing of requests and replies: a tag line, two header lines, the body.
enum Envelope {
    static func encode(_ tag: String, _ first: String, _ second: String, _ body: String) throws -> String {
        guard !first.contains("\n"), !second.contains("\n") else {
            throw BrokerError(.invalidArgument, "a request id, reply channel or responder may not contain a line break")
        }
        return tag + "\n" + first + "\n" + second + "\n" + body
    }

    static func decode(_ tag: String, _ payload: String) throws -> (String, String, String) {
        let parts = payload.split(separator: "\n", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == tag else {
            throw BrokerError(.invalidArgument, "not a \(tag) message: \(payload.prefix(40))")
        }
        return (String(parts[1]), String(parts[2]), String(parts[3]))
    }
}

/// What came back for one request before its deadline.
public struct BrokerResponses: Sendable {
    /// At most one reply per responder, in order of arrival.
    public var replies: [BrokerReply]
    /// Whether every expected responder answered (otherwise the deadline passed first).
    public var isComplete: Bool
}

/// Publishes requests and gathers their replies: one reply channel per requester,
/// replies matched by correlation id, collection bounded by a deadline.
///
/// ```swift
/// let requester = try await BrokerRequester.start(broker: broker, replyChannel: "wsc:reply:gw1")
/// group.addTask { await requester.run() }
/// let responses = try await requester.request(body, on: "wsc:all", expecting: liveNodes.count, timeout: .seconds(2))
/// ```
public final class BrokerRequester: Sendable {
    private let broker: any Broker
    private let replyChannel: String
    private let subscription: BrokerSubscription
    private let waiting = Mutex<[String: AsyncStream<BrokerReply>.Continuation]>([:])

    private init(broker: any Broker, replyChannel: String, subscription: BrokerSubscription) {
        self.broker = broker
        self.replyChannel = replyChannel
        self.subscription = subscription
    }

    /// Subscribes to `replyChannel`; replies are received once ``run()`` is running.
    public static func start(broker: any Broker, replyChannel: String) async throws -> BrokerRequester {
        let subscription = try await broker.subscribe(to: [replyChannel])
        return BrokerRequester(broker: broker, replyChannel: replyChannel, subscription: subscription)
    }

    /// Routes replies to their requests until the calling task is cancelled.
    public func run() async {
        await withTaskCancellationHandler {
            for await message in subscription {
                guard let reply = try? BrokerReply(decoding: message.payload) else { continue }
                let continuation = waiting.withLock { $0[reply.id] }
                continuation?.yield(reply)
            }
        } onCancel: {
            subscription.cancel()
        }
    }

    /// Publishes `body` on `channel` and waits for `count` distinct responders, or `timeout`.
    /// - Returns: the replies that came in time; never throws for missing replies.
    /// - Throws: ``BrokerError`` when the request cannot be published.
    public func request(
        _ body: String,
        on channel: String,
        expecting count: Int,
        timeout: Duration
    ) async throws -> BrokerResponses {
        try await request(body, on: channel, timeout: timeout) { replies, _ in replies.count >= count }
    }

    /// Publishes `body` on `channel` and collects one reply from each of `responders` (others
    /// are ignored) until all have answered or `timeout` passes.
    public func request(
        _ body: String,
        on channel: String,
        awaiting responders: Set<String>,
        timeout: Duration
    ) async throws -> BrokerResponses {
        try await request(body, on: channel, timeout: timeout, accepting: { responders.contains($0) }) { _, heard in
            heard.isSuperset(of: responders)
        }
    }

    private func request(
        _ body: String,
        on channel: String,
        timeout: Duration,
        accepting accept: @escaping (String) -> Bool = { _ in true },
        isComplete: @escaping ([BrokerReply], Set<String>) -> Bool
    ) async throws -> BrokerResponses {
        let id = UUID().uuidString
        let (stream, continuation) = AsyncStream.makeStream(of: BrokerReply.self)
        waiting.withLock { $0[id] = continuation }
        defer {
            waiting.withLock { _ = $0.removeValue(forKey: id) }
            continuation.finish()
        }
        let request = BrokerRequest(id: id, replyTo: replyChannel, body: body)
        try await broker.publish(try request.encoded(), to: channel)
        guard !isComplete([], []) else { return BrokerResponses(replies: [], isComplete: true) }

        return await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(for: timeout)
                continuation.finish()
            }
            var replies: [BrokerReply] = []
            var responders = Set<String>()
            var complete = false
            for await reply in stream where accept(reply.from) && responders.insert(reply.from).inserted {
                replies.append(reply)
                if isComplete(replies, responders) {
                    complete = true
                    break
                }
            }
            group.cancelAll()
            return BrokerResponses(replies: replies, isComplete: complete)
        }
    }
}

extension Broker {
    /// Answers `request` on its reply channel.
    public func reply(to request: BrokerRequest, from responder: String, body: String) async throws {
        try await publish(try BrokerReply(id: request.id, from: responder, body: body).encoded(), to: request.replyTo)
    }
}
