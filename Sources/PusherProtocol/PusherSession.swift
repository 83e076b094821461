import BrokerCore
import FleetCore
import FleetNode
import Foundation
import HummingbirdWebSocket
import NIOCore
import PusherCore
import Synchronization

/// One Pusher connection after `connection_established`: its messages, its timers (activity,
/// sign-in deadline) and a kick from outside, whichever ends it first.
struct PusherSession: Sendable {
    let socketID: String
    let app: PusherApp
    let outbox: Outbox
    let kick: Kick
    let node: NodeService
    let writer: PusherWriter
    let configuration: PusherProtocol.Configuration

    /// Largest `user_info` of a presence member, in bytes of JSON.
    static let maxUserInfoBytes = 1024
    /// Longest presence user id, in characters.
    static let maxUserIDLength = 128
    /// Most user ids in a sign-in's watchlist.
    static let maxWatchlist = 100

    private var keys: PusherKeys { writer.keys }

    /// How one of the connection's tasks ended.
    private enum Ending: Sendable {
        /// The client closed the connection (or it broke).
        case clientLeft
        /// The server ends it.
        case close(PusherClose)
        /// Nothing to do (a timer that found the client in order, a cancelled wait).
        case nothing
        /// The WebSocket layer refused a message: too large, text that is not UTF-8, a broken
        /// sequence of fragments.
        case refused(any Error)
    }

    /// Serves the connection until the client leaves (nil) or the server ends it. Throws the
    /// WebSocket layer's error when it refuses a message, so that its close code (1009, 1007,
    /// 1002) is the one that goes out.
    func run(_ inbound: ClientMessages) async throws -> PusherClose? {
        let activity = Activity()
        let ending = await withTaskGroup(of: Ending.self) { group in
            group.addTask {
                do {
                    try await self.receive(inbound, activity: activity)
                    return .clientLeft
                } catch let close as PusherClose {
                    return .close(close)
                } catch {
                    return .refused(error)
                }
            }
            group.addTask { await self.kick.wait().map(Ending.close) ?? .nothing }
            group.addTask { await self.watchActivity(activity).map(Ending.close) ?? .nothing }
            if app.requireSignin {
                group.addTask {
                    try? await Task.sleep(for: .seconds(app.signinTimeout))
                    if Task.isCancelled { return .nothing }
                    let signedIn = writer.registry.withLock { $0.connection(socketID)?.user != nil }
                    return signedIn ? .nothing : .close(.signinTimeout(app.signinTimeout))
                }
            }
            defer { group.cancelAll() }
            while let ending = await group.next() {
                if case .nothing = ending { continue }
                return ending
            }
            return Ending.clientLeft
        }
        switch ending {
        case .close(let close): return close
        case .refused(let error): throw error
        case .clientLeft, .nothing: return nil
        }
    }

    // MARK: Timers

    /// The time of the client's last message.
    final class Activity: Sendable {
        private let last = Mutex(ContinuousClock.now)
        func touch() { last.withLock { $0 = .now } }
        var lastSeen: ContinuousClock.Instant { last.withLock { $0 } }
    }

    /// After `activity_timeout` of silence, pings the client; closes it (4201) if it stays
    /// silent for the pong timeout.
    private func watchActivity(_ activity: Activity) async -> PusherClose? {
        let timeout = Duration.seconds(configuration.activityTimeout)
        while !Task.isCancelled {
            let idle = ContinuousClock.now - activity.lastSeen
            if idle < timeout {
                try? await Task.sleep(for: timeout - idle)
                continue
            }
            let pingedAt = ContinuousClock.now
            outbox.send(ByteBuffer(string: PusherFrame.ping))
            try? await Task.sleep(for: configuration.pongTimeout)
            if Task.isCancelled { return nil }
            if activity.lastSeen < pingedAt { return .pongTimeout }
        }
        return nil
    }

    // MARK: Messages

