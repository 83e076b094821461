import BrokerCore
import FleetCore
import Foundation
import Logging
import NIOCore
import Observability
import Synchronization

// Metrics, the drain and readiness.
extension NodeService {
    // MARK: Operations

    /// The WebSocket metrics of the protocol called `name`.
    package func meter(named name: String) -> SocketMeter {
        meters[name] ?? SocketMeter(protocol: name, telemetry: telemetry)
    }

    /// Whether the node is draining: it refuses new WebSockets and is not ready.
    package var isDraining: Bool { sockets.isDraining }

    /// Starts the drain and waits (at most `timeout`) until every WebSocket has closed: new
    /// upgrades are refused with 503, `/readyz` answers 503, and every connection is closed
    /// with 1012 once what was queued for it is written. Native sessions turn away first, so
    /// that what is sent meanwhile is recorded and replayed where the client resumes. Clients
    /// that have not answered the close within 5 s (or `timeout`) are cut off.
    /// The node stays in the fleet (heartbeat, calls, session claims) meanwhile: ``run()``
    /// drains it this way on a graceful shutdown, then hands the sessions over and leaves
    /// `master_ids`.
    package func drain(within timeout: Duration) async {
        let open = sockets.count
        guard sockets.drainAll() else { return }
        telemetry.startedDraining()
        logger.notice("draining: closing every WebSocket with 1012", metadata: ["connections": "\(open)"])
        let start = ContinuousClock.now
        let left = await awaitSocketsClosed(answeringBy: start + min(timeout, .seconds(5)), deadline: start + timeout)
        if left > 0 {
            logger.warning("drain: WebSockets still open at the deadline", metadata: ["connections": "\(left)"])
        } else {
            logger.info("drain: every WebSocket closed", metadata: ["after": "\(ContinuousClock.now - start)"])
        }
    }

    /// Once the node's server has stopped: its WebSockets live on their event loops, not in
    /// its tasks, so those still open (accepted as the drain began, or whose clients did not
    /// answer the close) are closed here as a drain closes them, briefly, then cut off. No
    /// socket outlives the server. Under cancellation (a stop that is not graceful) nothing
    /// waits: the closes are sent and the sockets cut at once.
    func closeRemainingSockets(within timeout: Duration = .seconds(2)) async {
        sockets.drainAll()
        guard sockets.count > 0 else { return }
        let start = ContinuousClock.now
        let left = await awaitSocketsClosed(answeringBy: start + timeout, deadline: start + timeout)
        if left > 0 {
            logger.warning("WebSockets still open after the server stopped", metadata: ["connections": "\(left)"])
        }
    }

    /// Waits for the drained sockets to close: until `answeringBy` for their clients to answer
    /// the close, then cuts off the rest and waits for them until `deadline` (or a moment, as
    /// cutting off takes one turn of each socket's event loop).
    /// - Returns: how many are still open.
    private func awaitSocketsClosed(answeringBy: ContinuousClock.Instant, deadline: ContinuousClock.Instant) async -> Int {
        if await sockets.waitUntilClosed(before: answeringBy) { return 0 }
        logger.warning("drain: cutting off clients that did not answer the close", metadata: ["connections": "\(sockets.count)"])
        sockets.cutAll()
        await sockets.waitUntilClosed(before: max(deadline, .now + .milliseconds(500)))
        return sockets.count
    }

    /// Ready when not draining, the broker answers, and this node's heartbeat is current
    /// (written within its TTL, and its key present in the broker).
    package func readiness() async -> ReadinessReport {
        var report = ReadinessReport()
        if isDraining { report.reasons.append("draining: this node is shutting down") }
        if let down = brokerLink.unreadyReason { report.reasons.append(down) }
        let key = keys.node(configuration.nodeID)
        switch await ReadinessCheck.broker({ try await self.broker.execute(.ttl(key: key)) }) {
        case .failure(let failure):
            report.reasons.append(failure.description)
        case .success(.int(let ttl)) where ttl < 0:
            report.reasons.append("heartbeat missing from the broker")
        case .success:
            break
        }
        let written = lastBeat.load(ordering: .relaxed)
        let ttl = BrokerCommand.milliseconds(configuration.heartbeatTTL) ?? 3_000
        if written == 0 {
            report.reasons.append("no heartbeat written yet")
        } else if epochMilliseconds() - written > Int64(ttl) {
            report.reasons.append("heartbeat not written for \(epochMilliseconds() - written) ms (TTL \(ttl) ms)")
        }
        return report
    }
}
