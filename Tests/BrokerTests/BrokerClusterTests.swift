import BrokerCore
import Foundation
import Testing
import WSCTesting

/// What only the cluster broker does: batches over several slots, and the refusals of what a
/// cluster cannot do (the contract suite runs on it too, each test's keys in one slot).
@Suite("The broker on a Redis Cluster")
struct BrokerClusterTests {
    /// Keys of `count` different hash tags: several slots, on several masters.
    private func spread(_ count: Int) -> [String] {
        let run = UUID().uuidString.lowercased()
        return (0..<count).map { "t:{\(run)-\($0)}:key" }
    }

    @Test("a non-atomic batch over many slots answers in order; DEL over several slots counts them all; SCAN sees every master")
    func batchesOverSlots() async throws {
        try await withBroker(.redisCluster) { broker async throws in
            let keys = spread(24)
            let written = try await broker.execute(keys.enumerated().map { .set(key: $1, value: "v\($0)") }, atomically: false)
            #expect(written == Array(repeating: .ok, count: keys.count))
            let read = try await broker.execute(keys.map { .get(key: $0) } + [.incrementBy(key: keys[0] + ":n", amount: 2)], atomically: false)
            #expect(read == keys.indices.map { .string("v\($0)") } + [.int(2)])
            let run = keys[0].split(separator: "-").first.map(String.init) ?? ""
            #expect(Set(try await broker.scanKeys(matching: run + "*")) == Set(keys + [keys[0] + ":n"]))
            #expect(try await broker.execute([.delete(keys: keys)], atomically: false) == [.int(keys.count)])
            #expect(try await broker.execute([.delete(keys: keys + [keys[0] + ":n"])], atomically: false) == [.int(1)])
        }
    }

    @Test("an atomic batch or a script over several slots is refused as CROSSSLOT, and nothing runs")
    func crossSlot() async throws {
        try await withBroker(.redisCluster) { broker async throws in
            let keys = spread(2)
            let atomic = await #expect(throws: BrokerError.self) {
                _ = try await broker.execute([.set(key: keys[0], value: "a"), .set(key: keys[1], value: "b")], atomically: true)
            }
            #expect(atomic?.code == .invalidArgument && atomic?.message.contains("CROSSSLOT") == true, "\(String(describing: atomic))")
            #expect(try await broker.execute(keys.map { .get(key: $0) }, atomically: false) == [.null, .null])
            let script = BrokerScript(
                name: "touch-both", lua: "redis.call('SET', KEYS[1], 'x'); redis.call('SET', KEYS[2], 'y'); return 1"
            ) { keys, _, run in
                _ = try run(.set(key: keys[0], value: "x"))
                _ = try run(.set(key: keys[1], value: "y"))
                return .int(1)
            }
            let scripted = await #expect(throws: BrokerError.self) {
                _ = try await broker.execute([.script(script, keys: keys, arguments: [])], atomically: false)
            }
            #expect(scripted?.code == .invalidArgument && scripted?.message.contains("CROSSSLOT") == true)
            // With a common hash tag they run.
            let tag = "t:{same-\(UUID().uuidString.lowercased())}:"
            let together = [tag + "a", tag + "b"]
            #expect(try await broker.execute([.script(script, keys: together, arguments: [])], atomically: false) == [.int(1)])
            #expect(try await broker.execute([.set(key: together[0], value: "1"), .get(key: together[1])], atomically: true) == [.ok, .string("y")])
        }
    }

    @Test("run() returns once cancelled, with a subscription and commands under way; afterwards commands fail, they do not wait")
    func cancelledRunReturns() async throws {
        let broker = try BrokerKind.redisCluster.make()
        let events = broker.events()
        let running = Task { try await broker.run() }
        try await waitForEvent(events, within: .seconds(10)) { $0 == .connected }
        let keys = spread(12)
        let subscription = try await broker.subscribe(to: keys)
        // Commands to every master keep starting while the run is cancelled.
        let traffic = Task {
            while !Task.isCancelled {
                _ = try? await broker.execute(keys.map { .incrementBy(key: $0, amount: 1) }, atomically: false)
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        running.cancel()
        let returned = await firstElement(of: AsyncStream { continuation in
            Task {
                _ = try? await running.value
                continuation.yield(true)
            }
        }, within: .seconds(10)) { $0 }
        #expect(returned == true, "run() did not return within 10 s of being cancelled")
        traffic.cancel()
        await traffic.value
        subscription.cancel()
        // A node client made after the run ended is shut down at once: this fails, not hangs.
        await #expect(throws: BrokerError.self) {
            _ = try await broker.execute([.get(key: "t:{after-\(UUID().uuidString)}:k")], atomically: false)
        }
    }
}
