import BrokerCore
@testable import BrokerRedis
import Testing

@Suite("RedisBroker connection events")
struct LinkStateTests {
    @Test("connected once both links are up; disconnected once; reconnected when both are back")
    func sequence() {
        var link = LinkState()
        #expect(link.update(commandsUp: true, subscriberUp: false) == nil)
        #expect(!link.isUp)
        #expect(link.update(commandsUp: true, subscriberUp: true) == .connected)
        #expect(link.isUp)
        #expect(link.update(commandsUp: true, subscriberUp: false, reason: "gone") == .disconnected(reason: "gone"))
        #expect(link.update(commandsUp: false, subscriberUp: false, reason: "also gone") == nil)
        #expect(link.update(commandsUp: true, subscriberUp: false) == nil)
        #expect(!link.isUp)
        #expect(link.update(commandsUp: true, subscriberUp: true) == .reconnected)
        #expect(link.isUp)
        #expect(link.update(commandsUp: true, subscriberUp: true) == nil)
    }

    @Test("before the first connection, drops are not reported")
    func earlyDrop() {
        var link = LinkState()
        #expect(link.update(commandsUp: true, subscriberUp: false) == nil)
        #expect(link.update(commandsUp: false, subscriberUp: false) == nil)
        #expect(link.update(commandsUp: true, subscriberUp: true) == .connected)
    }
}