    private func receive(_ inbound: ClientMessages, activity: Activity) async throws {
        var limiter = RateLimiter(rate: app.clientEventRate, now: 0)
        var commands = RateLimiter(rate: configuration.commandRate, now: 0)
        let start = ContinuousClock.now
        do {
            for try await message in inbound {
                activity.touch()
                guard case .text(let text) = message else {
                    send(PusherFrame.error(4300, "Binary messages are not supported: send JSON text"))
                    continue
                }
                node.received(text, from: socketID)
                let elapsed = ContinuousClock.now - start
                let now = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                let parsed = Result { () throws(PusherInbound.Malformed) in try PusherInbound(parsing: text) }
                if case .success(let inbound) = parsed, inbound.event.hasPrefix("client-") {
                    await clientEvent(inbound, limiter: &limiter, now: now)
                    continue
                }
                // Everything else, malformed messages included, counts against one limit.
                switch commands.admit(at: now) {
                case .allowed:
                    switch parsed {
                    case .success(let inbound): await command(inbound)
                    case .failure(let error): send(PusherFrame.error(4300, error.description))
                    }
                case .limited:
                    send(PusherFrame.error(4301, "Too many messages: at most \(configuration.commandRate.formatted()) per second besides client events"))
                case .abusive:
                    node.logger.notice("closing a Pusher connection that ignores the message rate limit", metadata: ["socket_id": "\(socketID)"])
                    throw PusherClose.rateLimited
                }
            }
        } catch {
            node.logger.debug("pusher connection ended", metadata: ["socket_id": "\(socketID)", "error": "\(error)"])
            throw error
        }
    }

    private func send(_ frame: String) {
        outbox.send(ByteBuffer(string: frame))
    }

    /// The live nodes, this one included even before its first heartbeat is read back.
    private func liveNodes() async throws -> [String] {
        Array(Set(try await node.directory.liveNodes()).union([node.configuration.nodeID]))
    }

    /// `text`, cut to 64 characters for an error message.
    static func shortened(_ text: String) -> String {
        text.count > 64 ? String(text.prefix(64)) + "…" : text
    }

    private func command(_ message: PusherInbound) async {
        switch message.event {
        case "pusher:ping":
            send(PusherFrame.pong)
        case "pusher:pong":
            break
        case "pusher:subscribe":
            await subscribe(message)
        case "pusher:unsubscribe":
            unsubscribe(message)
        case "pusher:signin":
            await signIn(message)
        default:
            send(PusherFrame.error(4300, "Unknown event \(Self.shortened(message.event)): client events start with client-"))
        }
    }

    // MARK: Subscriptions

    private func subscribe(_ message: PusherInbound) async {
        guard let data = message.dataObject() else {
            return send(PusherFrame.error(4300, "pusher:subscribe needs a data object with a channel"))
        }
        let name: String, auth: String?, channelData: String?
        do {
            guard let channel = try PusherInbound.string("channel", in: data) else {
                return send(PusherFrame.error(4300, "pusher:subscribe needs data.channel"))
            }
            name = channel
            auth = try PusherInbound.string("auth", in: data)
            channelData = try PusherInbound.string("channel_data", in: data)
        } catch {
            return send(PusherFrame.error(4300, error.description))
        }
        guard let channel = PusherChannel(name) else {
            return send(PusherFrame.error(
                4009, "Invalid channel name \(Self.shortened(name)): 1 to 200 characters of A-Z a-z 0-9 _ - = @ , . ;"
            ))
        }
        func refuse(_ type: String, _ error: String, _ status: Int) {
            send(PusherFrame.subscriptionError(channel: name, type: type, error: error, status: status))
        }
        var member: (user: String, info: String)?
        switch channel.kind {
        case .public, .private, .privateEncrypted:
            break
        case .serverToUser(let user):
            let signedIn = writer.registry.withLock { $0.connection(socketID)?.user }
            guard signedIn == user else {
                return refuse("AuthError", "Only a connection signed in as user \(user) may subscribe to \(name)", 403)
            }
        case .presence:
            do {
                member = try presenceMember(channelData: channelData)
            } catch let refusal as SubscriptionRefusal {
                return refuse(refusal.type, refusal.error, refusal.status)
            } catch {
                return refuse("InvalidData", "\(error)", 400)
            }
        }
        if channel.needsAuth {
            guard let auth else { return refuse("AuthError", "Missing auth: \(name) needs a signature", 401) }
            let text = PusherSignature.channelAuthText(socketID: socketID, channel: name, channelData: channelData)
            guard PusherSignature.verifyAuth(auth, app: app, text: text) else {
                return refuse("AuthError", "Invalid signature: expected HMAC-SHA256 of \"\(text)\" with the app's secret", 401)
            }
        }
        let key = ChannelKey(app: app.id, channel: name)
        let limit = configuration.maxChannelsPerConnection
        let result = writer.registry.withLock { registry -> PusherRegistry.Subscription? in
            if limit > 0, let channels = registry.connection(socketID)?.channels, channels.count >= limit, !channels.contains(name) { return nil }
            return registry.subscribe(socketID: socketID, channel: name, member: member)
        }
        guard let result else {
            return refuse("LimitReached", "A connection may be subscribed to at most \(limit) channels: unsubscribe from one first", 429)
        }
        var memberKey: MemberKey?
        switch result {
        case .unknownConnection:
            return
        case .alreadySubscribed:
            // Answered again, so a client that lost track of it is in step.
            break
        case .subscribed(let joined):
            memberKey = joined
            if let joined { writer.noteJoiner(socketID, of: joined) }
        }
        var outcome = await writer.sync(.channel(key))
        if outcome == .done, let memberKey { outcome = await writer.sync(.member(memberKey)) }
        guard outcome == .done else {
            leave(name)
            if outcome == .full {
                return refuse("LimitReached", "Presence channel \(name) is full: at most \(app.maxPresenceMembers) members", 403)
            }
            return refuse("ServiceUnavailable", "The subscription could not be recorded; retry", 503)
        }
        var succeeded = "{}"
        if channel.isPresence {
            do {
                let members = try await writer.fleetState.presenceMembers(app: app.id, channel: name, nodes: liveNodes())
                succeeded = PusherFrame.presenceData(members)
            } catch {
                leave(name)
                return refuse("ServiceUnavailable", "The members could not be read; retry", 503)
            }
        }
        send(PusherFrame.subscriptionSucceeded(channel: name, data: succeeded))
        writer.enqueueCountEvent(key)
        if channel.isCache {
            let cached = try? await node.broker.get(keys.cache(app: app.id, channel: name))
            send(cached ?? PusherFrame.cacheMiss(channel: name))
        }
    }

