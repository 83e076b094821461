import BrokerCore
import BrokerRedis
import FleetCore
import FleetNode
import Foundation
import HummingbirdWSClient
import NIOCore
import Redis
import Synchronization
import Testing
import WSCTesting

/// The built `wscenter` binary, next to the test bundle.
func wscenterBinary() throws -> String {
    let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let binary = directory.appendingPathComponent("wscenter").path
    try #require(FileManager.default.isExecutableFile(atPath: binary), "wscenter is not built at \(binary)")
    return binary
}

/// A fleet of `wscenter` processes: nodes and gateways on one Redis, as deployed.
final class ProcessFleet: Sendable {
    let redisURL: String
    let prefix: String
    let nodeIDs: [String]
    let nodePorts: [Int]
    let gatewayPorts: [Int]
    let nodes: [ServiceProcess]
    let gateways: [ServiceProcess]
    private let inspectors = Mutex<[Task<Void, any Error>]>([])

    /// - Parameter heartbeat: (interval, ttl) in seconds.
    /// - Parameter extra: more options for every process.
    init(
        redisURL: String, nodes nodeCount: Int = 2, gateways gatewayCount: Int = 2, heartbeat: (Double, Double) = (0.5, 2),
        extra: [String] = []
    ) async throws {
        let binary = try wscenterBinary()
        self.redisURL = redisURL
        prefix = "p\(UInt32.random(in: 0...UInt32.max)):"
        var common = ["--redis-url", redisURL, "--redis-prefix", prefix, "--host", "127.0.0.1", "--log-level", "info", "--app-secret", "process-test-secret"]
        common += ["--node-heartbeat-interval", "\(heartbeat.0)", "--node-heartbeat-ttl", "\(heartbeat.1)", "--call-timeout", "1"] + extra
        // Every process binds port 0 and the test reads the port it logs: ports picked in
        // advance could be taken by another test's process in between.
        var nodeIDs: [String] = [], nodes: [ServiceProcess] = []
        for index in 0..<nodeCount {
            let id = "pnode\(index)-\(UInt16.random(in: 0...UInt16.max))"
            nodes.append(try ServiceProcess.start(executable: binary, arguments: ["node", "--node-id", id, "--port", "0"] + common))
            nodeIDs.append(id)
        }
        var gateways: [ServiceProcess] = []
        for _ in 0..<gatewayCount {
            gateways.append(try ServiceProcess.start(executable: binary, arguments: ["gateway", "--http-port", "0"] + common))
        }
        var nodePorts: [Int] = [], gatewayPorts: [Int] = []
        for node in nodes { nodePorts.append(try await node.listeningPort(role: "node")) }
        for gateway in gateways { gatewayPorts.append(try await gateway.listeningPort(role: "gateway")) }
        (self.nodeIDs, self.nodePorts, self.nodes, self.gatewayPorts, self.gateways) = (nodeIDs, nodePorts, nodes, gatewayPorts, gateways)
        api = APIClient(ports: gatewayPorts)
        let api = self.api
        let expected = nodeIDs.sorted()
        let ports = nodePorts
        try await eventually(within: .seconds(20), "the process fleet is up") {
            // Nodes beat before they listen: each must also answer HTTP.
            for port in ports {
                guard (try? await httpGet(port: port, "/healthz"))?.status == 200 else { return false }
            }
            for gateway in 0..<gatewayCount {
                guard let answer = try? await api.get("event=getConnectionCount", gateway: gateway), answer.masterIDs == expected else {
                    return false
                }
            }
            return true
        }
    }

    let api: APIClient

    func connect(node index: Int) async throws -> (TestWebSocket, String) {
        let (socket, id, _) = try await connectWithToken(node: index)
        return (socket, id)
    }

    /// Opens a WebSocket on node `index`: the socket, its `_id` and its reconnect token.
    func connectWithToken(node index: Int) async throws -> (TestWebSocket, String, String) {
        let socket = try await TestWebSocket.connect("ws://127.0.0.1:\(nodePorts[index])/")
        let id = try #require(try await socket.nextJSON()["_id"] as? String)
        let token = try #require(try await socket.nextJSON()["token"] as? String)
        return (socket, id, token)
    }

