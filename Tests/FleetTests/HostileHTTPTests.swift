@testable import FleetHTTP
@testable import FleetNode
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

    @Test("the gateway refuses a caller without a token before reading its body; Authorization: Bearer works")
    func tokenBeforeBody() async throws {
        try await withFleet(.embedded, nodes: 1, gateways: 1, tokens: ["s3cret-api"]) { fleet in
            let port = fleet.gatewayPorts[0]
            // A body announced but never sent: answered at once (the read timeout is 30 s here).
            let start = ContinuousClock.now
            let announced = "POST /?event=broadcast HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
            let refused = try await RawHTTP.exchange(port: port, announced, linger: 0.2, timeout: 10)
            #expect(refused.status == 401, "\(refused)")
            #expect(refused.afterText.contains("missing token"), "\(refused.afterText)")
            #expect(ContinuousClock.now - start < .seconds(5))
            let wrong = try await RawHTTP.exchange(
                port: port, announced.replacingOccurrences(of: "Host:", with: "Authorization: Bearer nope\r\nHost:"), linger: 0.2
            )
            #expect(wrong.status == 401 && wrong.afterText.contains("invalid token"), "\(wrong)")

            for header in ["Authorization: Bearer s3cret-api", "authorization: bearer s3cret-api"] {
                let bearer = try await RawHTTP.exchange(
                    port: port, "GET /?event=getConnectionCount HTTP/1.1\r\nHost: 127.0.0.1\r\n\(header)\r\nConnection: close\r\n\r\n", linger: 0.3
                )
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
