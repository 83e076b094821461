import Benchmark
import BrokerCore
import FleetCore
import NIOCore

/// The bus messages as the gateway and a node handle them, each step on its own: the gateway
/// writes a call (envelope and body in one string), the node reads it (the envelope, then the
/// body where it lies in the payload), the node writes its reply, the gateway reads it; and the
/// four in a row for `getConnectionCount`. Calls: `getConnectionCount` (no arguments),
/// `sendMessageTo_Id` with a 64-byte message, a `_claim`; replies: an integer and a `_claim`'s
/// answer. docs/performance.md has the figures.
///
/// `bus-payload-string-from-bytebuffer` is what the Redis broker spends turning a received
/// payload into the `String` the broker contract hands on: the most that carrying `ByteBuffer`s
/// through the contract could save per message.
///
///     cd Benchmarks && swift package benchmark --target FleetBenchmarks --filter "bus-.*"
func busCodecBenchmarks() {
    let id = "CFC3B741-AD5C-41BE-A0A7-5A0B1ED98254"
    let replyTo = "wsc:reply:47d94c703749f1839b754652ef6ac155"
    let node = "8d0f7a6c2b1e4d3f9a8b7c6d5e4f3a2b"
    let connection = "57b96db33e1d2a04357a54d892bb08c4"
    let calls: [(String, NodeCall)] = [
        ("getConnectionCount", NodeCall(operations: [.event(.getConnectionCount, EventArguments())])),
        ("sendMessageTo_Id-64B", NodeCall(operations: [.event(.sendMessageTo_Id, EventArguments(
            connectionID: connection, message: String(repeating: "m", count: 64), messageID: "0f1e2d3c4b5a6978"
        ))])),
        ("claim", NodeCall(operations: [.claimSession(
            token: String(repeating: "9c1e0b7f", count: 8), connectionID: connection, id: "ann", groups: ["g1", "g2"]
        )])),
    ]
    let replies: [(String, NodeCallReply)] = [
        ("int", NodeCallReply(results: [.int(2_500)])),
        ("claim", NodeCallReply(results: [.claim(ClaimAnswer(session: .away(recorded: 4, complete: true, id: "ann", groups: ["g1"])))])),
    ]

    for (name, call) in calls {
        Benchmark("bus-call-encode-\(name)") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try BrokerRequest.encode(id: id, replyTo: replyTo, bodySize: call.estimatedWireSize) { call.write(to: &$0) })
            }
        }
        let payload = try! BrokerRequest.encode(id: id, replyTo: replyTo) { call.write(to: &$0) }
        Benchmark("bus-call-decode-\(name)") { benchmark in
            for _ in benchmark.scaledIterations {
                let request = try BrokerRequest(decoding: payload)
                blackHole(request.replyTo)
                blackHole(try NodeCall(wireText: request.body))
            }
        }
    }
    for (name, reply) in replies {
        Benchmark("bus-reply-encode-\(name)") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try BrokerReply.encode(id: id, from: node, bodySize: reply.estimatedWireSize) { reply.write(to: &$0) })
            }
        }
        let payload = try! BrokerReply.encode(id: id, from: node) { reply.write(to: &$0) }
        Benchmark("bus-reply-decode-\(name)") { benchmark in
            for _ in benchmark.scaledIterations {
                let received = try BrokerReply(decoding: payload)
                blackHole(received.from)
                blackHole(try NodeCallReply(wireText: received.body))
            }
        }
    }

    let call = calls[0].1
    let reply = replies[0].1
    Benchmark("bus-getConnectionCount-round-trip") { benchmark in
        for _ in benchmark.scaledIterations {
            let request = try BrokerRequest.encode(id: id, replyTo: replyTo, bodySize: call.estimatedWireSize) { call.write(to: &$0) }
            let received = try BrokerRequest(decoding: request)
            let decodedCall = try NodeCall(wireText: received.body)
            let answer = try BrokerReply.encode(id: received.id, from: node, bodySize: reply.estimatedWireSize) { reply.write(to: &$0) }
            let back = try BrokerReply(decoding: answer)
            blackHole(decodedCall)
            blackHole(try NodeCallReply(wireText: back.body))
        }
    }

    let sendPayload = ByteBuffer(string: try! BrokerRequest.encode(id: id, replyTo: replyTo) { calls[1].1.write(to: &$0) })
    Benchmark("bus-payload-string-from-bytebuffer-sendMessageTo_Id-64B") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(String(buffer: sendPayload))
        }
    }
}
