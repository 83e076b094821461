import BrokerCore
import FleetCore
import FleetGateway
import FleetHTTP
import Foundation
import Hummingbird
import Logging
import NIOCore
import PusherCore

/// The Pusher REST API on the gateway, signed as Pusher signs it, so the official server
/// SDKs work unchanged: events, batches, channel and presence queries, terminating a user's
/// connections. Paths are served with and without `/apps/{app_id}` (the Python SDK sends
/// `/users/...` bare) and under `API_PATH_PREFIX`. Answers about channels are fleet-wide and
/// exact: they are read from the broker over the live nodes. docs/pusher.md describes it.
package struct PusherAPI: GatewayRoutes {
    package struct Configuration: Sendable {
        package var apps: PusherApps
        /// A prefix a reverse proxy adds to the paths (`API_PATH_PREFIX`), e.g. `/pusher`.
        package var pathPrefix: String
        /// `AUTH_DEMO`: `POST /pusher/auth` and `/pusher/user-auth` sign anything for the default
        /// app. For demos only: anyone can then subscribe to any private or presence channel.
        package var authDemo: Bool
        /// The default app, which the demo auth endpoint signs for.
        package var defaultAppID: String

        package init(apps: PusherApps, pathPrefix: String = "", authDemo: Bool = false, defaultAppID: String = "1") {
            self.apps = apps
            self.pathPrefix = pathPrefix
            self.authDemo = authDemo
            self.defaultAppID = defaultAppID
        }
    }

    package let configuration: Configuration
    let authenticator: RequestAuthenticator

    /// Most events in one `batch_events`.
    static let maxBatch = 10

    package init(configuration: Configuration) {
        self.configuration = configuration
        self.authenticator = RequestAuthenticator(apps: configuration.apps, pathPrefix: configuration.pathPrefix)
    }

    enum Endpoint: Sendable {
        case events, batchEvents, channels, channel, channelUsers, terminate
    }

    package func addRoutes(to router: Router<BasicRequestContext>, gateway: GatewayService) {
        let routes: [(HTTPRequest.Method, String, Endpoint)] = [
            (.post, "/events", .events),
            (.post, "/batch_events", .batchEvents),
            (.get, "/channels", .channels),
            (.get, "/channels/{channel_name}", .channel),
            (.get, "/channels/{channel_name}/users", .channelUsers),
            (.post, "/users/{user_id}/terminate_connections", .terminate),
        ]
        let keys = PusherKeys(prefix: gateway.configuration.prefix, sharded: gateway.broker.isSharded)
        var prefixes = [""]
        if !authenticator.pathPrefix.isEmpty { prefixes.append(authenticator.pathPrefix) }
        for prefix in prefixes {
            for (method, path, endpoint) in routes {
                for full in [prefix + "/apps/{app_id}" + path, prefix + path] {
                    router.on(RouterPath(full), method: method) { request, context in
                        await self.respond(to: request, context: context, endpoint: endpoint, gateway: gateway, keys: keys)
                    }
                }
            }
        }
        if configuration.authDemo {
            gateway.logger.warning("AUTH_DEMO is on: POST /pusher/auth signs ANY private or presence subscription for the default app; never use it in production")
            router.post("/pusher/auth") { request, _ in await self.demoAuth(request, gateway: gateway, user: false) }
            router.post("/pusher/user-auth") { request, _ in await self.demoAuth(request, gateway: gateway, user: true) }
        }
    }

    private func respond(
        to request: Request, context: BasicRequestContext, endpoint: Endpoint, gateway: GatewayService, keys: PusherKeys
    ) async -> Response {
        do {
            let json = try await handle(request, context: context, endpoint: endpoint, gateway: gateway, keys: keys)
            return GatewayService.response(200, json)
        } catch {
            return GatewayService.response(error.status, error.json)
        }
    }

    private func handle(
        _ request: Request, context: BasicRequestContext, endpoint: Endpoint, gateway: GatewayService, keys: PusherKeys
    ) async throws(PusherAPIError) -> String {
        var body: [UInt8]?
        if request.method == .post {
            do {
                body = Array(try await request.body.collect(upTo: gateway.configuration.maxBodySize).readableBytesView)
            } catch {
                throw .tooLarge("Request body larger than \(gateway.configuration.maxBodySize) bytes")
            }
        }
        let parameters: [(String, String)]
        do {
            parameters = try FormDecoding.pairs(Substring(request.uri.query ?? ""))
        } catch {
            throw .badRequest("Malformed query string: \(error)")
        }
        let app = try authenticator.authenticate(
            method: request.method.rawValue, path: request.uri.path, appID: context.parameters.get("app_id"),
            parameters: parameters, body: body, now: Int(Date().timeIntervalSince1970)
        )
        let endpoints = Endpoints(app: app, gateway: gateway, keys: keys)
        func query(_ name: String) -> String? { parameters.first { $0.0 == name }?.1 }
        func json() throws(PusherAPIError) -> JSONValue {
            guard let body, !body.isEmpty else { throw .badRequest("Missing JSON body") }
            do {
                return try JSONValue(parsing: body)
            } catch {
                throw .badRequest("The body is not valid JSON")
            }
        }
        func channelName() throws(PusherAPIError) -> PusherChannel {
            let raw = context.parameters.get("channel_name") ?? ""
            let name = raw.removingPercentEncoding ?? raw
            guard let channel = PusherChannel(name) else { throw .badRequest("Invalid channel name \(name.prefix(64))") }
            return channel
        }
        switch endpoint {
        case .events:
            return try await endpoints.trigger(TriggerRequest.parse(try json(), app: app))
        case .batchEvents:
            guard case .object(let fields) = try json(), case .array(let items)? = fields["batch"] else {
                throw .badRequest("The body must be {\"batch\": [events]}")
            }
            guard items.count <= Self.maxBatch else { throw .badRequest("Too many events in the batch: \(items.count), at most \(Self.maxBatch)") }
            var triggers: [TriggerRequest] = []
            for (index, item) in items.enumerated() {
                let trigger = try TriggerRequest.parse(item, app: app, batchIndex: index)
                guard trigger.channels.count == 1 else {
                    throw .badRequest("Each batch event names one \"channel\" (item \(index) names \(trigger.channels.count))")
                }
                triggers.append(trigger)
            }
            return try await endpoints.batch(triggers)
        case .channels:
            return try await endpoints.channels(prefix: query("filter_by_prefix"), info: TriggerRequest.attributes(query("info") ?? ""))
        case .channel:
            return try await endpoints.channel(try channelName(), info: TriggerRequest.attributes(query("info") ?? ""))
        case .channelUsers:
            return try await endpoints.users(of: try channelName())
        case .terminate:
            let raw = context.parameters.get("user_id") ?? ""
            let user = raw.removingPercentEncoding ?? raw
            guard !user.isEmpty else { throw .badRequest("Missing user id") }
            return try await endpoints.terminate(user: user)
        }
    }

    // MARK: Demo auth

    private func demoAuth(_ request: Request, gateway: GatewayService, user: Bool) async -> Response {
        guard let app = configuration.apps.app(id: configuration.defaultAppID) else {
            return GatewayService.response(500, PusherAPIError(500, "The default app is missing").json)
        }
        let body = (try? await request.body.collect(upTo: 64 * 1024)).map { String(buffer: $0) } ?? ""
        var fields: [String: String] = [:]
        if let value = try? JSONValue(parsing: body.utf8), case .object(let object) = value {
            for (key, item) in object { if case .string(let text) = item { fields[key] = text } }
        } else if let pairs = try? FormDecoding.pairs(Substring(body)) {
            for (key, value) in pairs { fields[key] = value }
        }
        guard let socketID = fields["socket_id"], TriggerRequest.isSocketID(socketID) else {
            return GatewayService.response(400, PusherAPIError(400, "Missing or invalid socket_id").json)
        }
        let userID = fields["user_id"] ?? "demo-" + String(socketID.split(separator: ".").last ?? "user")
        if user {
            let userData = #"{"id":"# + JSONValue.quoted(userID) + "}"
            let auth = PusherSignature.signinAuth(app: app, socketID: socketID, userData: userData)
            return GatewayService.response(200, #"{"auth":"# + JSONValue.quoted(auth) + #","user_data":"# + JSONValue.quoted(userData) + "}")
        }
        guard let name = fields["channel_name"], let channel = PusherChannel(name) else {
            return GatewayService.response(400, PusherAPIError(400, "Missing or invalid channel_name").json)
        }
        gateway.logger.notice("AUTH_DEMO signed a subscription", metadata: ["channel": "\(name)", "socket_id": "\(socketID)"])
        var channelData: String?
        if channel.isPresence {
            channelData = #"{"user_id":"# + JSONValue.quoted(userID) + #","user_info":{"name":"# + JSONValue.quoted(userID) + "}}"
        }
        let auth = PusherSignature.channelAuth(app: app, socketID: socketID, channel: name, channelData: channelData)
        var json = #"{"auth":"# + JSONValue.quoted(auth)
        if let channelData { json += #","channel_data":"# + JSONValue.quoted(channelData) }
        return GatewayService.response(200, json + "}")
    }
}
