import BrokerCore
import FleetCore
import Foundation
import Logging
import NIOCore
import Observability
import Synchronization

/// A WebSocket node: the hub of local connections, their bindings mirrored to the broker, a
/// heartbeat, a share of the janitor's work, and the calls that arrive on the bus.
public final class NodeService: Sendable {
    public let configuration: NodeConfiguration
    public let hub: NodeHub
    /// The broker, for client protocols that keep state of their own in it.
    public let broker: any Broker
    let keys: FleetKeys
    public let logger: Logger
    let startedAt = epochMilliseconds()
    let sync: BindingSync
    let eventHub: NodeEventHub
    let mailboxes: MailboxWriter
    let protocols: [any ClientProtocol]
    /// The live nodes, for client protocols.
    public let directory: NodeDirectory
    /// Where the node is in its life; what exists only while it runs lives in the state.
    let lifecycle = Mutex(Lifecycle.idle)
    /// The port the server listens on (the configured one until it does).
    let boundPort: Atomic<Int>
    /// Whether a heartbeat was written before (the first one always finds no key).
    let hasBeaten = Atomic<Bool>(false)
    /// When the last heartbeat was written (epoch ms; 0: never).
    let lastBeat = Atomic<Int64>(0)
    /// The process's metrics (shared with a gateway in the same process).
    public let telemetry: Telemetry
    /// WebSocket metrics by protocol name.
    let meters: [String: SocketMeter]
    /// The open WebSockets, for the drain.
    let sockets: SocketTracker
    /// The checks of every upgrade request, and the count of connections against the limits.
    let upgradeGate: UpgradeGate
    /// Whether the broker's links are up, for readiness.
    let brokerLink = BrokerLinkState()

    /// - Parameter protocols: the client protocols this node serves, each on its own path.
    public init(
        configuration: NodeConfiguration, broker: any Broker, logger: Logger, protocols: [any ClientProtocol],
        telemetry: Telemetry = Telemetry()
    ) {
        self.protocols = protocols
        let sockets = SocketTracker()
        self.sockets = sockets
        self.upgradeGate = UpgradeGate(protocols: protocols, configuration: configuration) { sockets.isDraining }
        self.telemetry = telemetry
        let meters = Dictionary(
            protocols.map { ($0.name, SocketMeter(protocol: $0.name, telemetry: telemetry)) }, uniquingKeysWith: { first, _ in first }
        )
        self.meters = meters
        self.configuration = configuration
        self.broker = broker
        self.keys = FleetKeys(prefix: configuration.prefix)
        self.logger = logger
        self.boundPort = Atomic(configuration.port)
        self.directory = NodeDirectory(broker: broker, keys: FleetKeys(prefix: configuration.prefix))
        let sync = BindingSync(broker: broker, keys: keys, nodeID: configuration.nodeID, sessionTTL: configuration.reconnectionTTL, logger: logger)
        let eventHub = NodeEventHub()
        let mailboxes = MailboxWriter(broker: broker, keys: keys, ttl: configuration.reconnectionTTL, logger: logger)
        self.sync = sync
        self.eventHub = eventHub
        self.mailboxes = mailboxes
        self.hub = NodeHub(
            nodeID: configuration.nodeID,
            awayTTL: configuration.reconnectionTTL,
            awayLimits: configuration.awayLimits,
            onChange: { change in
                sync.enqueue(change)
                eventHub.publish(change)
            },
            onRecord: { mailboxes.enqueue($0) },
            onDiscard: { mailboxes.discard($0) },
            meter: meters["native"]
        )
    }

    /// Runs the node until cancelled. The broker must already be running.
    /// - Parameter onListening: told the WebSocket port once the server listens.
    public func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let bus = try await broker.subscribe(to: [keys.broadcastChannel, keys.nodeChannel(configuration.nodeID)])
        let events = broker.events()
        let linkEvents = broker.events()
        let requester = try await BrokerRequester.start(broker: broker, replyChannel: keys.replyChannel(configuration.nodeID))
        lifecycle.withLock { $0 = .running(requester) }
        sync.requestResync()
        try await beat()
        _ = try? await broker.publish(configuration.nodeID, to: keys.nodeEventsChannel)
        // The node's background work runs in a task of its own: stopping the node (cancelling
        // this task) first stops the server gracefully, and the bus, the writers and the
        // heartbeat keep going until the sessions away here are handed over.
        let background = Task {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.sync.run(snapshots: { self.hub.snapshots() }) }
                group.addTask { await self.mailboxes.run() }
                // On the broker's thread: calls arrive, run and are answered there.
                group.addTask(executorPreference: self.broker.preferredTaskExecutor) { await self.serveCalls(bus) }
                group.addTask(executorPreference: self.broker.preferredTaskExecutor) { await requester.run() }
                group.addTask { await self.directory.run() }
                group.addTask { await self.heartbeatLoop() }
                group.addTask { await self.janitorLoop() }
                group.addTask { await self.brokerLink.follow(linkEvents) }
                for clientProtocol in self.protocols {
                    group.addTask { await clientProtocol.run(on: self) }
                }
                group.addTask {
                    for await event in events where event == .reconnected {
                        self.logger.info("broker reconnected: rewriting heartbeat and bindings")
                        // A heartbeat that finds its key gone asks for the resync itself.
                        if (try? await self.beat()) != true { self.requestResync() }
                    }
                }
            }
        }
        var failure: (any Error)?
        do {
            try await NodeServer(service: self, protocols: protocols).run(onListening: onListening)
        } catch {
            failure = error
        }
        // The server has stopped and its connections have ended. Outside this (cancelled) task:
        // another node takes over recording for the sessions away here, then this node leaves
        // the fleet's view.
        await Task {
            await self.handOverAwaySessions()
            bus.cancel()
            background.cancel()
            await background.value
            await self.leave()
        }.value
        lifecycle.withLock { $0 = .stopped }
        if let failure { throw failure }
    }
}

extension NodeService {
    /// The node's life: idle until ``run(onListening:)`` has its bus requester, running (the
    /// drain happens while running: the node still answers calls and claims), stopped once
    /// it has left the fleet.
    enum Lifecycle: Sendable {
        case idle
        case running(BrokerRequester)
        case stopped

        /// The requester of a running node.
        var requester: BrokerRequester? {
            if case .running(let requester) = self { requester } else { nil }
        }
    }

    /// The bus requester, or nil when the node is not running.
    var requester: BrokerRequester? { lifecycle.withLock { $0.requester } }
}
