import BrokerCore
import Synchronization
import Testing

@Suite("Subscription buffers")
struct BrokerSubscriptionTests {
    @Test("a slow consumer costs at most bufferLimit messages of memory; the rest are counted as dropped")
    func bounded() async {
        let (subscription, sink) = BrokerSubscription.make(bufferLimit: 3) {}
        for index in 0..<10 {
            #expect(sink.deliver(BrokerMessage(channel: "c", payload: "\(index)")))
        }
        #expect(subscription.droppedCount == 7)
        sink.finish()
        var payloads: [String] = []
        for await message in subscription { payloads.append(message.payload) }
        #expect(payloads == ["0", "1", "2"])
    }

    @Test("cancel ends the sequence, runs the unsubscribe action once, and further deliveries report the end")
    func cancel() async {
        let calls = Mutex(0)
        let (subscription, sink) = BrokerSubscription.make(bufferLimit: 8) { calls.withLock { $0 += 1 } }
        sink.deliver(BrokerMessage(channel: "c", payload: "kept"))
        subscription.cancel()
        subscription.cancel()
        #expect(!sink.deliver(BrokerMessage(channel: "c", payload: "late")))
        var payloads: [String] = []
        for await message in subscription { payloads.append(message.payload) }
        #expect(payloads.count <= 1)
        #expect(calls.withLock { $0 } == 1)
    }
}
