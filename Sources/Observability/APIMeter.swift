import Metrics
import Synchronization

/// The gateway's metrics: requests by event (or REST route) and status, their latency by
/// API, node replies that did not arrive in time, and the live nodes it sees.
package struct APIMeter: Sendable {
    private let telemetry: Telemetry
    private let timedOut: Counter
    private let nodesAlive: Gauge
    /// The handles made so far, by labels: the label sets are bounded (event names, `unknown`,
    /// REST routes, statuses), and making a handle per request cost a registry lookup and
    /// allocations each time.
    private let handles = Handles()

    private final class Handles: Sendable {
        let counters = Mutex<[CounterKey: Counter]>([:])
        let timers = Mutex<[String: Timer]>([:])
    }

    private struct CounterKey: Hashable {
        var event: String
        var status: Int
    }

    package init(telemetry: Telemetry) {
        self.telemetry = telemetry
        timedOut = Counter(label: MetricName.repliesTimedOut, factory: telemetry.factory)
        nodesAlive = Gauge(label: MetricName.nodesAlive, factory: telemetry.factory)
    }

    /// One answered request: `event` is an event API event (each of a batch counts), or a
    /// REST route such as `pusher:/apps/{app_id}/events`; `api` is `event` or `pusher`.
    package func request(events: [String], api: String, status: Int, duration: Duration) {
        let factory = telemetry.factory
        for event in events {
            let key = CounterKey(event: event, status: status)
            let counter = handles.counters.withLock { counters in
                if let counter = counters[key] { return counter }
                let counter = Counter(
                    label: MetricName.apiRequests, dimensions: [("event", event), ("status", String(status))], factory: factory
                )
                counters[key] = counter
                return counter
            }
            counter.increment()
        }
        let timer = handles.timers.withLock { timers in
            if let timer = timers[api] { return timer }
            let timer = Timer(label: MetricName.apiDuration, dimensions: [("api", api)], factory: factory)
            timers[api] = timer
            return timer
        }
        timer.record(duration: duration)
    }

    /// `count` nodes did not reply before the call's deadline.
    package func repliesTimedOut(_ count: Int) {
        guard count > 0 else { return }
        timedOut.increment(by: count)
    }

    /// The number of live nodes the gateway sees (`master_ids`).
    package func nodesAlive(_ count: Int) {
        nodesAlive.record(count)
    }
}