    /// A broker on the fleet's Redis, for looking at its keys; it runs as long as the fleet.
    func inspector() async throws -> any Broker {
        let redis = RedisBroker(configuration: try RedisConfiguration(url: redisURL))
        let events = redis.events()
        let runner = Task { try await redis.run() }
        inspectors.withLock { $0.append(runner) }
        let connected = await firstElement(of: events, within: .seconds(5)) { $0 == .connected }
        try #require(connected != nil, "cannot reach \(redisURL)")
        return redis
    }

    deinit {
        inspectors.withLock { $0.forEach { $0.cancel() } }
    }

    /// Every process's output, for a failing test's message.
    func output() -> String {
        (nodes + gateways).map { $0.output() }.joined(separator: "\n----\n")
    }
}

@Suite("Fleet of processes on Redis", .serialized)
struct FleetProcessTests {
    @Test("SIGKILL of a node: it leaves master_ids within its TTL and none of its state is reported again")
    func killedNode() async throws {
        let fleet = try await ProcessFleet(redisURL: try TestEnvironment.redisURL())
        let (a, aid) = try await fleet.connect(node: 0)
        let (b, bid) = try await fleet.connect(node: 1)
        let join = "event=bindId,joinGroupBy_Id&bindId%5Bid%5D=USER&bindId%5B_id%5D=CID&joinGroupBy_Id%5BgroupId%5D=g&joinGroupBy_Id%5B_id%5D=CID"
        _ = try await fleet.api.get(join.replacingOccurrences(of: "USER", with: "ua").replacingOccurrences(of: "CID", with: aid))
        _ = try await fleet.api.get(join.replacingOccurrences(of: "USER", with: "ub").replacingOccurrences(of: "CID", with: bid), gateway: 1)
        let before = try await fleet.api.get("event=getIds,getGroup_IdCount&getGroup_IdCount%5BgroupId%5D=g")
        #expect(before.union("getIds") == ["ua", "ub"], "\(fleet.output())")
        #expect(before.total("getGroup_IdCount") == 2)

        fleet.nodes[1].kill()
        let killedAt = ContinuousClock.now
        let api = fleet.api
        let survivor = [fleet.nodeIDs[0]]
        try await eventually(within: .seconds(4), "the killed node leaves master_ids") {
            let first = try await api.get("event=getConnectionCount").masterIDs
            let second = try await api.get("event=getConnectionCount", gateway: 1).masterIDs
            return first == survivor && second == survivor
        }
        let gone = ContinuousClock.now - killedAt
        // TTL 2 s, plus at most one heartbeat interval of age at the kill and a gateway read.
        #expect(gone < .seconds(3), "left master_ids after \(gone)")
        for gateway in [0, 1] {
            let after = try await fleet.api.get(
                "event=getIds,get_Ids,isOnlineId,getGroup_IdCount,sendMessageTo_Id&isOnlineId%5Bid%5D=ub"
                    + "&getGroup_IdCount%5BgroupId%5D=g&sendMessageTo_Id%5B_id%5D=\(bid)&sendMessageTo_Id%5Bmsg%5D=x",
                gateway: gateway
            )
            #expect(after.union("getIds") == ["ua"])
            #expect(after.union("get_Ids") == [aid])
            #expect(after.any("isOnlineId") == false)
            #expect(after.total("getGroup_IdCount") == 1)
            #expect(after.total("sendMessageTo_Id") == 0)
            #expect(after.extra.isEmpty)
        }
        // The janitor removes the dead node's bindings from Redis.
        let redis = try await fleet.inspector()
        let keys = FleetKeys(prefix: fleet.prefix)
        try await eventually(within: .seconds(10), "the janitor cleans up the dead node") {
            let conns = try await redis.hashGetAll(keys.connections(of: aid))
            let user = try await redis.hashGetAll(keys.user("ub"))
            let nodes = try await redis.hashGetAll(keys.nodes)
            return conns.keys.sorted() == [aid] && user.isEmpty && nodes.keys.sorted() == survivor
        }
        _ = (a, b)
    }

