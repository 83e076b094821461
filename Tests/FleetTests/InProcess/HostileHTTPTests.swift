import BrokerCore
import FleetGateway
@testable import FleetHTTP
@testable import FleetNode
import FleetCore
import Foundation
import Testing
import WSCTesting

/// What a stranger can do to the HTTP side of nodes and gateways before any protocol runs:
/// hold connections open (slowloris), send bodies without credentials, open sockets from
/// another site's page, or open more sockets than the node should hold. Each request is sent
/// as raw bytes.
@Suite("Hostile HTTP (raw requests)")
struct HostileHTTPTests {
    static let partialHead = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "

    @Test("slowloris: an unfinished head, an unfinished body, or an idle keep-alive connection is closed after HTTP_READ_TIMEOUT")
    func readTimeout() async throws {
        try await withFleet(
            .embedded, nodes: 1, gateways: 1,
            configure: { $0.httpReadTimeout = .seconds(1) },
            configureGateway: { $0.httpReadTimeout = .seconds(1) }
        ) { fleet in
            for port in [fleet.nodePorts[0], fleet.gatewayPorts[0]] {
                let start = ContinuousClock.now
                let head = try await RawHTTP.exchange(port: port, Self.partialHead, linger: 0.2, timeout: 10)
                #expect(head.closed && head.status == 0, "unfinished head on \(port): \(head)")
                #expect(ContinuousClock.now - start >= .milliseconds(900), "closed before the timeout: \(ContinuousClock.now - start)")

                let body = "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":"
                let slowBody = try await RawHTTP.exchange(port: port, body, linger: 3, timeout: 10)
                #expect(slowBody.closed && slowBody.status != 200, "unfinished body on \(port): \(slowBody)")

                // A complete request is answered; the idle connection after it is closed.
                let idle = try await RawHTTP.exchange(port: port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", linger: 5, timeout: 10)
                #expect(idle.status == 200 && idle.closed, "idle keep-alive on \(port): \(idle)")
            }
        }
    }

    @Test("the gateway answers pipelined event API and other requests in order, and a request before garbage")
    func pipelinedInOrder() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1) { fleet in
            let port = fleet.gatewayPorts[0]
            let event = "GET /?event=getConnectionCount HTTP/1.1\r\nHost: x\r\n\r\n"
            let pipelined = String(repeating: event, count: 20) + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                + "GET /?event=getIds HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            let all = try await RawHTTP.exchange(port: port, pipelined) { String(decoding: $0, as: UTF8.self).contains("getIds") }
            let text = all.head + all.afterText
            #expect(text.components(separatedBy: "HTTP/1.1 200").count - 1 == 22, "\(text)")
            let health = try #require(text.range(of: "text/plain"), "no /healthz answer: \(text)")
            let ids = try #require(text.range(of: "getIds"))
            #expect(health.lowerBound < ids.lowerBound, "answered out of order")
            #expect(text.components(separatedBy: "getConnectionCount").count - 1 == 20)

            // A complete request, then bytes that are not HTTP: the request is answered first.
            let garbage = try await RawHTTP.exchange(port: port, "GET /?event=getIds HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n", linger: 1)
            #expect(garbage.status == 200 && garbage.afterText.contains("getIds"), "\(garbage)")
        }
    }

    @Test("the gateway refuses a caller without a token before reading its body; Authorization: Bearer works")
    func tokenBeforeBody() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1, tokens: ["s3cret-api"]) { fleet in
            let port = fleet.gatewayPorts[0]
            // A body announced but never sent: answered at once (the read timeout is 30 s here).
            let start = ContinuousClock.now
            let announced = "POST /?event=broadcast HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
            let refused = try await RawHTTP.exchange(port: port, announced) { String(decoding: $0, as: UTF8.self).contains("token") }
            #expect(refused.status == 401, "\(refused)")
            #expect(refused.afterText.contains("missing token"), "\(refused.afterText)")
            #expect(ContinuousClock.now - start < .seconds(5))
            let wrong = try await RawHTTP.exchange(port: port, announced.replacingOccurrences(of: "Host:", with: "Authorization: Bearer nope\r\nHost:")) {
                String(decoding: $0, as: UTF8.self).contains("token")
            }
            #expect(wrong.status == 401 && wrong.afterText.contains("invalid token"), "\(wrong)")

            for header in ["Authorization: Bearer s3cret-api", "authorization: bearer s3cret-api"] {
                let bearer = try await RawHTTP.exchange(
                    port: port, "GET /?event=getConnectionCount HTTP/1.1\r\nHost: 127.0.0.1\r\n\(header)\r\nConnection: close\r\n\r\n"
                ) { String(decoding: $0, as: UTF8.self).contains("}}") }
                #expect(bearer.status == 200 && bearer.afterText.contains("\"code\":0"), "\(header): \(bearer)")
            }
        }
    }

    @Test("MAX_CONNECTIONS answers 503 and MAX_CONNECTIONS_PER_IP 429 before the upgrade; a closed connection frees its slot")
    func connectionCaps() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1, configure: { $0.maxConnections = 2 }) { fleet in
            let port = fleet.nodePorts[0]
            let first = try await TestWebSocket.connect(fleet.nodeURL(0))
            let second = try await TestWebSocket.connect(fleet.nodeURL(0))
            let full = try await RawHTTP.exchange(port: port, RawHTTP.upgradeRequest("/"), linger: 0.2)
            #expect(full.status == 503, "\(full)")
            #expect(full.head.lowercased().contains("retry-after"), "\(full.head)")
            // Plain HTTP is not counted: probes keep working on a full node.
            #expect(try await RawHTTP.exchange(port: port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").status == 200)
            await first.close()
            try await eventually("the closed connection's slot is free") {
                try await RawHTTP.exchange(port: port, RawHTTP.upgradeRequest("/"), linger: 0.1).status == 101
            }
            _ = second
        }
        try await withFleet(.embedded, nodes: 1, gateways: 1, configure: { $0.maxConnectionsPerIP = 1 }) { fleet in
            let held = try await TestWebSocket.connect(fleet.nodeURL(0))
            let again = try await RawHTTP.exchange(port: fleet.nodePorts[0], RawHTTP.upgradeRequest("/"), linger: 0.2)
            #expect(again.status == 429, "\(again)")
            _ = held
        }
    }

    @Test("ALLOWED_ORIGINS: other origins get 403, listed ones and requests without Origin upgrade")
    func origins() async throws {
        let policy = try OriginPolicy(parsing: "https://app.example.com, https://*.example.org")
        try await withFleet(.embedded, nodes: 1, gateways: 1, configure: { $0.allowedOrigins = policy }) { fleet in
            let port = fleet.nodePorts[0]
            let cases: [([String], Int)] = [
                (["Origin: https://evil.example"], 403),
                (["Origin: https://app.example.com.evil.example"], 403),
                (["Origin: http://app.example.com"], 403),
                (["Origin: https://example.org"], 403),
                (["Origin: null"], 403),
                (["Origin: https://app.example.com", "Origin: https://evil.example"], 403),
                (["Origin: https://APP.example.com"], 101),
                (["Origin: https://chat.example.org"], 101),
                ([], 101),
            ]
            for (extra, status) in cases {
                let response = try await RawHTTP.exchange(port: port, RawHTTP.upgradeRequest("/", extra: extra), linger: 0.1)
                #expect(response.status == status, "\(extra): \(response)")
            }
        }
    }

    // MARK: Without I/O

    @Test("read timeout machine: waiting, reading, owing a response, pipelining")
    func readTimeoutMachine() {
        typealias Machine = ReadTimeoutStateMachine<ContinuousClock.Instant>
        let t0 = ContinuousClock.now
        var machine = Machine(timeout: .seconds(30))
        #expect(machine.connected(now: t0) == .arm(t0 + .seconds(30)))
        #expect(machine.requestHead(now: t0 + .seconds(10)) == .none)  // the clock from the wait goes on
        #expect(machine.timerFired(now: t0 + .seconds(29)) == .arm(t0 + .seconds(30)))
        #expect(machine.timerFired(now: t0 + .seconds(30)) == .close)

        var responding = Machine(timeout: .seconds(30))
        _ = responding.connected(now: t0)
        _ = responding.requestHead(now: t0)
        #expect(responding.requestEnd(now: t0 + .seconds(1)) == .disarm)
        #expect(responding.timerFired(now: t0 + .seconds(100)) == .none)  // the server is slow: not the client's fault
        // A pipelined request while the response is owed gets its own clock.
        #expect(responding.requestHead(now: t0 + .seconds(50)) == .arm(t0 + .seconds(80)))
        #expect(responding.responseEnd(now: t0 + .seconds(60)) == .none)
        #expect(responding.requestEnd(now: t0 + .seconds(61)) == .disarm)
        #expect(responding.responseEnd(now: t0 + .seconds(62)) == .arm(t0 + .seconds(92)))  // idle from now
    }

    @Test("Origin lists parse strictly and match exactly or by subdomain")
    func originPolicy() throws {
        #expect(try OriginPolicy(parsing: "") == .any)
        #expect(try OriginPolicy(parsing: "*") == .any)
        for bad in ["example.com", "https://", "https://a.com/path", "https://*", "https://a.*.com", "://a.com"] {
            #expect(throws: OriginPolicyError.self, "\(bad)") { try OriginPolicy(parsing: bad) }
        }
        let policy = try OriginPolicy(parsing: "https://*.example.com:8443,null")
        #expect(policy.allows(["https://a.example.com:8443"]))
        #expect(policy.allows(["https://a.b.example.com:8443"]))
        #expect(policy.allows(["null"]))
        #expect(!policy.allows(["https://example.com:8443"]))
        #expect(!policy.allows(["https://a.example.com"]))
        #expect(!policy.allows(["https://a.example.com:8443.evil"]))
        #expect(policy.allows([]))
    }

    @Test("connection slots: per node, per address, released exactly, no entry left for a gone address")
    func connectionLimits() {
        var limits = ConnectionLimits(maxConnections: 3, maxPerAddress: 2)
        #expect(limits.reserve("a") == nil)
        #expect(limits.reserve("a") == nil)
        #expect(limits.reserve("a") == .addressFull(2))
        #expect(limits.reserve("b") == nil)
        #expect(limits.reserve("c") == .nodeFull(3))
        limits.release("a")
        limits.release("a")
        limits.release("a")  // a release without a slot changes nothing
        #expect(limits.total == 1 && limits.byAddress == ["b": 1])
        limits.release("b")
        #expect(limits.total == 0 && limits.byAddress.isEmpty)
    }
}

