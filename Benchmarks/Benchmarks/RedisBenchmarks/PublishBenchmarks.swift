import Benchmark
import Foundation
import NIOCore
import Redis

/// Publishes per second, computed per iteration from its wall-clock time and the number of
/// `PUBLISH` commands it completed. (`throughput` counts iterations, each of which holds
/// 16,384 commands per task.)
let publishRate = BenchmarkMetric.custom("PUBLISH/s", polarity: .prefersLarger, useScalingFactor: false)

/// Round trips each task makes per iteration. package-benchmark hops threads around every
/// iteration of an async benchmark (a dispatch queue, a new `Task`, a semaphore), so one
/// round trip per iteration would measure a cold start each time; 1,024 back to back (about
/// 0.15 s) measure the steady state, as redis-benchmark does, and keep those hand-offs
/// below 1% of an iteration.
let roundTripsPerIteration = 1_024

/// 16 `PUBLISH <channel> <64 bytes>` commands, encoded once.
func publishBatch() -> [RedisCommand] {
    let channel = "wscenter-bench:\(ProcessInfo.processInfo.processIdentifier)"
    let payload = ByteBuffer(repeating: UInt8(ascii: "p"), count: 64)
    return Array(repeating: RedisCommand("PUBLISH", [.string(channel), .bytes(payload)]), count: 16)
}

/// Sends `batch` as one pipeline and checks every reply is an integer (the receiver count).
func sendPipeline(_ client: RedisClient, _ batch: [RedisCommand]) async throws {
    let replies = try await client.pipeline(batch)
    for reply in replies {
        guard case .integer = reply else {
            throw BenchmarkSetupError(message: "unexpected PUBLISH reply \(reply)")
        }
    }
    blackHole(replies)
}

/// Registers a `PUBLISH` benchmark: `connections` clients (one connection each), on each
/// `tasksPerConnection` tasks, each task sending `roundTripsPerIteration` pipelines of 16
/// `PUBLISH` one after the other — so `connections × tasksPerConnection × 16` commands are
/// in flight at any time.
///
/// With `onClientExecutor`, the task prefers the client's `taskExecutor` and so runs on the
/// connection's event loop: no thread hop per round trip.
func publishBenchmark(_ name: String, connections: Int = 1, tasksPerConnection: Int = 1, onClientExecutor: Bool = false) {
    let batch = publishBatch()
    let publishesPerIteration = connections * tasksPerConnection * roundTripsPerIteration * batch.count
    let configuration = Benchmark.Configuration(
        metrics: [.throughput, .wallClock, .mallocCountTotal, publishRate],
        warmupIterations: 10,
        maxDuration: .seconds(10)
    )
    let fixture = RedisFixture(
        name: name, warmupIterations: configuration.warmupIterations, onClientExecutor: onClientExecutor
    )
    Benchmark(name, configuration: configuration) { benchmark in
        let clients = fixture.clients
        let executor = fixture.executor
        let start = ContinuousClock.now
        try await withThrowingDiscardingTaskGroup { group in
            for client in clients {
                for _ in 0..<tasksPerConnection {
                    group.addTask(executorPreference: executor) {
                        for _ in 0..<roundTripsPerIteration {
                            try await sendPipeline(client, batch)
                        }
                    }
                }
            }
        }
        let elapsed = ContinuousClock.now - start
        benchmark.measurement(publishRate, rate(publishesPerIteration, in: elapsed))
        fixture.record(commands: publishesPerIteration, elapsed: elapsed)
    } setup: {
        try await fixture.start(clients: connections)
    } teardown: {
        await fixture.stop()
    }
}

func publishBenchmarks() {
    // The headline figure: one connection, one task, pipelines of 16 back to back — the same
    // 16 commands in flight as `redis-benchmark -c 1 -P 16`.
    publishBenchmark("PUBLISH pipelined 16 in flight, 64-byte payload")
    // More in flight, closer to redis-benchmark's default of 50 clients.
    publishBenchmark(
        "PUBLISH pipelined 4 tasks × 16 in flight, 1 connection, 64-byte payload",
        tasksPerConnection: 4
    )
    publishBenchmark("PUBLISH pipelined 4 connections × 16 in flight, 64-byte payload", connections: 4)
    // The shape of `redis-benchmark -c 50 -P 16`: 50 connections, 16 in flight on each.
    publishBenchmark("PUBLISH pipelined 50 connections × 16 in flight, 64-byte payload", connections: 50)
    // The headline run with the caller on the client's executor (`client.taskExecutor`), so it
    // runs on the connection's event loop as redis-benchmark's single thread does. The gap
    // to the plain run is the cost of the two thread hops per round trip.
    publishBenchmark(
        "PUBLISH pipelined 16 in flight, caller on the client's executor, 64-byte payload",
        onClientExecutor: true
    )
}

/// `count` operations in `elapsed`, per second.
func rate(_ count: Int, in elapsed: Duration) -> Int {
    let nanoseconds = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
    return nanoseconds > 0 ? Int((Double(count) * 1e9 / nanoseconds).rounded()) : 0
}
