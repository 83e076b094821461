import BrokerCore
import FleetCore
import FleetNode
import Hooks
import Logging
import NIOCore
import PusherCore
import Synchronization
import WebSocketCore

/// Keeps the broker in step with this node's ``PusherRegistry``, one item at a time, in order:
/// the channel topics the node listens to, its subscription counts, its presence members and
/// signed-in users (through the membership scripts, which decide "first join" and "last leave"
/// fleet-wide), its connection counts; and it publishes what those decisions call for
/// (`member_added`, `member_removed`, users going online or offline, subscription counts).
///
/// Items name *what* to reconcile, not what happened: processing one reads the registry as it
/// is then and writes the difference from what this node last wrote. So items coalesce (a
/// burst of 5,000 subscribes to one channel is a few writes), and their order cannot leave
/// the broker behind the registry.
final class PusherWriter: Sendable {
    enum Item: Hashable, Sendable {
        /// The channel's topic subscription, and this node's subscription count of it.
        case channel(ChannelKey)
        /// A user's membership of a presence channel.
        case member(MemberKey)
        /// A signed-in user.
        case user(UserKey)
        /// The app's connection count on this node.
        case connections(String)
        /// The app's user status topic (listened to while some connection watches users).
        case userStatus(String)
        /// A `pusher_internal:subscription_count` event for the channel (throttled).
        case countEvent(ChannelKey)
    }

    /// What happened to an item a caller waited for.
    enum Outcome: Sendable, Equatable {
        case done
        /// The presence channel was full: the member was not added.
        case full
        /// The broker failed; the item will be retried.
        case failed
    }

    private struct Queue {
        var order: [Item] = []
        var head = 0
        var pending: [Item: [CheckedContinuation<Outcome, Never>]] = [:]
    }

    /// What this node last wrote to the broker; touched by the writer task only (the lock is
    /// for Sendable's sake).
    private struct Written {
        var counts: [ChannelKey: Int] = [:]
        var topics: [ChannelKey: BrokerSubscription] = [:]
        var members: Set<MemberKey> = []
        var users: Set<UserKey> = []
        var connections: [String: Int] = [:]
        var apps: Set<String> = []
        var statusTopics: [String: BrokerSubscription] = [:]
        var lastCountEvent: [ChannelKey: ContinuousClock.Instant] = [:]
        var delayedCountEvents: Set<ChannelKey> = []
        /// Items queued by a resync: rewriting what the broker lost announces nothing.
        var silent: Set<Item> = []
    }

    let registry: SharedRegistry
    let apps: PusherApps
    let broker: any Broker
    let keys: PusherKeys
    let nodeID: String
    let directory: NodeDirectory
    let logger: Logger
    /// Writes channel events to the local subscribers, batched per event loop.
    let deliveries: SocketDeliveries
    /// Decides and queues the webhook events, when webhooks are configured.
    let hooks: PusherHooks?
    /// Who joined a presence channel last, so that its own `member_added` skips it.
    private let joiners = Mutex<[MemberKey: String]>([:])
    private let queue = Mutex(Queue())
    private let written = Mutex(Written())
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    /// The fleet-wide reads, on this writer's broker and keys.
    var fleetState: PusherFleetState { PusherFleetState(broker: broker, keys: keys) }
    /// The least time between two subscription count events of one channel.
    static let countEventInterval: Duration = .seconds(1)
    /// How long a cache channel keeps its last event.
    static let cacheTTL: Duration = .seconds(1800)

