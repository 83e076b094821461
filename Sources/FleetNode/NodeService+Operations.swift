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
    public func meter(named name: String) -> SocketMeter {
        meters[name] ?? SocketMeter(protocol: name, telemetry: telemetry)
    }

    /// Whether the node is draining: it refuses new WebSockets and is not ready.
    public var isDraining: Bool { sockets.isDraining }

    /// Starts the drain and waits (at most `timeout`) until every WebSocket has closed: new
    /// upgrades are refused with 503, `/readyz` answers 503, and every connection is closed
    /// with 1012 once what was queued for it is written. Native sessions turn away first, so
    /// that what is sent meanwhile is recorded and replayed where the client resumes. Clients
    /// that have not answered the close within 5 s (or `timeout`) are cut off.
    /// The node stays in the fleet (heartbeat, calls, session claims) until it is stopped
    /// (cancelled), which then hands the sessions over and leaves `master_ids`.
    public func drain(within timeout: Duration) async {
        let open = sockets.count
        guard sockets.drainAll() else { return }
        telemetry.startedDraining()
        logger.notice("draining: closing every WebSocket with 1012", metadata: ["connections": "\(open)"])
        let start = ContinuousClock.now
        let handshakes = start + min(timeout, .seconds(5))
        while sockets.count > 0, ContinuousClock.now < handshakes {
            try? await Task.sleep(for: .milliseconds(10))
        }
        let unanswered = sockets.count
        if unanswered > 0 {
            logger.warning("drain: cutting off clients that did not answer the close", metadata: ["connections": "\(unanswered)"])
            sockets.cutAll()
            while sockets.count > 0, ContinuousClock.now < start + timeout {
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
        let left = sockets.count
        if left > 0 {
            logger.warning("drain: WebSockets still open at the deadline", metadata: ["connections": "\(left)"])
        } else {
            logger.info("drain: every WebSocket closed", metadata: ["after": "\(ContinuousClock.now - start)"])
        }
    }

    /// Ready when not draining, the broker answers, and this node's heartbeat is current
    /// (written within its TTL, and its key present in the broker).
    public func readiness() async -> ReadinessReport {
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
