import BrokerCore
import FleetCore
import FleetNode
import Hooks
import Hummingbird
import Logging
import NIOCore
import NIOWebSocket
import PusherCore
import Synchronization
import WebSocketCore

/// The Pusher Channels protocol (versions 5 to 7) on `ws://host:PORT/app/{key}`, so that
/// pusher-js, pysher and the other Pusher clients connect unchanged. Channels, presence
/// members and signed-in users are shared by the whole fleet through the broker; docs/pusher.md
/// describes what is supported and every error code.
package struct PusherProtocol: ClientProtocol {
    package struct Configuration: Sendable {
        package var apps: PusherApps
        /// Seconds of silence after which the server pings a client (sent in
        /// `connection_established`; clients ping after the same time).
        package var activityTimeout: Int = 120
        /// Seconds a pinged client has to answer before it is closed (4201).
        package var pongTimeout: Duration = .seconds(30)
        /// Channels one connection may be subscribed to (`MAX_CHANNELS_PER_CONNECTION`); a
        /// subscription past it gets `pusher:subscription_error` with status 429.
        package var maxChannelsPerConnection: Int = 100
        /// Protocol messages per second a connection may send besides client events
        /// (subscribe, unsubscribe, signin, ping), which have the app's own limit: over it
        /// they are refused with 4301, and a client that keeps on is closed with 4301.
        package var commandRate: Double = 20
        /// How webhook events are produced; nil: none (no app has webhooks).
        package var webhooks: PusherWebhookSettings?

        package init(
            apps: PusherApps, activityTimeout: Int = 120, pongTimeout: Duration = .seconds(30),
            maxChannelsPerConnection: Int = 100, commandRate: Double = 20
        ) {
            self.apps = apps
            self.activityTimeout = activityTimeout
            self.pongTimeout = pongTimeout
            self.maxChannelsPerConnection = maxChannelsPerConnection
            self.commandRate = commandRate
        }
    }

    package let configuration: Configuration
    let shared: Shared

    package init(configuration: Configuration) {
        self.configuration = configuration
        self.shared = Shared()
    }

    package var path: RouterPath { "/app/{key}" }
    package var name: String { "pusher" }

    /// The node-wide state every connection shares: the registry, and the writer made on
    /// first use (it needs the node's broker) with the deliveries to the node's sockets.
    final class Shared: Sendable {
        let registry = SharedRegistry()
        private let writer = Mutex<PusherWriter?>(nil)

        func writer(for node: NodeService, configuration: Configuration) -> PusherWriter {
            let (apps, webhooks) = (configuration.apps, configuration.webhooks)
            return writer.withLock { writer in
                if let writer { return writer }
                let keys = PusherKeys(prefix: node.configuration.prefix, sharded: node.broker.isSharded)
                let made = PusherWriter(
                    registry: registry, apps: apps, broker: node.broker, keys: keys,
                    nodeID: node.configuration.nodeID, directory: node.directory, logger: node.logger,
                    deliveries: SocketDeliveries(meter: node.meter(named: "pusher")),
                    hooks: webhooks.map {
                        PusherHooks(broker: node.broker, prefix: node.configuration.prefix, apps: apps, settings: $0, telemetry: node.telemetry, logger: node.logger)
                    }
                )
                writer = made
                return made
            }
        }
    }

    // MARK: ClientProtocol

    package func run(on node: NodeService) async {
        let writer = shared.writer(for: node, configuration: configuration)
        await withDiscardingTaskGroup { group in
            group.addTask { await writer.run() }
            group.addTask { await self.followControl(node: node, keys: writer.keys) }
            if let hooks = writer.hooks { group.addTask { await hooks.run() } }
        }
    }

    package func resync(on node: NodeService) {
        shared.writer(for: node, configuration: configuration).resync()
    }

    /// Terminations of a user's connections, for every node.
    private func followControl(node: NodeService, keys: PusherKeys) async {
        while !Task.isCancelled {
            do {
                let control = try await node.broker.subscribe(to: [keys.controlTopic])
                await withTaskCancellationHandler {
                    for await message in control {
                        guard case .terminate(let app, let user)? = PusherControl(decoding: message.payload) else { continue }
                        let endpoints = shared.registry.withLock { $0.endpoints(of: UserKey(app: app, user: user)) }
                        for endpoint in endpoints { endpoint.session.kick(.terminated) }
                    }
                } onCancel: {
                    control.cancel()
                }
                return
            } catch {
                node.logger.debug("pusher control topic not subscribed; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Removes what node `nodeID` wrote for Pusher: its counts, and its presence members and
    /// signed-in users, announcing `member_removed` (and users going offline) for those it
    /// was the last to hold.
    package func forgetNode(_ nodeID: String, on node: NodeService) async throws {
        let broker = node.broker
        let keys = PusherKeys(prefix: node.configuration.prefix, sharded: node.broker.isSharded)
        let hooks = shared.writer(for: node, configuration: configuration).hooks
        for app in try await broker.setMembers(keys.nodeApps(node: nodeID)).sorted() {
            let channels = try await broker.hashGetAll(keys.nodeChannels(app: app, node: nodeID))
            var presence = Set(channels.keys.filter { PusherChannel($0)?.isPresence == true })
            // Members written without their count (the node died in between) are found too.
            for key in try await broker.scanKeys(matching: keys.nodePresencePattern(app: app, node: nodeID)) {
                guard let channel = keys.channel(ofNodePresence: key, app: app, node: nodeID) else { continue }
                if PusherChannel(channel)?.isPresence == true { presence.insert(channel) }
            }
            var presenceGone: [(channel: String, users: [String])] = []
            for channel in presence.sorted() {
                let gone = try await broker.execute(.script(
                    MembershipScripts.nodeGone,
                    keys: [keys.presence(app: app, channel: channel), keys.nodePresence(app: app, channel: channel, node: nodeID)],
                    arguments: [nodeID]
                ))
                guard case .strings(let users) = gone else { continue }
                presenceGone.append((channel, users.sorted()))
                for user in users.sorted() {
                    let frame = PusherFrame.memberRemoved(channel: channel, userID: user)
                    try await broker.publish(PusherBusMessage(frame: frame).encoded, to: keys.channelTopic(app: app, channel: channel))
                }
            }
            try await hooks?.nodeGone(nodeID, app: app, presenceGone: presenceGone)
            let offline = try await broker.execute(.script(
                MembershipScripts.nodeGone, keys: [keys.users(app: app), keys.nodeUsers(app: app, node: nodeID)], arguments: [nodeID]
            ))
            if case .strings(let users) = offline {
                for user in users.sorted() { try await broker.publish("offline\n" + user, to: keys.userStatusTopic(app: app)) }
            }
            _ = try await broker.executeAtomicallyPerSlot([
                .delete(keys: [keys.nodeChannels(app: app, node: nodeID)]),
                .hashDelete(key: keys.connections(app: app), fields: [nodeID]),
            ])
        }
        _ = try await broker.execute(.delete(keys: [keys.nodeApps(node: nodeID)]))
        // This node stops in order: what it was the last to hold is announced before it goes.
        if nodeID == node.configuration.nodeID { await hooks?.confirmRemaining() }
    }

    // MARK: Connections

    package func session(for request: UpgradeRequest, on node: NodeService) -> any WebSocketDelegate {
        PusherSocketSession(request: request, node: node, writer: shared.writer(for: node, configuration: configuration), configuration: configuration)
    }

    /// `digits.digits`, about 80 random bits: unique across the fleet and over restarts.
    static func makeSocketID() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = UInt64.random(in: 1...999_999_999_999, using: &generator)
        let low = UInt64.random(in: 1...999_999_999_999, using: &generator)
        return "\(high).\(low)"
    }
}
