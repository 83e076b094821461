import BrokerCore
import FleetCore
import Foundation
import Logging
import NIOCore
import Observability
import Synchronization

// The calls that arrive on the bus: run in arrival order, answered concurrently.
extension NodeService {
    // MARK: Calls

    func serveCalls(_ bus: BrokerSubscription) async {
        await withDiscardingTaskGroup { group in
            for await message in bus {
                let request: BrokerRequest
                let call: NodeCall
                do {
                    request = try BrokerRequest(decoding: message.payload)
                    call = try NodeCall(wireText: request.body)
                } catch {
                    logger.warning("ignored a malformed call", metadata: ["channel": "\(message.channel)", "error": "\(error)"])
                    continue
                }
                // Operations run here, in arrival order; only the reply is sent concurrently.
                let reply = NodeCallReply(results: hub.execute(call.operations))
                let claims = call.operations.contains { if case .claimSession = $0 { true } else { false } }
                group.addTask {
                    // A claimed session's mailbox must be complete before the claimant reads it.
                    if claims { await self.mailboxes.flush() }
                    do {
                        try await self.broker.reply(to: request, from: self.configuration.nodeID, bodySize: reply.estimatedWireSize) {
                            reply.write(to: &$0)
                        }
                    } catch {
                        self.logger.debug("reply not sent", metadata: ["error": "\(error)"])
                    }
                }
            }
        }
    }
}
