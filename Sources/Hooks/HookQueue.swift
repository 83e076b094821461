import BrokerCore

/// Queues webhook events in their source's stream, where workers pick them up.
package struct HookQueue: Sendable {
    let broker: any Broker
    let keys: HookKeys
    /// About how many events a source's stream keeps (`XADD MAXLEN ~`): the oldest go first
    /// when no worker keeps up.
    let maxLength: Int

    package init(broker: any Broker, keys: HookKeys, maxLength: Int = 100_000) {
        self.broker = broker
        self.keys = keys
        self.maxLength = maxLength
    }

    /// Appends `events`, in order. - Throws: ``BrokerError`` when the broker cannot take them.
    package func enqueue(_ events: [HookEvent], from source: HookSource) async throws {
        guard !events.isEmpty else { return }
        let key = keys.queue(source)
        _ = try await broker.execute(events.map { .streamAdd(key: key, fields: $0.streamFields, maxLength: maxLength) }, atomically: false)
    }
}
