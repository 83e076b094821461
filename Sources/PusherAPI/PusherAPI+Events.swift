import BrokerCore
import FleetCore
import FleetGateway
import PusherCore

// The event API's Pusher events, for callers that hold the gateway's TOKEN rather than an
// app's secret (the console at /ui/): `getPusherChannels` and `triggerPusherEvent`.
extension PusherAPI {
    /// Most channels `getPusherChannels` lists per app (by name), and most members it lists
    /// per presence channel; `truncated` says when an app had more channels.
    static let consoleChannelLimit = 500
    static let consoleMemberLimit = 100

    package func gatewayEvents(gateway: GatewayService) -> [FleetEvent: GatewayEventAnswer] {
        let keys = PusherKeys(prefix: gateway.configuration.prefix, sharded: gateway.broker.isSharded)
        return [
            .getPusherChannels: { _ in try await channelsOfEveryApp(gateway: gateway, keys: keys) },
            .triggerPusherEvent: { arguments in try await trigger(arguments, gateway: gateway, keys: keys) },
        ]
    }

    /// Per app: its key, its connections, and its occupied channels with their subscription
    /// counts (presence channels also with their members), over the live nodes.
    private func channelsOfEveryApp(gateway: GatewayService, keys: PusherKeys) async throws -> [String: OperationResult] {
        let nodes = try await gateway.directory.liveNodes()
        let state = PusherFleetState(broker: gateway.broker, keys: keys)
        var result: [String: OperationResult] = [:]
        for app in configuration.apps.all {
            let counts = try await state.subscriptionCounts(app: app.id, nodes: nodes)
            let names = counts.keys.sorted()
            var channels: [String: JSONValue] = [:]
            for name in names.prefix(Self.consoleChannelLimit) {
                var fields: [String: JSONValue] = ["subscription_count": .number(String(counts[name] ?? 0))]
                if PusherChannel(name)?.isPresence == true {
                    let members = try await state.presenceMembers(app: app.id, channel: name, nodes: nodes)
                    fields["user_count"] = .number(String(members.count))
                    fields["users"] = .array(members.prefix(Self.consoleMemberLimit).map { .string($0.id) })
                }
                channels[name] = .object(fields)
            }
            result[app.id] = .object(.object([
                "key": .string(app.key),
                "connections": .number(String(try await state.connectionCount(app: app.id, nodes: nodes))),
                "channels": .object(channels),
                "truncated": .bool(names.count > Self.consoleChannelLimit),
            ]))
        }
        return result
    }

    /// Publishes one event, checked as `POST /apps/{appId}/events` checks it (name, channel,
    /// payload size); a bad one refuses the request with 400.
    private func trigger(_ arguments: EventArguments, gateway: GatewayService, keys: PusherKeys) async throws -> [String: OperationResult] {
        let (appID, channel, name) = (arguments.appID ?? "", arguments.channel ?? "", arguments.name ?? "")
        guard let app = configuration.apps.app(id: appID) else {
            throw APIError.badRequest("triggerPusherEvent: unknown Pusher app \(appID.prefix(64))")
        }
        let request: TriggerRequest
        do {
            request = try TriggerRequest.parse(
                .object(["name": .string(name), "channel": .string(channel), "data": .string(arguments.message ?? "")]), app: app
            )
            _ = try await Endpoints(app: app, gateway: gateway, keys: keys).trigger(request)
        } catch where error.status == 503 {
            throw error  // the broker's: answered 503 like any other event's
        } catch {
            // 400, or 413 for a payload over the app's limit.
            throw APIError(status: error.status, code: 1, "triggerPusherEvent: \(error.message)")
        }
        return [app.id: .object(.object(["channel": .string(channel), "event": .string(name), "published": .bool(true)]))]
    }
}
