import Synchronization

/// What came back for one request before its deadline.
package struct BrokerResponses: Sendable {
    /// At most one reply per responder, in order of arrival.
    package var replies: [BrokerReply]
    /// Whether every expected responder answered (otherwise the deadline passed first).
    package var isComplete: Bool
}

/// Publishes requests and gathers their replies: one reply channel per requester,
/// replies matched by correlation id, collection bounded by a deadline.
///
/// A request costs one entry in a table and one continuation: replies are matched to it
/// where they arrive, and the deadlines of all requests are kept by one sweeper in
/// ``run()`` (no task, stream or timer per request).
///
/// On a sharded broker (a Redis Cluster), a message published while its channel's slot moves
/// reaches only the subscribers already on the new master. When a publish reaches fewer
/// subscribers than the request expects responders, the requests still waiting are published
/// again a few times (after 25, 50, 100, 200 and 400 ms), until enough subscribers receive
/// them; responders ignore a request id they have already run (``RecentIDs``). A request
/// published again may arrive after a later one.
///
/// With `batches`, requests to the same channel travel together: the first of a batch yields
/// once to its executor, and the requests made meanwhile (on a gateway under load, the other
/// request tasks ready on the same event loop) join it, up to ``maxBatch``; then one message
/// carries them all (``BrokerBatch``). Alone, a request goes out as it is, one yield later.
///
/// ```swift
/// let requester = try await BrokerRequester.start(broker: broker, replyChannel: "wsc:reply:gw1")
/// group.addTask { await requester.run() }
/// let responses = try await requester.request(body, on: "wsc:all", expecting: liveNodes.count, timeout: .seconds(2))
/// ```
package final class BrokerRequester: Sendable {
    private let broker: any Broker
    private let replyChannel: String
    private let subscription: BrokerSubscription
    private let table = Mutex(PendingTable())
    private let batches: Bool

    private init(broker: any Broker, replyChannel: String, subscription: BrokerSubscription, batches: Bool) {
        self.broker = broker
        self.replyChannel = replyChannel
        self.subscription = subscription
        self.batches = batches
    }

    /// Subscribes to `replyChannel`; replies are received, and deadlines kept, once ``run()``
    /// is running.
    /// - Parameter batches: whether requests to one channel travel together (see above). For
    ///   callers that make many requests from tasks on an event loop, as a gateway does: the
    ///   first request of a batch yields once, which on an event loop is one turn of the loop,
    ///   and on the shared global executor of a busy process may be much longer.
    package static func start(broker: any Broker, replyChannel: String, batches: Bool = false) async throws -> BrokerRequester {
        let subscription = try await broker.subscribe(to: [replyChannel])
        return BrokerRequester(broker: broker, replyChannel: replyChannel, subscription: subscription, batches: batches)
    }

    /// Routes replies to their requests and ends the requests whose deadline passed, until
    /// the calling task is cancelled.
    package func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.sweep() }
            await withTaskCancellationHandler {
                for await message in subscription {
                    guard let replies = try? BrokerReplies.decode(message.payload) else { continue }
                    let callers = table.withLock { table in replies.compactMap { table.deliver($0) } }
                    for caller in callers { caller.resume() }
                }
            } onCancel: {
                subscription.cancel()
            }
            group.cancelAll()
        }
    }

    /// Publishes `body` on `channel` and waits for `count` distinct responders, or `timeout`.
    /// - Returns: the replies that came in time; never throws for missing replies.
    /// - Throws: ``BrokerError`` when the request cannot be published.
    package func request(
        _ body: String,
        on channel: String,
        expecting count: Int,
        timeout: Duration
    ) async throws -> BrokerResponses {
        try await request(on: channel, timeout: timeout, expecting: .count(count), bodySize: body.utf8.count) { $0 += body }
    }

    /// Publishes `body` on `channel` and collects one reply from each of `responders` (others
    /// are ignored) until all have answered or `timeout` passes.
    package func request(
        _ body: String,
        on channel: String,
        awaiting responders: Set<String>,
        timeout: Duration
    ) async throws -> BrokerResponses {
        try await request(on: channel, timeout: timeout, expecting: .responders(responders), bodySize: body.utf8.count) { $0 += body }
    }

    /// Publishes a request whose body `writeBody` appends straight into the message (no body
    /// string built on its own and copied in) on `channel`, and collects one reply from each
    /// of `responders` until all have answered or `timeout` passes.
    /// - Parameter bodySize: about how many bytes `writeBody` appends (reserved at once).
    package func request(
        on channel: String,
        awaiting responders: Set<String>,
        timeout: Duration,
        bodySize: Int = 0,
        writeBody: (inout String) -> Void
    ) async throws -> BrokerResponses {
        try await request(on: channel, timeout: timeout, expecting: .responders(responders), bodySize: bodySize, writeBody)
    }

    /// The most requests one message carries.
    package static let maxBatch = 64

    private func request(
        on channel: String,
        timeout: Duration,
        expecting expected: PendingTable.Expected,
        bodySize: Int,
        _ writeBody: (inout String) -> Void
    ) async throws -> BrokerResponses {
        let id = Self.makeID()
        var body = ""
        body.reserveCapacity(bodySize)
        writeBody(&body)
        if expected.isSatisfied(by: []) {
            try await broker.publish(try BrokerBatch.encodeRequests([.init(id: id, body: body)], replyTo: replyChannel), to: channel)
            return BrokerResponses(replies: [], isComplete: true)
        }
        // Registered before it is published: a reply may come back before `publish` returns.
        let role = table.withLock { table in
            table.add(id, expected, deadline: .now + timeout)
            return batches ? table.enqueue(.init(id: id, body: body), on: channel, limit: Self.maxBatch) : .closes([.init(id: id, body: body)])
        }
        switch role {
        case .leads:
            // Requests made while this task waits for its turn join the batch.
            await Task.yield()
            await publish(table.withLock { $0.takeBatch(on: channel) }, on: channel)
        case .joins:
            break
        case .closes(let batch):
            await publish(batch, on: channel)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let over = table.withLock { $0.wait(id, continuation) }
                if over { continuation.resume() }
            }
        } onCancel: {
            table.withLock { $0.end(id) }?.resume()
        }
        // What came until now: replies routed before this task runs again count, as they
        // would had it been waiting for them.
        return try table.withLock { try $0.take(id) }
    }

    /// Publishes a batch; when it cannot be, its requests end with the error.
    private func publish(_ batch: [BrokerBatch.Entry], on channel: String) async {
        guard !batch.isEmpty else { return }
        let outcome: BrokerError?
        var reached = Int.max
        do {
            reached = try await broker.publish(try BrokerBatch.encodeRequests(batch, replyTo: replyChannel), to: channel)
            outcome = nil
        } catch {
            outcome = error as? BrokerError ?? BrokerError(.unavailable, "\(error)")
        }
        let toResume = table.withLock { $0.published(batch.lazy.map(\.id), failure: outcome, at: .now) }
        for continuation in toResume { continuation.resume() }
        if broker.isSharded, outcome == nil, reached < table.withLock({ $0.waiting(batch.lazy.map(\.id)).expected }) {
            Task { await self.republish(batch, on: channel, reached: reached) }
        }
    }

    /// The pauses before each new publish of requests that reached too few subscribers.
    static let republishPauses: [Duration] = [.milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(200), .milliseconds(400)]

    /// Publishes the requests of `batch` still waiting again, while the last publish reached
    /// fewer subscribers than they expect responders (see the type's documentation).
    private func republish(_ batch: [BrokerBatch.Entry], on channel: String, reached: Int) async {
        var reached = reached
        for pause in Self.republishPauses {
            try? await Task.sleep(for: pause)
            let (waiting, expected) = table.withLock { $0.waiting(batch.lazy.map(\.id)) }
            guard !waiting.isEmpty, reached < expected else { return }
            let again = batch.filter { waiting.contains($0.id) }
            do {
                reached = try await broker.publish(try BrokerBatch.encodeRequests(again, replyTo: replyChannel), to: channel)
            } catch {
                return
            }
        }
    }

    /// Ends the requests whose deadline has passed, with what they have; sleeps until the
    /// next deadline (at most `tick` at a time, so that a shorter one added meanwhile is late
    /// by less than that), or until a request is added when none is pending.
    private func sweep() async {
        let tick = Duration.milliseconds(5)
        while !Task.isCancelled {
            let now = ContinuousClock.now
            let (expired, next) = table.withLock { $0.expire(at: now) }
            for request in expired { request.resume() }
            if let next {
                try? await Task.sleep(until: min(next, now + tick), clock: .continuous)
            } else {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        if !table.withLock({ $0.park(continuation) }) { continuation.resume() }
                    }
                } onCancel: {
                    table.withLock { $0.unpark() }?.resume()
                }
            }
        }
        let remaining = table.withLock { $0.endAll() }
        for request in remaining { request.resume() }
    }

    /// A correlation id in the shape of a UUID (random, 122 bits), made without Foundation.
    static func makeID() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        let digits: [UInt8] = Array("0123456789ABCDEF".utf8)
        return String(unsafeUninitializedCapacity: 36) { buffer in
            var position = 0
            func put(_ value: UInt64, from shift: Int, count: Int) {
                for index in 0..<count {
                    buffer[position] = digits[Int((value >> UInt64(shift - 4 * index)) & 0xF)]
                    position += 1
                }
            }
            func dash() {
                buffer[position] = UInt8(ascii: "-")
                position += 1
            }
            // xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx (version 4, variant 10)
            let versioned = (high & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000
            let variant = (low & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
            put(versioned, from: 60, count: 8)
            dash()
            put(versioned, from: 28, count: 4)
            dash()
            put(versioned, from: 12, count: 4)
            dash()
            put(variant, from: 60, count: 4)
            dash()
            put(variant, from: 44, count: 12)
            return position
        }
    }
}

