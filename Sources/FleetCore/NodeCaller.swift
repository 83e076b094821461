import BrokerCore

extension BrokerRequester {
    /// Sends `operations` to the nodes listening on `channel` and collects each of `nodes`'
    /// results until `timeout`. A node missing from the answer did not reply in time; a reply
    /// that cannot be read gives a `failure` per operation.
    package func call(
        _ operations: [NodeOperation],
        on channel: String,
        awaiting nodes: Set<String>,
        timeout: Duration
    ) async throws -> [String: [OperationResult]] {
        guard !nodes.isEmpty else { return [:] }
        let call = NodeCall(operations: operations)
        let responses = try await request(on: channel, awaiting: nodes, timeout: timeout, bodySize: call.estimatedWireSize) {
            call.write(to: &$0)
        }
        var answers: [String: [OperationResult]] = [:]
        for reply in responses.replies {
            if let decoded = try? NodeCallReply(wireText: reply.body),
                decoded.results.count == operations.count
            {
                answers[reply.from] = decoded.results
            } else {
                answers[reply.from] = Array(repeating: .failure(code: 1, message: "malformed reply from node"), count: operations.count)
            }
        }
        return answers
    }
}
