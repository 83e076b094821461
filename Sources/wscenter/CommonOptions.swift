import ArgumentParser
import EchoProtocol
import Foundation
import Logging
import NativeProtocol
import PusherCore

/// Options every role shares. Each is a flag and an environment variable (the flag wins).
struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("redis-url"), help: "redis://[user:pass@]host:port[/db] (env REDIS_URL).")
    var redisURLFlag: String?
    /// The flag, else `REDIS_URL`.
    var redisURL: String? { redisURLFlag ?? environment("REDIS_URL") }

    @Option(name: .customLong("redis-cluster-nodes"), help: "A Redis Cluster's seed nodes instead of REDIS_URL: host:port,host:port,… (an entry may be a redis:// or rediss:// URL, whose credentials and TLS apply to every node) (env REDIS_CLUSTER_NODES).")
    var redisClusterNodesFlag: String?
    /// The flag, else `REDIS_CLUSTER_NODES`.
    var redisClusterNodes: String? { redisClusterNodesFlag ?? environment("REDIS_CLUSTER_NODES") }

    @Option(help: "Bind address (env HOST).")
    var host: String = environment("HOST") ?? "0.0.0.0"

    @Option(name: .customLong("advertise-host"), help: "The host name or address clients reach this node at, announced in its heartbeat and getStats (env ADVERTISE_HOST; default: HOST, or this machine's host name when HOST binds every interface).")
    var advertiseHostFlag: String?
    /// The flag, else `ADVERTISE_HOST`; nil when neither is set.
    var advertiseHost: String? { advertiseHostFlag ?? environment("ADVERTISE_HOST") }

    @Option(help: "Node WebSocket port; 0 picks a free one (env PORT).")
    var port: Int = Environment.value("PORT", 8090)

    @Option(name: .customLong("http-port"), help: "Gateway HTTP port; 0 picks a free one (env HTTP_PORT).")
    var httpPort: Int = Environment.value("HTTP_PORT", 8011)

    @Option(name: .customLong("node-id"), help: "This node's id in master_ids (env NODE_ID; default random 32 hex).")
    var nodeIDFlag: String?
    /// The flag, else `NODE_ID`.
    var nodeID: String? { nodeIDFlag ?? environment("NODE_ID") }

    @Option(name: .customLong("redis-prefix"), help: "Prefix of every Redis key and channel (env REDIS_PREFIX).")
    var redisPrefix: String = environment("REDIS_PREFIX") ?? "wsc:"

    @Option(name: .customLong("token"), help: "API tokens, comma-separated; unset = API open (env TOKEN).")
    var tokenFlag: String?
    /// The flag, else `TOKEN`.
    var token: String? { tokenFlag ?? environment("TOKEN") }

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical (env LOG_LEVEL).")
    var logLevel: String = environment("LOG_LEVEL") ?? "info"

    @Option(name: .customLong("shutdown-timeout"), help: "Seconds a drain (SIGTERM, SIGINT) may take before the process exits anyway; keep it below Kubernetes' terminationGracePeriodSeconds (env SHUTDOWN_TIMEOUT).")
    var shutdownTimeout: Double = Environment.value("SHUTDOWN_TIMEOUT", 10)

    @Option(name: .customLong("node-heartbeat-interval"), help: "Seconds between a node's heartbeats (env NODE_HEARTBEAT_INTERVAL).")
    var nodeHeartbeatInterval: Double = Environment.value("NODE_HEARTBEAT_INTERVAL", 1)

    @Option(name: .customLong("node-heartbeat-ttl"), help: "Seconds a heartbeat keeps a node in master_ids (env NODE_HEARTBEAT_TTL).")
    var nodeHeartbeatTTL: Double = Environment.value("NODE_HEARTBEAT_TTL", 3)

    @Option(name: .customLong("call-timeout"), help: "Seconds a gateway (or a node, for a client's room broadcast) waits for the nodes' replies (env CALL_TIMEOUT).")
    var callTimeout: Double = Environment.value("CALL_TIMEOUT", 2)

    @Option(name: .customLong("max-body"), help: "Largest API request body in bytes (env MAX_BODY).")
    var maxBody: Int = Environment.value("MAX_BODY", 1 << 20)

    @Option(name: .customLong("heartbeat-interval"), help: "Seconds between WebSocket pings to each client (env HEARTBEAT_INTERVAL).")
    var heartbeatInterval: Double = Environment.value("HEARTBEAT_INTERVAL", 25)

    @Option(name: .customLong("heartbeat-timeout"), help: "Longest a dead client lingers: pings go out every min(interval, timeout/2) s and one unanswered for a whole period closes with 1001 (env HEARTBEAT_TIMEOUT).")
    var heartbeatTimeout: Double = Environment.value("HEARTBEAT_TIMEOUT", 60)

    @Option(name: .customLong("max-message-size"), help: "Largest WebSocket message from a client in bytes; larger closes with 1009 (env MAX_MESSAGE_SIZE).")
    var maxMessageSize: Int = Environment.value("MAX_MESSAGE_SIZE", 64 * 1024)

    @Option(name: .customLong("rate-limit"), help: "Messages per second a client may send; 0 = unlimited (env RATE_LIMIT).")
    var rateLimit: Double = Environment.value("RATE_LIMIT", 50)

    @Option(name: .customLong("client-join"), help: "Rooms clients may join themselves: comma-separated patterns (* = any run of characters), all (API groups included), or none (env CLIENT_JOIN; default room:*).")
    var clientJoin: String = environment("CLIENT_JOIN") ?? "room:*"

    @Option(name: .customLong("max-connections-per-room"), help: "Connections a room may hold across the fleet for client joins; 0 = unlimited (env MAX_CONNECTIONS_PER_ROOM).")
    var maxConnectionsPerRoom: Int = Environment.value("MAX_CONNECTIONS_PER_ROOM", 0)

    @Option(name: .customLong("max-rooms-per-connection"), help: "Rooms a connection may be in when it joins one itself (API joins are not limited); 0 = unlimited (env MAX_ROOMS_PER_CONNECTION).")
    var maxRoomsPerConnection: Int = Environment.value("MAX_ROOMS_PER_CONNECTION", RoomPolicy.defaultMaxRoomsPerConnection)

    @Option(name: .customLong("reconnection-ttl"), help: "Seconds a disconnected client's session waits to be resumed (env RECONNECTION_TTL).")
    var reconnectionTTL: Double = Environment.value("RECONNECTION_TTL", 300)

    @Option(name: .customLong("reconnection-max-attempts"), help: "Failed reconnects a connection may make before it is closed (env RECONNECTION_MAX_ATTEMPTS).")
    var reconnectionMaxAttempts: Int = Environment.value("RECONNECTION_MAX_ATTEMPTS", 5)

    @Option(name: .customLong("replay-max"), help: "Messages kept for a disconnected client and replayed when it resumes (env REPLAY_MAX).")
    var replayMax: Int = Environment.value("REPLAY_MAX", 100)

    @Option(name: .customLong("client-tokens"), help: "Tokens a WebSocket client must present (?token= or Authorization: Bearer), comma-separated (env CLIENT_TOKENS).")
    var clientTokensFlag: String?
    /// The flag, else `CLIENT_TOKENS`, split on commas.
    var clientTokens: Set<String> { Self.split(clientTokensFlag ?? environment("CLIENT_TOKENS")) }

    @Option(name: .customLong("jwt-secret"), help: "HS256 secret of JWTs WebSocket clients may present; `sub` binds the user id (env JWT_SECRET).")
    var jwtSecretFlag: String?
    /// The flag, else `JWT_SECRET`.
    var jwtSecret: String? { jwtSecretFlag ?? environment("JWT_SECRET") }

    @Option(name: .customLong("echo-path"), help: "A node path, e.g. /echo, whose WebSockets get every message echoed back, up to --max-message-size; for conformance testing only: no credentials, no rate limit; unset = not served (env ECHO_PATH).")
    var echoPathFlag: String?
    /// The flag, else `ECHO_PATH`; nil = no echo path.
    var echoPath: String? { echoPathFlag ?? environment("ECHO_PATH") }

    @OptionGroup(title: "Security and limits")
    var security: SecurityOptions

    @OptionGroup(title: "Webhooks")
    var webhooks: WebhookOptions

    // MARK: Pusher

    @Option(name: .customLong("app-id"), help: "The default Pusher app's id; the official SDKs need it numeric (env APP_ID).")
    var appID: String = environment("APP_ID") ?? "1"

    @Option(name: .customLong("app-key"), help: "The default Pusher app's key (env APP_KEY).")
    var appKey: String = environment("APP_KEY") ?? "app-key"

    /// The default app's secret as the docs publish it: for trying `serve` only; `node` and
    /// `gateway` refuse to start with it.
    static let publishedAppSecret = "app-secret"

    @Option(name: .customLong("app-secret"), help: "The default Pusher app's secret; unset = the published \"app-secret\", which node and gateway refuse (env APP_SECRET).")
    var appSecret: String = environment("APP_SECRET") ?? publishedAppSecret

    @Option(name: .customLong("app-enable-client-messages"), help: "Whether the default app relays client- events: true or false (env APP_ENABLE_CLIENT_MESSAGES).")
    var appEnableClientMessages: String = environment("APP_ENABLE_CLIENT_MESSAGES") ?? "true"

    @Option(name: .customLong("apps-file"), help: "JSON file of more Pusher apps (env APPS_FILE).")
    var appsFileFlag: String?
    var appsFile: String? { appsFileFlag ?? environment("APPS_FILE") }

    @Option(name: .customLong("activity-timeout"), help: "Seconds of silence before a Pusher client is pinged (env ACTIVITY_TIMEOUT).")
    var activityTimeout: Int = Environment.value("ACTIVITY_TIMEOUT", 120)

    @Option(name: .customLong("api-path-prefix"), help: "Path prefix a reverse proxy adds before the Pusher REST API, e.g. /pusher (env API_PATH_PREFIX).")
    var apiPathPrefix: String = environment("API_PATH_PREFIX") ?? ""

    @Option(name: .customLong("auth-demo"), help: "true: POST /pusher/auth signs any subscription for the default app; INSECURE, demos only (env AUTH_DEMO).")
    var authDemoFlag: String?
    var authDemo: Bool { Self.flag(authDemoFlag ?? environment("AUTH_DEMO")) == true }

    /// "1", "true", "yes", "on" → true; "0", "false", "no", "off" → false; else nil.
    static func flag(_ text: String?) -> Bool? {
        text.flatMap(Environment.parseFlag)
    }

    /// The default app and those of `APPS_FILE`.
    func pusherApps() throws -> PusherApps {
        var app = PusherApp(id: appID, key: appKey, secret: appSecret)
        app.enableClientMessages = Self.flag(appEnableClientMessages) ?? true
        if let url = webhooks.appURL {
            app.webhooks = [PusherApp.Webhook(url: url, eventTypes: WebhookOptions.list(webhooks.appEvents))]
        }
        do {
            return try PusherApps.load(defaultApp: app, file: appsFile)
        } catch let error as PusherAppsError {
            throw ValidationError(error.description)
        }
    }

    static func split(_ list: String?) -> Set<String> {
        Set((list ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }

    /// The tokens, split on commas; empty when unset.
    var tokens: Set<String> { Self.split(token) }

    func validate() throws {
        // A variable that did not parse was replaced by its default only until now.
        let unparsable = Environment.unparsable
        if !unparsable.isEmpty {
            throw ValidationError(unparsable.joined(separator: "; ") + ": fix or unset \(unparsable.count == 1 ? "it" : "them")")
        }
        for (name, value) in [
            ("--node-heartbeat-interval (NODE_HEARTBEAT_INTERVAL)", nodeHeartbeatInterval), ("--node-heartbeat-ttl (NODE_HEARTBEAT_TTL)", nodeHeartbeatTTL),
            ("--call-timeout (CALL_TIMEOUT)", callTimeout),
        ] where !(value > 0 && value <= 3600) {
            throw ValidationError("\(name) must be a number of seconds in (0, 3600], got \(value)")
        }
        if !(shutdownTimeout >= 1 && shutdownTimeout <= 3600) {
            throw ValidationError("--shutdown-timeout (SHUTDOWN_TIMEOUT) must be a number of seconds in [1, 3600], got \(shutdownTimeout)")
        }
        if Logger.Level(rawValue: logLevel.lowercased()) == nil {
            throw ValidationError("--log-level (LOG_LEVEL) must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), got \(logLevel)")
        }
        if nodeHeartbeatTTL <= nodeHeartbeatInterval {
            throw ValidationError("--node-heartbeat-ttl (\(nodeHeartbeatTTL) s) must be longer than --node-heartbeat-interval (\(nodeHeartbeatInterval) s)")
        }
        for (name, value) in [("--heartbeat-interval (HEARTBEAT_INTERVAL)", heartbeatInterval), ("--heartbeat-timeout (HEARTBEAT_TIMEOUT)", heartbeatTimeout)]
        where !(value >= 0.1 && value <= 86_400) {
            throw ValidationError("\(name) must be a number of seconds in [0.1, 86400], got \(value)")
        }
        if !(reconnectionTTL >= 1 && reconnectionTTL <= 86_400) || reconnectionMaxAttempts < 1 || replayMax < 1 {
            throw ValidationError("--reconnection-ttl (RECONNECTION_TTL) must be 1-86400 seconds and --reconnection-max-attempts (RECONNECTION_MAX_ATTEMPTS) and --replay-max (REPLAY_MAX) at least 1")
        }
        if maxMessageSize < 16 || !(rateLimit >= 0 && rateLimit.isFinite) || maxConnectionsPerRoom < 0 || maxRoomsPerConnection < 0 {
            throw ValidationError("--max-message-size (MAX_MESSAGE_SIZE) must be at least 16; --rate-limit (RATE_LIMIT) and the room limits must be finite and not negative")
        }
        if RoomPolicy.ClientJoin(clientJoin) == nil {
            throw ValidationError("--client-join (CLIENT_JOIN) must be all, none or a comma-separated list of room patterns, got \(clientJoin)")
        }
        if maxBody < 1 {
            throw ValidationError("--max-body (MAX_BODY) must be at least 1 byte")
        }
        for (name, value) in [("--port (PORT)", port), ("--http-port (HTTP_PORT)", httpPort)] where !(0...65535).contains(value) {
            throw ValidationError("\(name) must be 0-65535, got \(value)")
        }
        if Self.flag(appEnableClientMessages) == nil {
            throw ValidationError("--app-enable-client-messages (APP_ENABLE_CLIENT_MESSAGES) must be true or false, got \(appEnableClientMessages)")
        }
        if let demo = authDemoFlag ?? environment("AUTH_DEMO"), Self.flag(demo) == nil {
            throw ValidationError("--auth-demo (AUTH_DEMO) must be true or false, got \(demo)")
        }
        if !(10...3600).contains(activityTimeout) {
            throw ValidationError("--activity-timeout (ACTIVITY_TIMEOUT) must be 10-3600 seconds, got \(activityTimeout)")
        }
        if let jwtSecret, jwtSecret.utf8.count < ClientAuthenticator.minimumSecretLength {
            throw ValidationError("--jwt-secret (JWT_SECRET) must be at least \(ClientAuthenticator.minimumSecretLength) bytes (HS256 needs a 256-bit key); e.g. openssl rand -hex 32")
        }
        try security.validate()
        if let echoPath, let problem = EchoProtocol.problem(with: echoPath) {
            throw ValidationError("--echo-path (ECHO_PATH) \(problem), got \(echoPath)")
        }
        _ = try pusherApps()
        if let nodeID, nodeID.isEmpty || nodeID.contains(where: { $0.isWhitespace }) {
            throw ValidationError("--node-id must be non-empty and without spaces")
        }
    }
}
