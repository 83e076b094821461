import BrokerCore
import FleetCore
import Hooks
import Logging
import Observability
import PusherCore
import Synchronization

/// How a node produces Pusher webhook events.
package struct PusherWebhookSettings: Sendable {
    /// How long `channel_vacated` and `member_removed` wait, dropped if the channel or member
    /// comes back meanwhile on any node (`WEBHOOK_VACATE_DELAY`).
    package var vacateDelay: Duration = .seconds(3)
    /// The spool file for events the broker cannot take (``HookOutbox``); nil: in memory.
    package var spoolFile: String?
    /// The most events spooled.
    package var spoolCapacity = 10_000

    package init(vacateDelay: Duration = .seconds(3), spoolFile: String? = nil, spoolCapacity: Int = 10_000) {
        self.vacateDelay = vacateDelay
        self.spoolFile = spoolFile
        self.spoolCapacity = spoolCapacity
    }
}

/// Decides this node's Pusher webhook events, once per fleet-wide change, and queues them
/// for the hooks workers (docs/webhooks.md).
///
/// - `channel_occupied` / `channel_vacated`: each node holding subscribers of a channel is a
///   member of the app's occupancy set (``PusherKeys/occupancy(app:)``), through the
///   membership scripts that decide the first join and last leave fleet-wide.
/// - `member_added` / `member_removed`: the presence membership's own first join and last
///   leave.
/// - A last leave is only pending at first: it sets a marker with a token of its own, and
///   this node confirms it after ``PusherWebhookSettings/vacateDelay``. A join meanwhile, on
///   any node, deletes the marker: the leave is called off and the join is no first join, so
///   a quick resubscribe produces neither event.
///
/// Only apps with webhooks that want these events are tracked.
final class PusherHooks: Sendable {
    private struct PendingLeave: Sendable {
        let app: String
        let marker: String
        let fleet: String
        let member: String
        let token: String
        let event: HookEvent
    }

    let broker: any Broker
    let keys: PusherKeys
    let queue: HookOutbox
    let apps: PusherApps
    let settings: PusherWebhookSettings
    let logger: Logger
    private let pending: AsyncStream<PendingLeave>
    private let pendingInput: AsyncStream<PendingLeave>.Continuation
    /// Every leave scheduled and not yet confirmed (or found called off), by token, with when
    /// it is due: what ``confirmRemaining()`` confirms when the node stops in order.
    private let unconfirmed = Mutex<[String: (leave: PendingLeave, due: ContinuousClock.Instant)]>([:])

    /// - Parameter prefix: `REDIS_PREFIX`, which the webhook streams are under.
    init(broker: any Broker, prefix: String, apps: PusherApps, settings: PusherWebhookSettings, telemetry: Telemetry, logger: Logger) {
        self.broker = broker
        self.keys = PusherKeys(prefix: prefix, sharded: broker.isSharded)
        self.queue = HookOutbox(
            queue: HookQueue(broker: broker, keys: HookKeys(prefix: prefix)), file: settings.spoolFile, capacity: settings.spoolCapacity,
            telemetry: telemetry, logger: logger
        )
        self.apps = apps
        self.settings = settings
        self.logger = logger
        (pending, pendingInput) = AsyncStream.makeStream(of: PendingLeave.self)
    }

    /// Whether `app`'s webhooks want `event`.
    func wants(_ app: String, _ event: String) -> Bool {
        guard let webhooks = apps.app(id: app)?.webhooks, !webhooks.isEmpty else { return false }
        return webhooks.contains { $0.eventTypes?.contains(event) ?? true }
    }

    // MARK: Channels

    /// This node has its first subscriber of `channel`.
    func channelOccupied(app: String, channel: String, node: String) async throws {
        guard wants(app, "channel_occupied") || wants(app, "channel_vacated") else { return }
        let result = try await broker.execute(.script(
            MembershipScripts.joinCallingOffLeave,
            keys: [keys.occupancy(app: app), keys.nodeOccupancy(app: app, node: node), keys.pendingVacate(app: app, channel: channel)],
            arguments: [channel, node, "", "0"]
        ))
        if result == .int(1), wants(app, "channel_occupied") {
            await queue.send([HookEvent(name: "channel_occupied", channel: channel)], from: .pusher(appID: app))
        }
    }

