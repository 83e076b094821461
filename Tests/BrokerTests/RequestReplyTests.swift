import BrokerCore
import Testing

@Suite("Request/reply over the broker")
struct RequestReplyTests {
    /// Answers every request on `channel` as `name`, echoing the body, until cancelled: a
    /// batch of requests with one batch of replies.
    private static func respond(_ broker: any Broker, on subscription: BrokerSubscription, as name: String) async {
        for await message in subscription {
            guard let received = try? BrokerRequests(decoding: message.payload) else { continue }
            let replies = received.requests.map { BrokerBatch.Entry(id: $0.id, body: "\(name):\($0.body)") }
            try? await broker.reply(to: received, from: name, replies)
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func everyResponderAnswers(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let ns = uniqueNamespace()
            let requester = try await BrokerRequester.start(broker: broker, replyChannel: ns + "reply")
            let first = try await broker.subscribe(to: [ns + "calls"])
            let second = try await broker.subscribe(to: [ns + "calls"])
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await requester.run() }
                group.addTask { await Self.respond(broker, on: first, as: "n1") }
                group.addTask { await Self.respond(broker, on: second, as: "n2") }
                let started = ContinuousClock.now
                let responses = try await requester.request("ping", on: ns + "calls", expecting: 2, timeout: .seconds(5))
                #expect(ContinuousClock.now - started < .seconds(4), "a complete answer does not wait for the deadline")
                #expect(responses.isComplete)
                #expect(Set(responses.replies.map(\.body)) == ["n1:ping", "n2:ping"])
                // Requests do not see each other's replies.
                async let a = requester.request("a", on: ns + "calls", expecting: 2, timeout: .seconds(5))
                async let b = requester.request("b", on: ns + "calls", expecting: 2, timeout: .seconds(5))
                let (ra, rb) = try await (a, b)
                #expect(Set(ra.replies.map(\.body)) == ["n1:a", "n2:a"])
                #expect(Set(rb.replies.map(\.body)) == ["n1:b", "n2:b"])
                group.cancelAll()
            }
            first.cancel()
            second.cancel()
        }
    }

    @Test("a missing responder gives a partial answer at the deadline", arguments: BrokerKind.allCases)
    func partialAtDeadline(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let ns = uniqueNamespace()
            let requester = try await BrokerRequester.start(broker: broker, replyChannel: ns + "reply")
            let only = try await broker.subscribe(to: [ns + "calls"])
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await requester.run() }
                group.addTask { await Self.respond(broker, on: only, as: "alive") }
                // A deadline the one responder meets even on a busy machine (with 300 ms, a
                // loaded CI machine once answered after it: no reply at all).
                let started = ContinuousClock.now
                let responses = try await requester.request("x", on: ns + "calls", expecting: 3, timeout: .seconds(2))
                let elapsed = ContinuousClock.now - started
                #expect(!responses.isComplete)
                #expect(responses.replies.map(\.from) == ["alive"])
                #expect(elapsed >= .seconds(2))
                #expect(elapsed < .seconds(6))

                let nobody = try await requester.request("y", on: ns + "nobody-listens", expecting: 1, timeout: .milliseconds(100))
                #expect(nobody.replies.isEmpty)
                #expect(!nobody.isComplete)
                group.cancelAll()
            }
            only.cancel()
        }
    }

    @Test("a responder that answers twice is counted once", arguments: BrokerKind.allCases)
    func duplicateReplies(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let ns = uniqueNamespace()
            let requester = try await BrokerRequester.start(broker: broker, replyChannel: ns + "reply")
            let calls = try await broker.subscribe(to: [ns + "calls"])
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await requester.run() }
                group.addTask {
                    for await message in calls {
                        guard let request = try? BrokerRequest(decoding: message.payload) else { continue }
                        try? await broker.reply(to: request, from: "twice", body: "1")
                        try? await broker.reply(to: request, from: "twice", body: "2")
                    }
                }
                let responses = try await requester.request("x", on: ns + "calls", expecting: 2, timeout: .seconds(2))
                #expect(responses.replies.map(\.body) == ["1"])
                #expect(!responses.isComplete)
                group.cancelAll()
            }
            calls.cancel()
        }
    }

    /// The requests of tasks that are ready together on one executor (as a gateway's request
    /// tasks on its broker's event loop are under load) go out in one message, at most
    /// `maxBatch` to a message, and each gets its own answer.
    @Test("requests made together travel in one message", arguments: BrokerKind.allCases)
    func batches(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let ns = uniqueNamespace()
            let requester = try await BrokerRequester.start(broker: broker, replyChannel: ns + "reply", batches: true)
            let calls = try await broker.subscribe(to: [ns + "calls"])
            let watcher = MessageInbox(try await broker.subscribe(to: [ns + "calls"]))
            let executor = OneThreadExecutor()
            defer { executor.stop() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await requester.run() }
                group.addTask { await Self.respond(broker, on: calls, as: "n1") }
                for count in [10, BrokerRequester.maxBatch + 6] {
                    let answers = try await withTaskExecutorPreference(executor) {
                        try await withThrowingTaskGroup(of: (Int, [Substring]).self) { requests in
                            for index in 0..<count {
                                requests.addTask {
                                    let responses = try await requester.request("r\(index)", on: ns + "calls", expecting: 1, timeout: .seconds(5))
                                    return (index, responses.replies.map(\.body))
                                }
                            }
                            return try await requests.reduce(into: [:]) { $0[$1.0] = $1.1 }
                        }
                    }
                    #expect(answers == Dictionary(uniqueKeysWithValues: (0..<count).map { ($0, ["n1:r\($0)"[...]]) }))
                    var carried: [Int] = []
                    while carried.reduce(0, +) < count {
                        carried.append(try BrokerRequests(decoding: try await watcher.next().payload).requests.count)
                    }
                    #expect(carried == (count <= BrokerRequester.maxBatch ? [count] : [BrokerRequester.maxBatch, count - BrokerRequester.maxBatch]))
                }
                group.cancelAll()
            }
            calls.cancel()
        }
    }

    @Test("a responder may answer the requests of a batch one by one", arguments: BrokerKind.allCases)
    func repliesOneByOne(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let ns = uniqueNamespace()
            let requester = try await BrokerRequester.start(broker: broker, replyChannel: ns + "reply", batches: true)
            let calls = try await broker.subscribe(to: [ns + "calls"])
            let executor = OneThreadExecutor()
            defer { executor.stop() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await requester.run() }
                group.addTask {
                    for await message in calls {
                        guard let received = try? BrokerRequests(decoding: message.payload) else { continue }
                        for request in received.requests.reversed() {
                            try? await broker.reply(to: request, from: "solo", body: "\(request.body)!")
                        }
                    }
                }
                let bodies = try await withTaskExecutorPreference(executor) {
                    async let a = requester.request("a", on: ns + "calls", expecting: 1, timeout: .seconds(5))
                    async let b = requester.request("b", on: ns + "calls", expecting: 1, timeout: .seconds(5))
                    return try await (a.replies.map(\.body), b.replies.map(\.body))
                }
                #expect(bodies.0 == ["a!"] && bodies.1 == ["b!"])
                group.cancelAll()
            }
            calls.cancel()
        }
    }

    @Test("without batching, each request is a message of its own", arguments: BrokerKind.allCases)
    func unbatched(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let ns = uniqueNamespace()
            let requester = try await BrokerRequester.start(broker: broker, replyChannel: ns + "reply")
            let calls = try await broker.subscribe(to: [ns + "calls"])
            let watcher = MessageInbox(try await broker.subscribe(to: [ns + "calls"]))
            let executor = OneThreadExecutor()
            defer { executor.stop() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await requester.run() }
                group.addTask { await Self.respond(broker, on: calls, as: "n1") }
                try await withTaskExecutorPreference(executor) {
                    try await withThrowingTaskGroup(of: Void.self) { requests in
                        for index in 0..<5 {
                            requests.addTask { _ = try await requester.request("r\(index)", on: ns + "calls", expecting: 1, timeout: .seconds(5)) }
                        }
                        try await requests.waitForAll()
                    }
                }
                for _ in 0..<5 {
                    #expect(try BrokerRequests(decoding: try await watcher.next().payload).requests.count == 1)
                }
                group.cancelAll()
            }
            calls.cancel()
        }
    }
}
