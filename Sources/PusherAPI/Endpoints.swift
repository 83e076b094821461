import BrokerCore
import FleetCore
import FleetGateway
import PusherCore

/// What each REST endpoint does once the request is authenticated and parsed.
struct Endpoints: Sendable {
    let app: PusherApp
    let gateway: GatewayService
    let keys: PusherKeys

    private var state: PusherFleetState { PusherFleetState(broker: gateway.broker, keys: keys) }

    private func liveNodes() async throws(PusherAPIError) -> [String] {
        do {
            return try await gateway.directory.liveNodes()
        } catch {
            throw .unavailable("The broker is unavailable: \(error)")
        }
    }

    private func broker<T>(_ body: () async throws -> T) async throws(PusherAPIError) -> T {
        do {
            return try await body()
        } catch {
            throw .unavailable("The broker is unavailable: \(error)")
        }
    }

    /// Publishes the event on each of its channels (a cache channel also keeps it).
    private func publish(_ trigger: TriggerRequest) async throws(PusherAPIError) {
        try await broker {
            for channel in trigger.channels {
                let frame = trigger.frame(for: channel)
                if channel.isCache {
                    _ = try await gateway.broker.execute(.set(key: keys.cache(app: app.id, channel: channel.name), value: frame, ttl: .seconds(1800)))
                }
                let message = PusherBusMessage(frame: frame, excluding: trigger.socketID)
                try await gateway.broker.publish(message.encoded, to: keys.channelTopic(app: app.id, channel: channel.name))
            }
        }
    }

    /// `{"subscription_count":n,"user_count":m}` for the attributes asked, per channel.
    private func attributes(_ info: [TriggerRequest.Attribute], of channels: [PusherChannel]) async throws(PusherAPIError) -> [String: String] {
        let nodes = try await liveNodes()
        var result: [String: String] = [:]
        for channel in channels {
            var fields: [String] = []
            for attribute in info {
                switch attribute {
                case .subscriptionCount:
                    let count = try await broker { try await state.subscriptionCount(app: app.id, channel: channel.name, nodes: nodes) }
                    fields.append(#""subscription_count":"# + String(count))
                case .userCount where channel.isPresence:
                    let members = try await broker { try await state.presenceMembers(app: app.id, channel: channel.name, nodes: nodes) }
                    fields.append(#""user_count":"# + String(members.count))
                case .userCount:
                    break
                }
            }
            result[channel.name] = "{" + fields.joined(separator: ",") + "}"
        }
        return result
    }

    func trigger(_ trigger: TriggerRequest) async throws(PusherAPIError) -> String {
        try await publish(trigger)
        guard !trigger.info.isEmpty else { return "{}" }
        let attributes = try await attributes(trigger.info, of: trigger.channels)
        let entries = trigger.channels.map { JSONValue.quoted($0.name) + ":" + (attributes[$0.name] ?? "{}") }
        return #"{"channels":{"# + entries.joined(separator: ",") + "}}"
    }

    func batch(_ triggers: [TriggerRequest]) async throws(PusherAPIError) -> String {
        for trigger in triggers { try await publish(trigger) }
        guard triggers.contains(where: { !$0.info.isEmpty }) else { return "{}" }
        var items: [String] = []
        for trigger in triggers {
            items.append(try await attributes(trigger.info, of: trigger.channels)[trigger.channels[0].name] ?? "{}")
        }
        return #"{"batch":["# + items.joined(separator: ",") + "]}"
    }

    func channels(prefix: String?, info: [TriggerRequest.Attribute]) async throws(PusherAPIError) -> String {
        if info.contains(.userCount), !(prefix ?? "").hasPrefix("presence-") {
            throw .badRequest("info=user_count needs filter_by_prefix=presence-")
        }
        let nodes = try await liveNodes()
        let counts = try await broker { try await state.subscriptionCounts(app: app.id, prefix: prefix, nodes: nodes) }
        var entries: [String] = []
        for name in counts.keys.sorted() {
            var fields: [String] = []
            if info.contains(.userCount) {
                let members = try await broker { try await state.presenceMembers(app: app.id, channel: name, nodes: nodes) }
                fields.append(#""user_count":"# + String(members.count))
            }
            if info.contains(.subscriptionCount) { fields.append(#""subscription_count":"# + String(counts[name] ?? 0)) }
            entries.append(JSONValue.quoted(name) + ":{" + fields.joined(separator: ",") + "}")
        }
        return #"{"channels":{"# + entries.joined(separator: ",") + "}}"
    }

    func channel(_ channel: PusherChannel, info: [TriggerRequest.Attribute]) async throws(PusherAPIError) -> String {
        if info.contains(.userCount), !channel.isPresence {
            throw .badRequest("info=user_count is only for presence channels")
        }
        let nodes = try await liveNodes()
        let count = try await broker { try await state.subscriptionCount(app: app.id, channel: channel.name, nodes: nodes) }
        var fields = [#""occupied":"# + (count > 0 ? "true" : "false")]
        if info.contains(.userCount) {
            let members = try await broker { try await state.presenceMembers(app: app.id, channel: channel.name, nodes: nodes) }
            fields.append(#""user_count":"# + String(members.count))
        }
        if info.contains(.subscriptionCount) { fields.append(#""subscription_count":"# + String(count)) }
        return "{" + fields.joined(separator: ",") + "}"
    }

    func users(of channel: PusherChannel) async throws(PusherAPIError) -> String {
        guard channel.isPresence else { throw .badRequest("Users can only be listed for presence channels, not \(channel.name)") }
        let nodes = try await liveNodes()
        let members = try await broker { try await state.presenceMembers(app: app.id, channel: channel.name, nodes: nodes) }
        return #"{"users":["# + members.map { #"{"id":"# + JSONValue.quoted($0.id) + "}" }.joined(separator: ",") + "]}"
    }

    func terminate(user: String) async throws(PusherAPIError) -> String {
        try await broker { try await gateway.broker.publish(PusherControl.terminate(app: app.id, userID: user).encoded, to: keys.controlTopic) }
        return "{}"
    }
}
