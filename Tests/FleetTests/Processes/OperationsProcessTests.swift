import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import NIOWebSocket
import Observability
import Testing
import WSCTesting

/// `GET path` on 127.0.0.1:`port`: the status and the body.
func httpGet(port: Int, _ path: String) async throws -> (status: Int, body: String) {
    var request = URLRequest(url: try #require(URL(string: "http://127.0.0.1:\(port)\(path)")))
    request.timeoutInterval = 5
    // Not kept alive: a pooled connection could outlive its listener and reach another
    // test's process that had the port before (see ``APIClient``).
    request.setValue("close", forHTTPHeaderField: "Connection")
    let (data, response) = try await URLSession.shared.data(for: request)
    return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
}

/// `/metrics` on `port`, parsed (the test fails if it is not valid Prometheus text).
func scrape(port: Int) async throws -> PrometheusText {
    let (status, body) = try await httpGet(port: port, "/metrics")
    try #require(status == 200, "GET /metrics: \(status)")
    return try PrometheusText(parsing: body)
}

/// One node and one gateway (heartbeat TTL 30 s, so that only an orderly leave removes the
/// node quickly), and on the node a client that never reads, so never answers a close: it
/// keeps a drain open for the 5 s a node waits for answers. Returned once the node counts
/// it (a node registers a socket a moment after its 101 answer).
func nodeWithSilentClient(shutdownTimeout: Int) async throws -> (fleet: ProcessFleet, port: Int, silent: IdleWebSocket) {
    let fleet = try await ProcessFleet(
        redisURL: try TestEnvironment.redisURL(), nodes: 1, gateways: 1, heartbeat: (0.5, 30),
        extra: ["--shutdown-timeout", "\(shutdownTimeout)"]
    )
    let port = fleet.nodePorts[0]
    let silent = try await IdleWebSocket.open(port: port)
    try await eventually(within: .seconds(5), "the node counts the idle client") {
        try await scrape(port: port).value(MetricName.connections, ["protocol": "native"]) == 1
    }
    return (fleet, port, silent)
}

@Suite("Operations: drain, readiness and metrics of wscenter processes", .serialized)
struct OperationsProcessTests {
    @Test("SIGTERM drain: every client gets 1012, the node leaves master_ids at once (TTL 30 s), the sessions resume on the other node with what was sent meanwhile; exit 0")
    func drain() async throws {
        let fleet = try await ProcessFleet(
            redisURL: try TestEnvironment.redisURL(), gateways: 1, heartbeat: (0.5, 30), extra: ["--shutdown-timeout", "6"]
        )
        var clients: [(socket: TestWebSocket, id: String, token: String)] = []
        for index in 0..<3 {
            let (socket, id, token) = try await fleet.connectWithToken(node: 1)
            let bound = try await fleet.api.get(
                "event=bindId,joinGroupBy_Id&bindId%5Bid%5D=drain\(index)&bindId%5B_id%5D=\(id)"
                    + "&joinGroupBy_Id%5BgroupId%5D=drained&joinGroupBy_Id%5B_id%5D=\(id)"
            )
            #expect(bound.total("bindId") == 1)
            clients.append((socket, id, token))
        }
        let signalled = ContinuousClock.now
        fleet.nodes[1].signal(SIGTERM)
        for client in clients {
            try await eventually(within: .seconds(6), "a client sees its close") { client.socket.isClosed }
            #expect(client.socket.closeCode == .unknown(1012), "\(fleet.nodes[1].output())")
        }
        let api = fleet.api
        let survivor = [fleet.nodeIDs[0]]
        try await eventually(within: .seconds(3), "the draining node leaves master_ids") {
            try await api.get("event=getConnectionCount").masterIDs == survivor
        }
        let left = ContinuousClock.now - signalled
        #expect(left < .seconds(3), "left master_ids \(left) after SIGTERM (TTL 30 s)")
        try await eventually(within: .seconds(6), "the node exits") { !fleet.nodes[1].isRunning }
        #expect(fleet.nodes[1].termination == "exit status 0", "\(fleet.nodes[1].output())")

        // Sent while the clients are away: recorded by the node that adopted their sessions.
        let sent = try await fleet.api.get("event=sendToGroup&sendToGroup%5BgroupId%5D=drained&sendToGroup%5Bmsg%5D=while-away")
        #expect(sent.code == 0)
        for (index, client) in clients.enumerated() {
            let socket = try await TestWebSocket.connect("ws://127.0.0.1:\(fleet.nodePorts[0])/")
            let newID = try #require(try await socket.nextJSON()["_id"] as? String)
            _ = try await socket.nextJSON()  // its own reconnect token
            try await socket.send(#"{"type":"reconnect","token":"\#(client.token)"}"#)
            let reply = try await socket.nextJSON()
            #expect(reply["type"] as? String == "reconnected" && reply["previous_id"] as? String == client.id, "\(reply)")
            #expect(try await socket.next() == "while-away")
            let direct = try await fleet.api.get("event=sendMessageToId&sendMessageToId%5Bid%5D=drain\(index)&sendMessageToId%5Bmsg%5D=hello")
            #expect(direct.total("sendMessageToId") == 1)
            #expect(try await socket.next() == "hello")
            _ = newID
        }
    }

    @Test("while a node drains: /readyz answers 503 with the reason, new WebSockets get 503, /metrics shows it; exit 0 within the timeout")
    func readinessDuringDrain() async throws {
        let (fleet, port, silent) = try await nodeWithSilentClient(shutdownTimeout: 8)
        #expect(try await httpGet(port: port, "/readyz") == (200, #"{"status":"ready"}"# + "\n"))
        #expect(try await httpGet(port: fleet.gatewayPorts[0], "/readyz").status == 200)
        fleet.nodes[0].signal(SIGTERM)
        try await eventually(within: .seconds(3), "readiness goes 503") {
            let (status, body) = try await httpGet(port: port, "/readyz")
            return status == 503 && body.contains("draining")
        }
        do {
            _ = try await IdleWebSocket.open(port: port)
            Issue.record("a draining node accepted a new WebSocket")
        } catch {
            #expect("\(error)".contains("503"), "\(error)")
        }
        let metrics = try await scrape(port: port)
        #expect(metrics.value(MetricName.draining) == 1)
        try await eventually(within: .seconds(9), "the node exits within SHUTDOWN_TIMEOUT") { !fleet.nodes[0].isRunning }
        #expect(fleet.nodes[0].termination == "exit status 0", "\(fleet.nodes[0].output())")
        _ = silent
    }

    @Test("a second signal during a drain ends the process at once, with status 1")
    func secondSignal() async throws {
        let (fleet, port, silent) = try await nodeWithSilentClient(shutdownTimeout: 20)
        fleet.nodes[0].signal(SIGTERM)
        try await eventually(within: .seconds(3), "the drain has begun") {
            (try? await httpGet(port: port, "/readyz"))?.status == 503
        }
        let second = ContinuousClock.now
        fleet.nodes[0].signal(SIGINT)
        try await eventually(within: .seconds(3), "the process ends at the second signal") { !fleet.nodes[0].isRunning }
        #expect(ContinuousClock.now - second < .seconds(3))
        #expect(fleet.nodes[0].termination == "exit status 1", "\(fleet.nodes[0].output())")
        #expect(fleet.nodes[0].output().contains("second signal"))
        _ = silent
    }

    @Test("SIGTERM to a gateway: the request in flight is answered in full, then it exits 0")
    func gatewayFinishesInFlight() async throws {
        // The last --call-timeout wins: a call waits 3 s for a silent node.
        let fleet = try await ProcessFleet(redisURL: try TestEnvironment.redisURL(), gateways: 1, extra: ["--call-timeout", "3"])
        // A stopped node makes the call wait its whole timeout.
        fleet.nodes[1].signal(SIGSTOP)
        defer { fleet.nodes[1].signal(SIGCONT) }
        let api = fleet.api
        let inFlight = Task { try await api.get("event=getConnectionCount") }
        // Well inside the 3 s the request waits, even on a slow machine.
        try await Task.sleep(for: .seconds(1))
        fleet.gateways[0].signal(SIGTERM)
        let answer = try await inFlight.value
        #expect(answer.status == 200 && answer.code == 0)
        #expect(answer.masterIDs == fleet.nodeIDs.sorted(), "answered by this fleet's gateway: \(answer.json)")
        #expect(answer.extra == [fleet.nodeIDs[1]], "the stopped node times out: \(answer.json)")
        try await eventually(within: .seconds(5), "the gateway exits") { !fleet.gateways[0].isRunning }
        #expect(fleet.gateways[0].termination == "exit status 0", "\(fleet.gateways[0].output())")
    }

    @Test("Redis stops: node and gateway answer /readyz 503 (broker unreachable), /healthz stays 200; ready again after, reconnect counted")
    func readinessWithoutRedis() async throws {
        let server = try await RedisServerProcess.start()
        let fleet = try await ProcessFleet(redisURL: server.url, nodes: 1, gateways: 1)
        let ports = [fleet.nodePorts[0], fleet.gatewayPorts[0]]
        for port in ports { #expect(try await httpGet(port: port, "/readyz").status == 200) }
        await server.stop()
        for port in ports {
            try await eventually(within: .seconds(5), "not ready without Redis") {
                let (status, body) = try await httpGet(port: port, "/readyz")
                return status == 503 && body.contains("broker")
            }
            #expect(try await httpGet(port: port, "/healthz").status == 200)
            #expect(try await scrape(port: port).value(MetricName.brokerConnected) == 0)
        }
        try await server.restart()
        for port in ports {
            try await eventually(within: .seconds(10), "ready again once Redis is back") {
                try await httpGet(port: port, "/readyz").status == 200
            }
            // The links are back (every subscription restored), and the metrics say so.
            try await eventually(within: .seconds(2), "the reconnect is counted") {
                let metrics = try await scrape(port: port)
                return metrics.value(MetricName.redisReconnects) ?? 0 >= 1 && metrics.value(MetricName.brokerConnected) == 1
            }
        }
    }

    @Test("Redis frozen (SIGSTOP): /readyz answers 503 within its 1 s probe deadline, not at the Redis command timeout")
    func readinessWithFrozenRedis() async throws {
        let server = try await RedisServerProcess.start()
        let fleet = try await ProcessFleet(redisURL: server.url, nodes: 1, gateways: 1)
        let ports = [fleet.nodePorts[0], fleet.gatewayPorts[0]]
        for port in ports { #expect(try await httpGet(port: port, "/readyz").status == 200) }
        let pid = try #require(server.processIdentifier)
        kill(pid, SIGSTOP)
        var resumed = false
        defer { if !resumed { kill(pid, SIGCONT) } }
        for port in ports {
            let (response, took) = try await RawHTTP.timedExchange(
                port: port, "GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", timeout: 10
            )
            // The probe's deadline is 1 s; before it was kept, the node's took up to 5 s (its
            // Redis client's command timeout), past the usual 1 s timeout of a Kubernetes probe.
            #expect(took < .seconds(2), "/readyz answered after \(took)")
            #expect(response.status == 503 && response.afterText.contains("broker did not answer within 1"), "\(response) \(response.afterText)")
        }
        kill(pid, SIGCONT)
        resumed = true
        for port in ports {
            try await eventually(within: .seconds(15), "ready again once Redis runs") {
                try await httpGet(port: port, "/readyz").status == 200
            }
        }
    }

    @Test("/metrics parses as Prometheus text and its counters move with traffic")
    func metricsMove() async throws {
        let fleet = try await ProcessFleet(redisURL: try TestEnvironment.redisURL(), nodes: 1, gateways: 1)
        let (node, gateway) = (fleet.nodePorts[0], fleet.gatewayPorts[0])
        let before = try await scrape(port: node)
        let gatewayBefore = try await scrape(port: gateway)
        let native = ["protocol": "native"]

        let (socket, id) = try await fleet.connect(node: 0)
        try await socket.send("ping")
        #expect(try await socket.nextJSON()["cmd"] as? String == "pong")
        _ = try await fleet.api.get("event=bindId&bindId%5Bid%5D=m&bindId%5B_id%5D=\(id)")
        _ = try await fleet.api.get("event=sendMessageToId&sendMessageToId%5Bid%5D=m&sendMessageToId%5Bmsg%5D=counted")
        #expect(try await socket.next() == "counted")
        _ = try await fleet.api.get("event=nosuchevent")

        let after = try await scrape(port: node)
        #expect(after.value(MetricName.connections, native) == 1)
        #expect(after.value(MetricName.connectionsOpened, native)! - before.value(MetricName.connectionsOpened, native)! == 1)
        #expect(after.value(MetricName.messagesIn, native)! - before.value(MetricName.messagesIn, native)! == 1)
        #expect(after.value(MetricName.bytesIn, native)! - before.value(MetricName.bytesIn, native)! == 4)
        // open, reconnect_token, pong, the message
        #expect(after.value(MetricName.messagesOut, native)! - before.value(MetricName.messagesOut, native)! == 4)
        #expect(after.value(MetricName.bytesOut, native)! > before.value(MetricName.bytesOut, native)!)
        #expect(after.sum(MetricName.brokerRoundTrip + "_count") > before.sum(MetricName.brokerRoundTrip + "_count"))

        let gatewayAfter = try await scrape(port: gateway)
        for (event, status) in [("bindId", "200"), ("sendMessageToId", "200"), ("unknown", "400")] {
            let labels = ["event": event, "status": status]
            let moved = (gatewayAfter.value(MetricName.apiRequests, labels) ?? 0) - (gatewayBefore.value(MetricName.apiRequests, labels) ?? 0)
            #expect(moved == 1, "\(labels)")
        }
        #expect(gatewayAfter.value(MetricName.apiDuration + "_count", ["api": "event"])! >= 3)
        #expect(gatewayAfter.value(MetricName.nodesAlive) == 1)
        #expect(gatewayAfter.value(MetricName.repliesTimedOut) == 0)

        await socket.close()
        try await eventually(within: .seconds(5), "the closed connection is counted") {
            let metrics = try await scrape(port: node)
            return metrics.value(MetricName.connections, native) == 0
                && metrics.value(MetricName.connectionsClosed, native)! - before.value(MetricName.connectionsClosed, native)! == 1
        }
    }
}
