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

    /// How many request ids a node remembers, to run a request published twice once: far more
    /// than the requests of the few hundred milliseconds in which one is published again.
    static let recentCallsRemembered = 16_384

    func serveCalls(_ bus: BrokerSubscription) async {
        var recent = RecentIDs(capacity: Self.recentCallsRemembered)
        await withDiscardingTaskGroup { group in
            for await message in bus {
                let received: BrokerRequests
                do {
                    received = try BrokerRequests(decoding: message.payload)
                } catch {
                    logger.warning("ignored a malformed call", metadata: ["channel": "\(message.channel)", "error": "\(error)"])
                    continue
                }
                // Operations run here, in arrival order; the replies to one message (a
                // gateway's batch) go out together, concurrently with the next calls.
                var replies: [BrokerBatch.Entry] = []
                replies.reserveCapacity(received.requests.count)
                var claims = false
                for request in received.requests where recent.insert(request.id) {
                    let call: NodeCall
                    do {
                        call = try NodeCall(wireText: request.body)
                    } catch {
                        logger.warning("ignored a malformed call", metadata: ["channel": "\(message.channel)", "error": "\(error)"])
                        continue
                    }
                    let reply = NodeCallReply(results: hub.execute(call.operations))
                    claims = claims || call.operations.contains { if case .claimSession = $0 { true } else { false } }
                    replies.append(BrokerBatch.Entry(id: request.id, body: reply.wireText()))
                }
                guard !replies.isEmpty else { continue }
                group.addTask { [replies, claims] in
                    // A claimed session's mailbox must be complete before the claimant reads it.
                    if claims { await self.mailboxes.flush() }
                    do {
                        try await self.broker.reply(to: received, from: self.configuration.nodeID, replies)
                    } catch {
                        self.logger.debug("reply not sent", metadata: ["error": "\(error)"])
                    }
                }
            }
        }
    }
}