    struct SubscriptionRefusal: Error {
        var type: String
        var error: String
        var status: Int
    }

    /// The member a presence subscription adds: from `channel_data`, or the signed-in user.
    private func presenceMember(channelData: String?) throws -> (user: String, info: String) {
        guard let channelData else {
            let user = writer.registry.withLock { $0.connection(socketID)?.user }
            guard let user else {
                throw SubscriptionRefusal(type: "InvalidData", error: "Presence channels need channel_data with a user_id, or a signed-in user", status: 400)
            }
            return (user, "null")
        }
        guard case .object(let fields)? = try? JSONValue(parsing: channelData.utf8) else {
            throw SubscriptionRefusal(type: "InvalidData", error: "channel_data must be a JSON object with user_id", status: 400)
        }
        let user: String
        switch fields["user_id"] {
        case .string(let text)?: user = text
        case .number(let text)?: user = text
        default: throw SubscriptionRefusal(type: "InvalidData", error: "channel_data needs a user_id string or number", status: 400)
        }
        guard !user.isEmpty, user.count <= Self.maxUserIDLength else {
            throw SubscriptionRefusal(type: "LimitReached", error: "user_id must be 1 to \(Self.maxUserIDLength) characters", status: 400)
        }
        let info = fields["user_info"].map(\.text) ?? "null"
        guard info.utf8.count <= Self.maxUserInfoBytes else {
            throw SubscriptionRefusal(type: "LimitReached", error: "user_info is larger than 1 KB (\(info.utf8.count) bytes)", status: 400)
        }
        return (user, info)
    }

    private func unsubscribe(_ message: PusherInbound) {
        guard let data = message.dataObject(), case .string(let name)? = data["channel"] else {
            return send(PusherFrame.error(4300, "pusher:unsubscribe needs data.channel"))
        }
        leave(name)
    }

    /// Unsubscribes from `name`, and has the writer bring the broker in step.
    private func leave(_ name: String) {
        let removed = writer.registry.withLock { $0.unsubscribe(socketID: socketID, channel: name) }
        guard removed.wasSubscribed else { return }
        writer.enqueue([.channel(ChannelKey(app: app.id, channel: name))] + (removed.member.map { [PusherWriter.Item.member($0)] } ?? []))
    }

    // MARK: Sign-in

