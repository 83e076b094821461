import Testing
@testable import WebSocketCore

@Suite("The slow-consumer policy")
struct SlowConsumerPolicyTests {
    @Test func nothingCountsWhileWritable() {
        var policy = SlowConsumerPolicy()
        for _ in 0..<1_000 {
            #expect(policy.wrote(bytes: 1_000_000, maxMessages: 1, maxBytes: 1) == .none)
        }
        #expect(policy.queuedMessages == 0 && policy.queuedBytes == 0)
    }

    @Test func messagesPastTheLimitCut() {
        var policy = SlowConsumerPolicy()
        policy.writabilityChanged(isWritable: false)
        #expect(policy.wrote(bytes: 1, maxMessages: 2, maxBytes: 100) == .none)
        #expect(policy.wrote(bytes: 1, maxMessages: 2, maxBytes: 100) == .none)
        #expect(policy.wrote(bytes: 1, maxMessages: 2, maxBytes: 100) == .cut)
    }

    @Test func bytesPastTheLimitCut() {
        var policy = SlowConsumerPolicy()
        policy.writabilityChanged(isWritable: false)
        #expect(policy.wrote(bytes: 60, maxMessages: 10, maxBytes: 100) == .none)
        #expect(policy.wrote(bytes: 40, maxMessages: 10, maxBytes: 100) == .none)
        #expect(policy.wrote(bytes: 1, maxMessages: 10, maxBytes: 100) == .cut)
    }

    @Test func writableAgainResets() {
        var policy = SlowConsumerPolicy()
        policy.writabilityChanged(isWritable: false)
        #expect(policy.wrote(bytes: 90, maxMessages: 10, maxBytes: 100) == .none)
        policy.writabilityChanged(isWritable: true)
        #expect(policy.queuedBytes == 0)
        policy.writabilityChanged(isWritable: false)
        #expect(policy.wrote(bytes: 90, maxMessages: 10, maxBytes: 100) == .none)
        #expect(policy.queuedMessages == 1 && policy.queuedBytes == 90)
    }
}
