import Redis
import Testing

/// A deterministic generator: always the lowest or highest value of a range.
struct FixedRandom: RandomNumberGenerator {
    var high: Bool
    mutating func next() -> UInt64 { high ? .max : 0 }
}

@Suite("Reconnection decisions")
struct ReconnectStateMachineTests {
    private func machine(high: Bool = true) -> ReconnectStateMachine<FixedRandom> {
        ReconnectStateMachine(base: .milliseconds(100), cap: .seconds(1), random: FixedRandom(high: high))
    }

    @Test("first connection, loss, reconnection")
    func lifecycle() {
        var machine = machine()
        #expect(machine.state == .idle)
        #expect(machine.startConnecting() == true)
        #expect(machine.state == .connecting(attempt: 0))
        #expect(machine.nextEstablished == .first)
        #expect(machine.connected() == .first)
        #expect(machine.state == .connected)
        let delay = machine.connectionLost()
        #expect(machine.state == .backingOff(attempt: 0))
        #expect(delay <= .milliseconds(100) && delay >= .milliseconds(50))
        #expect(machine.startConnecting() == true)
        #expect(machine.nextEstablished == .reconnect)
        #expect(machine.connected() == .reconnect)
    }

    @Test("failed attempts back off exponentially up to the cap")
    func backoff() {
        var machine = machine(high: true)
        var delays: [Duration] = []
        for _ in 0..<6 {
            #expect(machine.startConnecting() == true)
            delays.append(machine.connectFailed())
        }
        #expect(delays == [100, 200, 400, 800, 1000, 1000].map { Duration.milliseconds($0) })
        #expect(machine.state == .backingOff(attempt: 6))
    }

    @Test("jitter never goes below half the step")
    func jitterFloor() {
        var machine = machine(high: false)
        #expect(machine.startConnecting() == true)
        #expect(machine.connectFailed() == .milliseconds(50))
        #expect(machine.startConnecting() == true)
        #expect(machine.connectFailed() == .milliseconds(100))
    }

    @Test("a successful connection resets the backoff")
    func reset() {
        var machine = machine()
        for _ in 0..<4 {
            _ = machine.startConnecting()
            _ = machine.connectFailed()
        }
        _ = machine.startConnecting()
        _ = machine.connected()
        #expect(machine.connectionLost() == .milliseconds(100))
    }

    @Test("after shutdown nothing starts")
    func shutdown() {
        var machine = machine()
        machine.shutdown()
        #expect(machine.startConnecting() == false)
        #expect(machine.state == .shutdown)
    }

    @Test("huge attempt counts do not overflow")
    func overflow() {
        var machine = machine()
        #expect(machine.delay(forAttempt: 10_000) == .seconds(1))
    }
}
