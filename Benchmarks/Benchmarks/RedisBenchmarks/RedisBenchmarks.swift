import Benchmark

/// Benchmarks of the Redis client: RESP decoding in memory, and pipelined `PUBLISH` against
/// the Redis at `REDIS_URL` (default `redis://127.0.0.1:6379`).
///
///     cd Benchmarks && swift package benchmark      (or `make bench` from the root)
///
/// What each benchmark measures, how to compare with redis-benchmark, and the recorded
/// figures: docs/performance.md.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        warmupIterations: 100,
        maxDuration: .seconds(5),
        maxIterations: 10_000_000
    )
    respBenchmarks()
    publishBenchmarks()
}