    @Test("Redis restart: nodes re-publish their heartbeat and bindings; answers are right again within 5 s")
    func redisRestart() async throws {
        let server = try await RedisServerProcess.start()
        let fleet = try await ProcessFleet(redisURL: server.url)
        let (a, aid) = try await fleet.connect(node: 0)
        let (b, bid) = try await fleet.connect(node: 1)
        _ = try await fleet.api.get("event=bindId,joinGroupBy_Id&bindId%5Bid%5D=u&bindId%5B_id%5D=\(aid)&joinGroupBy_Id%5BgroupId%5D=g&joinGroupBy_Id%5B_id%5D=\(aid)")
        _ = try await fleet.api.get("event=bindId&bindId%5Bid%5D=u&bindId%5B_id%5D=\(bid)")

        try await server.restart()  // no persistence: Redis comes back empty

        let api = fleet.api
        let expected = fleet.nodeIDs.sorted()
        try await eventually(within: .seconds(5), "answers are right again after the restart") {
            guard let answer = try? await api.get("event=getIds,getGroupIds&", gateway: 1) else { return false }
            return answer.masterIDs == expected && answer.union("getIds") == ["u"] && answer.union("getGroupIds") == ["g"]
                && answer.extra.isEmpty
        }
        let sent = try await fleet.api.get("event=sendMessageToId&sendMessageToId%5Bid%5D=u&sendMessageToId%5Bmsg%5D=back")
        #expect(sent.total("sendMessageToId") == 2, "\(fleet.output())")
        #expect(try await a.next() == "back")
        #expect(try await b.next() == "back")

        // The bindings are back in Redis too.
        let redis = try await fleet.inspector()
        let keys = FleetKeys(prefix: fleet.prefix)
        try await eventually(within: .seconds(5), "bindings rewritten to the restarted Redis") {
            let user = try await redis.hashGetAll(keys.user("u"))
            let group = try await redis.hashGetAll(keys.group("g"))
            return user == [aid: fleet.nodeIDs[0], bid: fleet.nodeIDs[1]] && group == [aid: "u"]
        }
    }

    @Test("SIGTERM: the node closes its WebSockets, leaves master_ids and Redis at once, and exits 0")
    func sigterm() async throws {
        // A 10 s TTL: only the node's own orderly leave can explain a quick removal.
        let fleet = try await ProcessFleet(redisURL: try TestEnvironment.redisURL(), gateways: 1, heartbeat: (0.5, 10))
        let (socket, id) = try await fleet.connect(node: 1)
        _ = try await fleet.api.get("event=bindId&bindId%5Bid%5D=leaver&bindId%5B_id%5D=\(id)")
        fleet.nodes[1].kill(SIGTERM)
        #expect(fleet.nodes[1].termination == "exit status 0", "\(fleet.nodes[1].output())")
        try await eventually(within: .seconds(2), "the client sees the close") { socket.isClosed }
        let answer = try await fleet.api.get("event=getIds,getConnectionCount")
        #expect(answer.masterIDs == [fleet.nodeIDs[0]])
        #expect(answer.extra.isEmpty)
        #expect(answer.union("getIds").isEmpty)

        let redis = try await fleet.inspector()
        let keys = FleetKeys(prefix: fleet.prefix)
        #expect(try await redis.hashGetAll(keys.nodes).keys.sorted() == [fleet.nodeIDs[0]])
        #expect(try await redis.hashGetAll(keys.user("leaver")).isEmpty)
        #expect(try await redis.hashGetAll(keys.connections(of: id))[id] == nil)
        #expect(try await redis.get(keys.node(fleet.nodeIDs[1])) == nil)
    }

    @Test("Redis unreachable: the gateway answers 503 with code 2, and recovers when Redis is back")
    func brokerDown() async throws {
        let server = try await RedisServerProcess.start()
        let fleet = try await ProcessFleet(redisURL: server.url, nodes: 1, gateways: 1)
        await server.stop()
        let api = fleet.api
        try await eventually(within: .seconds(5), "503 while Redis is down") {
            let answer = try await api.get("event=getConnectionCount")
            return answer.status == 503 && answer.code == 2 && answer.message?.hasPrefix("broker unreachable") == true
        }
        try await server.restart()
        let expected = fleet.nodeIDs
        try await eventually(within: .seconds(10), "answers again once Redis is back") {
            let answer = try await api.get("event=getConnectionCount")
            return answer.status == 200 && answer.masterIDs == expected
        }
    }

