import Metrics

/// The gateway's metrics: requests by event (or REST route) and status, their latency by
/// API, node replies that did not arrive in time, and the live nodes it sees.
public struct APIMeter: Sendable {
    private let telemetry: Telemetry
    private let timedOut: Counter
    private let nodesAlive: Gauge

    public init(telemetry: Telemetry) {
        self.telemetry = telemetry
        timedOut = Counter(label: MetricName.repliesTimedOut, factory: telemetry.factory)
        nodesAlive = Gauge(label: MetricName.nodesAlive, factory: telemetry.factory)
    }

    /// One answered request: `event` is an event API event (each of a batch counts), or a
    /// REST route such as `pusher:/apps/{app_id}/events`; `api` is `event` or `pusher`.
    public func request(events: [String], api: String, status: Int, duration: Duration) {
        let status = String(status)
        for event in events {
            Counter(label: MetricName.apiRequests, dimensions: [("event", event), ("status", status)], factory: telemetry.factory)
                .increment()
        }
        Timer(label: MetricName.apiDuration, dimensions: [("api", api)], factory: telemetry.factory)
            .record(duration: duration)
    }

    /// `count` nodes did not reply before the call's deadline.
    public func repliesTimedOut(_ count: Int) {
        guard count > 0 else { return }
        timedOut.increment(by: count)
    }

    /// The number of live nodes the gateway sees (`master_ids`).
    public func nodesAlive(_ count: Int) {
        nodesAlive.record(count)
    }
}
