import ArgumentParser
import BrokerCore
import BrokerEmbedded
import BrokerRedis
import EchoProtocol
import Foundation
import Logging
import FleetGateway
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

    /// The Redis broker when `REDIS_URL` is set; otherwise the embedded one, or a clear
    /// error for roles that only make sense in a fleet. `gateway`: the role is a gateway
    /// alone, whose command connection gets ``gatewayRedisTimeout``.
    func makeBroker(requireRedis: Bool, gateway: Bool = false) throws -> any Broker {
        guard let url = options.redisURL else {
            if requireRedis {
                throw ValidationError("wscenter \(role) needs Redis: set REDIS_URL (or --redis-url), e.g. REDIS_URL=redis://127.0.0.1:6379")
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

    /// Runs the broker, waits until it is ready, then runs `services` on it until one fails
    /// or SIGTERM/SIGINT arrives. A signal starts a drain (see ``drainThenStop(_:)``); a
    /// second one ends the process at once.
    func start(requireRedis: Bool, services: [RoleService]) async throws {
        if services.contains(.hooks) {
            // Webhook delivery arrives with the Pusher work; say so rather than pretend.
            _ = try makeBroker(requireRedis: requireRedis)
            throw notImplementedYet("webhook delivery (wscenter hooks)")
        }
        let telemetry = Telemetry()
        let broker = MeteredBroker(try makeBroker(requireRedis: requireRedis, gateway: services == [.gateway]), telemetry: telemetry)
        try checkPusherSecrets(refuse: requireRedis)
        let certificates = try options.security.tlsCertificates()
        if let certificates { Self.reloadOnHangUp(certificates, logger: logger) }
        let events = broker.events()
        let brokerTask = Task { try await broker.run() }
        defer { brokerTask.cancel() }
        try await waitUntilReady(events)
        let timeout = Duration.seconds(options.shutdownTimeout)
        // The connections get most of the time; handing sessions over and leaving the fleet's
        // view take the rest (normally milliseconds).
        let budget = max(timeout - .seconds(2), timeout / 2)
        let managed = try services.map { service in
            ServiceGroupConfiguration.ServiceConfiguration(
                service: DrainingService(service: try make(service, on: broker, telemetry: telemetry, certificates: certificates), budget: budget)
            )
        }
        // SIGTERM and SIGINT shut the group down gracefully: each service drains, then stops
        // (a node hands its sessions over and leaves the fleet's view), the last one listed
        // first, while the broker still runs; the broker stops last.
        var configuration = ServiceGroupConfiguration(services: managed, logger: frameworkLogger(logger))
        configuration.gracefulShutdownSignals = [.sigterm, .sigint]
        configuration.maximumGracefulShutdownDuration = timeout
        Self.watchSignals(timeout: timeout, logger: logger)
        try await ServiceGroup(configuration: configuration).run()
        brokerTask.cancel()
        _ = await brokerTask.result
        logger.info("stopped")
    }

    /// Beside the service group's own handling: the first SIGTERM or SIGINT is logged and
    /// arms a watchdog that ends the process (status 1) if the shutdown takes longer than
    /// `timeout`; a second signal ends it at once (status 1).
    private static func watchSignals(timeout: Duration, logger: Logger) {
        Task.detached {
            var seen = 0
            for await signal in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                seen += 1
                if seen == 1 {
                    logger.notice("draining", metadata: ["signal": "\(signal)", "shutdown_timeout": "\(timeout)"])
                    Task.detached {
                        try? await Task.sleep(for: timeout + .milliseconds(500))
                        logger.error("shutdown did not finish within SHUTDOWN_TIMEOUT: exiting", metadata: ["shutdown_timeout": "\(timeout)"])
                        exit(1)
                    }
                } else {
                    logger.warning("second signal: exiting without finishing the drain", metadata: ["signal": "\(signal)"])
                    exit(1)
                }
            }
        }
    }

    /// SIGHUP reads the certificate and key files again: connections accepted from then on
    /// use the new ones. A pair that cannot be used is logged and the old one kept.
    private static func reloadOnHangUp(_ certificates: TLSCertificateStore, logger: Logger) {
        Task.detached {
            for await _ in await UnixSignalsSequence(trapping: .sighup) {
                do {
                    try certificates.reload()
                    logger.notice("TLS certificate reloaded", metadata: ["cert": "\(certificates.certificateFile)"])
                } catch {
                    logger.error("TLS certificate not reloaded: still serving the previous one", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    private func waitUntilReady(_ events: AsyncStream<BrokerEvent>) async throws {
        let ready = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await event in events where event == .connected { return true }
                return false
            }
            group.addTask {
                try await Task.sleep(for: .seconds(10))
                return false
            }
            let first = try await group.next() ?? false
            group.cancelAll()
            return first
        }
        guard ready else {
            throw RoleError("the broker did not become ready within 10 s (is Redis reachable at REDIS_URL?)")
        }
        logger.info("broker ready")
    }

    /// The service that runs `service` on `broker`.
    private func make(_ service: RoleService, on broker: any Broker, telemetry: Telemetry, certificates: TLSCertificateStore?) throws -> any RunningService {
        switch service {
        case .node:
            var configuration = NodeConfiguration(nodeID: nodeID, host: options.host, port: options.port, prefix: options.redisPrefix)
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
                protocols.append(PusherProtocol(configuration: .init(
                    apps: try options.pusherApps(), activityTimeout: options.activityTimeout,
                    maxChannelsPerConnection: options.security.maxChannelsPerConnection, commandRate: options.rateLimit
                )))
            }
            if let echoPath = options.echoPath {
                logger.warning("ECHO_PATH is set: this node echoes every WebSocket message sent to it, without credentials or rate limit; for conformance testing only", metadata: [
                    "echo_path": "\(echoPath)", "max_message_size": "\(configuration.maxMessageSize)",
                ])
                protocols.append(EchoProtocol(path: echoPath))
            }
            return NodeService(configuration: configuration, broker: broker, logger: logger, protocols: protocols, telemetry: telemetry)
        case .gateway:
            var configuration = GatewayConfiguration(
                gatewayID: Self.randomNodeID(), host: options.host, port: options.httpPort,
                prefix: options.redisPrefix, tokens: options.tokens
            )
            configuration.callTimeout = .seconds(options.callTimeout)
            configuration.maxBodySize = options.maxBody
            configuration.httpReadTimeout = .seconds(options.security.httpReadTimeout)
            configuration.tls = certificates
            var routes: [any GatewayRoutes] = []
            if options.security.pusherEnabled {
                routes.append(PusherAPI(configuration: .init(
                    apps: try options.pusherApps(), pathPrefix: options.apiPathPrefix, authDemo: options.authDemo, defaultAppID: options.appID
                )))
            }
            return GatewayService(configuration: configuration, broker: broker, logger: logger, routes: routes, telemetry: telemetry)
        case .hooks:
            throw notImplementedYet("webhook delivery (wscenter hooks)")
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

/// A node or a gateway, as a role runs and drains it.
protocol RunningService: Sendable {
    /// Runs until cancelled.
    func serve() async throws
    /// Starts the drain and waits for it, at most `timeout`.
    func drain(within timeout: Duration) async
}

extension NodeService: RunningService {
    func serve() async throws { try await run(onListening: { _ in }) }
}

extension GatewayService: RunningService {
    func serve() async throws { try await run(onListening: { _ in }) }
    func drain(within timeout: Duration) async { drain() }
}

/// A node or gateway under a service group: it runs until the group shuts down gracefully,
/// then drains (at most `budget`) and stops.
struct DrainingService: Service {
    let service: any RunningService
    let budget: Duration

    func run() async throws {
        // The service runs detached from the group's task: the group's graceful shutdown
        // must start the drain, not reach the HTTP server inside (which would close its
        // listener at once, before the drain, through the task-local shutdown signal).
        let serving = Task.detached { try await service.serve() }
        try await withTaskCancellationHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await serving.value }
                group.addTask {
                    try await gracefulShutdown()
                    await service.drain(within: budget)
                }
                // Whichever ends first (the drain, or the service failing) stops the other;
                // the group then waits until the service has stopped.
                defer {
                    serving.cancel()
                    group.cancelAll()
                }
                try await group.next()
            }
        } onCancel: {
            serving.cancel()
        }
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
