import FleetHTTP
import Synchronization
import Testing

@testable import FleetGateway
@testable import FleetNode

@Suite("Drain bookkeeping, lifecycle waits and API metric labels")
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

    @Test("waiting for the sockets to close: ends when the last one closes, at the deadline otherwise, at once when cancelled")
    func waitForSockets() async {
        let tracker = SocketTracker()
        let socket = Socket("a", Calls())
        #expect(await tracker.waitUntilClosed(before: .now + .seconds(30)), "none open")
        tracker.open(socket)
        #expect(await tracker.waitUntilClosed(before: .now + .milliseconds(50)) == false, "the deadline passes")
        async let closed = tracker.waitUntilClosed(before: .now + .seconds(30))
        tracker.close(socket)
        #expect(await closed)
        tracker.open(socket)
        let started = ContinuousClock.now
        let cancelled = Task { await tracker.waitUntilClosed(before: .now + .seconds(30)) }
        cancelled.cancel()
        #expect(await cancelled.value == false)
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test("a service's lifecycle: waiters get its value once it runs, nil once it stopped first or when they are cancelled")
    func lifecycleWaits() async {
        let running = LifecycleState<Int>()
        async let early = running.waitUntilRunning()
        let cancelled = Task { await running.waitUntilRunning() }
        cancelled.cancel()
        #expect(await cancelled.value == nil)
        #expect(running.running == nil)
        running.start(7)
        #expect(await early == 7)
        #expect(await running.waitUntilRunning() == 7 && running.running == 7)
        running.stop()
        #expect(await running.waitUntilRunning() == nil && running.running == nil)
        running.start(8)
        #expect(running.running == nil, "a stopped service does not run again")

        let never = LifecycleState<Int>()
        async let waiting = never.waitUntilRunning()
        never.stop()
        #expect(await waiting == nil)
    }

    @Test("event labels: each event of a batch by name; anything else is `unknown`, nothing is `none`")
    func eventLabels() {
        #expect(APIMetricsMiddleware.eventLabels("bindId,sendMessageToId") == ["bindId", "sendMessageToId"])
        #expect(APIMetricsMiddleware.eventLabels("getIds,<script>,") == ["getIds", "unknown", "unknown"])
        #expect(APIMetricsMiddleware.eventLabels(nil) == ["none"])
        #expect(APIMetricsMiddleware.eventLabels("") == ["none"])
    }
}
