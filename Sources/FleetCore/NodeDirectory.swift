import BrokerCore
import Synchronization

/// The live nodes (`master_ids`) as the heartbeats in the `nodes` hash say. The hash is read
/// at most once per `refreshInterval`, and at once after a node announces that it joined or
/// left; liveness is judged on every call against each node's `expires_at`, so a dead node
/// leaves the list on time even between reads (see ``NodeRoster`` for what a read changes).
package final class NodeDirectory: Sendable {
    private let broker: any Broker
    private let keys: FleetKeys
    private let refreshInterval: Duration
    private let state = Mutex<(roster: NodeRoster, readAt: ContinuousClock.Instant?)>((NodeRoster(), nil))

    package init(broker: any Broker, keys: FleetKeys, refreshInterval: Duration = .milliseconds(250)) {
        self.broker = broker
        self.keys = keys
        self.refreshInterval = refreshInterval
    }

    /// Notes the nodes that announce they joined or left (and reads again), until cancelled.
    package func run() async {
        guard let subscription = try? await broker.subscribe(to: [keys.nodeEventsChannel]) else { return }
        await withTaskCancellationHandler {
            for await message in subscription {
                state.withLock { state in
                    state.roster.announce(message.payload)
                    state.readAt = nil
                }
            }
        } onCancel: {
            subscription.cancel()
        }
    }

    /// The ids of the nodes alive now, sorted.
    package func liveNodes() async throws -> [String] {
        let now = ContinuousClock.now
        let generation = state.withLock { state -> UInt64? in
            if let readAt = state.readAt, now - readAt < refreshInterval { return nil }
            return state.roster.generation
        }
        if let generation {
            let read = try await broker.hashGetAll(keys.nodes).values.compactMap { try? NodeInfo(decoding: $0) }
            let epoch = epochMilliseconds()
            state.withLock { state in
                state.roster.apply(read: read, startedAt: generation, now: epoch)
                state.readAt = now
            }
        }
        let epoch = epochMilliseconds()
        return state.withLock { $0.roster.live(at: epoch) }
    }
}
