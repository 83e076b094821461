import BrokerCore
import BrokerEmbedded
import BrokerRedis
import FleetCore
import FleetGateway
import FleetNode
import NativeProtocol
import Foundation
import PusherAPI
import PusherCore
import PusherProtocol
import Logging
import Redis
import Synchronization
import Testing
import WSCTesting

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The brokers the fleet tests run on: one shared in-process broker (what `serve` uses), or
/// a real Redis with one broker (connection pair) per node and gateway, as in a fleet.
enum FleetBrokerKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case embedded
    case redis
    /// A Redis Cluster of 3 masters (`REDIS_CLUSTER_NODES`): sharded pub/sub, tagged keys.
    case redisCluster

    var testDescription: String { rawValue }

    /// A new broker of this kind (not run yet); a cluster's at `seeds` (default: the test
    /// environment's cluster).
    func make(seeds: [String]? = nil) throws -> any Broker {
        switch self {
        case .embedded: EmbeddedBroker()
        case .redis: RedisBroker(configuration: try RedisConfiguration(url: TestEnvironment.redisURL()))
        case .redisCluster: try RedisClusterBroker(seeds: seeds ?? TestEnvironment.redisClusterNodes(), configuration: RedisConfiguration())
        }
    }
}

/// An answer of the event API.
struct APIResponse: @unchecked Sendable {
    let status: Int
    let json: [String: Any]

    var code: Int? { json["code"] as? Int }
    var message: String? { json["msg"] as? String }
    var masterIDs: [String] { json["master_ids"] as? [String] ?? [] }
    var extra: [String] { json["extra"] as? [String] ?? [] }

    /// `data[event]`: node id → result.
    func results(_ event: String) -> [String: Any] {
        (json["data"] as? [String: Any])?[event] as? [String: Any] ?? [:]
    }

    /// The sum of the integer results of `event` over every node.
    func total(_ event: String) -> Int {
        results(event).values.compactMap { $0 as? Int }.reduce(0, +)
    }

    /// The union of the string-list results of `event` over every node, sorted.
    func union(_ event: String) -> [String] {
        Set(results(event).values.compactMap { $0 as? [String] }.joined()).sorted()
    }

    /// Whether any node answered `true` to `event`.
    func any(_ event: String) -> Bool {
        results(event).values.contains { ($0 as? Bool) == true }
    }
}

/// Nodes and gateways running in this process on one broker kind, under a prefix of their
/// own (tests share one Redis).
final class TestFleet: Sendable {
    let kind: FleetBrokerKind
    let prefix: String
    let nodeIDs: [String]
    let nodePorts: [Int]
    let gatewayPorts: [Int]
    let gatewayIDs: [String]
    /// A broker for looking at the keys directly.
    let inspector: any Broker
    /// The node services, for what only an embedder sees (their events).
    let services: [NodeService]
    private let nodeGroups: [RunningServices]

    fileprivate init(
        kind: FleetBrokerKind, prefix: String, nodeIDs: [String], nodePorts: [Int], gatewayPorts: [Int], gatewayIDs: [String],
        inspector: any Broker, services: [NodeService], nodeGroups: [RunningServices]
    ) {
        self.services = services
        self.kind = kind
        self.prefix = prefix
        self.nodeIDs = nodeIDs
        self.nodePorts = nodePorts
        self.gatewayPorts = gatewayPorts
        self.gatewayIDs = gatewayIDs
        self.api = APIClient(ports: gatewayPorts)
        self.inspector = inspector
        self.nodeGroups = nodeGroups
    }

    func nodeURL(_ index: Int) -> String { "ws://127.0.0.1:\(nodePorts[index])/" }

    /// The fleet's key names, laid out for its broker.
    var keys: FleetKeys { FleetKeys(prefix: prefix, sharded: inspector.isSharded) }
    var pusherKeys: PusherKeys { PusherKeys(prefix: prefix, sharded: inspector.isSharded) }

    /// Connection id → owning node, from every `conns` hash (one, or a cluster's buckets).
    func connectionOwners() async throws -> [String: String] {
        let hashes = try await inspector.execute(keys.connectionHashes.map { BrokerCommand.hashGetAll(key: $0) }, atomically: false)
        var owners: [String: String] = [:]
        for case .hash(let fields) in hashes { owners.merge(fields) { first, _ in first } }
        return owners
    }

    /// Opens a WebSocket on node `index` and reads its `open` message; returns the socket
    /// and its `_id`.
    func connect(node index: Int) async throws -> (TestWebSocket, String) {
        let (socket, id, _) = try await connectWithToken(node: index)
        return (socket, id)
    }