/// The requests waiting for replies, under the requester's lock. Methods return the
/// continuations to resume; the caller resumes them after the lock is released.
struct PendingTable: ~Copyable {
    enum Expected: Sendable {
        case count(Int)
        case responders(Set<String>)

        func accepts(_ responder: String) -> Bool {
            if case .responders(let responders) = self { return responders.contains(responder) }
            return true
        }

        func isSatisfied(by heard: Set<String>) -> Bool {
            switch self {
            case .count(let count): heard.count >= count
            case .responders(let responders): heard.isSuperset(of: responders)
            }
        }
    }

    private enum Phase {
        /// Collecting, its caller waiting (or about to).
        case open
        /// Every expected responder answered: later replies are ignored.
        case complete
        /// Its deadline passed or its caller was cancelled: its caller is resumed, and replies
        /// that arrive before the caller takes them still count.
        case ended
    }

    /// What a request does about the batch it was queued in.
    enum BatchRole {
        /// It opened the batch: it publishes whatever the batch holds after a yield.
        case leads
        /// Another request publishes it.
        case joins
        /// It filled the batch: it publishes these now (the batch's leader finds it gone).
        case closes([BrokerBatch.Entry])
    }

    private struct Entry {
        var expected: Expected
        var deadline: ContinuousClock.Instant
        var phase = Phase.open
        var replies: [BrokerReply] = []
        var heard: Set<String> = []
        var caller: CheckedContinuation<Void, Never>?
        /// Whether its message went out: until then its deadline does not end it.
        var published = false
        /// Why it could not be published (it is ended): its caller throws this.
        var failure: BrokerError?
    }

