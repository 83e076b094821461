import BrokerCore
@testable import BrokerRedis
import Testing

@Suite("RedisBroker connection events")
struct LinkStateTests {
    @Test("connected once both links are up; disconnected once; reconnected when both are back")
    func sequence() {
        var link = LinkState()
        #expect(link.update(.commands, up: true) == nil)
        #expect(!link.isUp)
        #expect(link.update(.subscriber, up: true) == .connected)
        #expect(link.isUp)
        #expect(link.update(.subscriber, up: false, reason: "gone") == .disconnected(reason: "gone"))
        #expect(link.update(.commands, up: false, reason: "also gone") == nil)
        #expect(link.update(.commands, up: true) == nil)
        #expect(!link.isUp)
        #expect(link.update(.subscriber, up: true) == .reconnected)
        #expect(link.isUp)
    }

    @Test("before the first connection, drops are not reported")
    func earlyDrop() {
        var link = LinkState()
        #expect(link.update(.commands, up: true) == nil)
        #expect(link.update(.commands, up: false) == nil)
        #expect(link.update(.commands, up: true) == nil)
        #expect(link.update(.subscriber, up: true) == .connected)
    }
}
