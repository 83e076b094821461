import BrokerCore
import FleetCore
import FleetHTTP
import Foundation
import Logging
import NIOCore
import Observability
import ServiceLifecycle
import Synchronization

// public (init, events(), services(), hub): the embedding example of docs/protocol.md.
/// A WebSocket node: the hub of local connections, their bindings mirrored to the broker, a
/// heartbeat, a share of the janitor's work, and the calls that arrive on the bus.
public final class NodeService: Sendable {
    package let configuration: NodeConfiguration
    public let hub: NodeHub
    /// The broker, for client protocols that keep state of their own in it.
    package let broker: any Broker
    let keys: FleetKeys
    package let logger: Logger
    let startedAt = epochMilliseconds()
    let sync: BindingSync
    let eventHub: NodeEventHub
    let mailboxes: MailboxWriter
    let protocols: [any ClientProtocol]
    /// The live nodes, for client protocols.
    package let directory: NodeDirectory
    /// Where the node is in its life: its bus requester exists only while it runs, and its
    /// server waits until it does.
    let lifecycle = LifecycleState<BrokerRequester>()
    /// The port the server listens on (the configured one until it does).
    let boundPort: Atomic<Int>
    /// Whether a heartbeat was written before (the first one always finds no key).
    let hasBeaten = Atomic<Bool>(false)
    /// When the last heartbeat was written (epoch ms; 0: never).
    let lastBeat = Atomic<Int64>(0)
    /// The process's metrics (shared with a gateway in the same process).
    package let telemetry: Telemetry
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
        self.keys = FleetKeys(prefix: configuration.prefix, sharded: broker.isSharded)
        self.logger = logger
        self.boundPort = Atomic(configuration.port)
        self.directory = NodeDirectory(broker: broker, keys: keys)
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
        hub.describe(["version": .string(wscenterVersion)])
    }

    /// The node as the services of a `ServiceGroup`, in order: its HTTP server, then the node.
    ///
    /// A group shuts its services down in reverse order, one after the other. So on a graceful
    /// shutdown (SIGTERM) the node drains first — `/readyz` answers 503 and upgrades are
    /// refused, every WebSocket is closed with 1012, the sessions away here are handed over,
    /// the node leaves the fleet — while its server still answers; only then does the server
    /// stop. Cancelling the group stops both at once. The broker must run (and stop) outside
    /// these services: before them in the same group, or around it.
    /// - Parameter onListening: told the WebSocket port once the server listens, which is
    ///   once the node has joined the fleet.
    public func services(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) -> [any Service] {
        [NodeServer(node: self, onListening: onListening), self]
    }
}

extension NodeService: Service {
    /// Runs the node's own work — the bus and its calls, the heartbeat, the janitor's share,
    /// the bindings and recordings written to the broker, the client protocols' work — once
    /// the broker has connected; its HTTP server is a service of its own (see
    /// ``services(onListening:)``).
    ///
    /// On a graceful shutdown the node drains (``drain(within:)``, at most
    /// ``NodeConfiguration/drainTimeout``), hands the sessions away here to another node, then
    /// leaves the fleet's view and returns. Cancelled, it stops at once and leaves its traces
    /// for the janitor of another node, as a node that died would.
    public func run() async throws {
        defer { lifecycle.stop() }
        guard await broker.waitUntilConnected() else { return }
        let bus = try await broker.subscribe(to: keys.broadcastChannels + [keys.nodeChannel(configuration.nodeID)])
        defer { bus.cancel() }
        let events = broker.events()
        let linkEvents = broker.events()
        let requester = try await BrokerRequester.start(broker: broker, replyChannel: keys.replyChannel(configuration.nodeID))
        sync.requestResync()
        try await beat()
        _ = try? await broker.publish(configuration.nodeID, to: keys.nodeEventsChannel)
        let drained = await withDiscardingTaskGroup { group -> Bool in
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
            // The node has joined the fleet: its server may listen.
            self.lifecycle.start(requester)
            defer {
                bus.cancel()
                group.cancelAll()
            }
            // Until the group shuts the node down. Throughout the drain the node still beats,
            // answers calls and session claims, and records for the sessions turning away.
            guard (try? await gracefulShutdown()) != nil else { return false }
            await drain(within: configuration.drainTimeout)
            // Every WebSocket has closed: another node takes over recording for the sessions
            // away here (this node's recordings for them are written first).
            await handOverAwaySessions()
            return true
        }
        if drained { await leave() }
    }
}

extension NodeService {
    /// The bus requester, or nil when the node is not running.
    var requester: BrokerRequester? { lifecycle.running }
}