    private func signIn(_ message: PusherInbound) async {
        guard let data = message.dataObject(), case .string(let auth)? = data["auth"], case .string(let userData)? = data["user_data"] else {
            return send(PusherFrame.error(4300, "pusher:signin needs data.auth and data.user_data strings"))
        }
        guard PusherSignature.verifyAuth(auth, app: app, text: socketID + "::user::" + userData) else {
            return send(PusherFrame.error(4009, "Invalid sign-in signature: expected HMAC-SHA256 of \"\(socketID)::user::<user_data>\""))
        }
        guard case .object(let fields)? = try? JSONValue(parsing: userData.utf8), case .string(let user)? = fields["id"], !user.isEmpty else {
            return send(PusherFrame.error(4009, "user_data must be a JSON object with a non-empty id string"))
        }
        var watchlist: [String] = []
        if case .array(let items)? = fields["watchlist"] {
            watchlist = items.compactMap { if case .string(let id) = $0 { id } else { nil } }
            guard watchlist.count == items.count, watchlist.count <= Self.maxWatchlist else {
                return send(PusherFrame.error(4009, "watchlist must be at most \(Self.maxWatchlist) user id strings"))
            }
        }
        let result = writer.registry.withLock { $0.signIn(socketID: socketID, user: user, watchlist: watchlist) }
        guard case .signedIn(let key) = result else {
            return send(PusherFrame.error(4009, "This connection is already signed in"))
        }
        _ = await writer.sync(.user(key))
        if !watchlist.isEmpty { _ = await writer.sync(.userStatus(app.id)) }
        send(PusherFrame.signinSuccess(userData: userData))
        guard !watchlist.isEmpty else { return }
        do {
            let online = try await writer.fleetState.onlineUsers(app: app.id, among: watchlist, nodes: liveNodes())
            var events: [(name: String, userIDs: [String])] = []
            let on = watchlist.filter(online.contains), off = watchlist.filter { !online.contains($0) }
            if !on.isEmpty { events.append((name: "online", userIDs: on)) }
            if !off.isEmpty { events.append((name: "offline", userIDs: off)) }
            send(PusherFrame.watchlistEvents(events))
        } catch {
            node.logger.debug("watchlist statuses not read", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Client events

    private func clientEvent(_ message: PusherInbound, limiter: inout RateLimiter, now: Double) async {
        guard app.enableClientMessages else {
            return send(PusherFrame.error(4009, "Client events are disabled for this app"))
        }
        guard let name = message.channel, let channel = PusherChannel(name) else {
            return send(PusherFrame.error(4009, "A client event needs the channel it is sent on"))
        }
        guard channel.allowsClientEvents else {
            return send(PusherFrame.error(4009, "Client events are only allowed on private and presence channels, not on \(name)"))
        }
        let user: String?? = writer.registry.withLock { registry in
            guard let connection = registry.connection(socketID), connection.channels.contains(name) else { return .none }
            return .some(connection.presence[name])
        }
        guard let user else {
            return send(PusherFrame.error(4009, "Subscribe to \(name) before sending client events on it"))
        }
        switch limiter.admit(at: now) {
        case .allowed: break
        case .limited, .abusive:
            return send(PusherFrame.error(4301, "Client event rejected: more than \(app.clientEventRate.formatted()) per second"))
        }
        let data: PusherFrame.Data
        switch message.data {
        case .string(let text)?: data = .string(text)
        case nil: data = .json("null")
        case let value?: data = .json(value.text)
        }
        let size: Int
        switch data {
        case .string(let text), .json(let text): size = text.utf8.count
        }
        guard size <= app.maxEventPayloadBytes else {
            return send(PusherFrame.error(4302, "Client event data is \(size) bytes: at most \(app.maxEventPayloadKB) KB"))
        }
        let frame = PusherFrame.event(message.event, channel: name, data: data, userID: user)
        do {
            if channel.isCache {
                _ = try await node.broker.execute(.set(key: keys.cache(app: app.id, channel: name), value: frame, ttl: PusherWriter.cacheTTL))
            }
            try await node.broker.publish(
                PusherBusMessage(frame: frame, excluding: socketID).encoded, to: keys.channelTopic(app: app.id, channel: name)
            )
        } catch {
            send(PusherFrame.error(4200, "Client event not delivered: the broker is unavailable"))
        }
    }
}
