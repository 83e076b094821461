import ArgumentParser
import BrokerCore
import BrokerEmbedded
import BrokerRedis
import Foundation
import Logging
import FleetGateway
import FleetNode
import NativeProtocol
import PusherAPI
import PusherCore
import PusherProtocol
import Redis
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
            var handler = StreamLogHandler.standardError(label: label)
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

    /// The Redis broker when `REDIS_URL` is set; otherwise the embedded one, or a clear
    /// error for roles that only make sense in a fleet.
    func makeBroker(requireRedis: Bool) throws -> any Broker {
        guard let url = options.redisURL else {
            if requireRedis {
                throw ValidationError("wscenter \(role) needs Redis: set REDIS_URL (or --redis-url), e.g. REDIS_URL=redis://127.0.0.1:6379")
            }
            logger.info("using the embedded broker (no REDIS_URL): a single-process hub")
            return EmbeddedBroker()
        }
        let configuration: RedisConfiguration
        do {
            configuration = try RedisConfiguration(url: url)
        } catch let error as RedisError {
            throw ValidationError("REDIS_URL is not usable: \(error.message)")
        }
        logger.info("using Redis", metadata: ["redis": "\(configuration.host):\(configuration.port)/\(configuration.database)"])
        return RedisBroker(configuration: configuration, logger: logger)
    }

    /// Runs the broker, waits until it is ready, then runs `services` on it until one fails
    /// or the process is stopped.
    func start(requireRedis: Bool, services: [RoleService]) async throws {
        if services.contains(.hooks) {
            // Webhook delivery arrives with the Pusher work; say so rather than pretend.
            _ = try makeBroker(requireRedis: requireRedis)
            throw notImplementedYet("webhook delivery (wscenter hooks)")
        }
        let broker = try makeBroker(requireRedis: requireRedis)
        let events = broker.events()
        let brokerTask = Task { try await broker.run() }
        defer { brokerTask.cancel() }
        try await waitUntilReady(events)
        // The services run until one fails or SIGTERM/SIGINT arrives; then they stop (a node
        // leaves the fleet's view) while the broker still runs, and the broker stops last.
        let logger = logger
        try await withThrowingTaskGroup(of: Void.self) { group in
            for service in services {
                group.addTask { try await self.run(service, on: broker) }
            }
            group.addTask {
                for await signal in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                    logger.notice("stopping", metadata: ["signal": "\(signal)"])
                    return
                }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
        brokerTask.cancel()
        _ = await brokerTask.result
        logger.info("stopped")
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

    private func run(_ service: RoleService, on broker: any Broker) async throws {
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
            configuration.replayMax = options.replayMax
            // Dead nodes are cleaned up (presence members removed) about one heartbeat after their TTL.
            configuration.janitorInterval = .seconds(options.nodeHeartbeatInterval)
            let native = NativeProtocol(configuration: .init(
                rooms: RoomPolicy(
                    clientJoin: RoomPolicy.ClientJoin(options.clientJoin) ?? .all,
                    maxConnectionsPerRoom: options.maxConnectionsPerRoom,
                    maxRoomsPerConnection: options.maxRoomsPerConnection
                ),
                rateLimit: options.rateLimit,
                authenticator: ClientAuthenticator(tokens: options.clientTokens, jwtSecret: options.jwtSecret),
                reconnectionMaxAttempts: options.reconnectionMaxAttempts
            ))
            let pusher = PusherProtocol(configuration: .init(apps: try options.pusherApps(), activityTimeout: options.activityTimeout))
            try await NodeService(configuration: configuration, broker: broker, logger: logger, protocols: [native, pusher]).run()
        case .gateway:
            var configuration = GatewayConfiguration(
                gatewayID: Self.randomNodeID(), host: options.host, port: options.httpPort,
                prefix: options.redisPrefix, tokens: options.tokens
            )
            configuration.callTimeout = .seconds(options.callTimeout)
            configuration.maxBodySize = options.maxBody
            let pusher = PusherAPI(configuration: .init(
                apps: try options.pusherApps(), pathPrefix: options.apiPathPrefix, authDemo: options.authDemo, defaultAppID: options.appID
            ))
            try await GatewayService(configuration: configuration, broker: broker, logger: logger, routes: [pusher]).run()
        case .hooks:
            throw notImplementedYet("webhook delivery (wscenter hooks)")
        }
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
