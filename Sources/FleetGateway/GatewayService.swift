import BrokerCore
import FleetCore
import FleetHTTP
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Observability
import ServiceLifecycle
import Synchronization

/// How a gateway runs.
package struct GatewayConfiguration: Sendable {
    package var gatewayID: String
    package var host: String
    /// HTTP port; 0 picks a free one.
    package var port: Int
    package var prefix: String
    /// Accepted API tokens; empty = the API is open.
    package var tokens: Set<String>
    /// How long to wait for the nodes' replies.
    package var callTimeout: Duration = .seconds(2)
    /// Largest request body accepted (bytes).
    package var maxBodySize: Int = 1 << 20
    /// How long a connection has to send each request (head and body), and may idle between
    /// requests, before it is closed; nil for no limit (`HTTP_READ_TIMEOUT`).
    package var httpReadTimeout: Duration? = .seconds(30)
    /// The certificate the gateway serves `https://` with (`TLS_CERT_FILE`, `TLS_KEY_FILE`); nil: plain HTTP.
    package var tls: TLSCertificateStore?
    /// Answers `getWebhookDeadLetters`: each webhook source's dead letters; nil when no
    /// webhooks are configured (the answer is then empty).
    package var webhookDeadLetters: (@Sendable () async throws -> [String: OperationResult])?
    /// What `getBroker` calls the broker: `redis` or `embedded`.
    package var brokerKind = "redis"
    /// Where the broker is (`host:port`, no credentials), for `getBroker`; nil when in process.
    package var brokerAddress: String?

    package init(gatewayID: String, host: String = "0.0.0.0", port: Int = 8011, prefix: String = "wsc:", tokens: Set<String> = []) {
        self.gatewayID = gatewayID
        self.host = host
        self.port = port
        self.prefix = prefix
        self.tokens = tokens
    }
}

/// More HTTP routes a gateway serves beside the event API (the Pusher REST API), each API
/// in its own module.
package protocol GatewayRoutes: Sendable {
    /// Adds the routes; `gateway` gives the broker, the live nodes and the configuration.
    func addRoutes(to router: Router<BasicRequestContext>, gateway: GatewayService)
    /// The event API's events these routes' API answers (see ``GatewayEventAnswer``); none
    /// by default.
    func gatewayEvents(gateway: GatewayService) -> [FleetEvent: GatewayEventAnswer]
}

