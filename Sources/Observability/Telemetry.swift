import Metrics
import Prometheus

// public (with init()): FleetNode's public NodeService.init takes one, Telemetry() by default.
/// A process's metrics: one Prometheus registry that the swift-metrics handles of its node
/// and gateway write to, rendered by `GET /metrics` in the Prometheus text format.
///
/// Metrics are made with an explicit factory (never the global `MetricsSystem`), so that
/// several services in one test process keep their counts apart, while `wscenter serve`
/// shares one `Telemetry` between its node and its gateway.
public final class Telemetry: Sendable {
    package let registry: PrometheusCollectorRegistry
    package let factory: PrometheusMetricsFactory
    /// Whether this process is draining (1) or serving (0).
    private let draining: Metrics.Gauge

    /// Latency buckets from 250 µs (a loopback Redis round trip) to 10 s (a call timing out).
    package static let latencyBuckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
    ]

    public init() {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.latencyBuckets
        self.registry = registry
        self.factory = factory
        draining = Metrics.Gauge(label: MetricName.draining, factory: factory)
        draining.record(0)
    }

    /// Notes that the process started draining.
    package func startedDraining() {
        draining.record(1)
    }

    /// The metrics in the Prometheus text exposition format (version 0.0.4).
    package func render() -> [UInt8] {
        registry.emitToBuffer()
    }
}

/// The names of wscenter's metrics (docs/operations.md explains each).
package enum MetricName {
    package static let connections = "wscenter_connections"
    package static let connectionsOpened = "wscenter_connections_opened_total"
    package static let connectionsClosed = "wscenter_connections_closed_total"
    package static let messagesIn = "wscenter_messages_in_total"
    package static let messagesOut = "wscenter_messages_out_total"
    package static let bytesIn = "wscenter_message_bytes_in_total"
    package static let bytesOut = "wscenter_message_bytes_out_total"
    package static let apiRequests = "wscenter_api_requests_total"
    package static let apiDuration = "wscenter_api_request_duration_seconds"
    package static let brokerRoundTrip = "wscenter_broker_roundtrip_seconds"
    package static let brokerConnected = "wscenter_broker_connected"
    package static let redisReconnects = "wscenter_redis_reconnects_total"
    package static let repliesTimedOut = "wscenter_replies_timed_out_total"
    package static let nodesAlive = "wscenter_nodes_alive"
    package static let draining = "wscenter_draining"
    package static let webhookEventsDelivered = "wscenter_webhook_events_delivered_total"
    package static let webhookRequestsFailed = "wscenter_webhook_requests_failed_total"
    package static let webhookEventsDeadLettered = "wscenter_webhook_events_dead_lettered_total"
    package static let webhookEventsDropped = "wscenter_webhook_events_dropped_total"
    package static let webhookSpoolEvents = "wscenter_webhook_spool_events"
}
