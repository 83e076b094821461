import Benchmark
import BrokerCore
import FleetCore
import Foundation

/// The bus messages of one `getConnectionCount` request, as the gateway and a node handle
/// them: the gateway writes the call, the node reads it and writes its reply, the gateway
/// reads the reply. The hand-written codec (what runs) against Foundation's JSONEncoder and
/// JSONDecoder on the same Codable types (what ran before).
///
///     cd Benchmarks && swift package benchmark --target FleetBenchmarks --filter "Bus"
func busCodecBenchmarks() {
    let call = NodeCall(operations: [.event(.getConnectionCount, EventArguments())])
    let reply = NodeCallReply(results: [.int(2_500)])
    let id = "CFC3B741-AD5C-41BE-A0A7-5A0B1ED98254"

    Benchmark("bus-getConnectionCount-round-trip-hand-written-codec") { benchmark in
        for _ in benchmark.scaledIterations {
            let request = try BrokerRequest(id: id, replyTo: "wsc:reply:gw", body: call.wireText()).encoded()
            let received = try BrokerRequest(decoding: request)
            let decodedCall = try NodeCall(wireText: received.body.utf8)
            let answer = try BrokerReply(id: received.id, from: "node-1", body: reply.wireText()).encoded()
            let back = try BrokerReply(decoding: answer)
            blackHole(decodedCall)
            blackHole(try NodeCallReply(wireText: back.body.utf8))
        }
    }

    Benchmark("bus-getConnectionCount-round-trip-foundation-json") { benchmark in
        let encoder = JSONEncoder()
        let decoder = JSONDecoder()
        for _ in benchmark.scaledIterations {
            let body = String(decoding: try encoder.encode(call), as: UTF8.self)
            let request = try BrokerRequest(id: id, replyTo: "wsc:reply:gw", body: body).encoded()
            let received = try BrokerRequest(decoding: request)
            let decodedCall = try decoder.decode(NodeCall.self, from: Data(received.body.utf8))
            let replyBody = String(decoding: try encoder.encode(reply), as: UTF8.self)
            let answer = try BrokerReply(id: received.id, from: "node-1", body: replyBody).encoded()
            let back = try BrokerReply(decoding: answer)
            blackHole(decodedCall)
            blackHole(try decoder.decode(NodeCallReply.self, from: Data(back.body.utf8)))
        }
    }
}