    init(
        registry: SharedRegistry, apps: PusherApps, broker: any Broker, keys: PusherKeys, nodeID: String,
        directory: NodeDirectory, logger: Logger, deliveries: SocketDeliveries, hooks: PusherHooks? = nil
    ) {
        self.hooks = hooks
        self.registry = registry
        self.apps = apps
        self.broker = broker
        self.keys = keys
        self.nodeID = nodeID
        self.directory = directory
        self.logger = logger
        self.deliveries = deliveries
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    // MARK: Queueing

    /// Queues items (each once while it waits) without waiting for them.
    func enqueue(_ items: [Item]) {
        queue.withLock { queue in
            for item in items where queue.pending[item] == nil {
                queue.pending[item] = []
                queue.order.append(item)
            }
        }
        wake.yield()
    }

    /// Queues `item` and waits until it has been processed.
    func sync(_ item: Item) async -> Outcome {
        await withCheckedContinuation { continuation in
            queue.withLock { queue in
                if queue.pending[item] == nil { queue.order.append(item) }
                queue.pending[item, default: []].append(continuation)
            }
            wake.yield()
        }
    }

    /// Notes the connection whose presence join is being synced: the `member_added` it causes
    /// does not go back to it.
    func noteJoiner(_ socketID: String, of member: MemberKey) {
        joiners.withLock { $0[member] = socketID }
    }

    private func dequeue() -> (Item, [CheckedContinuation<Outcome, Never>])? {
        queue.withLock { queue in
            guard queue.head < queue.order.count else {
                queue.order.removeAll(keepingCapacity: true)
                queue.head = 0
                return nil
            }
            let item = queue.order[queue.head]
            queue.head += 1
            if queue.head > 1024, queue.head * 2 > queue.order.count {
                queue.order.removeFirst(queue.head)
                queue.head = 0
            }
            let waiters = queue.pending.removeValue(forKey: item) ?? []
            return (item, waiters)
        }
    }

    /// Processes items until cancelled; then stops listening to every topic.
    func run() async {
        await withTaskCancellationHandler {
            await withDiscardingTaskGroup { group in
                for await _ in wakeups {
                    while let (item, waiters) = dequeue() {
                        let outcome = await process(item, consumers: &group)
                        for waiter in waiters { waiter.resume(returning: outcome) }
                        if outcome == .failed { retryLater(item) }
                    }
                }
                let topics = written.withLock { written in
                    defer { written.topics = [:]; written.statusTopics = [:] }
                    return Array(written.topics.values) + Array(written.statusTopics.values)
                }
                for topic in topics { topic.cancel() }
            }
        } onCancel: {
            wake.finish()
        }
        // Whoever still waits is told the writer has stopped.
        let left = queue.withLock { queue in
            defer { queue.pending = [:] }
            return queue.pending.values.flatMap { $0 }
        }
        for waiter in left { waiter.resume(returning: .failed) }
    }

    private func retryLater(_ item: Item) {
        Task {
            try? await Task.sleep(for: .milliseconds(500))
            self.enqueue([item])
        }
    }

    /// The broker lost this node's writes: forget what was written and reconcile everything.
    func resync() {
        let (channels, members, users, apps) = registry.withLock { ($0.allChannels, $0.allMembers, $0.allUsers, $0.apps) }
        let items = channels.map(Item.channel) + members.map(Item.member) + users.map(Item.user) + apps.map(Item.connections)
        written.withLock { written in
            written.counts = [:]
            written.members = []
            written.users = []
            written.connections = [:]
            written.apps = []
            written.silent.formUnion(items)
        }
        enqueue(items)
    }

    // MARK: Processing

    private func process(_ item: Item, consumers: inout DiscardingTaskGroup) async -> Outcome {
        let silent = written.withLock { $0.silent.remove(item) != nil }
        do {
            switch item {
            case .channel(let key):
                try await reconcileChannel(key, consumers: &consumers)
            case .member(let key):
                return try await reconcileMember(key, silent: silent)
            case .user(let key):
                try await reconcileUser(key, silent: silent)
            case .connections(let app):
                try await reconcileConnections(app)
            case .userStatus(let app):
                try await reconcileUserStatus(app, consumers: &consumers)
            case .countEvent(let key):
                try await publishCount(key)
            }
            return .done
        } catch is CancellationError {
            return .failed
        } catch {
            logger.debug("pusher state not written", metadata: ["item": "\(item)", "error": "\(error)"])
            return .failed
        }
    }

    private func noteApp(_ app: String) async throws {
        guard !written.withLock({ $0.apps.contains(app) }) else { return }
        _ = try await broker.execute(.setAdd(key: keys.nodeApps(node: nodeID), members: [app]))
        written.withLock { _ = $0.apps.insert(app) }
    }

    private func reconcileChannel(_ key: ChannelKey, consumers: inout DiscardingTaskGroup) async throws {
        let count = registry.withLock { $0.subscriberCount(key) }
        // The topic first: once a subscribe is acknowledged, its events must arrive.
        let topic = written.withLock { $0.topics[key] }
        if count > 0, topic == nil {
            let subscription = try await broker.subscribe(to: [keys.channelTopic(app: key.app, channel: key.channel)])
            written.withLock { $0.topics[key] = subscription }
            consumers.addTask { await self.deliver(subscription, to: key) }
        } else if count == 0, let topic {
            topic.cancel()
            written.withLock { $0.topics[key] = nil }
        }
        let before = written.withLock { $0.counts[key] ?? 0 }
        guard before != count else { return }
        try await noteApp(key.app)
        let hash = keys.nodeChannels(app: key.app, node: nodeID)
        if count > 0 {
            _ = try await broker.execute(.hashSet(key: hash, fields: [key.channel: String(count)]))
            if before == 0 { try await hooks?.channelOccupied(app: key.app, channel: key.channel, node: nodeID) }
        } else {
            _ = try await broker.execute(.hashDelete(key: hash, fields: [key.channel]))
            try await hooks?.channelLeft(app: key.app, channel: key.channel, node: nodeID)
        }
        written.withLock { $0.counts[key] = count > 0 ? count : nil }
        // A new subscriber's count event is queued by its session once it has its
        // subscription_succeeded; fewer subscribers are announced from here.
        if count < before { enqueueCountEvent(key) }
    }

    private func reconcileMember(_ key: MemberKey, silent: Bool) async throws -> Outcome {
        let info = registry.withLock { $0.localMember(key) }
        let wasWritten = written.withLock { $0.members.contains(key) }
        let fleet = keys.presence(app: key.app, channel: key.channel)
        let local = keys.nodePresence(app: key.app, channel: key.channel, node: nodeID)
        let topic = keys.channelTopic(app: key.app, channel: key.channel)
        // With member webhooks, the marked scripts: a last leave waits to be announced.
        let marker = silent ? nil : hooks?.memberMarker(app: key.app, channel: key.channel, user: key.user)
        if let info, !wasWritten {
            try await noteApp(key.app)
            let limit = apps.app(id: key.app)?.maxPresenceMembers ?? 100
            let result = try await broker.execute(marker.map { marker in
                .script(MembershipScripts.joinCallingOffLeave, keys: [fleet, local, marker], arguments: [key.user, nodeID, info, String(limit)])
            } ?? .script(MembershipScripts.join, keys: [fleet, local], arguments: [key.user, nodeID, info, String(limit)]))
            if result == .int(-1) { return .full }
            written.withLock { _ = $0.members.insert(key) }
            let joiner = joiners.withLock { $0.removeValue(forKey: key) }
            // 2: new fleet-wide, back before its leave was announced to webhooks; clients saw it go.
            if result == .int(1) || result == .int(2), !silent {
                let frame = PusherFrame.memberAdded(channel: key.channel, userID: key.user, info: info)
                try await broker.publish(PusherBusMessage(frame: frame, excluding: joiner).encoded, to: topic)
                try await hooks?.memberJoined(app: key.app, channel: key.channel, user: key.user, result: result)
            }
        } else if info == nil, wasWritten {
            let token = HookEvent.makeToken()
            let result = try await broker.execute(marker.map { marker in
                .script(
                    MembershipScripts.leaveMarkingPending, keys: [fleet, local, marker],
                    arguments: [key.user, nodeID, token, String(hooks?.markerTTL ?? 10_000)]
                )
            } ?? .script(MembershipScripts.leave, keys: [fleet, local], arguments: [key.user, nodeID]))
            written.withLock { _ = $0.members.remove(key) }
            if result == .int(1), !silent {
                let frame = PusherFrame.memberRemoved(channel: key.channel, userID: key.user)
                try await broker.publish(PusherBusMessage(frame: frame).encoded, to: topic)
                if marker != nil { hooks?.memberLeft(app: key.app, channel: key.channel, user: key.user, token: token) }
            }
        }
        return .done
    }

    private func reconcileUser(_ key: UserKey, silent: Bool) async throws {
        let signedIn = registry.withLock { $0.isSignedIn(key) }
        let wasWritten = written.withLock { $0.users.contains(key) }
        let fleet = keys.users(app: key.app)
        let local = keys.nodeUsers(app: key.app, node: nodeID)
        if signedIn, !wasWritten {
            try await noteApp(key.app)
            let result = try await broker.execute(.script(MembershipScripts.join, keys: [fleet, local], arguments: [key.user, nodeID, "", "0"]))
            written.withLock { _ = $0.users.insert(key) }
            if result == .int(1), !silent { try await broker.publish("online\n" + key.user, to: keys.userStatusTopic(app: key.app)) }
        } else if !signedIn, wasWritten {
            let result = try await broker.execute(.script(MembershipScripts.leave, keys: [fleet, local], arguments: [key.user, nodeID]))
            written.withLock { _ = $0.users.remove(key) }
            if result == .int(1), !silent { try await broker.publish("offline\n" + key.user, to: keys.userStatusTopic(app: key.app)) }
        }
    }

    private func reconcileConnections(_ app: String) async throws {
        let count = registry.withLock { $0.appConnections[app] ?? 0 }
        guard written.withLock({ $0.connections[app] ?? 0 }) != count else { return }
        try await noteApp(app)
        if count > 0 {
            _ = try await broker.execute(.hashSet(key: keys.connections(app: app), fields: [nodeID: String(count)]))
        } else {
            _ = try await broker.execute(.hashDelete(key: keys.connections(app: app), fields: [nodeID]))
        }
        written.withLock { $0.connections[app] = count > 0 ? count : nil }
    }

    private func reconcileUserStatus(_ app: String, consumers: inout DiscardingTaskGroup) async throws {
        let wanted = registry.withLock { $0.hasWatchers(app: app) }
        let topic = written.withLock { $0.statusTopics[app] }
        if wanted, topic == nil {
            let subscription = try await broker.subscribe(to: [keys.userStatusTopic(app: app)])
            written.withLock { $0.statusTopics[app] = subscription }
            consumers.addTask { await self.deliverStatus(subscription, app: app) }
        } else if !wanted, let topic {
            topic.cancel()
            written.withLock { $0.statusTopics[app] = nil }
        }
    }

    /// Queues a subscription count event for the channel, if its app wants them.
    func enqueueCountEvent(_ key: ChannelKey) {
        guard apps.app(id: key.app)?.enableSubscriptionCount == true, PusherChannel(key.channel)?.isPresence == false else { return }
        enqueue([.countEvent(key)])
    }

    private func publishCount(_ key: ChannelKey) async throws {
        let now = ContinuousClock.now
        let wait: Duration? = written.withLock { written in
            guard let last = written.lastCountEvent[key], now - last < Self.countEventInterval else { return nil }
            guard written.delayedCountEvents.insert(key).inserted else { return .zero }  // one is scheduled already
            return Self.countEventInterval - (now - last)
        }
        if let wait {
            if wait > .zero {
                Task {
                    try? await Task.sleep(for: wait)
                    self.written.withLock { _ = $0.delayedCountEvents.remove(key) }
                    self.enqueue([.countEvent(key)])
                }
            }
            return
        }
        written.withLock { $0.lastCountEvent[key] = now }
        let nodes = try await directory.liveNodes()
        let count = try await fleetState.subscriptionCount(app: key.app, channel: key.channel, nodes: nodes)
        let frame = PusherFrame.subscriptionCount(channel: key.channel, count: count)
        try await broker.publish(PusherBusMessage(frame: frame).encoded, to: keys.channelTopic(app: key.app, channel: key.channel))
        try await hooks?.subscriptionCount(app: key.app, channel: key.channel, count: count)
    }

    // MARK: Delivery

    /// Writes every event of a channel's topic to the channel's local subscribers: the frame
    /// encoded once for all of them, one hop per event loop (``SocketDeliveries``). Queued
    /// under the registry's lock, so that a connection that leaves afterwards gets nothing
    /// queued after its leaving.
    private func deliver(_ subscription: BrokerSubscription, to key: ChannelKey) async {
        for await message in subscription {
            guard let bus = PusherBusMessage(decoding: message.payload) else {
                logger.debug("ignored a malformed channel message", metadata: ["channel": "\(message.channel)"])
                continue
            }
            let frame = WebSocketFrames.text(bus.frame)
            let payload = bus.frame.utf8.count
            registry.withLock { registry in
                let targets = registry.endpoints(of: key, excluding: bus.excludedSocketID).map(\.target)
                deliveries.send(frame, payload: payload, to: targets)
            }
        }
    }

    /// Tells the local watchers of a user that it came online or went offline.
    private func deliverStatus(_ subscription: BrokerSubscription, app: String) async {
        for await message in subscription {
            let parts = message.payload.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0] == "online" || parts[0] == "offline" else { continue }
            let user = String(parts[1])
            let text = PusherFrame.watchlistEvents([(name: String(parts[0]), userIDs: [user])])
            let frame = WebSocketFrames.text(text)
            registry.withLock { registry in
                let targets = registry.watcherEndpoints(of: UserKey(app: app, user: user)).map(\.target)
                deliveries.send(frame, payload: text.utf8.count, to: targets)
            }
        }
    }
}