    @Test("Redis frozen (SIGSTOP): every API request is answered 503 within about a second (the gateway's Redis timeout), not at the Redis client's default 5 s; answers again after SIGCONT")
    func brokerFrozen() async throws {
        let server = try await RedisServerProcess.start()
        let fleet = try await ProcessFleet(redisURL: server.url, nodes: 1, gateways: 1)  // CALL_TIMEOUT 1 s
        let pid = try #require(server.processIdentifier)
        let api = fleet.api
        kill(pid, SIGSTOP)
        var resumed = false
        defer { if !resumed { kill(pid, SIGCONT) } }
        // 7 s frozen: requests meet the frozen connection, then reconnections whose handshake
        // the frozen server never answers, and the node's own command timeout (5 s) passes.
        let frozenUntil = ContinuousClock.now + .seconds(7)
        var answered = 0
        let port = fleet.gatewayPorts[0]
        while ContinuousClock.now < frozenUntil {
            let (response, took) = try await RawHTTP.timedExchange(
                port: port, "GET /?event=getConnectionCount HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", timeout: 10
            )
            // The gateway's Redis timeout is 1 s (checked every 250 ms); no call is published,
            // so CALL_TIMEOUT does not count; slack for a busy machine. Before, up to 5 s.
            #expect(took < .seconds(2.5), "answered after \(took)")
            #expect(response.status == 503 && response.afterText.contains(#""code":2"#), "\(response) \(response.afterText)")
            answered += 1
        }
        #expect(answered >= 3)
        kill(pid, SIGCONT)
        resumed = true
        let expected = fleet.nodeIDs
        try await eventually(within: .seconds(15), "answers again once Redis runs") {
            let answer = try await api.get("event=getConnectionCount")
            return answer.status == 200 && answer.masterIDs == expected
        }
    }

    @Test("serve: one process on the embedded broker answers the API and serves WebSockets")
    func serveEmbedded() async throws {
        let process = try ServiceProcess.start(
            executable: try wscenterBinary(),
            arguments: ["serve", "--node-id", "solo", "--host", "127.0.0.1", "--port", "0", "--http-port", "0"],
            removing: ["REDIS_URL", "TOKEN", "NODE_ID", "PORT", "HTTP_PORT"]
        )
        let (port, httpPort) = (try await process.listeningPort(role: "node"), try await process.listeningPort(role: "gateway"))
        let api = APIClient(ports: [httpPort])
        try await eventually(within: .seconds(10), "serve is up") {
            (try? await api.get("event=getConnectionCount"))?.masterIDs == ["solo"]
        }
        let socket = try await TestWebSocket.connect("ws://127.0.0.1:\(port)/")
        let id = try #require(try await socket.nextJSON()["_id"] as? String)
        #expect(try await socket.nextJSON()["type"] as? String == "reconnect_token")
        let answer = try await api.get("event=bindId,sendMessageToId&bindId%5Bid%5D=me&bindId%5B_id%5D=\(id)&sendMessageToId%5Bid%5D=me&sendMessageToId%5Bmsg%5D=hi")
        #expect(answer.results("sendMessageToId")["solo"] as? Int == 1, "\(process.output())")
        #expect(try await socket.next() == "hi")
        #expect(process.output().contains("embedded broker"))
        #expect(process.output().contains("node=solo"), "every log line carries the node id")
    }

    @Test("serve with ECHO_PATH: a warning at start, the path echoes, and a drain closes it with 1012")
    func serveEcho() async throws {
        let process = try ServiceProcess.start(
            executable: try wscenterBinary(),
            arguments: ["serve", "--host", "127.0.0.1", "--port", "0", "--http-port", "0", "--echo-path", "/conformance/echo"],
            removing: ["REDIS_URL", "TOKEN", "NODE_ID", "PORT", "HTTP_PORT", "ECHO_PATH"]
        )
        let port = try await process.listeningPort(role: "node")
        #expect(process.output().contains("level=warning") && process.output().contains("echo_path=/conformance/echo"), "\(process.output())")
        let close = try await exchange("ws://127.0.0.1:\(port)/conformance/echo") { outbound, replies in
            try await outbound.write(.binary(ByteBuffer(bytes: [1, 2, 3])))
            #expect(try await replies.next() == .binary(ByteBuffer(bytes: [1, 2, 3])))
            process.signal(SIGTERM)
            #expect(try await replies.next() == nil)
        }
        #expect(close == NodeService.serviceRestart, "\(process.output())")
        try await eventually(within: .seconds(10), "serve exits") { !process.isRunning }
        #expect(process.termination == "exit status 0", "\(process.output())")
    }
}
