import BrokerCore
import BrokerEmbedded
import Synchronization
import Testing
import WSCTesting

/// A call or reply published while its channel's slot moves reaches nobody on a cluster: the
/// requester publishes what is still waiting again, the responder its reply, and responders run
/// a request once. Tested without a cluster: a broker that drops the first messages of chosen
/// channels, as a moving slot does, and says it is sharded (or not).
@Suite("Republishing on a sharded broker")
struct RepublishTests {
    /// The embedded broker, but the first `drops` messages published on each of `lossy` are
    /// lost (published to nobody, as on a master the subscribers have not reached yet).
    final class LossyBroker: Broker {
        let base = EmbeddedBroker()
        let isSharded: Bool
        private let lossy: Set<String>
        private let remaining: Mutex<[String: Int]>
        private let published = Mutex<[String: Int]>([:])

        init(sharded: Bool, lossy: Set<String>, drops: Int = 1) {
            self.isSharded = sharded
            self.lossy = lossy
            self.remaining = Mutex(Dictionary(uniqueKeysWithValues: lossy.map { ($0, drops) }))
        }

        /// How many times something was published on `channel`.
        func publishes(on channel: String) -> Int { published.withLock { $0[channel] ?? 0 } }

        func run() async throws { try await base.run() }
        func events() -> AsyncStream<BrokerEvent> { base.events() }
        func execute(_ commands: [BrokerCommand], atomically: Bool) async throws -> [BrokerValue] {
            try await base.execute(commands, atomically: atomically)
        }
        func scanKeys(matching pattern: String) async throws -> [String] { try await base.scanKeys(matching: pattern) }
        func subscribe(to channels: [String]) async throws -> BrokerSubscription { try await base.subscribe(to: channels) }
        func subscribe(toPatterns patterns: [String]) async throws -> BrokerSubscription { try await base.subscribe(toPatterns: patterns) }

        @discardableResult
        func publish(_ message: String, to channel: String) async throws -> Int {
            published.withLock { $0[channel, default: 0] += 1 }
            let drop = remaining.withLock { remaining -> Bool in
                guard let left = remaining[channel], left > 0 else { return false }
                remaining[channel] = left - 1
                return true
            }
            return drop ? 0 : try await base.publish(message, to: channel)
        }
    }

    /// How many times each request body was run, over every responder.
    final class Runs: Sendable {
        let counts = Mutex<[String: Int]>([:])
    }

    /// Answers each request once (as a node does), counting the runs per request body.
    private static func respond(_ broker: any Broker, on subscription: BrokerSubscription, as name: String, runs: Runs) async {
        var recent = RecentIDs(capacity: 64)
        for await message in subscription {
            guard let received = try? BrokerRequests(decoding: message.payload) else { continue }
            let fresh = received.requests.filter { recent.insert($0.id) }
            runs.counts.withLock { for request in fresh { $0[String(request.body), default: 0] += 1 } }
            try? await broker.reply(to: received, from: name, fresh.map { BrokerBatch.Entry(id: $0.id, body: "\(name):\($0.body)") })
        }
    }

    private func exchange(_ broker: LossyBroker, responders: Int, timeout: Duration = .seconds(3)) async throws -> (BrokerResponses, [String: Int]) {
        let runs = Runs()
        let events = broker.events()
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await broker.run() }
            defer { group.cancelAll() }
            try #require(await firstElement(of: events, within: .seconds(5)) { $0 == .connected } != nil)
            let requester = try await BrokerRequester.start(broker: broker, replyChannel: "reply")
            group.addTask { await requester.run() }
            for index in 0..<responders {
                let subscription = try await broker.subscribe(to: ["calls"])
                group.addTask { await Self.respond(broker, on: subscription, as: "n\(index)", runs: runs) }
            }
            let responses = try await requester.request("ping", on: "calls", expecting: responders, timeout: timeout)
            return (responses, runs.counts.withLock { $0 })
        }
    }

    @Test("a call lost on its way is published again; each responder runs it once")
    func lostCall() async throws {
        let broker = LossyBroker(sharded: true, lossy: ["calls"], drops: 2)
        let (responses, runs) = try await exchange(broker, responders: 2)
        #expect(responses.isComplete && Set(responses.replies.map(\.from)) == ["n0", "n1"])
        #expect(runs == ["ping": 2], "each of the two responders ran it once: \(runs)")
        #expect(broker.publishes(on: "calls") == 3)
    }

    @Test("a reply lost on its way is published again")
    func lostReply() async throws {
        let broker = LossyBroker(sharded: true, lossy: ["reply"])
        let (responses, runs) = try await exchange(broker, responders: 1)
        #expect(responses.isComplete && responses.replies.map(\.body) == ["n0:ping"])
        #expect(runs == ["ping": 1])
        #expect(broker.publishes(on: "reply") == 2)
    }

    @Test("a call that reached every responder is published once, also on a sharded broker")
    func noLossNoRepublish() async throws {
        let broker = LossyBroker(sharded: true, lossy: [])
        let (responses, _) = try await exchange(broker, responders: 2)
        #expect(responses.isComplete)
        #expect(broker.publishes(on: "calls") == 1 && broker.publishes(on: "reply") == 2)
    }

    @Test("on an unsharded broker nothing is published again: the lost call is a timeout")
    func unshardedDoesNotRepublish() async throws {
        let broker = LossyBroker(sharded: false, lossy: ["calls"])
        let (responses, runs) = try await exchange(broker, responders: 1, timeout: .milliseconds(800))
        #expect(!responses.isComplete && responses.replies.isEmpty && runs.isEmpty)
        #expect(broker.publishes(on: "calls") == 1)
    }

    @Test("RecentIDs: a repeated id is refused; the oldest is forgotten past the capacity")
    func recentIDs() {
        var recent = RecentIDs(capacity: 3)
        let first = ["a", "b", "a", "c", "d", "a", "d", "c"].map { recent.insert($0) }
        // a, b, (a again), c; d evicts a; a evicts b; d and c are still there.
        #expect(first == [true, true, false, true, true, true, false, false])
    }
}
