import Synchronization
import Testing

@testable import FleetGateway
@testable import FleetNode

@Suite("Drain bookkeeping and API metric labels")
struct OperationsUnitTests {
    final class Calls: Sendable {
        let log = Mutex<[String]>([])
        func note(_ text: String) { log.withLock { $0.append(text) } }
        var all: [String] { log.withLock { $0 } }
    }

    /// A socket that notes what the drain does to it.
    final class Socket: DrainableSocket {
        let name: String
        let calls: Calls
        init(_ name: String, _ calls: Calls) {
            self.name = name
            self.calls = calls
        }
        func drain() { calls.note("drain \(name)") }
        func cut() { calls.note("cut \(name)") }
    }

    @Test("a drain reaches every open socket once; a socket opened during the drain is drained at once; cut reaches the rest")
    func tracker() {
        let tracker = SocketTracker()
        let calls = Calls()
        let a = Socket("a", calls)
        tracker.open(a)
        let b = Socket("b", calls)
        tracker.open(b)
        #expect(tracker.count == 2 && !tracker.isDraining)
        tracker.close(a)
        #expect(tracker.drainAll())
        #expect(!tracker.drainAll(), "a second drain does nothing")
        #expect(calls.all == ["drain b"])
        let c = Socket("c", calls)
        tracker.open(c)
        #expect(calls.all == ["drain b", "drain c"])
        tracker.close(b)
        tracker.cutAll()
        #expect(calls.all == ["drain b", "drain c", "cut c"])
        tracker.close(c)
        #expect(tracker.count == 0 && tracker.isDraining)
    }

    @Test("event labels: each event of a batch by name; anything else is `unknown`, nothing is `none`")
    func eventLabels() {
        #expect(APIMetricsMiddleware.eventLabels("bindId,sendMessageToId") == ["bindId", "sendMessageToId"])
        #expect(APIMetricsMiddleware.eventLabels("getIds,<script>,") == ["getIds", "unknown", "unknown"])
        #expect(APIMetricsMiddleware.eventLabels(nil) == ["none"])
        #expect(APIMetricsMiddleware.eventLabels("") == ["none"])
    }
}
