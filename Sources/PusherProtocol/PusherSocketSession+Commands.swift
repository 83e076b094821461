import BrokerCore
import FleetCore
import FleetNode
import Foundation
import Logging
import NIOCore
import PusherCore
import WebSocketCore

/// The messages of one Pusher connection, handled on its event loop in the order they came;
/// what needs the broker runs in a command's task (``PusherSocketSession/run(_:)``).
extension PusherSocketSession {
    /// Largest `user_info` of a presence member, in bytes of JSON.
    static let maxUserInfoBytes = 1024
    /// Longest presence user id, in characters.
    static let maxUserIDLength = 128
    /// Most user ids in a sign-in's watchlist.
    static let maxWatchlist = 100

    /// One message, once no command waits. On the loop.
    func handle(_ inbound: PusherSessionStateMachine.Inbound) {
        guard let socket, !socket.isClosing, machine.phase == .open else { return }
        guard inbound.isText else {
            return send(PusherFrame.error(4300, "Binary messages are not supported: send JSON text"))
        }
        let text = String(buffer: inbound.message)
        node.received(text, from: socketID)
        // A burst that arrived at once counts as one, however long its messages waited behind
        // commands (client events publish one after the other).
        let now = inbound.arrivedAt
        let parsed = Result { () throws(PusherInbound.Malformed) in try PusherInbound(parsing: text) }
        if case .success(let inbound) = parsed, inbound.event.hasPrefix("client-") {
            return clientEvent(inbound, now: now)
        }
        // Everything else, malformed messages included, counts against one limit.
        switch commands.admit(at: now) {
        case .allowed:
            switch parsed {
            case .success(let inbound): command(inbound)
            case .failure(let error): send(PusherFrame.error(4300, error.description))
            }
        case .limited:
            send(PusherFrame.error(4301, "Too many messages: at most \(configuration.commandRate.formatted()) per second besides client events"))
        case .abusive:
            node.logger.notice("closing a Pusher connection that ignores the message rate limit", metadata: ["socket_id": "\(socketID)"])
            perform(machine.serverCloses(.rateLimited))
        }
    }

    /// The live nodes, this one included even before its first heartbeat is read back.
    private func liveNodes() async throws -> [String] {
        Array(Set(try await node.directory.liveNodes()).union([node.configuration.nodeID]))
    }

    /// `text`, cut to 64 characters for an error message.
    static func shortened(_ text: String) -> String {
        text.count > 64 ? String(text.prefix(64)) + "…" : text
    }

    private func command(_ message: PusherInbound) {
        switch message.event {
        case "pusher:ping":
            send(PusherFrame.pong)
        case "pusher:pong":
            break
        case "pusher:subscribe":
            subscribe(message)
        case "pusher:unsubscribe":
            unsubscribe(message)
        case "pusher:signin":
            signIn(message)
        default:
            send(PusherFrame.error(4300, "Unknown event \(Self.shortened(message.event)): client events start with client-"))
        }
    }

    // MARK: Subscriptions

