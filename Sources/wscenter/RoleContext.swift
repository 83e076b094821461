import ArgumentParser
import BrokerCore
import BrokerEmbedded
import BrokerRedis
import EchoProtocol
import Logging
import FleetGateway
import Hooks
import FleetNode
import NativeProtocol
import FleetHTTP
import Observability
import PusherAPI
import PusherCore
import PusherProtocol
import Redis
import ServiceLifecycle
import UnixSignals

/// What every role sets up the same way: logging, its node id, its broker.
struct RoleContext {
    let role: String
    let options: CommonOptions
    let nodeID: String
    let logger: Logger

    init(role: String, options: CommonOptions) {
        self.role = role
        self.options = options
        self.nodeID = options.nodeID ?? Self.randomNodeID()
        let level = Logger.Level(rawValue: options.logLevel.lowercased()) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = LogfmtLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "wscenter")
        logger[metadataKey: "role"] = "\(role)"
        logger[metadataKey: "node"] = "\(nodeID)"
        self.logger = logger
    }

    /// 32 random hex digits.
    static func randomNodeID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in
            let value = generator.next() as UInt64
            let hex = String(value, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }

    /// How long a gateway's command connection waits for Redis (a reply, or connecting),
    /// instead of the Redis client's 5 s: an API request is then answered within
    /// `CALL_TIMEOUT` plus about this much even when Redis freezes (docs/api.md).
    static let gatewayRedisTimeout = Duration.seconds(1)

    /// The Redis broker when `REDIS_URL` is set, the cluster broker when `REDIS_CLUSTER_NODES`
    /// is; otherwise the embedded one, or a clear error for roles that only make sense in a
    /// fleet. `gateway`: the role is a gateway alone, whose command connections get
    /// ``gatewayRedisTimeout``.
    func makeBroker(requireRedis: Bool, gateway: Bool = false) throws -> any Broker {
        if let nodes = options.redisClusterNodes {
            guard options.redisURL == nil else {
                throw ValidationError("REDIS_URL and REDIS_CLUSTER_NODES are both set: set one (the cluster's credentials and TLS go in a redis:// or rediss:// entry of REDIS_CLUSTER_NODES)")
            }
            return try makeClusterBroker(nodes: nodes, gateway: gateway)
        }
        guard let url = options.redisURL else {
            if requireRedis {
                throw ValidationError("wscenter \(role) needs Redis: set REDIS_URL (or --redis-url), e.g. REDIS_URL=redis://127.0.0.1:6379, or REDIS_CLUSTER_NODES for a Redis Cluster")
            }
            logger.info("using the embedded broker (no REDIS_URL): a single-process hub")
            return EmbeddedBroker()
        }
        var configuration: RedisConfiguration
        do {
            configuration = try RedisConfiguration(url: url)
        } catch let error as RedisError {
            throw ValidationError("REDIS_URL is not usable: \(error.message)")
        }
        if let caFile = options.security.redisTLSCAFile {
            guard configuration.tls != nil else {
                throw ValidationError("REDIS_TLS_CA_FILE is set but REDIS_URL is not rediss://: use rediss:// for TLS to Redis")
            }
            configuration.tls = RedisTLS(caFile: caFile)
        }
        logger.info("using Redis", metadata: [
            "redis": "\(configuration.host):\(configuration.port)/\(configuration.database)", "tls": "\(configuration.tls != nil)",
        ])
        return RedisBroker(configuration: configuration, commandTimeout: gateway ? Self.gatewayRedisTimeout : nil, logger: logger)
    }

    /// The broker on the Redis Cluster whose seed nodes `nodes` lists (`host:port`, or a URL
    /// whose credentials and TLS then apply to every node).
    private func makeClusterBroker(nodes: String, gateway: Bool) throws -> any Broker {
        let (seeds, configuration) = try Self.clusterSeeds(nodes, caFile: options.security.redisTLSCAFile)
        // A brace in the prefix would be every key's hash tag: the whole fleet in one slot.
        guard !options.redisPrefix.contains("{"), !options.redisPrefix.contains("}") else {
            throw ValidationError("REDIS_PREFIX must not contain { or } on a Redis Cluster: it would put every key in one hash slot")
        }
        var nodeConfiguration = configuration
        if gateway {
            nodeConfiguration.commandTimeout = Self.gatewayRedisTimeout
            nodeConfiguration.connectTimeout = min(configuration.connectTimeout, Self.gatewayRedisTimeout)
        }
        logger.info("using a Redis Cluster", metadata: ["seeds": "\(seeds.joined(separator: ","))", "tls": "\(configuration.tls != nil)"])
        do {
            return try RedisClusterBroker(seeds: seeds, configuration: nodeConfiguration, logger: logger)
        } catch let error as BrokerError {
            throw ValidationError(error.message)
        }
    }

    /// The seeds of `REDIS_CLUSTER_NODES`, and the configuration (credentials, TLS) of its
    /// first URL entry, or the default.
    static func clusterSeeds(_ nodes: String, caFile: String?) throws -> (seeds: [String], configuration: RedisConfiguration) {
        var seeds: [String] = []
        var configuration: RedisConfiguration?
        for entry in nodes.split(separator: ",").map({ String($0.filter { $0 != " " }) }) where !entry.isEmpty {
            guard entry.contains("://") else {
                seeds.append(entry)
                continue
            }
            let parsed: RedisConfiguration
            do {
                parsed = try RedisConfiguration(url: entry)
            } catch let error as RedisError {
                throw ValidationError("REDIS_CLUSTER_NODES: \(entry) is not usable: \(error.message)")
            }
            guard parsed.database == 0 else { throw ValidationError("REDIS_CLUSTER_NODES: a Redis Cluster has only database 0 (\(entry))") }
            seeds.append("\(parsed.host):\(parsed.port)")
            configuration = configuration ?? parsed
        }
        guard !seeds.isEmpty else { throw ValidationError("REDIS_CLUSTER_NODES lists no node: give host:port,host:port,…") }
        var result = configuration ?? RedisConfiguration()
        if let caFile {
            guard result.tls != nil else {
                throw ValidationError("REDIS_TLS_CA_FILE is set but no REDIS_CLUSTER_NODES entry is rediss://: use rediss:// for TLS to Redis")
            }
            result.tls = RedisTLS(caFile: caFile)
        }
        return (seeds, result)
    }

    /// Runs the role's services in one `ServiceGroup`, until one fails or SIGTERM/SIGINT
    /// arrives. In the order they start (a signal stops them in reverse, one after the other):
    /// the shutdown watchdog, the certificate reloader, the broker, then each role's services
    /// (see `NodeService.services(onListening:)` and `GatewayService.services(onListening:)`).
    /// So a signal drains the roles first, a gateway finishing its requests and a node closing
    /// its WebSockets while its server still answers `/readyz` with 503; the broker stops
    /// after every service that uses it, the watchdog last.
    func start(requireRedis: Bool, services: [RoleService]) async throws {
        let telemetry = Telemetry()
        let broker = MeteredBroker(try makeBroker(requireRedis: requireRedis, gateway: services == [.gateway]), telemetry: telemetry)
        try checkPusherSecrets(refuse: requireRedis)
        let certificates = try options.security.tlsCertificates()
        let timeout = Duration.seconds(options.shutdownTimeout)
        var managed: [any Service] = [ShutdownWatchdog(timeout: timeout, logger: logger)]
        if let certificates { managed.append(CertificateReloader(certificates: certificates, logger: logger)) }
        managed.append(BrokerService(broker: broker, logger: logger))
        for service in services {
            managed += try make(service, on: broker, telemetry: telemetry, certificates: certificates, shutdownTimeout: timeout)
        }
        // The group turns the first SIGTERM or SIGINT into a graceful shutdown; what happens
        // after that (a second signal, SHUTDOWN_TIMEOUT) is the watchdog's.
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: managed, gracefulShutdownSignals: [.sigterm, .sigint], logger: frameworkLogger(logger)
        ))
        try await group.run()
        logger.info("stopped")
    }

    /// The services that run `service` on `broker`, in their order in the group.
    private func make(
        _ service: RoleService, on broker: any Broker, telemetry: Telemetry, certificates: TLSCertificateStore?, shutdownTimeout: Duration
    ) throws -> [any Service] {
        switch service {
        case .node:
            var configuration = NodeConfiguration(nodeID: nodeID, host: options.host, port: options.port, prefix: options.redisPrefix)
            configuration.advertisedHost = options.advertiseHost
            configuration.heartbeatInterval = .seconds(options.nodeHeartbeatInterval)
            configuration.heartbeatTTL = .seconds(options.nodeHeartbeatTTL)
            configuration.webSocketPingInterval = .seconds(options.heartbeatInterval)
            configuration.webSocketTimeout = .seconds(options.heartbeatTimeout)
            configuration.maxMessageSize = options.maxMessageSize
            configuration.callTimeout = .seconds(options.callTimeout)
            configuration.reconnectionTTL = .seconds(options.reconnectionTTL)
            configuration.awayLimits = AwaySessionLimits(
                replayMax: options.replayMax, replayMaxBytes: options.security.replayMaxBytes,
                maxPerAddress: options.security.maxAwaySessionsPerIP, maxPerRoom: options.security.maxAwaySessionsPerRoom
            )
            // Dead nodes are cleaned up (presence members removed) about one heartbeat after their TTL.
            configuration.janitorInterval = .seconds(options.nodeHeartbeatInterval)
            configuration.httpReadTimeout = .seconds(options.security.httpReadTimeout)
            configuration.maxConnections = options.security.maxConnections
            configuration.maxConnectionsPerIP = options.security.maxConnectionsPerIP
            configuration.allowedOrigins = try options.security.allowedOrigins()
            configuration.outboxMaxBytes = options.security.maxQueuedBytes
            configuration.tls = certificates
            // The connections get most of the shutdown's time; handing sessions over and
            // leaving the fleet's view take the rest (normally milliseconds).
            configuration.drainTimeout = max(shutdownTimeout - .seconds(2), shutdownTimeout / 2)
            let native = NativeProtocol(configuration: .init(
                rooms: RoomPolicy(
                    clientJoin: RoomPolicy.ClientJoin(options.clientJoin) ?? .standard,
                    maxConnectionsPerRoom: options.maxConnectionsPerRoom,
                    maxRoomsPerConnection: options.maxRoomsPerConnection
                ),
                rateLimit: options.rateLimit,
                authenticator: ClientAuthenticator(
                    tokens: options.clientTokens, jwtSecret: options.jwtSecret,
                    issuer: options.security.jwtIssuer, audience: options.security.jwtAudience
                ),
                reconnectionMaxAttempts: options.reconnectionMaxAttempts
            ))
            var protocols: [any ClientProtocol] = [native]
            if options.security.pusherEnabled {
                let apps = try options.pusherApps()
                var pusher = PusherProtocol.Configuration(
                    apps: apps, activityTimeout: options.activityTimeout,
                    maxChannelsPerConnection: options.security.maxChannelsPerConnection, commandRate: options.rateLimit
                )
                if apps.all.contains(where: { !$0.webhooks.isEmpty }) {
                    // The apps' webhook events go to the queue; hooks workers deliver them.
                    pusher.webhooks = PusherWebhookSettings(
                        vacateDelay: .seconds(options.webhooks.vacateDelay), spoolFile: options.webhooks.spoolFile(nodeID: nodeID, of: "pusher"),
                        spoolCapacity: options.webhooks.spoolMax
                    )
                }
                protocols.append(PusherProtocol(configuration: pusher))
            }
            if let echoPath = options.echoPath {
                logger.warning("ECHO_PATH is set: this node echoes every WebSocket message sent to it, without credentials or rate limit; for conformance testing only", metadata: [
                    "echo_path": "\(echoPath)", "max_message_size": "\(configuration.maxMessageSize)",
                ])
                protocols.append(EchoProtocol(path: echoPath))
            }
            let node = NodeService(configuration: configuration, broker: broker, logger: logger, protocols: protocols, telemetry: telemetry)
            var services = node.services()
            if options.webhooks.url != nil {
                // The native events go to the webhook queue; a hooks worker delivers them.
                let outbox = HookOutbox(
                    queue: HookQueue(broker: broker, keys: HookKeys(prefix: options.redisPrefix)),
                    file: options.webhooks.spoolFile(nodeID: nodeID, of: "native"), capacity: options.webhooks.spoolMax,
                    telemetry: telemetry, logger: logger
                )
                services.append(NativeHookProducer(events: node.connectionEvents(), outbox: outbox, names: options.webhooks.nativeEventNames, logger: logger))
            }
            return services
        case .gateway:
            var configuration = GatewayConfiguration(
                gatewayID: Self.randomNodeID(), host: options.host, port: options.httpPort,
                prefix: options.redisPrefix, tokens: options.tokens
            )
            configuration.callTimeout = .seconds(options.callTimeout)
            configuration.maxBodySize = options.maxBody
            configuration.httpReadTimeout = .seconds(options.security.httpReadTimeout)
            configuration.tls = certificates
            let hookSources = try options.webhooks.endpoints(apps: options.security.pusherEnabled ? try options.pusherApps() : nil).keys
            if !hookSources.isEmpty {
                let (keys, sources) = (HookKeys(prefix: options.redisPrefix), hookSources.sorted { $0.description < $1.description })
                configuration.webhookDeadLetters = { try await HookDeadLetters.read(broker: broker, keys: keys, sources: sources) }
            }
            if let nodes = options.redisClusterNodes, let seeds = try? Self.clusterSeeds(nodes, caFile: nil).seeds {
                configuration.brokerKind = "redis-cluster"
                configuration.brokerAddress = seeds.joined(separator: ",")
            } else {
                configuration.brokerKind = options.redisURL == nil ? "embedded" : "redis"
                if let url = options.redisURL, let redis = try? RedisConfiguration(url: url) {
                    configuration.brokerAddress = "\(redis.host):\(redis.port)"
                }
            }
            var routes: [any GatewayRoutes] = [BrowserGatewayRoutes()]
            if options.security.pusherEnabled {
                routes.append(PusherAPI(configuration: .init(
                    apps: try options.pusherApps(), pathPrefix: options.apiPathPrefix, authDemo: options.authDemo, defaultAppID: options.appID
                )))
            }
            return GatewayService(configuration: configuration, broker: broker, logger: logger, routes: routes, telemetry: telemetry).services()
        case .hooks:
            let sources = try options.webhooks.endpoints(apps: options.security.pusherEnabled ? try options.pusherApps() : nil)
            var services: [any Service] = []
            if sources.isEmpty {
                // `serve` without webhooks configured runs no worker; `hooks` says why it idles.
                if role == "hooks" {
                    logger.warning("no webhook endpoints: set APP_WEBHOOK_URL, WEBHOOK_URL or an app's webhooks in APPS_FILE")
                }
            } else {
                var configuration = HookWorkerConfiguration(consumer: "hooks-" + Self.randomNodeID())
                configuration.retryFor = .seconds(options.webhooks.retryFor)
                logger.info("delivering webhooks", metadata: [
                    "sources": "\(sources.keys.map(\.description).sorted().joined(separator: ","))", "retry_for": "\(options.webhooks.retryFor)s",
                ])
                services.append(HookWorker(
                    broker: broker, keys: HookKeys(prefix: options.redisPrefix), sources: sources, configuration: configuration,
                    meter: HookMeter(telemetry: telemetry), logger: logger
                ))
            }
            if role == "hooks" {
                // Alone, the worker has its own /healthz, /readyz and /metrics (in serve, the
                // gateway's port shows its metrics).
                services.append(HooksServer(
                    broker: broker, host: options.host, port: options.httpPort, telemetry: telemetry,
                    readTimeout: .seconds(options.security.httpReadTimeout), certificates: certificates, logger: logger
                ))
            }
            return services
        }
    }

    /// The published default Pusher secret lets anyone sign REST calls, private and presence
    /// subscriptions and sign-ins. A fleet role (`node`, `gateway`) refuses to start with it;
    /// `serve`, for trying things out, says loudly what it means.
    private func checkPusherSecrets(refuse: Bool) throws {
        guard options.security.pusherEnabled else { return }
        let exposed = try options.pusherApps().all.filter { $0.secret == CommonOptions.publishedAppSecret }.map(\.id)
        guard !exposed.isEmpty else { return }
        let what = "the Pusher secret of app \(exposed.joined(separator: ", ")) is the published default \"\(CommonOptions.publishedAppSecret)\""
        let fix = "Set APP_SECRET (and APP_KEY) to your own values, e.g. APP_SECRET=$(openssl rand -hex 32), and the apps' secrets in APPS_FILE; or turn the Pusher side off with PUSHER_ENABLED=false"
        if refuse {
            throw RoleError("wscenter \(role): \(what): anyone could sign Pusher REST calls and private and presence subscriptions. \(fix)")
        }
        logger.error("INSECURE: \(what): anyone who can reach this process can sign Pusher REST calls and private and presence subscriptions; fine for trying serve on your machine, never for a server others can reach. \(fix)")
    }

    /// The honest answer for a role whose server is not built yet.
    func notImplementedYet(_ what: String) -> RoleError {
        logger.error("not implemented yet", metadata: ["missing": "\(what)"])
        return RoleError("wscenter \(role): not implemented yet: \(what)")
    }
}

/// A service a role runs on its broker.
enum RoleService: Sendable, Hashable {
    case node, gateway, hooks
}

/// A fatal error of a role: printed as one line, exit code 1.
struct RoleError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