    /// Like ``connect(node:)``, also returning the session's reconnect token.
    func connectWithToken(node index: Int) async throws -> (TestWebSocket, String, String) {
        let socket = try await TestWebSocket.connect(nodeURL(index))
        let open = try await socket.nextJSON()
        #expect(open["cmd"] as? String == "open")
        let id = try #require(open["_id"] as? String)
        let token = try await socket.nextJSON()
        #expect(token["type"] as? String == "reconnect_token")
        return (socket, id, try #require(token["token"] as? String))
    }

    /// Stops node `index` in an orderly way, as SIGTERM does: it drains, leaves the broker,
    /// then its server closes.
    func stopNode(_ index: Int) async {
        await nodeGroups[index].stop()
    }

    /// The event API through this fleet's gateways.
    let api: APIClient

    func get(_ query: String, gateway: Int = 0) async throws -> APIResponse {
        try await api.get(query, gateway: gateway)
    }

    func post(_ query: String, body: String, contentType: String? = "application/json", gateway: Int = 0) async throws -> APIResponse {
        try await api.post(query, body: body, contentType: contentType, gateway: gateway)
    }

}

/// GET and POST on the event API of gateways at 127.0.0.1.
///
/// Each client has its own connections (not `URLSession.shared`'s): a pooled keep-alive
/// connection outlives the listener it was accepted on, so a shared pool could carry a
/// request meant for a new gateway to another test's draining gateway that had the same
/// port before it.
struct APIClient: Sendable {
    let ports: [Int]
    private let session = HTTPSession()

    init(ports: [Int]) {
        self.ports = ports
    }

    /// GET `/?<query>` on gateway `gateway`.
    func get(_ query: String, gateway: Int = 0) async throws -> APIResponse {
        try await request(URLRequest(url: try url(query, gateway: gateway)))
    }

    /// POST `/?<query>` with `body`.
    func post(_ query: String, body: String, contentType: String? = "application/json", gateway: Int = 0) async throws -> APIResponse {
        var request = URLRequest(url: try url(query, gateway: gateway))
        request.httpMethod = "POST"
        request.httpBody = Data(body.utf8)
        if let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        return try await self.request(request)
    }

    private func url(_ query: String, gateway: Int) throws -> URL {
        try #require(URL(string: "http://127.0.0.1:\(ports[gateway])/?\(query)"), "bad query \(query)")
    }

    private func request(_ request: URLRequest) async throws -> APIResponse {
        var request = request
        request.timeoutInterval = 10
        let (data, response) = try await session.urlSession.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        let json = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return APIResponse(status: status, json: try #require(json, "not a JSON object: \(String(decoding: data, as: UTF8.self))"))
    }
}

/// A `URLSession` of its own, with its own connection pool, cancelled when the last client
/// using it goes.
final class HTTPSession: Sendable {
    let urlSession = URLSession(configuration: .ephemeral)

    deinit {
        urlSession.invalidateAndCancel()
    }
}

/// Collects the port a server reports once it listens.
private final class PortBox: Sendable {
    let stream: AsyncStream<Int>
    let continuation: AsyncStream<Int>.Continuation
    init() { (stream, continuation) = AsyncStream.makeStream(of: Int.self) }

