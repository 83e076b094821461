import Benchmark
import FleetCore
import FleetNode
import NIOCore

/// In-process benchmarks of the node's hub: the fan-out of one broadcast to 5,000
/// connections (the message is encoded once into one buffer that every outbox shares) and
/// the call the gateway sends most, `getConnectionCount`.
///
///     cd Benchmarks && swift package benchmark --target FleetBenchmarks
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        warmupIterations: 10,
        maxDuration: .seconds(5)
    )

    let connections = 5_000
    let hub = NodeHub(nodeID: "bench")
    var outboxes: [Outbox] = []
    for index in 0..<connections {
        let outbox = Outbox(limit: 16)
        hub.open("c\(index)", outbox: outbox)
        outboxes.append(outbox)
    }
    let drainers = outboxes.map { outbox in
        Task { for await message in outbox.messages { blackHole(message) } }
    }
    let message = String(repeating: "m", count: 64)

    // One iteration: the hub queues the message for all 5,000 connections. (The drain tasks
    // read the outboxes concurrently, as the connections' writers do.)
    Benchmark("NodeHub broadcast to 5,000 connections, 64-byte message") { benchmark in
        for _ in benchmark.scaledIterations {
            let results = hub.execute([.event(.broadcast, EventArguments(message: message))])
            guard case .int(let reached) = results.first else {
                benchmark.error("broadcast answered \(results)")
                return
            }
            blackHole(reached)
        }
    }

    // The same broadcast while 100 sessions are away on this node: each broadcast is also
    // recorded for each of them (the recording is queued for the mailbox writer; here it is
    // only counted). Compare with the benchmark above: the cost of replay on the normal path.
    let awayHub = NodeHub(nodeID: "bench-away", onRecord: { blackHole($0) })
    var awayOutboxes: [Outbox] = []
    for index in 0..<(connections + 100) {
        let outbox = Outbox(limit: 16)
        awayHub.open("c\(index)", outbox: outbox, sessionToken: index >= connections ? "t\(index)" : nil)
        awayOutboxes.append(outbox)
    }
    for index in connections..<(connections + 100) { awayHub.close("c\(index)") }
    let awayDrainers = awayOutboxes.prefix(connections).map { outbox in
        Task { for await message in outbox.messages { blackHole(message) } }
    }
    Benchmark("NodeHub broadcast to 5,000 connections with 100 sessions away, 64-byte message") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(awayHub.execute([.event(.broadcast, EventArguments(message: message))]))
        }
    }

    Benchmark("NodeHub getConnectionCount with 5,000 connections") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(hub.execute([.event(.getConnectionCount, EventArguments())]))
        }
    }
    _ = drainers
    _ = awayDrainers

    busCodecBenchmarks()
}
