import BrokerCore
import Synchronization

/// The live nodes (`master_ids`) as the heartbeats in the `nodes` hash say. The hash is read
/// at most once per `refreshInterval`; liveness is judged on every call against each
/// node's `expires_at`, so a dead node leaves the list on time even between reads.
package final class NodeDirectory: Sendable {
    private let broker: any Broker
    private let keys: FleetKeys
    private let refreshInterval: Duration
    private let cache = Mutex<(readAt: ContinuousClock.Instant, nodes: [NodeInfo])?>(nil)

    package init(broker: any Broker, keys: FleetKeys, refreshInterval: Duration = .milliseconds(250)) {
        self.broker = broker
        self.keys = keys
        self.refreshInterval = refreshInterval
    }

    /// Forgets the cached read when a node announces it joined or left, until cancelled.
    package func run() async {
        guard let subscription = try? await broker.subscribe(to: [keys.nodeEventsChannel]) else { return }
        await withTaskCancellationHandler {
            for await _ in subscription { cache.withLock { $0 = nil } }
        } onCancel: {
            subscription.cancel()
        }
    }

    /// The ids of the nodes alive now, sorted.
    package func liveNodes() async throws -> [String] {
        let now = ContinuousClock.now
        var nodes = cache.withLock { cached -> [NodeInfo]? in
            guard let cached, now - cached.readAt < refreshInterval else { return nil }
            return cached.nodes
        }
        if nodes == nil {
            let read = try await broker.hashGetAll(keys.nodes).values.compactMap { try? NodeInfo(decoding: $0) }
            cache.withLock { $0 = (now, read) }
            nodes = read
        }
        let epoch = epochMilliseconds()
        return (nodes ?? []).filter { $0.isAlive(at: epoch) }.map(\.id).sorted()
    }
}
