import BrokerCore
import FleetCore
import FleetNode
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import PusherCore
import Synchronization

/// The Pusher Channels protocol (versions 5 to 7) on `ws://host:PORT/app/{key}`, so that
/// pusher-js, pysher and the other Pusher clients connect unchanged. Channels, presence
/// members and signed-in users are shared by the whole fleet through the broker; docs/pusher.md
/// describes what is supported and every error code.
public struct PusherProtocol: AsyncClientProtocol {
    public struct Configuration: Sendable {
        public var apps: PusherApps
        /// Seconds of silence after which the server pings a client (sent in
        /// `connection_established`; clients ping after the same time).
        public var activityTimeout: Int = 120
        /// Seconds a pinged client has to answer before it is closed (4201).
        public var pongTimeout: Duration = .seconds(30)
        /// Channels one connection may be subscribed to (`MAX_CHANNELS_PER_CONNECTION`); a
        /// subscription past it gets `pusher:subscription_error` with status 429.
        public var maxChannelsPerConnection: Int = 100
        /// Protocol messages per second a connection may send besides client events
        /// (subscribe, unsubscribe, signin, ping), which have the app's own limit: over it
        /// they are refused with 4301, and a client that keeps on is closed with 4301.
        public var commandRate: Double = 20

        public init(
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

    public let configuration: Configuration
    let shared: Shared

    public init(configuration: Configuration) {
        self.configuration = configuration
        self.shared = Shared()
    }

    public var path: RouterPath { "/app/{key}" }
    public var name: String { "pusher" }

    /// The node-wide state every connection shares: the registry, and the writer made on
    /// first use (it needs the node's broker).
    final class Shared: Sendable {
        let registry = SharedRegistry()
        private let writer = Mutex<PusherWriter?>(nil)

        func writer(for node: NodeService, apps: PusherApps) -> PusherWriter {
            writer.withLock { writer in
                if let writer { return writer }
                let made = PusherWriter(
                    registry: registry, apps: apps, broker: node.broker, keys: PusherKeys(prefix: node.configuration.prefix),
                    nodeID: node.configuration.nodeID, directory: node.directory, logger: node.logger
                )
                writer = made
                return made
            }
        }
    }

    // MARK: ClientProtocol

    public func run(on node: NodeService) async {
        let writer = shared.writer(for: node, apps: configuration.apps)
        await withDiscardingTaskGroup { group in
            group.addTask { await writer.run() }
            group.addTask { await self.followControl(node: node, keys: writer.keys) }
        }
    }

    public func resync(on node: NodeService) {
        shared.writer(for: node, apps: configuration.apps).resync()
    }

    /// Terminations of a user's connections, for every node.
    private func followControl(node: NodeService, keys: PusherKeys) async {
        while !Task.isCancelled {
            do {
                let control = try await node.broker.subscribe(to: [keys.controlTopic])
                await withTaskCancellationHandler {
                    for await message in control {
                        guard case .terminate(let app, let user)? = PusherControl(decoding: message.payload) else { continue }
                        let kicks = shared.registry.withLock { $0.kicks(of: UserKey(app: app, user: user)) }
                        for kick in kicks { kick.fire(.terminated) }
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
    public func forgetNode(_ nodeID: String, on node: NodeService) async throws {
        let broker = node.broker
        let keys = PusherKeys(prefix: node.configuration.prefix)
        for app in try await broker.setMembers(keys.nodeApps(node: nodeID)).sorted() {
            let channels = try await broker.hashGetAll(keys.nodeChannels(app: app, node: nodeID))
            var presence = Set(channels.keys.filter { PusherChannel($0)?.isPresence == true })
            // Members written without their count (the node died in between) are found too.
            let prefix = keys.presence(app: app, channel: "")
            let suffix = ":node:" + nodeID
            for key in try await broker.scanKeys(matching: Self.globEscaped(prefix) + "*" + Self.globEscaped(suffix)) {
                let channel = String(key.dropFirst(prefix.count).dropLast(suffix.count))
                if PusherChannel(channel)?.isPresence == true { presence.insert(channel) }
            }
            for channel in presence.sorted() {
                let gone = try await broker.execute(.script(
                    MembershipScripts.nodeGone,
                    keys: [keys.presence(app: app, channel: channel), keys.nodePresence(app: app, channel: channel, node: nodeID)],
                    arguments: [nodeID]
                ))
                guard case .strings(let users) = gone else { continue }
                for user in users.sorted() {
                    let frame = PusherFrame.memberRemoved(channel: channel, userID: user)
                    try await broker.publish(PusherBusMessage(frame: frame).encoded, to: keys.channelTopic(app: app, channel: channel))
                }
            }
            let offline = try await broker.execute(.script(
                MembershipScripts.nodeGone, keys: [keys.users(app: app), keys.nodeUsers(app: app, node: nodeID)], arguments: [nodeID]
            ))
            if case .strings(let users) = offline {
                for user in users.sorted() { try await broker.publish("offline\n" + user, to: keys.userStatusTopic(app: app)) }
            }
            _ = try await broker.execute([
                .delete(keys: [keys.nodeChannels(app: app, node: nodeID)]),
                .hashDelete(key: keys.connections(app: app), fields: [nodeID]),
            ], atomically: true)
        }
        _ = try await broker.execute(.delete(keys: [keys.nodeApps(node: nodeID)]))
    }

    static func globEscaped(_ text: String) -> String {
        var out = ""
        for character in text {
            if "*?[]\\".contains(character) { out.append("\\") }
            out.append(character)
        }
        return out
    }

    // MARK: Connections

    public func serve(_ socket: ClientSocket, on node: NodeService) async throws {
        let writer = shared.writer(for: node, apps: configuration.apps)
        let outbox = Outbox(limit: node.configuration.outboxLimit, maxBytes: node.configuration.outboxMaxBytes) {
            socket.cut()
        }
        let closing = CloseRequest()
        // On a drain the client is told, as Pusher's servers tell it, to reconnect at once
        // (4200) before the close (1012).
        let restart = ByteBuffer(string: PusherFrame.error(4200, "Server is restarting: reconnect"))
        try await node.runSocket(socket, outbox: outbox, closing: closing, onDrain: { outbox.send(restart) }) {
            let close = try await connect(socket, outbox: outbox, node: node, writer: writer)
            if let close {
                outbox.send(ByteBuffer(string: PusherFrame.error(close.code, close.message)))
                closing.request(WebSocketErrorCode(codeNumber: close.code), reason: close.message)
            }
        }
    }

    /// Admits the connection, serves it, and forgets it; returns why the server ends it, or
    /// throws why the WebSocket layer did (see ``PusherSession/run(_:)``).
    private func connect(_ socket: ClientSocket, outbox: Outbox, node: NodeService, writer: PusherWriter) async throws -> PusherClose? {
        let key = socket.request.uri.path.split(separator: "/").last.map(String.init) ?? ""
        guard let app = configuration.apps.app(key: key) else { return .unknownApp(key) }
        guard app.enabled else { return .appDisabled }
        let version = socket.request.uri.queryParameters.get("protocol") ?? "7"
        guard let number = Int(version), (5...7).contains(number) else { return .unsupportedProtocol(version) }
        if app.maxConnections > 0 {
            do {
                guard try await connectionCount(app: app, node: node) < app.maxConnections else { return .overQuota }
            } catch {
                return PusherClose(code: 4200, message: "Service unavailable, reconnect later")
            }
        }
        let socketID = Self.makeSocketID()
        let kick = Kick()
        guard shared.registry.withLock({ $0.add(socketID: socketID, app: app.id, outbox: outbox, kick: kick) }) else {
            return PusherClose(code: 4200, message: "Socket id taken, reconnect")
        }
        writer.enqueue([.connections(app.id)])
        outbox.send(ByteBuffer(string: PusherFrame.connectionEstablished(socketID: socketID, activityTimeout: configuration.activityTimeout)))
        let session = PusherSession(
            socketID: socketID, app: app, outbox: outbox, kick: kick, node: node, writer: writer, configuration: configuration
        )
        let ending: Result<PusherClose?, any Error>
        do {
            ending = .success(try await session.run(socket.messages))
        } catch {
            ending = .failure(error)
        }
        if let removal = shared.registry.withLock({ $0.remove(socketID: socketID) }) {
            var items: [PusherWriter.Item] = removal.channels.map { .channel($0) } + removal.members.map { .member($0) }
            if let user = removal.user { items.append(.user(user)) }
            if !removal.watched.isEmpty { items.append(.userStatus(app.id)) }
            items.append(.connections(app.id))
            writer.enqueue(items)
        }
        return try ending.get()
    }

    /// The app's connections across the fleet: this node's from memory, the others' from the broker.
    private func connectionCount(app: PusherApp, node: NodeService) async throws -> Int {
        let nodes = try await node.directory.liveNodes().filter { $0 != node.configuration.nodeID }
        let others = try await shared.writer(for: node, apps: configuration.apps).fleetState.connectionCount(app: app.id, nodes: nodes)
        return others + shared.registry.withLock { $0.appConnections[app.id] ?? 0 }
    }

    /// `digits.digits`, about 80 random bits: unique across the fleet and over restarts.
    static func makeSocketID() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = UInt64.random(in: 1...999_999_999_999, using: &generator)
        let low = UInt64.random(in: 1...999_999_999_999, using: &generator)
        return "\(high).\(low)"
    }
}