/// The stateless HTTP gateway: parses event API requests, runs them across the live nodes
/// through the broker, and answers in the seed's JSON shape.
package final class GatewayService: Sendable {
    package let configuration: GatewayConfiguration
    /// The broker, for the routes of other APIs.
    package let broker: any Broker
    let keys: FleetKeys
    package let logger: Logger
    /// The live nodes (`master_ids`).
    package let directory: NodeDirectory
    let routes: [any GatewayRoutes]
    /// The API tokens, for constant-time checks.
    let credentials: Credentials
    /// The process's metrics (shared with a node in the same process).
    package let telemetry: Telemetry
    let meter: APIMeter
    private let draining = Atomic<Bool>(false)
    /// Where the gateway is in its life: its call runner exists only while it runs, and its
    /// server waits until it does.
    let lifecycle = LifecycleState<CallRunner>()
    /// Whether the broker's links are up (replies arrive by pub/sub), for readiness.
    private let brokerLink = BrokerLinkState()

    package init(
        configuration: GatewayConfiguration, broker: any Broker, logger: Logger, routes: [any GatewayRoutes] = [],
        telemetry: Telemetry = Telemetry()
    ) {
        self.configuration = configuration
        self.telemetry = telemetry
        self.meter = APIMeter(telemetry: telemetry)
        self.broker = broker
        self.keys = FleetKeys(prefix: configuration.prefix, sharded: broker.isSharded)
        self.logger = logger
        self.directory = NodeDirectory(broker: broker, keys: keys)
        self.routes = routes
        self.credentials = Credentials(configuration.tokens)
    }

    /// The gateway as the services of a `ServiceGroup`, in order: the gateway, then its HTTP
    /// server.
    ///
    /// A group shuts its services down in reverse order, one after the other. So on a graceful
    /// shutdown (SIGTERM) the server stops first — `/readyz` answers 503, the listener
    /// closes, the requests in flight finish — while the gateway still receives the nodes'
    /// replies those requests wait for; then the gateway stops. Cancelling the group stops
    /// both at once. The broker must run (and stop) outside these services: before them in the
    /// same group, or around it.
    /// - Parameter onListening: told the HTTP port once the server listens.
    package func services(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) -> [any Service] {
        [self, GatewayServer(gateway: self, onListening: onListening)]
    }

    // MARK: Operations

    /// Whether the gateway is draining: `/readyz` answers 503 while it finishes its requests.
    package var isDraining: Bool { draining.load(ordering: .relaxed) }

    /// Starts the drain: `/readyz` answers 503 at once, so that load balancers stop sending
    /// requests. The server's graceful shutdown does this, as it closes the listener and
    /// finishes the requests in flight.
    package func drain() {
        guard !draining.exchange(true, ordering: .relaxed) else { return }
        telemetry.startedDraining()
        logger.notice("draining: not ready; requests in flight will finish")
    }

    /// Whether the broker's links are up (as its events said last).
    var brokerLinkIsUp: Bool { brokerLink.isUp }
    /// Why the broker's links are down; nil while they are up.
    var brokerLinkDownReason: String? { brokerLink.unreadyReason }

    /// Ready when not draining and the broker answers.
    package func readiness() async -> ReadinessReport {
        var report = ReadinessReport()
        if isDraining { report.reasons.append("draining: this gateway is shutting down") }
        if let down = brokerLink.unreadyReason { report.reasons.append(down) }
        let key = keys.nodes
        if case .failure(let failure) = await ReadinessCheck.broker({ try await self.broker.execute(.ttl(key: key)) }) {
            report.reasons.append(failure.description)
        }
        return report
    }

    /// Why a caller may not use the event API, or nil when it may: the token comes from
    /// `?token=` or `Authorization: Bearer`, and is checked in constant time. It is checked
    /// before anything else is read (the body included), so that a caller without one learns
    /// nothing and costs nothing.
    func refusal(query: Substring, authorization: String?) -> APIError? {
        guard !credentials.isEmpty else { return nil }
        guard let token = Self.token(in: query) ?? BearerToken.parse(authorization) else {
            return .unauthorized("missing token: give ?token=... or Authorization: Bearer ...")
        }
        return credentials.contains(token) ? nil : .unauthorized("invalid token")
    }

    /// Answers one event API request whose caller is authorized: (HTTP status, JSON body).
    func handle(query: Substring, body: [UInt8]?, contentType: String?, runner: CallRunner) async -> (Int, String) {
        let answer = await answer(query: query, body: body, contentType: contentType, runner: runner)
        return (answer.status, answer.json)
    }

    /// What ``handle(query:body:contentType:runner:)`` answers, and the events it ran (nil
    /// when the request did not parse), for the metrics' `event` labels.
    func answer(query: Substring, body: [UInt8]?, contentType: String?, runner: CallRunner) async -> (status: Int, json: String, events: [FleetEvent]?) {
        let request: EventRequest
        do {
            request = try EventRequest.parse(query: query, body: body, contentType: contentType)
        } catch {
            return (error.status, ResponseJSON.failure(error), nil)
        }
        let events = request.calls.map(\.event)
        do {
            let nodes = try await directory.liveNodes()
            let result = try await runner.run(request.calls, on: nodes)
            meter.repliesTimedOut(result.extra.count)
            return (200, ResponseJSON.success(result), events)
        } catch let refusal as APIError {
            return (refusal.status, ResponseJSON.failure(refusal), events)
        } catch {
            logger.warning("request failed on the broker", metadata: ["error": "\(error)"])
            let failure = APIError.brokerUnavailable("\(error)")
            return (failure.status, ResponseJSON.failure(failure), events)
        }
    }

    /// The `token` of a query string, if any (even when the rest does not parse).
    static func token(in query: Substring) -> String? {
        for part in query.split(separator: "&") where part.hasPrefix("token=") {
            return (try? FormDecoding.decode(part.dropFirst("token=".count))) ?? ""
        }
        return nil
    }

    // MARK: HTTP

    /// The HTTP server: the event API on `runner`, the routes of other APIs, the operations routes.
    func application(_ runner: CallRunner, onListening: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
        let router = Router()
        let maxBody = configuration.maxBodySize
        router.add(middleware: APIMetricsMiddleware(meter: meter))
        OperationsRoutes(telemetry: telemetry, readiness: { await self.readiness() }) {
            if let nodes = try? await self.directory.liveNodes() { self.meter.nodesAlive(nodes.count) }
        }.add(to: router)
        let api: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            let query = request.uri.query.map { Substring($0) } ?? ""
            if let denied = self.refusal(query: query, authorization: request.headers[.authorization]) {
                return Self.response(denied.status, ResponseJSON.failure(denied))
            }
            var body: [UInt8]?
            if request.method == .post || request.method == .put {
                do {
                    let buffer = try await request.body.collect(upTo: maxBody)
                    body = Array(buffer.readableBytesView)
                } catch is NIOTooManyBytesError {
                    let failure = APIError.tooLarge(limit: maxBody)
                    return Self.response(failure.status, ResponseJSON.failure(failure))
                }
            }
            let contentType = request.headers[.contentType]
            // On the broker's thread: the call is published and its replies come back there.
            let (status, json) = await withTaskExecutorPreference(self.broker.preferredTaskExecutor) {
                await self.handle(query: query, body: body, contentType: contentType, runner: runner)
            }
            return Self.response(status, json)
        }
        router.get("/", use: api)
        router.post("/", use: api)
        for extra in routes { extra.addRoutes(to: router, gateway: self) }

        let logger = logger
        let configuration = configuration
        let eventAPI = EventAPIResponder(gateway: self, runner: runner)
        let readTimeout = configuration.httpReadTimeout
        let tls = configuration.tls
        return Application(
            router: router,
            server: HTTPServerBuilder { responder in
                // The event API is answered from the pipeline (EventAPIHandler); the rest, and
                // the event API's requests the handler does not claim, reach the router.
                hardenedServer(HTTP1Channel(responder: responder), readTimeout: readTimeout, certificates: tls) { _ in
                    [EventAPIHandler(responder: eventAPI)]
                }
            },
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "wscenter-gateway"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                logger.info("gateway listening", metadata: ["host": "\(configuration.host)", "port": "\(port)"])
                await onListening(port)
            },
            logger: frameworkLogger(logger)
        )
    }

    /// A JSON response.
    package static func response(_ status: Int, _ json: String) -> Response {
        Response(
            status: HTTPResponse.Status(code: status),
            headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: json))
        )
    }
}