    /// This node's last subscriber of `channel` left.
    func channelLeft(app: String, channel: String, node: String) async throws {
        guard wants(app, "channel_occupied") || wants(app, "channel_vacated") else { return }
        let marker = keys.pendingVacate(app: app, channel: channel)
        let token = HookEvent.makeToken()
        let result = try await broker.execute(.script(
            MembershipScripts.leaveMarkingPending,
            keys: [keys.occupancy(app: app), keys.nodeOccupancy(app: app, node: node), marker],
            arguments: [channel, node, token, String(markerTTL)]
        ))
        if result == .int(1), wants(app, "channel_vacated") {
            schedule(app: app, marker: marker, fleet: keys.occupancy(app: app), member: channel, token: token,
                     event: HookEvent(name: "channel_vacated", channel: channel))
        }
    }

    // MARK: Presence

    /// The marker of a presence member's pending leave, when `app` wants member events (the
    /// writer then runs the marked membership scripts).
    func memberMarker(app: String, channel: String, user: String) -> String? {
        wants(app, "member_added") || wants(app, "member_removed") ? keys.pendingMemberLeave(app: app, channel: channel, user: user) : nil
    }

    /// The marked join made `user` new on `channel` fleet-wide (`.int(1)`), or brought them
    /// back before their leave was announced (`.int(2)`: nothing to announce).
    func memberJoined(app: String, channel: String, user: String, result: BrokerValue) async throws {
        guard result == .int(1), wants(app, "member_added") else { return }
        await queue.send(
            [HookEvent(name: "member_added", channel: channel, fields: [("user_id", .string(user))])], from: .pusher(appID: app)
        )
    }

    /// `user` left `channel` fleet-wide (the marked leave answered `.int(1)` with `token`).
    func memberLeft(app: String, channel: String, user: String, token: String) {
        guard wants(app, "member_removed") else { return }
        schedule(app: app, marker: keys.pendingMemberLeave(app: app, channel: channel, user: user),
                 fleet: keys.presence(app: app, channel: channel), member: user, token: token,
                 event: HookEvent(name: "member_removed", channel: channel, fields: [("user_id", .string(user))]))
    }

    // MARK: Client events

    /// A client event this node relayed: Pusher's `client_event`, with the data as sent (a
    /// string), the sender's `socket_id`, and on presence channels its `user_id`.
    func clientEvent(app: String, channel: String, event: String, data: String, socketID: String, userID: String?) async throws {
        guard wants(app, "client_event") else { return }
        var fields: [(String, JSONValue)] = [("event", .string(event)), ("data", .string(data)), ("socket_id", .string(socketID))]
        if let userID { fields.append(("user_id", .string(userID))) }
        await queue.send([HookEvent(name: "client_event", channel: channel, fields: fields)], from: .pusher(appID: app))
    }

    // MARK: Cache channels and counts

    /// A subscriber of a cache channel found nothing cached: `cache_miss`, once per
    /// ``cacheMissWindow`` for the channel fleet-wide, however many clients miss together.
    func cacheMiss(app: String, channel: String) async throws {
        guard wants(app, "cache_miss") else { return }
        guard try await broker.setIfAbsent(keys.cacheMissAnnounced(app: app, channel: channel), to: "1", ttl: Self.cacheMissWindow) else { return }
        await queue.send([HookEvent(name: "cache_miss", channel: channel)], from: .pusher(appID: app))
    }

    /// How long one `cache_miss` stands for the misses of its channel.
    static let cacheMissWindow: Duration = .seconds(5)

    /// The channel's fleet-wide subscription count, as sent to its subscribers (at most once a
    /// second per channel and node): `subscription_count`.
    func subscriptionCount(app: String, channel: String, count: Int) async throws {
        guard wants(app, "subscription_count") else { return }
        await queue.send(
            [HookEvent(name: "subscription_count", channel: channel, fields: [("subscription_count", .number(String(count)))])],
            from: .pusher(appID: app)
        )
    }