    /// Checks the subscription and records it on the loop; then, in a command's task, waits
    /// until the broker has it (the channel's topic, the presence member) to answer.
    private func subscribe(_ message: PusherInbound) {
        guard let app else { return }
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
            let signedIn = registry.withLock { $0.connection(socketID)?.user }
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
        let limit = configuration.maxChannelsPerConnection
        let result = registry.withLock { registry -> PusherRegistry<PusherEndpoint>.Subscription? in
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
        run { [memberKey] session in
            await session.confirmSubscription(channel, name: name, member: memberKey)
        }
    }

    /// Waits until the broker has the subscription, then answers it (and a cache channel's
    /// last event). In a command's task.
    private func confirmSubscription(_ channel: PusherChannel, name: String, member memberKey: MemberKey?) async {
        guard let app else { return }
        let key = ChannelKey(app: app.id, channel: name)
        func refuse(_ type: String, _ error: String, _ status: Int) {
            send(PusherFrame.subscriptionError(channel: name, type: type, error: error, status: status))
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
        // Through the channel's own delivery path, under the registry's lock: the channel's
        // events queued after it reach the client after it, and none before it.
        let confirmation = PusherFrame.subscriptionSucceeded(channel: name, data: succeeded)
        let target = registry.withLock { registry -> HubSocket? in
            guard let endpoint = registry.confirm(socketID: socketID, channel: name) else { return nil }
            writer.deliveries.send(WebSocketFrames.text(confirmation), payload: confirmation.utf8.count, to: [endpoint.target])
            return endpoint.target
        }
        guard let target else { return }  // unsubscribed (or gone) meanwhile
        writer.enqueueCountEvent(key)
        if channel.isCache {
            let cached = try? await node.broker.get(keys.cache(app: app.id, channel: name))
            // The same path as the confirmation, so that it comes after it.
            let replay = cached ?? PusherFrame.cacheMiss(channel: name)
            writer.deliveries.send(WebSocketFrames.text(replay), payload: replay.utf8.count, to: [target])
            if cached == nil {
                do {
                    try await writer.hooks?.cacheMiss(app: app.id, channel: name)
                } catch {
                    node.logger.warning("a cache_miss webhook was not queued", metadata: ["error": "\(error)"])
                }
            }
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
            let user = registry.withLock { $0.connection(socketID)?.user }
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
        guard let app else { return }
        let removed = registry.withLock { $0.unsubscribe(socketID: socketID, channel: name) }
        guard removed.wasSubscribed else { return }
        writer.enqueue([.channel(ChannelKey(app: app.id, channel: name))] + (removed.member.map { [PusherWriter.Item.member($0)] } ?? []))
    }

    // MARK: Sign-in

    /// Checks the sign-in and records it on the loop; then, in a command's task, waits until
    /// the broker has the user (and the watchlist's topic) to answer.
    private func signIn(_ message: PusherInbound) {
        guard let app else { return }
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
        let result = registry.withLock { $0.signIn(socketID: socketID, user: user, watchlist: watchlist) }
        guard case .signedIn(let key) = result else {
            return send(PusherFrame.error(4009, "This connection is already signed in"))
        }
        machine.signedIn()
        run { [watchlist] session in await session.confirmSignIn(key, userData: userData, watchlist: watchlist) }
    }

    /// Waits until the broker has the signed-in user, answers, then tells the watchlist's
    /// statuses. In a command's task.
    private func confirmSignIn(_ key: UserKey, userData: String, watchlist: [String]) async {
        guard let app else { return }
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

    /// Checks a client event on the loop, then publishes it in a command's task.
    private func clientEvent(_ message: PusherInbound, now: Double) {
        guard let app else { return }
        guard app.enableClientMessages else {
            return send(PusherFrame.error(4009, "Client events are disabled for this app"))
        }
        guard let name = message.channel, let channel = PusherChannel(name) else {
            return send(PusherFrame.error(4009, "A client event needs the channel it is sent on"))
        }
        guard channel.allowsClientEvents else {
            return send(PusherFrame.error(4009, "Client events are only allowed on private and presence channels, not on \(name)"))
        }
        let user: String?? = registry.withLock { registry in
            guard let connection = registry.connection(socketID), connection.channels.contains(name) else { return .none }
            return .some(connection.presence[name])
        }
        guard let user else {
            return send(PusherFrame.error(4009, "Subscribe to \(name) before sending client events on it"))
        }
        switch clientEvents.admit(at: now) {
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
        let cache = channel.isCache ? keys.cache(app: app.id, channel: name) : nil
        let topic = keys.channelTopic(app: app.id, channel: name)
        let bus = PusherBusMessage(frame: frame, excluding: socketID).encoded
        let (appID, event, sender) = (app.id, message.event, socketID)
        run { session in
            let broker = session.node.broker
            do {
                if let cache {
                    _ = try await broker.execute(.set(key: cache, value: frame, ttl: PusherWriter.cacheTTL))
                }
                try await broker.publish(bus, to: topic)
            } catch {
                session.send(PusherFrame.error(4200, "Client event not delivered: the broker is unavailable"))
                return
            }
            do {
                let text = switch data { case .string(let text), .json(let text): text }
                try await session.writer.hooks?.clientEvent(app: appID, channel: name, event: event, data: text, socketID: sender, userID: user)
            } catch {
                session.node.logger.warning("a client_event webhook was not queued", metadata: ["error": "\(error)"])
            }
        }
    }
}
