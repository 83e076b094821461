import BrokerCore
import Synchronization
import Testing

@Suite("withDeadline")
struct DeadlineTests {
    struct Late: Error, Equatable {}
    struct Refused: Error, Equatable {}

    /// Sleeps `seconds` in a detached task: cancelling the caller does not shorten it, like a
    /// Redis command waiting for a frozen server. The tests below make it far longer than
    /// their bounds, which are loose: other suites running in parallel can keep the
    /// concurrency pool busy for seconds (blocking calls), delaying any resumption.
    static func stubborn(_ seconds: Double) async -> Int {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Task.detached {
                try? await Task.sleep(for: .seconds(seconds))
                continuation.resume()
            }
        }
        return 7
    }

    @Test("an operation that ends in time gives its value or its error")
    func inTime() async throws {
        #expect(try await withDeadline(.seconds(5), timeoutError: { Late() }) { 42 } == 42)
        await #expect(throws: Refused()) {
            try await withDeadline(.seconds(5), timeoutError: { Late() }) { () async throws -> Int in throw Refused() }
        }
        #expect(try await withDeadline(.seconds(5), timeoutError: { Late() }) { await Self.stubborn(0.05) } == 7)
    }

    @Test("an operation that ignores cancellation: the caller gets the timeout error at the deadline, not when it ends")
    func stubbornOperation() async throws {
        let start = ContinuousClock.now
        await #expect(throws: Late()) {
            try await withDeadline(.milliseconds(100), timeoutError: { Late() }) { await Self.stubborn(60) }
        }
        let took = ContinuousClock.now - start
        #expect(took < .seconds(20), "waited \(took): until the operation ended?")
    }

    final class Flag: Sendable {
        private let value = Atomic<Bool>(false)
        func set() { value.store(true, ordering: .relaxed) }
        var isSet: Bool { value.load(ordering: .relaxed) }
    }

    @Test("an operation that honours cancellation is cancelled at the deadline")
    func cancelledAtDeadline() async throws {
        let cancelled = Flag()
        await #expect(throws: Late()) {
            try await withDeadline(.milliseconds(50), timeoutError: { Late() }) { () async throws -> Int in
                do {
                    try await Task.sleep(for: .seconds(30))
                } catch {
                    cancelled.set()
                    throw error
                }
                return 0
            }
        }
        try await Task.sleep(for: .milliseconds(200))
        #expect(cancelled.isSet)
    }

    @Test("cancelling the caller ends the wait at once")
    func callerCancelled() async throws {
        let start = ContinuousClock.now
        let task = Task {
            try await withDeadline(.seconds(120), timeoutError: { Late() }) { await Self.stubborn(60) }
        }
        try await Task.sleep(for: .milliseconds(50))
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(ContinuousClock.now - start < .seconds(20))
    }
}