    func wait(_ what: String) async throws -> Int {
        let port = await firstElement(of: stream, within: .seconds(10)) { _ in true }
        return try #require(port, "\(what) did not start listening within 10 s")
    }
}

/// Runs `body` with `nodes` nodes and `gateways` gateways on a broker of `kind`, each on a
/// free port of 127.0.0.1, and stops them all afterwards. `clusterSeeds`: a cluster of the
/// test's own, for `.redisCluster`.
func withFleet(
    _ kind: FleetBrokerKind,
    clusterSeeds: [String]? = nil,
    nodes nodeCount: Int = 2,
    gateways gatewayCount: Int = 2,
    tokens: Set<String> = [],
    callTimeout: Duration = .seconds(2),
    heartbeatTTL: Duration = .seconds(3),
    outboxLimit: Int = NodeConfiguration.defaultOutboxLimit,
    native: NativeProtocol.Configuration = .init(),
    pusher: PusherApps? = nil,
    pusherNode: @Sendable (PusherApps) -> PusherProtocol.Configuration = { .init(apps: $0) },
    pusherAPI: @Sendable (PusherApps) -> PusherAPI.Configuration = { .init(apps: $0) },
    configure: @Sendable (inout NodeConfiguration) -> Void = { _ in },
    protocols replacing: [any ClientProtocol]? = nil,
    configureGateway: @Sendable (inout GatewayConfiguration) -> Void = { _ in },
    _ body: @Sendable (TestFleet) async throws -> Void
) async throws {
    let prefix = "t\(UInt32.random(in: 0...UInt32.max)):"
    var logger = Logger(label: "fleet-test")
    logger.logLevel = .critical
    let shared: (any Broker)? = kind == .embedded ? EmbeddedBroker() : nil
    func makeBroker() throws -> any Broker {
        try shared ?? kind.make(seeds: clusterSeeds)
    }

    var brokers: [any Broker] = []
    var tasks: [Task<Void, any Error>] = []
    var nodeGroups: [RunningServices] = []
    var gatewayGroups: [RunningServices] = []
    defer {
        for group in nodeGroups + gatewayGroups { group.cancel() }
        for task in tasks { task.cancel() }
    }

    func start(_ broker: any Broker) async throws {
        let events = broker.events()
        tasks.append(Task { try await broker.run() })
        let connected = await firstElement(of: events, within: .seconds(10)) { $0 == .connected }
        try #require(connected != nil, "the \(kind) broker did not connect")
    }

    if let shared { try await start(shared) }
    let inspector = try makeBroker()
    if shared == nil { try await start(inspector) }

    var nodeIDs: [String] = []
    var nodePorts: [Int] = []
    var services: [NodeService] = []
    for index in 0..<nodeCount {
        let broker = try makeBroker()
        if shared == nil { try await start(broker) }
        brokers.append(broker)
        let id = "node\(index)-\(UInt16.random(in: 0...UInt16.max))"
        var configuration = NodeConfiguration(nodeID: id, host: "127.0.0.1", port: 0, prefix: prefix)
        configuration.heartbeatInterval = .milliseconds(250)
        configuration.heartbeatTTL = heartbeatTTL
        configuration.janitorInterval = .milliseconds(500)
        configuration.outboxLimit = outboxLimit
        // Clients left open when a test ends hold its end back at most this long.
        configuration.drainTimeout = .seconds(2)
        configure(&configuration)
        var protocols: [any ClientProtocol] = [NativeProtocol(configuration: native)]
        if let pusher { protocols.append(PusherProtocol(configuration: pusherNode(pusher))) }
        if let replacing { protocols = replacing }
        let service = NodeService(configuration: configuration, broker: broker, logger: logger, protocols: protocols)
        services.append(service)
        let box = PortBox()
        nodeGroups.append(RunningServices(service.services { port in box.continuation.yield(port) }, logger: logger))
        nodePorts.append(try await box.wait("node \(id)"))
        nodeIDs.append(id)
    }
    var gatewayPorts: [Int] = []
    var gatewayIDs: [String] = []
    for index in 0..<gatewayCount {
        let broker = try makeBroker()
        if shared == nil { try await start(broker) }
        brokers.append(broker)
        gatewayIDs.append("gw\(index)-\(UInt32.random(in: 0...UInt32.max))")
        var configuration = GatewayConfiguration(gatewayID: gatewayIDs[index], host: "127.0.0.1", port: 0, prefix: prefix, tokens: tokens)
        configuration.callTimeout = callTimeout
        configuration.brokerKind = kind.rawValue
        configureGateway(&configuration)
        let routes: [any GatewayRoutes] = pusher.map { [PusherAPI(configuration: pusherAPI($0))] } ?? []
        let service = GatewayService(configuration: configuration, broker: broker, logger: logger, routes: routes)
        let box = PortBox()
        gatewayGroups.append(RunningServices(service.services { port in box.continuation.yield(port) }, logger: logger))
        gatewayPorts.append(try await box.wait("gateway \(index)"))
    }
    let fleet = TestFleet(
        kind: kind, prefix: prefix, nodeIDs: nodeIDs, nodePorts: nodePorts, gatewayPorts: gatewayPorts, gatewayIDs: gatewayIDs,
        inspector: inspector, services: services, nodeGroups: nodeGroups
    )
    // Every gateway sees every node before the test starts.
    let probe = "event=getConnectionCount" + (tokens.first.map { "&token=\($0)" } ?? "")
    try await eventually("all nodes in master_ids") {
        for gateway in 0..<gatewayCount where try await fleet.get(probe, gateway: gateway).masterIDs != fleet.nodeIDs.sorted() {
            return false
        }
        return true
    }
    try await body(fleet)
    for group in nodeGroups + gatewayGroups { await group.stop() }
    for task in tasks { task.cancel(); _ = await task.result }
}