    // MARK: A dead node

    /// A dead node's janitor: the channels and members it was the last to hold leave as any
    /// last leave does, pending for the delay.
    func nodeGone(_ node: String, app: String, presenceGone: [(channel: String, users: [String])]) async throws {
        for (channel, users) in presenceGone where wants(app, "member_removed") {
            for user in users {
                let marker = keys.pendingMemberLeave(app: app, channel: channel, user: user)
                let token = HookEvent.makeToken()
                _ = try await broker.execute(.set(key: marker, value: token, ttl: .milliseconds(markerTTL)))
                memberLeft(app: app, channel: channel, user: user, token: token)
            }
        }
        guard wants(app, "channel_occupied") || wants(app, "channel_vacated") else { return }
        let gone = try await broker.execute(.script(
            MembershipScripts.nodeGone, keys: [keys.occupancy(app: app), keys.nodeOccupancy(app: app, node: node)], arguments: [node]
        ))
        guard case .strings(let channels) = gone, wants(app, "channel_vacated") else { return }
        for channel in channels.sorted() {
            let marker = keys.pendingVacate(app: app, channel: channel)
            let token = HookEvent.makeToken()
            _ = try await broker.execute(.set(key: marker, value: token, ttl: .milliseconds(markerTTL)))
            schedule(app: app, marker: marker, fleet: keys.occupancy(app: app), member: channel, token: token,
                     event: HookEvent(name: "channel_vacated", channel: channel))
        }
    }

    // MARK: Confirming

    /// Confirms the pending leaves when their delay has passed, until cancelled. Those still
    /// pending when the node stops in order are confirmed by ``confirmRemaining()``.
    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.queue.run() }
            for await leave in pending {
                group.addTask { await self.confirm(leave) }
            }
            group.cancelAll()
        }
    }

    /// Waits until `leave` is due, then confirms it. Cancelled (the node stops), the leave
    /// stays among the unconfirmed for ``confirmRemaining()``.
    private func confirm(_ leave: PendingLeave) async {
        guard let due = unconfirmed.withLock({ $0[leave.token]?.due }) else { return }
        do {
            try await Task.sleep(until: due, clock: .continuous)
        } catch {
            return
        }
        await confirmNow(leave)
    }

    private func confirmNow(_ leave: PendingLeave) async {
        defer { _ = unconfirmed.withLock { $0.removeValue(forKey: leave.token) } }
        do {
            let result = try await broker.execute(.script(
                MembershipScripts.confirmLeave, keys: [leave.marker, leave.fleet], arguments: [leave.token, leave.member]
            ))
            guard result == .int(1) else { return }
            // The event says when the leave happened, not when it was confirmed.
            await queue.send([leave.event], from: .pusher(appID: leave.app))
        } catch {
            logger.warning("a webhook leave was not confirmed", metadata: ["event": "\(leave.event.name)", "error": "\(error)"])
        }
    }

    /// The node stops in order (its connections closed, its own state forgotten): waits until
    /// the leaves still unconfirmed are due (at most the delay) and confirms them, so that a
    /// channel or member this node held last is announced unless it came back elsewhere.
    func confirmRemaining() async {
        let left = unconfirmed.withLock { $0.values.sorted { $0.due < $1.due } }
        guard let last = left.last else { return }
        try? await Task.sleep(until: last.due, clock: .continuous)
        for (leave, _) in left { await confirmNow(leave) }
    }

    private func schedule(app: String, marker: String, fleet: String, member: String, token: String, event: HookEvent) {
        let leave = PendingLeave(app: app, marker: marker, fleet: fleet, member: member, token: token, event: event)
        unconfirmed.withLock { $0[token] = (leave, .now + settings.vacateDelay) }
        pendingInput.yield(leave)
    }

    func finish() {
        pendingInput.finish()
    }

    /// Markers outlive the delay, so that a confirm that runs late still finds its own.
    var markerTTL: Int64 { (BrokerCommand.milliseconds(settings.vacateDelay) ?? 3000) * 2 + 10_000 }
}