/// What a connected client can grow on the node: control frames, its queue.
@Suite("Hostile WebSocket clients")
struct HostileWebSocketTests {
    @Test("a ping flood gets a few pongs, then a close with 1008")
    func pingFlood() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1) { fleet in
            let flood = (0..<200).flatMap { _ in RawWebSocket.ping([1, 2, 3]) }
            let response = try await RawWebSocket.afterOpen(port: fleet.nodePorts[0], send: flood) { $0.contains { $0.opcode == 0x8 } }
            #expect(response.status == 101)
            let frames = RawWebSocket.frames(in: response.after)
            // At most the bucket's worth is answered (the close may overtake those pongs).
            let pongs = frames.filter { $0.opcode == 0xA }.count
            #expect(pongs <= 30, "pongs: \(pongs)")
            #expect(frames.last?.closeCode == 1008, "\(frames.map(\.opcode))")

            // A few pings are answered, each, and the connection stays.
            let few = try await RawWebSocket.afterOpen(port: fleet.nodePorts[0], send: (0..<5).flatMap { _ in RawWebSocket.ping([9]) }) {
                $0.filter { $0.opcode == 0xA }.count >= 5
            }
            let answered = RawWebSocket.frames(in: few.after)
            #expect(answered.filter { $0.opcode == 0xA }.count == 5 && !few.closed, "\(answered.map(\.opcode))")
        }
    }

    /// Replies keep the order of commands: while a command waits for the broker, the next
    /// messages wait too, at most 64. Sent in one write, the reconnect (which waits for the
    /// broker) and 70 more messages are read before the reconnect can be answered.
    @Test("more than 64 messages while a command waits for the broker: close 1008")
    func floodWhileACommandWaits() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1) { fleet in
            let flood = RawWebSocket.text(#"{"type":"reconnect","token":"no-such-token"}"#) + (0..<70).flatMap { _ in RawWebSocket.text("ping") }
            let response = try await RawWebSocket.afterOpen(port: fleet.nodePorts[0], send: flood) { $0.contains { $0.opcode == 0x8 } }
            #expect(response.status == 101)
            let close = RawWebSocket.frames(in: response.after).last
            #expect(close?.closeCode == 1008, "\(RawWebSocket.frames(in: response.after).map(\.opcode))")
            #expect(close?.text.contains("too many messages while a command is in progress") == true, "\(close?.text ?? "")")
        }
    }

    @Test("frames sent with the handshake, before the upgrade completes, crash nothing", arguments: [0, 1])
    func framesWithTheHandshake(node: Int) async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1) { fleet in
            // On the node, pings pipelined after the request; on the gateway (no upgrades), the
            // same bytes after a request that asks for one.
            let port = node == 0 ? fleet.nodePorts[0] : fleet.gatewayPorts[0]
            let bytes = Array(RawHTTP.upgradeRequest("/").utf8) + (0..<50).flatMap { _ in RawWebSocket.ping([7]) } + RawWebSocket.text("ping")
            let response = try await RawHTTP.exchange(port: port, bytes, linger: 0.5)
            #expect(response.status == (node == 0 ? 101 : 400), "\(response)")
            // Still serving.
            #expect(try await fleet.get("event=getConnectionCount").code == 0)
            #expect(try await RawHTTP.exchange(port: fleet.nodePorts[0], "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").status == 200)
        }
    }

    @Test("a first request that carries Upgrade but is no WebSocket handshake is refused and closed", arguments: [
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: a\r\nSec-WebSocket-Version: 8\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: a\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n",
    ])
    func halfHandshakes(request: String) async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1) { fleet in
            let response = try await RawHTTP.exchange(port: fleet.nodePorts[0], request, linger: 1)
            #expect(response.status == 400 && response.closed, "\(response)")
        }
    }

    @Test("a client that stops reading is cut off by the queue's bytes, not only its count")
    func queuedBytes() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1, configure: { $0.outboxMaxBytes = 512 * 1024 }) { fleet in
            let idle = try await IdleWebSocket.open(port: fleet.nodePorts[0])
            let (reader, _) = try await fleet.connect(node: 0)
            // 40 messages (far below the 4096-message count) of 256 KiB: 10 MiB.
            let chunk = String(repeating: "q", count: 256 * 1024)
            for _ in 0..<40 {
                #expect(try await fleet.post("event=broadcast", body: #"{"broadcast":{"msg":"\#(chunk)"}}"#).status == 200)
                #expect(try await reader.next().count == chunk.utf8.count)
            }
            try await eventually("the idle client is cut off") {
                try await fleet.get("event=getConnectionCount").total("getConnectionCount") == 1
            }
            #expect(await idle.waitUntilClosed(seconds: 5))
        }
    }
}

