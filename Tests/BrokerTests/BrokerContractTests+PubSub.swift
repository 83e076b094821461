import BrokerCore
import Testing

/// Publish/subscribe: fan-out, patterns, unsubscribing, order and payloads.
extension BrokerContractTests {
    @Test(arguments: BrokerKind.allCases)
    func publishWithoutSubscribersReachesNobody(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            #expect(try await broker.publish("hello", to: uniqueNamespace() + "empty") == 0)
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func publishFansOutToEverySubscriber(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let channel = uniqueNamespace() + "room"
            let first = MessageInbox(try await broker.subscribe(to: [channel]))
            let second = MessageInbox(try await broker.subscribe(to: [channel]))

            let receivers = try await broker.publish("hello", to: channel)
            #expect(receivers > 0)
            if kind == .embedded { #expect(receivers == 2) }

            for inbox in [first, second] {
                let message = try await inbox.next()
                #expect(message == BrokerMessage(channel: channel, pattern: nil, payload: "hello"))
            }
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func subscriptionCoversEveryListedChannel(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let ns = uniqueNamespace()
            let inbox = MessageInbox(try await broker.subscribe(to: [ns + "a", ns + "b", ns + "a"]))
            #expect(try await broker.publish("1", to: ns + "a") > 0)
            #expect(try await broker.publish("2", to: ns + "b") > 0)
            #expect(try await broker.publish("3", to: ns + "c") == 0)
            let messages = try await inbox.next(2)
            #expect(messages.map(\.channel) == [ns + "a", ns + "b"])
            #expect(messages.map(\.payload) == ["1", "2"])
            // A channel listed twice still delivers each message once.
            try await inbox.expectNothing()
        }
    }

    @Test("a cluster refuses pattern subscriptions, saying why")
    func clusterHasNoPatterns() async throws {
        try await withBroker(.redisCluster) { broker async throws in
            let error = await #expect(throws: BrokerError.self) { _ = try await broker.subscribe(toPatterns: [uniqueNamespace() + "*"]) }
            #expect(error?.code == .invalidArgument && error?.message.contains("sharded pub/sub") == true, "\(String(describing: error))")
        }
    }

    @Test(arguments: BrokerKind.withPatterns)
    func patternSubscriptionDeliversPatternAndChannel(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let ns = uniqueNamespace()
            let pattern = ns + "room:*"
            let inbox = MessageInbox(try await broker.subscribe(toPatterns: [pattern, ns + "user:?", ns + "[xy]"]))

            #expect(try await broker.publish("to 42", to: ns + "room:42") > 0)
            #expect(try await broker.publish("to u", to: ns + "user:7") > 0)
            #expect(try await broker.publish("to x", to: ns + "x") > 0)
            #expect(try await broker.publish("nobody", to: ns + "user:77") == 0)
            #expect(try await broker.publish("nobody", to: ns + "other") == 0)

            let messages = try await inbox.next(3)
            #expect(messages == [
                BrokerMessage(channel: ns + "room:42", pattern: pattern, payload: "to 42"),
                BrokerMessage(channel: ns + "user:7", pattern: ns + "user:?", payload: "to u"),
                BrokerMessage(channel: ns + "x", pattern: ns + "[xy]", payload: "to x"),
            ])
            try await inbox.expectNothing()
        }
    }

    @Test(arguments: BrokerKind.withPatterns)
    func channelAndPatternSubscribersBothReceive(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let ns = uniqueNamespace()
            let exact = MessageInbox(try await broker.subscribe(to: [ns + "news"]))
            let patterned = MessageInbox(try await broker.subscribe(toPatterns: [ns + "n*"]))
            #expect(try await broker.publish("extra", to: ns + "news") > 0)
            #expect(try await exact.next() == BrokerMessage(channel: ns + "news", payload: "extra"))
            #expect(try await patterned.next() == BrokerMessage(channel: ns + "news", pattern: ns + "n*", payload: "extra"))
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func cancelStopsDelivery(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let ns = uniqueNamespace()
            let channel = ns + "room"
            let leaving = MessageInbox(try await broker.subscribe(to: [channel]))
            let leavingPattern = kind.hasPatterns ? MessageInbox(try await broker.subscribe(toPatterns: [ns + "pattern:*"])) : nil
            #expect(try await broker.publish("before", to: channel) > 0)
            #expect(try await leaving.next().payload == "before")

            leaving.subscription.cancel()
            leavingPattern?.subscription.cancel()
            #expect(try await broker.publishUntilUnheard("after", to: channel), "still delivered after cancel()")
            if kind.hasPatterns {
                #expect(try await broker.publishUntilUnheard("after", to: ns + "pattern:1"), "still delivered after cancel()")
            }

            // Other subscriptions to the same channel are unaffected by one leaving.
            let first = MessageInbox(try await broker.subscribe(to: [channel]))
            let second = MessageInbox(try await broker.subscribe(to: [channel]))
            second.subscription.cancel()
            #expect(try await broker.publish("still here", to: channel) > 0)
            #expect(try await first.next().payload == "still here")
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func messagesArriveInPublishOrder(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let ns = uniqueNamespace()
            let exact = MessageInbox(try await broker.subscribe(to: [ns + "ordered"]))
            let patterned = kind.hasPatterns ? MessageInbox(try await broker.subscribe(toPatterns: [ns + "order*"])) : nil
            let payloads = (0..<200).map { "message \($0)" }
            for payload in payloads {
                try await broker.publish(payload, to: ns + "ordered")
            }
            #expect(try await exact.next(payloads.count).map(\.payload) == payloads)
            if let patterned { #expect(try await patterned.next(payloads.count).map(\.payload) == payloads) }
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func utf8PayloadsArePreserved(kind: BrokerKind) async throws {
        try await withBroker(kind) { broker async throws in
            let channel = uniqueNamespace() + "房间:🎉"
            let inbox = MessageInbox(try await broker.subscribe(to: [channel]))
            let payloads = [
                "héllo wörld 🎉🚀", "你好，世界", "👨‍👩‍👧 🇨🇳 e\u{301}", "", "line1\r\nline2",
                #"{"event":"message","data":"\"quoted\""}"#, String(repeating: "长", count: 10_000),
            ]
            for payload in payloads {
                #expect(try await broker.publish(payload, to: channel) > 0)
            }
            let received = try await inbox.next(payloads.count)
            #expect(received.map(\.channel) == Array(repeating: channel, count: payloads.count))
            for (got, sent) in zip(received.map(\.payload), payloads) {
                #expect(Array(got.utf8) == Array(sent.utf8))
            }
        }
    }
}
