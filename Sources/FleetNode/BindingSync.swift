import BrokerCore
import FleetCore
import Logging
import Synchronization

/// Keeps the broker's copy of this node's bindings (`conns`, `conn:<_id>`, `user:<id>`,
/// `group:<g>`, `node:<id>:conns`) in step with the hub: changes are applied in the order
/// the hub made them, each in one MULTI/EXEC (one per hash slot on a Redis Cluster). A resync
/// (at start, after the broker reconnects, and a second after a write or resync failed)
/// removes what the broker holds for connections this node no longer has, and replaces what
/// it holds for each live connection with the hub's state. The retry after a failure matters
/// on a cluster, where one master can refuse writes for a while (a failover) without the
/// broker as a whole disconnecting.
final class BindingSync: Sendable {
    enum Item: Sendable {
        case change(BindingChange)
        case resync
    }

    private let broker: any Broker
    private let keys: FleetKeys
    private let nodeID: String
    private let sessionTTL: Duration
    private let logger: Logger
    private let items: AsyncStream<Item>
    private let continuation: AsyncStream<Item>.Continuation
    /// Whether a resync is already due after a failure (one at a time).
    private let retryScheduled = Mutex(false)

    init(broker: any Broker, keys: FleetKeys, nodeID: String, sessionTTL: Duration, logger: Logger) {
        self.broker = broker
        self.keys = keys
        self.nodeID = nodeID
        self.sessionTTL = sessionTTL
        self.logger = logger
        (items, continuation) = AsyncStream.makeStream(of: Item.self)
    }

    /// Queues a change; called under the hub's lock, so it only enqueues.
    func enqueue(_ change: BindingChange) { continuation.yield(.change(change)) }

    func requestResync() { continuation.yield(.resync) }

    /// Applies queued items until cancelled. `snapshots` gives the hub's current state.
    func run(snapshots: @escaping @Sendable () -> [ConnectionSnapshot]) async {
        await withTaskCancellationHandler {
            for await item in items {
                switch item {
                case .change(let change):
                    var commands = keys.commands(from: change.before, to: change.after)
                    if let token = change.awaySession, let before = change.before {
                        commands = SessionStore.suspendCommands(
                            token: token, connectionID: before.connectionID, id: before.id, groups: before.groups.sorted(),
                            keys: keys, ttl: sessionTTL
                        ) + commands
                    }
                    do {
                        _ = try await broker.executeAtomicallyPerSlot(commands)
                    } catch {
                        // The broker, or one master of a cluster, is unreachable: a resync repairs this.
                        logger.debug("binding not written", metadata: ["error": "\(error)"])
                        resyncLater()
                    }
                case .resync:
                    do {
                        try await resync(snapshots())
                    } catch {
                        logger.warning("binding resync failed; retried in a second", metadata: ["error": "\(error)"])
                        resyncLater()
                    }
                }
            }
        } onCancel: {
            continuation.finish()
        }
    }

    /// Queues a resync in a second, unless one is already waiting.
    private func resyncLater() {
        guard retryScheduled.withLock({ scheduled in defer { scheduled = true }; return !scheduled }) else { return }
        Task { [weak self] in
            try? await Task.sleep(for: .seconds(1))
            guard let self else { return }
            retryScheduled.withLock { $0 = false }
            continuation.yield(.resync)
        }
    }

    private func resync(_ live: [ConnectionSnapshot]) async throws {
        let recorded = try await broker.setMembers(keys.nodeConnections(nodeID))
        let liveIDs = Set(live.map(\.connectionID))
        var removed = 0
        for connectionID in recorded.subtracting(liveIDs) {
            try await NodeJanitor.forget(connectionID, of: nodeID, broker: broker, keys: keys, sessionTTL: sessionTTL)
            removed += 1
        }
        for snapshot in live {
            // Whatever the broker recorded for this connection may be stale (a change lost
            // while it was unreachable): remove it, then write the live state, in one step.
            let recorded = ConnectionSnapshot(connectionID: snapshot.connectionID, hash: try await broker.hashGetAll(keys.connection(snapshot.connectionID)))
            let commands = keys.commands(from: recorded, to: nil) + keys.commands(from: nil, to: snapshot)
            _ = try await broker.executeAtomicallyPerSlot(commands)
        }
        logger.info("bindings resynced", metadata: ["connections": "\(live.count)", "stale_removed": "\(removed)"])
    }
}