/// The replay amplifier of issue 11, end to end: throwaway connections in a room turn away,
/// one client's big messages to the room are recorded for them, within the bounds.
@Suite("Away sessions bounded across the fleet")
struct AwayBoundsTests {
    @Test("throwaway sessions from one address: at most MAX_AWAY_SESSIONS_PER_IP mailboxes, each within REPLAY_MAX_BYTES; a capped room says incomplete", arguments: FleetBrokerKind.allCases)
    func amplifier(kind: FleetBrokerKind) async throws {
        let limits = AwaySessionLimits(replayMax: 100, replayMaxBytes: 64 * 1024, maxPerAddress: 8, maxPerRoom: 6)
        try await withFleet(kind, nodes: 1, gateways: 1, configure: { $0.awayLimits = limits }) { fleet in
            var tokens: [String] = []
            for _ in 0..<12 {
                let (socket, _, token) = try await fleet.connectWithToken(node: 0)
                try await socket.send(#"{"type":"join","room":"room:lobby"}"#)
                _ = try await socket.next()
                await socket.close()
                tokens.append(token)
            }
            try await eventually("every throwaway connection is gone") {
                try await fleet.get("event=getConnectionCount").total("getConnectionCount") == 0
            }
            let chunk = String(repeating: "m", count: 20 * 1024)
            for _ in 0..<10 {
                #expect(try await fleet.post("event=sendToGroup", body: #"{"sendToGroup":{"groupId":"room:lobby","msg":"\#(chunk)"}}"#).status == 200)
            }
            let keys = fleet.keys
            // In turning away order: 0-5 record the room (its cap is 6); 6 and 7 are past it;
            // 8-11 each push out the address's oldest (its cap is 8), 0-3, whose room places
            // they take. So 4, 5, 8-11 record: 6 mailboxes with messages, 4 markers of dropped ones.
            @Sendable func mailboxes() async throws -> (recording: [String: [String: String]], dropped: Int) {
                var recording: [String: [String: String]] = [:], dropped = 0
                for key in try await fleet.inspector.scanKeys(matching: keys.mailbox("*")) {
                    let entries = try await fleet.inspector.hashGetAll(key)
                    if entries["dropped"] != nil { dropped += 1 } else { recording[key] = entries }
                }
                return (recording, dropped)
            }
            try await eventually("the recordings are written") {
                let found = try await mailboxes()
                return found.recording.count == 6 && found.dropped == 4 && found.recording.values.allSatisfy { $0["n"] == "10" }
            }
            for (key, entries) in try await mailboxes().recording {
                let kept = entries.filter { $0.key != "n" }
                let bytes = kept.values.reduce(0) { $0 + $1.utf8.count }
                #expect(kept.count == 3 && bytes <= 64 * 1024 + 100, "\(key): \(kept.count) entries, \(bytes) bytes")
            }
            // Dropped (0) or past the room's cap (6): they resume (user id and rooms back) and
            // learn that their replay is incomplete.
            for token in [tokens[0], tokens[6]] {
                let (late, _) = try await fleet.connect(node: 0)
                try await late.send(#"{"type":"reconnect","token":"\#(token)"}"#)
                let resumed = try await late.nextJSON()
                #expect(resumed["type"] as? String == "reconnected" && resumed["missed"] as? Int == 0, "\(resumed)")
                let truncated = try await late.nextJSON()
                #expect(truncated["type"] as? String == "replay_truncated" && truncated["reason"] as? String == "incomplete", "\(truncated)")
            }
            // One within the caps gets the last messages that fit, and the count of the others.
            let (other, _) = try await fleet.connect(node: 0)
            try await other.send(#"{"type":"reconnect","token":"\#(tokens[4])"}"#)
            let back = try await other.nextJSON()
            #expect(back["type"] as? String == "reconnected" && back["missed"] as? Int == 3, "\(back)")
            let truncated = try await other.nextJSON()
            #expect(truncated["type"] as? String == "replay_truncated" && truncated["dropped"] as? Int == 7, "\(truncated)")
        }
    }
}
