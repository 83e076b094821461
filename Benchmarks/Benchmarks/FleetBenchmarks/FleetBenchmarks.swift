import Benchmark
import FleetCore
import FleetNode
import NIOCore
import NIOEmbedded
import WebSocketCore

/// In-process benchmarks of the node's write path: the hub decides the recipients under its
/// lock, hands one delivery per event loop to the loop's shard (one encoded frame buffer for
/// every socket), and the loop writes it to each socket's channel and flushes each once.
/// 5,000 sockets on one event loop (an embedded one, run by hand; the channels' writes end in
/// a handler that drops them, so the kernel is not measured).
///
/// Allocation counts are checked against the thresholds in Thresholds/ by `make bench`
/// (`swift package benchmark thresholds check --metric mallocCountTotal`): a delivery that
/// starts allocating per socket fails it. (Names without spaces: package-benchmark writes
/// threshold files with spaces replaced but looks them up with the spaces.)
///
///     cd Benchmarks && swift package benchmark --target FleetBenchmarks
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        warmupIterations: 10,
        maxDuration: .seconds(5),
        thresholds: [.mallocCountTotal: .init(relative: [.p90: 10], absolute: [.p90: 4])]
    )

    let connections = 5_000
    let message = String(repeating: "m", count: 64)

    let loop = EmbeddedEventLoop()
    let hub = NodeHub(nodeID: "bench")
    let sockets = SocketSet(connections: connections, loop: loop) { id, socket in hub.open(id, socket: socket) }
    loop.run()  // the greetings

    // One iteration: the broadcast is decided, handed to the loop's shard, and written to
    // all 5,000 sockets, each flushed once.
    Benchmark("broadcast-5000-sockets-one-loop-64B-written-and-flushed") { benchmark in
        for _ in benchmark.scaledIterations {
            let results = hub.execute([.event(.broadcast, EventArguments(message: message))])
            loop.run()
            guard case .int(connections) = results.first else {
                benchmark.error("broadcast answered \(results)")
                return
            }
        }
    }

    // The same with 100 sessions away on this node: each broadcast is also recorded for each
    // of them (the recording is queued for the mailbox writer; here it is only counted).
    let awayLoop = EmbeddedEventLoop()
    let awayHub = NodeHub(nodeID: "bench-away", onRecord: { blackHole($0); return true })
    let awaySockets = SocketSet(connections: connections + 100, loop: awayLoop) { id, socket in
        awayHub.open(id, socket: socket, sessionToken: "t-\(id)")
    }
    for index in connections..<(connections + 100) { awayHub.close(SocketSet.id(index)) }
    awayLoop.run()
    Benchmark("broadcast-5000-sockets-100-sessions-away-64B") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(awayHub.execute([.event(.broadcast, EventArguments(message: message))]))
            awayLoop.run()
        }
    }

    // A message to one connection, as sendMessageTo_Id does: the hub, the shard, one write
    // and one flush.
    Benchmark("sendMessageTo_Id-one-of-5000-sockets-written-and-flushed") { benchmark in
        let target = SocketSet.id(connections / 2)
        for _ in benchmark.scaledIterations {
            blackHole(hub.execute([.event(.sendMessageTo_Id, EventArguments(connectionID: target, message: message))]))
            loop.run()
        }
    }

    Benchmark("getConnectionCount-5000-connections") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(hub.execute([.event(.getConnectionCount, EventArguments())]))
        }
    }
    _ = sockets
    _ = awaySockets

    busCodecBenchmarks()
}

/// Sockets on embedded channels of one loop, connected, each write dropped at the head.
final class SocketSet: @unchecked Sendable {
    let channels: [EmbeddedChannel]

    static func id(_ index: Int) -> String { "c\(index)" }

    init(connections: Int, loop: EmbeddedEventLoop, open: (String, ServerWebSocket) -> Void) {
        var channels: [EmbeddedChannel] = []
        for index in 0..<connections {
            let socket = ServerWebSocket(options: WebSocketOptions(pingInterval: nil), delegate: Quiet(), eventLoop: loop)
            let channel = EmbeddedChannel(handlers: [DropWrites(), socket], loop: loop)
            _ = try? channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
            open(Self.id(index), socket)
            channels.append(channel)
        }
        self.channels = channels
    }
}

/// Ends every write at the head of the pipeline, as a socket that took it.
final class DropWrites: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        promise?.succeed()
    }
    func flush(context: ChannelHandlerContext) {}
}

final class Quiet: WebSocketDelegate {
    func webSocketDidOpen(_ socket: ServerWebSocket) {}
    func webSocket(_ socket: ServerWebSocket, didReceive message: ByteBuffer, isText: Bool) {}
    func webSocketDidClose(_ socket: ServerWebSocket) {}
}
