import NIOCore
import Testing

@testable import FleetNode

/// Finishes `outbox` and returns what was queued in it, giving up after `timeout` (so a bug
/// can fail the test but never hang it).
private func drainOutbox(_ outbox: Outbox, within timeout: Duration = .seconds(2)) async -> [String] {
    outbox.finish()
    return await withTaskGroup(of: [String]?.self) { group in
        group.addTask {
            var messages: [String] = []
            for await buffer in outbox.messages { messages.append(String(buffer: buffer)) }
            return messages
        }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        guard let first else {
            Issue.record("the outbox did not end within \(timeout)")
            return []
        }
        return first
    }
}

/// The outbox of a connection served by a task (Pusher's).
@Suite("Outbox")
struct OutboxTests {
    @Test("Outbox with limit 2: the third send returns false and overflowed is true")
    func outboxOverflow() async {
        let outbox = Outbox(limit: 2)
        #expect(!outbox.overflowed)
        let first = outbox.send(ByteBuffer(string: "1"))
        let second = outbox.send(ByteBuffer(string: "2"))
        #expect(first && second)
        #expect(!outbox.overflowed)
        let third = outbox.send(ByteBuffer(string: "3"))
        #expect(!third)
        #expect(outbox.overflowed)
        let fourth = outbox.send(ByteBuffer(string: "4"))
        #expect(!fourth)
        // The writer still gets what was queued, then the stream ends.
        #expect(await drainOutbox(outbox) == ["1", "2"])
    }

    @Test("Outbox.finish: later sends are refused without counting as overflow")
    func outboxFinish() async {
        let outbox = Outbox()
        outbox.send(ByteBuffer(string: "a"))
        outbox.finish()
        let late = outbox.send(ByteBuffer(string: "b"))
        #expect(!late)
        #expect(!outbox.overflowed)
        #expect(await drainOutbox(outbox) == ["a"])
    }

}
