import Metrics
import Observability

/// The webhook counters: events delivered, failed requests, events moved to the dead
/// letters, and events lost (the dead letters could not be written either).
package struct HookMeter: Sendable {
    private let deliveredEvents: Counter
    private let failedRequests: Counter
    private let deadEvents: Counter
    private let droppedEvents: Counter

    package init(telemetry: Telemetry) {
        deliveredEvents = Counter(label: "wscenter_webhook_events_delivered_total", factory: telemetry.factory)
        failedRequests = Counter(label: "wscenter_webhook_requests_failed_total", factory: telemetry.factory)
        deadEvents = Counter(label: "wscenter_webhook_events_dead_lettered_total", factory: telemetry.factory)
        droppedEvents = Counter(label: "wscenter_webhook_events_dropped_total", factory: telemetry.factory)
    }

    func delivered(_ count: Int) { deliveredEvents.increment(by: count) }
    func failedAttempt() { failedRequests.increment() }
    func deadLettered(_ count: Int) { deadEvents.increment(by: count) }
    func dropped(_ count: Int) { droppedEvents.increment(by: count) }
}
