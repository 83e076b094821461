import Metrics

// public: FleetNode's public NodeHub.init (Benchmarks/) takes one.
/// The WebSocket metrics of one client protocol (label `protocol`): connections open,
/// opened and closed, messages and their bytes in each direction.
public struct SocketMeter: Sendable {
    package let protocolName: String
    private let connections: Meter
    private let opened: Counter
    private let closed: Counter
    private let messagesIn: Counter
    private let messagesOut: Counter
    private let bytesIn: Counter
    private let bytesOut: Counter

    package init(protocol name: String, telemetry: Telemetry) {
        let dimensions = [("protocol", name)]
        let factory = telemetry.factory
        protocolName = name
        connections = Meter(label: MetricName.connections, dimensions: dimensions, factory: factory)
        opened = Counter(label: MetricName.connectionsOpened, dimensions: dimensions, factory: factory)
        closed = Counter(label: MetricName.connectionsClosed, dimensions: dimensions, factory: factory)
        messagesIn = Counter(label: MetricName.messagesIn, dimensions: dimensions, factory: factory)
        messagesOut = Counter(label: MetricName.messagesOut, dimensions: dimensions, factory: factory)
        bytesIn = Counter(label: MetricName.bytesIn, dimensions: dimensions, factory: factory)
        bytesOut = Counter(label: MetricName.bytesOut, dimensions: dimensions, factory: factory)
    }

    package func connectionOpened() {
        opened.increment()
        connections.increment()
    }

    package func connectionClosed() {
        closed.increment()
        connections.decrement()
    }

    /// A message from a client (text or binary) of `bytes` bytes.
    package func received(bytes: Int) {
        messagesIn.increment()
        bytesIn.increment(by: bytes)
    }

    /// A message written to a client.
    package func sent(bytes: Int) {
        messagesOut.increment()
        bytesOut.increment(by: bytes)
    }

    /// `messages` messages written to clients, `bytes` in all (a batch counted at once).
    package func sent(messages: Int, bytes: Int) {
        messagesOut.increment(by: messages)
        bytesOut.increment(by: bytes)
    }
}