    private var entries: [String: Entry] = [:]
    /// Requests queued per channel, not yet published.
    private var batches: [String: [BrokerBatch.Entry]] = [:]
    private var sweeper: CheckedContinuation<Void, Never>?
    private var sweeperStopped = false

    /// Adds a request; its deadline counts once it is ``published(_:failure:at:)``.
    mutating func add(_ id: String, _ expected: Expected, deadline: ContinuousClock.Instant) {
        entries[id] = Entry(expected: expected, deadline: deadline)
    }

    /// Queues a request's message for `channel`, in a batch of at most `limit`.
    mutating func enqueue(_ request: BrokerBatch.Entry, on channel: String, limit: Int) -> BatchRole {
        guard var batch = batches.removeValue(forKey: channel) else {
            batches[channel] = [request]
            return .leads
        }
        batch.append(request)
        if batch.count >= limit { return .closes(batch) }
        batches[channel] = batch
        return .joins
    }

    /// Takes the requests queued for `channel` (none when a full batch was already taken).
    mutating func takeBatch(on channel: String) -> [BrokerBatch.Entry] {
        batches.removeValue(forKey: channel) ?? []
    }

    /// The message of requests `ids` went out, or could not (`failure`): only now does a
    /// deadline end them, so that a request that could not be published throws, as it
    /// would had its caller published it alone, whatever its deadline.
    /// - Returns: the callers to resume (failed, or past their deadline) and the parked
    ///   sweeper, which now has deadlines to keep.
    mutating func published(_ ids: some Sequence<String>, failure: BrokerError?, at now: ContinuousClock.Instant) -> [CheckedContinuation<Void, Never>] {
        var toResume: [CheckedContinuation<Void, Never>] = []
        for id in ids {
            guard var entry = entries[id], entry.phase != .complete else { continue }
            entry.published = true
            entry.failure = failure
            entries[id] = entry
            if failure != nil || entry.deadline <= now, let caller = end(id) { toResume.append(caller) }
        }
        if let sweeper {
            toResume.append(sweeper)
            self.sweeper = nil
        }
        return toResume
    }

