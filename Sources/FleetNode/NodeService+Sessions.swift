import BrokerCore
import FleetCore
import Foundation
import Logging
import NIOCore
import Observability
import Synchronization

// The resumable sessions of the node's clients: claims across the fleet and the replay.
extension NodeService {
    // MARK: Sessions, for client protocols

    /// The resumable sessions of this node's clients.
    package var sessions: SessionStore {
        SessionStore(broker: broker, keys: keys, nodeID: configuration.nodeID, ttl: configuration.reconnectionTTL)
    }

    /// What a claim found: whether a node still held the session (away: with how many messages
    /// it recorded; live: its connection was still open), and the messages to replay.
    package struct Claim: Sendable {
        package enum Found: Sendable, Hashable {
            /// A node had recorded `recorded` messages for it since its connection ended;
            /// `complete` is false when it missed some it should have recorded (a cap of
            /// ``AwaySessionLimits``, or the broker falling behind).
            case away(recorded: Int, complete: Bool)
            /// Its connection was still open, and has been closed: nothing was missed.
            case live
            /// No node answered for it: its node died (or the session expired there).
            case lost
        }
        package var found: Found
        /// The recorded messages still kept (at most `REPLAY_MAX`), before skipping the ones
        /// the new connection already got.
        package var stored: Int
        /// The messages to replay, oldest first.
        package var messages: [String]
    }

    /// Resumes the session `token` on `connectionID` (a connection of this node), with the
    /// user `id` and `groups`: every node runs the claim at the same point of the calls'
    /// order, so each message is either recorded for the session or delivered to the new
    /// connection, never both and never neither. The new connection's live messages are held
    /// until ``finishResume(_:prefix:)``.
    package func claimSession(_ token: String, for connectionID: String, id: String?, groups: [String]) async throws -> Claim {
        guard let requester = self.requester else { throw BrokerError(.unavailable, "the node is not running") }
        var nodes = Set(try await directory.liveNodes())
        nodes.insert(configuration.nodeID)
        let answers = try await requester.call(
            [.claimSession(token: token, connectionID: connectionID, id: id, groups: groups)],
            on: keys.broadcastChannel(from: configuration.nodeID), awaiting: nodes, timeout: configuration.callTimeout
        )
        var found = Claim.Found.lost
        var held: (id: String?, groups: [String])?
        var seen = Set<String>()
        if case .claim(let answer)? = answers[configuration.nodeID]?.first, let ids = answer.seen {
            seen = Set(ids)
        }
        for results in answers.values {
            guard case .claim(let answer)? = results.first else { continue }
            switch answer.session {
            case .away(let recorded, let complete, let heldID, let heldGroups)?:
                found = .away(recorded: recorded, complete: complete)
                held = (heldID, heldGroups)
            case .live?:
                found = .live
            case nil:
                break
            }
        }
        // The claim carried what the broker said of the session; the node that held it knows
        // best (the broker may not have caught up with a connection that ended a moment ago).
        var operations: [NodeOperation] = []
        let bindID = answers[configuration.nodeID] == nil ? id : (id == nil ? held?.id : nil)
        let missingGroups = answers[configuration.nodeID] == nil ? groups : (held?.groups ?? []).filter { !groups.contains($0) }
        if let bindID { operations.append(.event(.bindId, EventArguments(id: bindID, connectionID: connectionID))) }
        if !missingGroups.isEmpty {
            operations.append(.event(.joinGroupBy_Id, EventArguments(connectionID: connectionID, groups: missingGroups)))
        }
        if !operations.isEmpty { _ = hub.execute(operations) }
        let values = try await broker.execute([.hashGetAll(key: keys.mailbox(token)), .delete(keys: [keys.mailbox(token)])], atomically: true)
        var messages: [String] = []
        var stored = 0
        if case .hash(let mailbox)? = values.first {
            if mailbox[MailboxWriter.droppedField] != nil, found == .lost {
                // Dropped early by its node (a cap): not lost with a node, and nothing kept.
                found = .away(recorded: 0, complete: false)
            }
            stored = mailbox.keys.filter { $0 != "n" && $0 != MailboxWriter.droppedField }.count
            // Entries are "<message id>\n<message>"; what this connection got live is skipped.
            messages = mailbox.filter { $0.key != "n" && $0.key != MailboxWriter.droppedField }.sorted { $0.key < $1.key }.compactMap { entry in
                let parts = entry.value.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2 else { return entry.value }
                return !parts[0].isEmpty && seen.contains(String(parts[0])) ? nil : String(parts[1])
            }
        }
        return Claim(found: found, stored: stored, messages: messages)
    }

    /// Queues `prefix` (the reply and the replay) on a resumed connection, then the live
    /// messages held since its claim, and tells ``events()`` readers.
    package func finishResume(_ connectionID: String, previousID: String, missed: Int, prefix: [String]) {
        hub.releaseHold(connectionID, prefix: prefix)
        eventHub.publish(.reconnected(connectionID: connectionID, previousID: previousID, missed: missed))
    }
}
