import Synchronization
import BrokerCore
import FleetCore

/// What `GET /readyz` answers: ready (200), or not (503) with the reasons, as JSON.
package struct ReadinessReport: Sendable, Hashable {
    /// Why the process must not get traffic now; empty when it is ready.
    package var reasons: [String]

    package init(reasons: [String] = []) {
        self.reasons = reasons
    }

    package var isReady: Bool { reasons.isEmpty }

    /// 200 when ready, 503 otherwise.
    package var status: Int { isReady ? 200 : 503 }

    /// `{"status":"ready"}` or `{"reasons":[...],"status":"not ready"}`.
    package var json: String {
        guard !isReady else { return JSONValue.object(["status": .string("ready")]).text }
        return JSONValue.object(["status": .string("not ready"), "reasons": .array(reasons.map { .string($0) })]).text
    }
}

/// The readiness checks a node and a gateway share.
package enum ReadinessCheck {
    /// Runs `probe` (one broker round trip) with a deadline; the reason it failed, if it did.
    /// The answer comes by the deadline even when the probe does not honour cancellation (a
    /// Redis command to a frozen server waits for the client's own command timeout): the
    /// probe is then left to end by itself (``withDeadline(_:timeoutError:_:)``).
    package static func broker<Value: Sendable>(
        within timeout: Duration = .seconds(1), _ probe: @escaping @Sendable () async throws -> Value
    ) async -> Result<Value, BrokerProbeFailure> {
        do {
            return .success(try await withDeadline(timeout, timeoutError: { ProbeTimedOut() }, probe))
        } catch is ProbeTimedOut {
            return .failure(BrokerProbeFailure(description: "broker did not answer within \(timeout)"))
        } catch is CancellationError {
            return .failure(BrokerProbeFailure(description: "broker probe cancelled"))
        } catch {
            return .failure(BrokerProbeFailure(description: "broker unreachable: \(error)"))
        }
    }
}

/// A broker probe that did not answer by its deadline.
private struct ProbeTimedOut: Error {}

/// Why a broker probe failed, as `/readyz` says it.
package struct BrokerProbeFailure: Error, Sendable, Hashable, CustomStringConvertible {
    package var description: String
}

/// Whether the broker's links are up, as its events tell: down from `.disconnected` until
/// `.reconnected` (every subscription restored). A service starts once its broker is
/// connected, so the state starts up.
package final class BrokerLinkState: Sendable {
    private let up = Atomic<Bool>(true)
    private let reason = Mutex<String>("")

    package init() {}

    package var isUp: Bool { up.load(ordering: .relaxed) }

    /// What `/readyz` says while the link is down; nil while it is up.
    package var unreadyReason: String? {
        isUp ? nil : "broker link down: " + reason.withLock { $0 }
    }

    /// Follows `events` until they end or the task is cancelled.
    package func follow(_ events: AsyncStream<BrokerEvent>) async {
        for await event in events {
            switch event {
            case .connected, .reconnected:
                reason.withLock { $0 = "" }
                up.store(true, ordering: .relaxed)
            case .disconnected(let why):
                reason.withLock { $0 = why }
                up.store(false, ordering: .relaxed)
            }
        }
    }
}