extension GatewayService: Service {
    /// Runs what the gateway's requests need once the broker has connected: its reply channel
    /// and the list of live nodes. Its HTTP server is a service of its own (see
    /// ``services(onListening:)``), stopped before this one on a graceful shutdown: until
    /// then the replies of the requests in flight keep arriving. Returns on a graceful
    /// shutdown or cancellation.
    package func run() async throws {
        defer { lifecycle.stop() }
        guard await broker.waitUntilConnected() else { return }
        if configuration.tokens.isEmpty {
            logger.warning("TOKEN is not set: the event API is open to anyone who can reach it")
        }
        // Batched: the event API's requests run on the connections' event loops, where the
        // calls of one turn of a loop go out in one message per channel.
        let requester = try await BrokerRequester.start(broker: broker, replyChannel: keys.replyChannel(configuration.gatewayID), batches: true)
        let runner = CallRunner(
            broker: broker, keys: keys, broadcastChannel: keys.broadcastChannel(from: configuration.gatewayID),
            requester: requester, timeout: configuration.callTimeout,
            gatewayAnswers: gatewayEvents()
        )
        let linkEvents = broker.events()
        await withDiscardingTaskGroup { group in
            group.addTask(executorPreference: self.broker.preferredTaskExecutor) { await requester.run() }
            group.addTask { await self.directory.run() }
            group.addTask { await self.brokerLink.follow(linkEvents) }
            self.lifecycle.start(runner)
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }
}
