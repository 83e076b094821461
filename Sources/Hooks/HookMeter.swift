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
        deliveredEvents = Counter(label: MetricName.webhookEventsDelivered, factory: telemetry.factory)
        failedRequests = Counter(label: MetricName.webhookRequestsFailed, factory: telemetry.factory)
        deadEvents = Counter(label: MetricName.webhookEventsDeadLettered, factory: telemetry.factory)
        droppedEvents = Counter(label: MetricName.webhookEventsDropped, factory: telemetry.factory)
    }

    func delivered(_ count: Int) { deliveredEvents.increment(by: count) }
    func failedAttempt() { failedRequests.increment() }
    func deadLettered(_ count: Int) { deadEvents.increment(by: count) }
    func dropped(_ count: Int) { droppedEvents.increment(by: count) }
}