    /// The caller of `id` waits. - Returns: true when it must not (the request is over).
    mutating func wait(_ id: String, _ caller: CheckedContinuation<Void, Never>) -> Bool {
        guard let entry = entries[id], entry.phase == .open else { return true }
        if sweeperStopped {
            // Nobody keeps its deadline (nor receives its replies) any more.
            entries[id]?.phase = .ended
            return true
        }
        entries[id]?.caller = caller
        return false
    }

    /// Of `ids`, those published and still collecting replies, and how many responders the
    /// most demanding of them expects.
    func waiting(_ ids: some Sequence<String>) -> (ids: Set<String>, expected: Int) {
        var waiting = Set<String>()
        var expected = 0
        for id in ids {
            guard let entry = entries[id], entry.published, case .open = entry.phase else { continue }
            waiting.insert(id)
            switch entry.expected {
            case .count(let count): expected = max(expected, count)
            case .responders(let responders): expected = max(expected, responders.count)
            }
        }
        return (waiting, expected)
    }

    /// Removes request `id`. - Returns: its replies. - Throws: why it could not be published.
    mutating func take(_ id: String) throws(BrokerError) -> BrokerResponses {
        let entry = entries.removeValue(forKey: id)
        if let failure = entry?.failure { throw failure }
        return BrokerResponses(replies: entry?.replies ?? [], isComplete: entry?.phase == .complete)
    }

    /// Records a reply. - Returns: the caller to resume when it completed the request.
    mutating func deliver(_ reply: BrokerReply) -> CheckedContinuation<Void, Never>? {
        guard var entry = entries[reply.id], entry.phase != .complete, entry.expected.accepts(reply.from) else { return nil }
        guard entry.heard.insert(reply.from).inserted else { return nil }
        entries[reply.id] = nil  // unique storage: the append does not copy
        entry.replies.append(reply)
        var caller: CheckedContinuation<Void, Never>?
        if entry.expected.isSatisfied(by: entry.heard) {
            if entry.phase == .open { caller = entry.caller }
            entry.phase = .complete
            entry.caller = nil
        }
        entries[reply.id] = entry
        return caller
    }

    /// Ends request `id` with what it has (its deadline passed, or its caller was cancelled).
    /// - Returns: the caller to resume.
    mutating func end(_ id: String) -> CheckedContinuation<Void, Never>? {
        guard var entry = entries[id], entry.phase == .open else { return nil }
        let caller = entry.caller
        entry.phase = .ended
        entry.caller = nil
        entries[id] = entry
        return caller
    }

    /// Ends the requests due by `now`. - Returns: their callers, and the earliest deadline left.
    mutating func expire(at now: ContinuousClock.Instant) -> ([CheckedContinuation<Void, Never>], ContinuousClock.Instant?) {
        var due: [String] = []
        var next: ContinuousClock.Instant?
        for (id, entry) in entries where entry.phase == .open && entry.published {
            if entry.deadline <= now {
                due.append(id)
            } else if next.map({ entry.deadline < $0 }) ?? true {
                next = entry.deadline
            }
        }
        return (due.compactMap { end($0) }, next)
    }

    /// Parks the sweeper until a request is added. - Returns: false when it must not park
    /// (a request is open, or the sweeper was stopped).
    mutating func park(_ continuation: CheckedContinuation<Void, Never>) -> Bool {
        guard !sweeperStopped, !entries.values.contains(where: { $0.phase == .open && $0.published }) else { return false }
        sweeper = continuation
        return true
    }

    /// Stops the sweeper. - Returns: its continuation, if parked.
    mutating func unpark() -> CheckedContinuation<Void, Never>? {
        sweeperStopped = true
        defer { sweeper = nil }
        return sweeper
    }

    /// Ends every request (the requester stops). - Returns: their callers.
    mutating func endAll() -> [CheckedContinuation<Void, Never>] {
        Array(entries.keys).compactMap { end($0) }
    }
}

extension Broker {
    /// Answers `request` on its reply channel.
    package func reply(to request: BrokerRequest, from responder: String, body: String) async throws {
        try await publish(try BrokerReply(id: request.id, from: responder, body: body).encoded(), to: request.replyTo)
    }

    /// Answers `request` on its reply channel with a body that `writeBody` appends straight
    /// into the message. - Parameter bodySize: about how many bytes it appends.
    package func reply(to request: BrokerRequest, from responder: String, bodySize: Int = 0, writeBody: (inout String) -> Void) async throws {
        try await publish(try BrokerReply.encode(id: request.id, from: responder, bodySize: bodySize, writeBody: writeBody), to: request.replyTo)
    }
}
